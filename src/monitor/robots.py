"""robots.txt: whether a host lets the monitor fetch a URL.

Contract of :class:`RobotsRules`:

* Each origin's (scheme, host, port) ``/robots.txt`` is fetched once, with the fetch policy of
  every other request (same user agent, size cap, address checks), parsed by Protego, and kept
  for :data:`ROBOTS_MAX_AGE` (a day); then it is fetched again. Concurrent checks against one
  origin share one request.
* :meth:`RobotsRules.check` returns ``None`` when the URL may be fetched, or a
  :class:`~monitor.errors.RobotsDisallowedError` saying why not: the rules of the group that
  matches the policy's user agent (or ``*``) are applied.
* A missing robots.txt (any 4xx) or one that cannot be used (too large, a refused address)
  allows everything, as RFC 9309 says for "unavailable". One that cannot be reached right now
  (a timeout, a 5xx) allows everything too, and is asked again after
  :data:`UNREACHABLE_RETRY`: a host's failing robots.txt should not silence its feed, which
  fails on its own if the host is down.

The rules live as long as the object; :class:`monitor.pipeline.collect.Fetcher` holds one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

import httpx
from protego import Protego

from monitor.errors import FetchError, RobotsDisallowedError, TransientFetchError
from monitor.fetch import FetchPolicy, fetch

ROBOTS_MAX_AGE = timedelta(days=1)
UNREACHABLE_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _Rules:
    parser: Protego | None  # None: everything is allowed
    expires: float  # on the rules' clock


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: the scope of one robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class RobotsRules:
    """Every origin's robots.txt rules, fetched when first needed and kept for a day."""

    def __init__(self, policy: FetchPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._rules: dict[str, _Rules] = {}
        self._pending: dict[tuple[int, str], asyncio.Task[_Rules]] = {}
        self._lock = threading.Lock()  # the rules may be asked for from several event loops

    async def check(self, client: httpx.AsyncClient, url: str) -> RobotsDisallowedError | None:
        """``None`` when ``url`` may be fetched; otherwise the error that says why not."""
        origin = origin_of(url)
        rules = await self._rules_of(client, origin)
        if rules.parser is None or rules.parser.can_fetch(url, self.policy.user_agent):
            return None
        return RobotsDisallowedError(
            f"{origin}/robots.txt disallows {url} for user agent {self.policy.user_agent!r}",
            url=url,
        )

    async def _rules_of(self, client: httpx.AsyncClient, origin: str) -> _Rules:
        key = (id(asyncio.get_running_loop()), origin)
        with self._lock:
            known = self._rules.get(origin)
            if known is not None and known.expires > self._clock():
                return known
            task = self._pending.get(key)
            if task is None:
                task = asyncio.ensure_future(self._fetch(client, origin))
                task.add_done_callback(partial(self._fetched, key))
                self._pending[key] = task
        # Shielded: a caller cancelled must not cancel the request the others wait for.
        return await asyncio.shield(task)

    def _fetched(self, key: tuple[int, str], task: asyncio.Task[_Rules]) -> None:
        with self._lock:
            if self._pending.get(key) is task:
                del self._pending[key]
            if not task.cancelled() and task.exception() is None:
                self._rules[key[1]] = task.result()

    async def _fetch(self, client: httpx.AsyncClient, origin: str) -> _Rules:
        now = self._clock()
        try:
            result = await fetch(client, f"{origin}/robots.txt", self.policy)
        except TransientFetchError:
            return _Rules(None, now + UNREACHABLE_RETRY.total_seconds())
        except FetchError:
            return _Rules(None, now + ROBOTS_MAX_AGE.total_seconds())
        text = result.content.decode("utf-8", errors="replace")
        return _Rules(Protego.parse(text), now + ROBOTS_MAX_AGE.total_seconds())
