"""Discovery: from a site's home or section page to the feed or sitemap a source polls; from a
sitemap index to the entries of its newest sitemaps.

Contract:

* :meth:`Reader.discover` fetches the page and lists its candidates: the feeds the page
  advertises (``<link rel="alternate">``, see :func:`monitor.feeds.advertised_feeds`); when it
  advertises none, the common feed paths (:func:`common_feed_urls`: under a section page's own
  path first, then at the site's root); and, when none of those is a usable feed, the sitemaps
  the origin's robots.txt names (``Sitemap:`` lines, read through
  :class:`~monitor.robots.RobotsRules`, which keeps that reading for the day). Every candidate
  is fetched with the fetch policy of every other request (address checks, size cap, redirects;
  robots.txt obeyed unless the source ignores it) and parsed; a sitemap index is read as
  :meth:`Reader.read_index` reads it. A URL that is not an HTML page is its own only
  candidate. Nothing is stored here.
* :func:`choose` is the rule, pure and total: of the candidates that were read, a feed is
  preferred to a sitemap; then one with entries; then one whose entries are dated; then, for a
  section page (a path other than ``/``), one on the same host under the section's path; then
  the one whose newest entry is newest; then the first found (page links come first). It
  returns the chosen candidate's index and the reason in words (``None`` and why when no
  candidate could be read).
* :meth:`Reader.read_index` reads a sitemap index into one feed of kind ``"sitemapindex"``
  whose entries are those of its sitemaps: newest sitemaps first by ``<lastmod>`` (undated ones
  last), at most :attr:`IndexRules.children` sitemaps fetched per reading, indexes nested at
  most :attr:`IndexRules.depth` levels below the source's, none fetched twice (an index that
  lists itself or its parent ends there), gzipped ones (``.xml.gz``) included. Each sitemap is
  fetched with its stored validators (conditional GET): one unchanged since it was last read
  whole answers 304 and adds nothing. A sitemap that fails is named in ``problems``; one that
  failed transiently makes the reading incomplete, so its index's validators are not kept and
  the next poll reads it again. Entries are merged newest first, each URL once, at most
  :data:`monitor.feeds.MAX_SITEMAP_ENTRIES`; the per-poll cap and the store of entries already
  seen (see :mod:`monitor.pipeline.collect`) decide which are new.
* Given ``since``, the time of the source's last poll whose entries were all dealt with, a
  reading skips what cannot hold anything new (:meth:`IndexRules.cutoff`, with a margin for
  publishers' clocks): the sitemaps of an index whose ``<lastmod>`` is older are not fetched
  (:func:`recent_sitemaps`), nor counted against :attr:`IndexRules.children`, and the URLs of
  a sitemap whose ``<lastmod>`` is older are left out (:func:`recent_entries`). Undated ones
  are always read: nothing says they are old. A large index is then not read again every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.errors import FetchError, ParseError, TransientFetchError
from monitor.feeds import (
    MAX_SITEMAP_ENTRIES,
    FeedsParser,
    advertised_feeds,
    is_html_page,
    newest_sitemaps,
    parse_feeds,
)
from monitor.fetch import FetchLimits, FetchPolicy, FetchRequest, fetch_all
from monitor.models import FeedEntry, FetchResult, ParsedFeed, SitemapRef
from monitor.robots import RobotsRules
from monitor.urls import host_of
from monitor.wording import counted

# Tried, in this order, when a page advertises no feed.
COMMON_FEED_PATHS = ("feed", "rss", "rss.xml", "atom.xml", "feed.xml", "index.xml")
# Sitemaps named by robots.txt that are looked at, at most.
MAX_ROBOTS_SITEMAPS = 3
FEED_KINDS = frozenset({"rss", "atom", "json"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Validators = tuple[str | None, str | None]
"""A document's stored ETag and Last-Modified."""


@dataclass(frozen=True, slots=True)
class IndexRules:
    """How far a sitemap index is followed in one reading."""

    depth: int = 2  # index levels below the source's own index that are read
    children: int = 5  # sitemaps fetched per reading, newest first
    skip_old: bool = True  # skip sitemaps and URLs last modified before the last poll
    margin: timedelta = timedelta(hours=1)  # ... less this

    def cutoff(self, since: datetime | None) -> datetime | None:
        """What is last modified before this time was there at the poll of ``since`` (the
        last one whose entries were all dealt with); None: read everything."""
        if since is None or not self.skip_old:
            return None
        return since - self.margin


