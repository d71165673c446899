"""The topic timeline's page cursor: its token names one (time, id) exactly, microseconds and
time zones included, and anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.web.views import Cursor


def test_token_round_trips_to_the_same_instant_and_id() -> None:
    at = datetime(2025, 5, 6, 9, 0, 0, 123456, tzinfo=UTC)
    cursor = Cursor(at, 42)
    assert cursor.token == "20250506T090000.123456Z-42"
    assert Cursor.parse(cursor.token) == cursor
    # another zone's time is the same instant, written in UTC
    local = Cursor(at.astimezone(timezone(timedelta(hours=3))), 42)
    assert local.token == cursor.token


@pytest.mark.parametrize(
    "token",
    [
        "",
        "42",
        "-42",
        "20250506T090000.123456Z",
        "20250506T090000.123456Z-",
        "20250506T090000Z-42",
        "2025-05-06T09:00:00Z-42",
        "20250506T090000.123456Z-4x",
        "20250506T090000.123456Z-" + "9" * 19,
        "20251306T090000.123456Z-42",
    ],
)
def test_anything_else_is_refused(token: str) -> None:
    assert Cursor.parse(token) is None
