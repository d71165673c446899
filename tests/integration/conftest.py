"""Fixtures for the integration layer: the fetch policy and a real HTTP client built from it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from monitor.config import Settings
from monitor.fetch import FetchPolicy, make_client
from monitor.pipeline.collect import fetch_policy


@pytest.fixture
def policy(settings: Settings) -> FetchPolicy:
    return fetch_policy(settings)


@pytest.fixture
async def client(policy: FetchPolicy) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(policy) as c:
        yield c