def recent_sitemaps(refs: Sequence[SitemapRef], cutoff: datetime | None) -> list[SitemapRef]:
    """The sitemaps of ``refs`` modified at or after ``cutoff``, or undated, in order."""
    if cutoff is None:
        return list(refs)
    return [r for r in refs if r.lastmod is None or r.lastmod >= cutoff]


def recent_entries(entries: Sequence[FeedEntry], cutoff: datetime | None) -> tuple[FeedEntry, ...]:
    """The entries of a sitemap dated at or after ``cutoff``, or undated, in order."""
    if cutoff is None:
        return tuple(entries)
    return tuple(e for e in entries if e.published is None or e.published >= cutoff)


@dataclass(frozen=True, slots=True)
class StoredValidators:
    """Validators of a document read whole in a poll, to be kept by its URL."""

    url: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class Reading:
    """A feed as a poll read it: for a sitemap index, the entries of the sitemaps read."""

    feed: ParsedFeed
    etag: str | None = None
    last_modified: str | None = None
    children: tuple[StoredValidators, ...] = ()  # an index's sitemaps read whole
    problems: tuple[str, ...] = ()  # an index's sitemaps that could not be read
    complete: bool = True  # False: a sitemap failed transiently; read the index again next time


@dataclass(frozen=True, slots=True)
class Candidate:
    """A feed or sitemap found for a page, and what reading it gave."""

    url: str
    found_by: str  # "page link" | "common path" | "robots.txt" | "the URL itself"
    reading: Reading | None = field(default=None, compare=False)
    error: str | None = None

    @property
    def kind(self) -> str:
        return self.reading.feed.kind if self.reading is not None else "-"

    @property
    def entries(self) -> int:
        return len(self.reading.feed.entries) if self.reading is not None else 0

    @property
    def newest(self) -> datetime | None:
        if self.reading is None:
            return None
        dates = [e.published for e in self.reading.feed.entries if e.published is not None]
        return max(dates) if dates else None

    @property
    def dated(self) -> bool:
        return self.newest is not None

    @property
    def is_feed(self) -> bool:
        return self.kind in FEED_KINDS


@dataclass(frozen=True, slots=True)
class Discovery:
    """The candidates found for a page, the one chosen (an index into them) and why."""

    page_url: str
    candidates: tuple[Candidate, ...]
    chosen: int | None
    reason: str

    @property
    def choice(self) -> Candidate | None:
        return self.candidates[self.chosen] if self.chosen is not None else None


def section_prefix(page_url: str) -> str | None:
    """The path a section page stands for (``/world/`` for ``/world/`` or ``/world/index.html``),
    or ``None`` for a home page."""
    path = urlsplit(page_url).path or "/"
    prefix = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
    return None if prefix == "/" else prefix


def common_feed_urls(page_url: str) -> list[str]:
    """The common feed URLs of a page's site: under a section page's path, then at the root."""
    parts = urlsplit(page_url)
    root = f"{parts.scheme}://{parts.netloc}/"
    bases = [urljoin(root, prefix)] if (prefix := section_prefix(page_url)) else []
    bases.append(root)
    return list(dict.fromkeys(base + path for base in bases for path in COMMON_FEED_PATHS))


def _in_section(candidate: Candidate, page_url: str) -> bool:
    prefix = section_prefix(page_url)
    if prefix is None:
        return False
    page, url = urlsplit(page_url), urlsplit(candidate.url)
    return url.netloc.lower() == page.netloc.lower() and url.path.startswith(prefix)


def choose(page_url: str, candidates: Sequence[Candidate]) -> tuple[int | None, str]:
    """The candidate a source set to ``page_url`` polls, and why (see the module docstring)."""
    usable = [i for i, c in enumerate(candidates) if c.reading is not None]
    if not usable:
        tried = len(candidates)
        return (
            None,
            f"no feed or sitemap found ({counted(tried, 'candidate')} tried, none readable)",
        )

    def rank(i: int) -> tuple[bool, bool, bool, bool, datetime, int]:
        c = candidates[i]
        newest = c.newest or _EPOCH
        return (c.is_feed, c.entries > 0, c.dated, _in_section(c, page_url), newest, -i)

    best = max(usable, key=rank)
    chosen = candidates[best]
    why = [f"{chosen.kind} found by {chosen.found_by}"]
    if chosen.is_feed and any(not candidates[i].is_feed for i in usable):
        why.append("a feed is preferred to a sitemap")
    if chosen.dated:
        newest = chosen.newest or _EPOCH
        why.append(f"dated entries, newest {newest:%Y-%m-%d %H:%M} UTC")
    elif chosen.entries:
        why.append("its entries are undated")
    else:
        why.append("no entries yet")
    if _in_section(chosen, page_url):
        why.append(f"under the section's path {section_prefix(page_url)}")
    others = len(usable) - 1
    why.append(
        f"{counted(others, 'other readable candidate')}" if others else "the only readable one"
    )
    return best, "; ".join(why)


