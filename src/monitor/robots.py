"""robots.txt: whether a host lets the monitor fetch a URL.

Contract of :class:`RobotsRules`:

* Each origin's (scheme, host, port) ``/robots.txt`` is fetched once, with the fetch policy of
  every other request (same user agent, size cap, address checks), parsed by Protego, and kept
  for :data:`ROBOTS_MAX_AGE` (a day); then it is fetched again. Concurrent checks against one
  origin share one request.
* :meth:`RobotsRules.check` returns ``None`` when the URL may be fetched, or a
  :class:`~monitor.errors.RobotsDisallowedError` saying why not: the rules of the group that
  matches the policy's user agent (or ``*``) are applied.
* :meth:`RobotsRules.sitemaps` lists the ``Sitemap:`` lines of an origin's robots.txt, from
  the same reading (used to find a site's sitemaps, see :mod:`monitor.discovery`).
* A missing robots.txt (any 4xx) or one that cannot be used (too large, a refused address)
  allows everything, as RFC 9309 says for "unavailable". One that cannot be reached right now
  (a timeout, a 5xx) allows everything too, and is asked again after
  :data:`UNREACHABLE_RETRY`: a host's failing robots.txt should not silence its feed, which
  fails on its own if the host is down.

The rules live as long as the object (:class:`monitor.pipeline.collect.Fetcher` holds one);
between cycles they are kept in the database (``robots_txt``, see
:mod:`monitor.pipeline.sources`): :meth:`RobotsRules.remember` takes them back and
:meth:`RobotsRules.fetched` lists those read anew.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

import httpx
from protego import Protego

from monitor.errors import FetchError, RobotsDisallowedError, TransientFetchError
from monitor.fetch import FetchPolicy, fetch

ROBOTS_MAX_AGE = timedelta(days=1)
UNREACHABLE_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class KnownRobots:
    """One origin's robots.txt as read, to be kept between cycles (``robots_txt``)."""

    origin: str
    body: str | None  # None: everything is allowed (none published, or unreachable)
    fetched_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class _Rules:
    known: KnownRobots
    parser: Protego | None


def _rules(known: KnownRobots) -> _Rules:
    return _Rules(known, Protego.parse(known.body) if known.body is not None else None)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: the scope of one robots.txt (credentials left
    out)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme.lower()}://{host}{port}"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RobotsRules:
    """Every origin's robots.txt rules, fetched when first needed and kept for a day."""

    def __init__(self, policy: FetchPolicy, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.policy = policy
        self._clock = clock
        self._rules: dict[str, _Rules] = {}
        self._read: set[str] = set()  # origins whose robots.txt this object fetched
        self._pending: dict[tuple[int, str], asyncio.Task[_Rules]] = {}
        self._lock = threading.Lock()  # the rules may be asked for from several event loops

    def remember(self, known: Iterable[KnownRobots]) -> None:
        """Take rules read earlier (by another cycle): used until they expire."""
        with self._lock:
            for each in known:
                if each.origin not in self._rules:
                    self._rules[each.origin] = _rules(each)

    def fetched(self) -> list[KnownRobots]:
        """The rules this object read itself, to be kept for later cycles."""
        with self._lock:
            return [self._rules[o].known for o in sorted(self._read) if o in self._rules]

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

    async def sitemaps(self, client: httpx.AsyncClient, url: str) -> list[str]:
        """The sitemaps the robots.txt of ``url``'s origin names (``Sitemap:`` lines), in order."""
        rules = await self._rules_of(client, origin_of(url))
        if rules.parser is None:
            return []
        return list(dict.fromkeys(str(s) for s in rules.parser.sitemaps))

    def crawl_delay(self, url: str) -> float | None:
        """The ``Crawl-delay`` for the configured user agent in the rules already read for
        ``url``'s origin (after :meth:`check`), if they give one."""
        with self._lock:
            rules = self._rules.get(origin_of(url))
        if rules is None or rules.parser is None:
            return None
        delay = rules.parser.crawl_delay(self.policy.user_agent)
        return float(delay) if delay is not None else None

    async def _rules_of(self, client: httpx.AsyncClient, origin: str) -> _Rules:
        key = (id(asyncio.get_running_loop()), origin)
        with self._lock:
            known = self._rules.get(origin)
            if known is not None and known.known.expires_at > self._clock():
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
                self._read.add(key[1])

    async def _fetch(self, client: httpx.AsyncClient, origin: str) -> _Rules:
        now = self._clock()
        body: str | None = None
        kept = ROBOTS_MAX_AGE
        try:
            result = await fetch(client, f"{origin}/robots.txt", self.policy)
            body = result.content.decode("utf-8", errors="replace")
        except TransientFetchError:
            kept = UNREACHABLE_RETRY
        except FetchError:
            pass  # none published (4xx), or none usable: everything is allowed
        return _rules(KnownRobots(origin, body, now, now + kept))