def merged_entries(feeds: Sequence[ParsedFeed]) -> tuple[FeedEntry, ...]:
    """The entries of ``feeds``, each URL once, newest first (undated last), capped."""
    seen: dict[str, FeedEntry] = {}
    for feed in feeds:
        for entry in feed.entries:
            seen.setdefault(entry.url, entry)
    ordered = sorted(seen.values(), key=lambda e: e.published or _EPOCH, reverse=True)
    return tuple(ordered[:MAX_SITEMAP_ENTRIES])


def _unvisited(level: Sequence[SitemapRef], visited: set[str], room: int) -> list[SitemapRef]:
    """The sitemaps of ``level`` not visited yet, in order, at most ``room`` of them; each one
    taken is added to ``visited``."""
    batch: list[SitemapRef] = []
    for ref in level:
        if len(batch) >= room:
            break
        if ref.url not in visited:
            visited.add(ref.url)
            batch.append(ref)
    return batch


@dataclass(slots=True)
class Reader:
    """Fetches and reads pages, feeds and sitemaps for discovery and sitemap indexes, with one
    client, one fetch policy and (when given) the source's robots.txt rules."""

    client: httpx.AsyncClient
    policy: FetchPolicy
    robots: RobotsRules | None = None
    obey_robots: bool = True
    parse: FeedsParser = parse_feeds
    rules: IndexRules = field(default_factory=IndexRules)
    limits: FetchLimits | None = None
    # Stored validators of sitemaps read before, by URL (for a conditional GET).
    validators: Callable[[Sequence[str]], Mapping[str, Validators]] | None = None

    async def fetch(self, requests: Sequence[FetchRequest]) -> list[FetchResult | FetchError]:
        """Fetch ``requests``; one its host's robots.txt disallows (when obeyed) is refused.
        Every request of this reader shares one :class:`~monitor.fetch.FetchLimits`: a host
        is paced by the policy's ``host_delay_s`` and its robots.txt ``Crawl-delay``."""
        if self.limits is None:
            self.limits = FetchLimits(self.policy)
        refused: list[FetchError | None] = [None] * len(requests)
        if self.robots is not None and self.obey_robots:
            checks = [self.robots.check(self.client, r.url) for r in requests]
            refused = list(await asyncio.gather(*checks))
            for request in requests:
                delay = self.robots.crawl_delay(request.url)
                if delay is not None:
                    with contextlib.suppress(ParseError):
                        self.limits.pace(host_of(request.url), delay)
        allowed = [r for r, no in zip(requests, refused, strict=True) if no is None]
        fetched = iter(await fetch_all(self.client, allowed, self.policy, self.limits))
        return [next(fetched) if no is None else no for no in refused]

    async def _parse(self, results: Sequence[FetchResult]) -> list[ParsedFeed | ParseError]:
        if not results:
            return []
        return await asyncio.to_thread(self.parse, list(results))

    async def read_index(
        self,
        index: ParsedFeed,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        since: datetime | None = None,
    ) -> Reading:
        """Read the sitemaps of ``index`` (see the module docstring); ``etag`` and
        ``last_modified`` are the index's own, kept in the reading; ``since``: the source's
        last poll whose entries were all dealt with (what is older is skipped)."""
        cutoff = self.rules.cutoff(since)
        visited = {index.url}
        level = recent_sitemaps(index.sitemaps, cutoff)
        feeds: list[ParsedFeed] = []
        children: list[StoredValidators] = []
        problems: list[str] = []
        complete = True
        fetched = 0
        for depth in range(1, self.rules.depth + 1):
            batch = _unvisited(level, visited, self.rules.children - fetched)
            if not batch:
                break
            fetched += len(batch)
            nested, read_all = await self._read_level(batch, depth, feeds, children, problems)
            complete = complete and read_all
            level = recent_sitemaps(newest_sitemaps(nested), cutoff)
        feed = replace(
            index,
            entries=recent_entries(merged_entries(feeds), cutoff),
            rejected=tuple(r for f in feeds for r in f.rejected),
        )
        return Reading(feed, etag, last_modified, tuple(children), tuple(problems), complete)

    async def _read_level(
        self,
        batch: Sequence[SitemapRef],
        depth: int,
        feeds: list[ParsedFeed],
        children: list[StoredValidators],
        problems: list[str],
    ) -> tuple[list[SitemapRef], bool]:
        """Fetch (conditionally) and parse ``batch``, level ``depth`` of an index: each sitemap
        read goes to ``feeds`` and each document read (sitemap or nested index) has its
        validators put in ``children``; each failure goes to ``problems``. Returns the sitemaps
        the nested indexes list, and whether no fetch failed for a temporary reason."""
        stored = await self._stored([r.url for r in batch])
        requests = [
            FetchRequest(r.url, *stored.get(r.url, (None, None)))  # conditional GET
            for r in batch
        ]
        results = await self.fetch(requests)
        bodies = [r for r in results if isinstance(r, FetchResult) and not r.not_modified]
        parsed = iter(await self._parse(bodies))
        nested: list[SitemapRef] = []
        complete = True
        for ref, result in zip(batch, results, strict=True):
            if isinstance(result, FetchError):
                problems.append(f"{ref.url}: {type(result).__name__}: {result}")
                complete = complete and not isinstance(result, TransientFetchError)
                continue
            if result.not_modified:
                continue
            outcome = next(parsed)
            if isinstance(outcome, ParseError):
                problems.append(f"{ref.url}: {outcome}")
                continue
            if outcome.kind == "sitemapindex":
                nested.extend(outcome.sitemaps)
                if depth == self.rules.depth and outcome.sitemaps:
                    problems.append(
                        f"{ref.url}: an index nested deeper than {self.rules.depth} "
                        "levels, not followed"
                    )
            else:
                feeds.append(outcome)
            children.append(StoredValidators(ref.url, result.etag, result.last_modified))
        return nested, complete

    async def _stored(self, urls: Sequence[str]) -> Mapping[str, Validators]:
        if self.validators is None:
            return {}
        return await asyncio.to_thread(self.validators, urls)

    async def read(self, result: FetchResult, feed: ParsedFeed) -> Reading:
        """A fetched, parsed document as a poll reads it (an index is followed)."""
        if feed.kind == "sitemapindex":
            return await self.read_index(feed, etag=result.etag, last_modified=result.last_modified)
        return Reading(feed, result.etag, result.last_modified)

    async def _candidates(self, urls: Sequence[tuple[str, str]]) -> list[Candidate]:
        results = await self.fetch([FetchRequest(url) for url, _ in urls])
        bodies = [r for r in results if isinstance(r, FetchResult)]
        parsed = iter(await self._parse(bodies))
        out: list[Candidate] = []
        for (url, found_by), result in zip(urls, results, strict=True):
            if isinstance(result, FetchError):
                out.append(Candidate(url, found_by, error=f"{type(result).__name__}: {result}"))
                continue
            outcome = next(parsed)
            if isinstance(outcome, ParseError):
                out.append(Candidate(url, found_by, error=f"{type(outcome).__name__}: {outcome}"))
                continue
            out.append(Candidate(url, found_by, await self.read(result, outcome)))
        return out

    async def discover(self, page_url: str, page: FetchResult | None = None) -> Discovery:
        """The candidates for ``page_url`` and the one :func:`choose` picks; ``page`` is the
        page as already fetched, if it was (otherwise it is fetched here)."""
        if page is None:
            [fetched] = await self.fetch([FetchRequest(page_url)])
            if isinstance(fetched, FetchError):
                why = f"the page failed: {type(fetched).__name__}: {fetched}"
                return Discovery(page_url, (), None, why)
            page = fetched
        if not is_html_page(page.content):
            # A feed or sitemap given as the page: it is its own (only) candidate.
            [outcome] = await self._parse([page])
            if isinstance(outcome, ParseError):
                error = f"{type(outcome).__name__}: {outcome}"
                itself = Candidate(page_url, "the URL itself", error=error)
            else:
                itself = Candidate(page_url, "the URL itself", await self.read(page, outcome))
            chosen, reason = choose(page_url, [itself])
            return Discovery(page_url, (itself,), chosen, reason)
        base = page.final_url or page.url
        links = [(url, "page link") for url in advertised_feeds(page.content, base)]
        if not links:
            links = [(url, "common path") for url in common_feed_urls(page.final_url or page_url)]
        candidates = await self._candidates(links)
        if not any(c.is_feed for c in candidates):
            named = await self._robots_sitemaps(page.final_url or page_url)
            candidates += await self._candidates([(url, "robots.txt") for url in named])
        chosen, reason = choose(page_url, candidates)
        return Discovery(page_url, tuple(candidates), chosen, reason)

    async def _robots_sitemaps(self, url: str) -> list[str]:
        robots = self.robots if self.robots is not None else RobotsRules(self.policy)
        return (await robots.sitemaps(self.client, url))[:MAX_ROBOTS_SITEMAPS]
