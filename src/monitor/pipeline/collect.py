"""Collect stage: poll feeds, keep only entries not seen before, fetch their pages.

One shared ``httpx.AsyncClient`` serves the whole stage (injected, or built from settings).
Feeds are fetched with the validators stored from the previous poll, so an unchanged feed costs
a 304. A poll's validators are stored only once its new entries are dealt with
(:func:`commit_validators`, at the end of a cycle): a cycle that dies half-way, or a page that
failed transiently, leaves the source's old validators in place, and the next poll reads the
whole feed again and picks up the entries still missing. Entries whose canonical URL or GUID is
already stored (their article keys: :func:`monitor.stories.ingest.keys_of`, the one place the
keys are written) are dropped *before* their page is fetched (unless their feed marks them updated
and the source follows updates, see :func:`select_new`), pages parked after failing cycle
after cycle are dropped too (:mod:`monitor.pipeline.failures`), at most ``max_entries`` per
source are taken, its newest (:func:`newest_per_source`; the source then keeps its old
validators, so the next poll lists the rest), judged by the freshness guard
(:func:`judge_freshness`: a date ahead of the fetch is clamped, a stale entry is marked not to
alert, and so are the links of a section page's first reading), and those are fetched in
publication order,
within the budgets a :class:`Fetcher` is given (:class:`~monitor.fetch.FetchBudget`: a page
not fetched in budget is left for later). Every failure becomes a
:class:`~monitor.models.SourceError` in the result; nothing here raises for a single bad
source or page. What is kept per source between cycles
(health, validators, requested waits) is :mod:`monitor.pipeline.sources`.

A :class:`Fetcher` lets synchronous code (the cycle's stages, on several threads; see
:func:`monitor.pipeline.cycle.compose`) poll with :func:`poll_sources` and then fetch pages batch
by batch, all through one client and one set of concurrency limits.
Feeds are parsed off the client's event loop, and with :func:`poll_sources` wherever its
``parse`` says (the flow parses them in the extraction worker processes, in parallel).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import random
import threading
from collections import Counter
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import ChannelConfig
from monitor.alerts.notices import queue_notices
from monitor.config import SOURCE_FAILING_AFTER, Settings, SourceConfig
from monitor.discovery import IndexRules, Reader, Validators
from monitor.errors import (
    FetcherClosedError,
    FetchError,
    NotAFeedError,
    ParseError,
    PermanentFetchError,
    RobotsDisallowedError,
    TransientFetchError,
)
from monitor.feeds import FeedsParser, parse_feeds
from monitor.fetch import (
    FetchBudget,
    FetchLimits,
    FetchPolicy,
    FetchRequest,
    fetch_all,
    make_client,
)
from monitor.freshness import FreshnessRules, is_archive_dump, judge
from monitor.models import FeedEntry, FetchResult, ParsedFeed, SourceError, SourceErrorKind
from monitor.pipeline.failures import parked_urls
from monitor.pipeline.resolve import (
    ValidatorLookup,
    entry_errors,
    needs_discovery,
    recent_only,
    resolve_polls,
)
from monitor.pipeline.sources import (
    FeedPoll,
    SourceHealthChange,
    SourceState,
    deferred,
    describe_waits,
    known_robots,
    record_polls,
    store_robots,
    store_validators,
    stored_validators,
    sync_sources,
)
from monitor.polling import PollingRules, cache_lifetime, failure_class
from monitor.robots import RobotsRules
from monitor.sections import read_section
from monitor.storage.db import take_write_lock
from monitor.storage.tables import ArticleRow
from monitor.stories.ingest import keys_of, known_keys
from monitor.timeutil import as_utc
from monitor.urls import canonicalize, host_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PageJob:
    source_id: int
    source: str
    entry: FeedEntry
    canonical_url: str
    # Set when the entry is stored already and this job reads its updated version.
    revision_of: int | None = None
    # Decided by the freshness guard (see monitor.freshness): why the article never alerts,
    # and the feed's date when it lay ahead of the fetch (the entry is then dated at the fetch).
    alert_hold: str | None = None
    feed_date: datetime | None = None
    obey_robots: bool = True  # its source obeys robots.txt (see monitor.robots)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    job: PageJob
    html: bytes | None
    final_url: str
    error: SourceError | None = None
    retry_later: bool = False  # a transient failure: leave the entry for the next cycle


def _source_error(source: str, url: str, kind: SourceErrorKind, exc: Exception) -> SourceError:
    return SourceError(source, url, kind, type(exc).__name__, str(exc))


async def poll_feeds(
    client: httpx.AsyncClient,
    policy: FetchPolicy,
    sources: Sequence[SourceState],
    parse: FeedsParser = parse_feeds,
    robots: RobotsRules | None = None,
    *,
    index_rules: IndexRules | None = None,
    validators: ValidatorLookup | None = None,
) -> list[FeedPoll]:
    """Poll each source: fetch and parse its feed, then discover the feed of a source set to a
    page and read a sitemap index's sitemaps (:func:`monitor.pipeline.resolve.resolve_polls`)."""
    results = await fetch_feeds(client, policy, sources, robots)
    polls = recent_only(to_polls(sources, results, policy, parse), index_rules or IndexRules())
    return await resolve_polls(
        partial(_reader, client, policy, robots, parse, index_rules), polls, validators
    )


def _reader(
    client: httpx.AsyncClient,
    policy: FetchPolicy,
    robots: RobotsRules | None,
    parse: FeedsParser,
    rules: IndexRules | None,
    source: SourceState,
    limits: FetchLimits | None = None,
) -> Reader:
    return Reader(client, policy, robots, source.obey_robots, parse, rules or IndexRules(), limits)


async def _refusals(
    client: httpx.AsyncClient, robots: RobotsRules | None, urls: Sequence[tuple[str, bool]]
) -> list[RobotsDisallowedError | None]:
    """For each (url, obeys robots.txt): the refusal of its host's robots.txt, if any."""
    if robots is None:
        return [None] * len(urls)
    checks = [robots.check(client, url) if obey else _allowed() for url, obey in urls]
    return list(await asyncio.gather(*checks))


async def _allowed() -> None:
    return None


# The order feeds are requested in, drawn again every cycle (see fetch_feeds).
SOURCE_ORDER = random.Random()  # noqa: S311 - spreading requests, not a secret


def _paced(
    limits: FetchLimits, robots: RobotsRules | None, urls: Sequence[tuple[str, bool]]
) -> FetchLimits:
    """``limits``, pacing each host whose robots.txt (read by :func:`_refusals`) gives a
    ``Crawl-delay`` for the sources that obey it."""
    if robots is None:
        return limits
    for url, obey in urls:
        delay = robots.crawl_delay(url) if obey else None
        if delay is not None:
            with contextlib.suppress(ParseError):
                limits.pace(host_of(url), delay)
    return limits


async def fetch_feeds(
    client: httpx.AsyncClient,
    policy: FetchPolicy,
    sources: Sequence[SourceState],
    robots: RobotsRules | None = None,
) -> list[FetchResult | FetchError]:
    """Fetch every source's feed with its stored validators (a 304 when unchanged); a feed its
    host's robots.txt disallows (``robots``, for the sources that obey it) is not requested:
    its poll fails with :class:`~monitor.errors.RobotsDisallowedError`."""
    urls = [(s.poll_url, s.obey_robots) for s in sources]
    refused = await _refusals(client, robots, urls)
    limits = _paced(FetchLimits(policy), robots, urls)
    # Requests start in the order asked for: a random order each cycle, so that sources on one
    # host take turns at being first and monitors on one schedule do not poll in lock-step.
    allowed = [i for i, no in enumerate(refused) if no is None]
    SOURCE_ORDER.shuffle(allowed)
    requests = [
        FetchRequest(
            sources[i].poll_url, etag=sources[i].etag, last_modified=sources[i].last_modified
        )
        for i in allowed
    ]
    fetched = dict(zip(allowed, await fetch_all(client, requests, policy, limits), strict=True))
    return [fetched[i] if no is None else no for i, no in enumerate(refused)]


def to_polls(
    sources: Sequence[SourceState],
    results: Sequence[FetchResult | FetchError],
    policy: FetchPolicy,
    parse: FeedsParser = parse_feeds,
) -> list[FeedPoll]:
    """The outcome of each source's poll from its fetch; the documents fetched are parsed with
    one call of ``parse``, which may run them in parallel. A section page (a source of kind
    ``page``) is read for its article links instead (:func:`monitor.sections.read_section`)."""
    bodies = [
        r
        for s, r in zip(sources, results, strict=True)
        if isinstance(r, FetchResult) and not r.not_modified and s.kind != "page"
    ]
    outcomes = parse(bodies)
    if len(outcomes) != len(bodies):
        raise ValueError(f"{len(bodies)} feeds parsed into {len(outcomes)} results")
    parsed = iter(outcomes)
    polls: list[FeedPoll] = []
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, FetchError):
            polls.append(_failed_poll(source, result, policy))
        elif result.not_modified:
            polls.append(
                FeedPoll(
                    source,
                    not_modified=True,
                    etag=result.etag or source.etag,
                    last_modified=result.last_modified or source.last_modified,
                    cache_for=cache_lifetime(result.headers.get("cache-control"), None),
                )
            )
        elif source.kind == "page":
            polls.append(_parsed_poll(source, result, _read_section(result)))
        else:
            polls.append(_parsed_poll(source, result, next(parsed)))
    return polls


def _read_section(result: FetchResult) -> ParsedFeed | ParseError:
    try:
        return read_section(result)
    except ParseError as exc:
        return exc


# Answers that say a URL is gone: a source's stored feed that gives one is looked for again.
_GONE_STATUSES = frozenset({404, 410})


def _failed_poll(source: SourceState, error: FetchError, policy: FetchPolicy) -> FeedPoll:
    wait = error.retry_after_s if isinstance(error, TransientFetchError) else None
    return FeedPoll(
        source,
        error=_source_error(source.name, source.poll_url, SourceErrorKind.FETCH, error),
        retry_after_s=min(wait, policy.max_retry_after_s) if wait is not None else None,
        failure=failure_class(error),
        gone=isinstance(error, PermanentFetchError) and error.status in _GONE_STATUSES,
    )


def _parsed_poll(
    source: SourceState, result: FetchResult, parsed: ParsedFeed | ParseError
) -> FeedPoll:
    if isinstance(parsed, ParseError):
        return FeedPoll(
            source,
            error=_source_error(source.name, source.poll_url, SourceErrorKind.PARSE, parsed),
            failure=failure_class(parsed),
            page=isinstance(parsed, NotAFeedError),
            document=result if isinstance(parsed, NotAFeedError) else None,
        )
    return FeedPoll(
        source,
        feed=parsed,
        etag=result.etag,
        last_modified=result.last_modified,
        entry_errors=entry_errors(source, parsed),
        cache_for=cache_lifetime(result.headers.get("cache-control"), parsed.ttl_minutes),
    )


def commit_validators(
    sessions: sessionmaker[Session],
    polls: Sequence[FeedPoll],
    pages: Iterable[FetchedPage],
    *,
    unfinished: Iterable[int] = (),
    polled_at: datetime | None = None,
) -> None:
    """:func:`store_validators` in a transaction of its own, once ``pages`` (every page fetched
    for the polls' new entries) are stored; sources with a page left for later, and those in
    ``unfinished`` (entries beyond the per-poll cap), are unfinished: they keep their previous
    validators, so their next poll reads the whole feed and not a 304, and reads a sitemap from
    the same point. ``polled_at``: when the polls were made (default: now)."""
    unfinished = {*unfinished, *(p.job.source_id for p in pages if p.retry_later)}
    with sessions.begin() as session:
        take_write_lock(session)
        store_validators(session, polls, unfinished=unfinished, polled_at=polled_at)


def entry_keys(source: str, canonical_url: str, guid: str | None) -> list[str]:
    """The ``article_keys`` an entry is known by (see monitor.stories.ingest)."""
    return keys_of(source, canonical_url, guid)


def select_new(session: Session, polls: Sequence[FeedPoll]) -> tuple[list[PageJob], int]:
    """Entries not stored yet, one job per canonical URL; returns (jobs, skipped count).
    Pages parked after failing cycle after cycle (:mod:`monitor.pipeline.failures`) are skipped.

    For a source that follows updates, a stored entry the feed marks as updated after the
    latest version read is read again (:func:`updated_entries`).
    """
    candidates: list[tuple[PageJob, list[str]]] = []
    seen_urls: set[str] = set()
    skipped = 0
    for poll in polls:
        if poll.feed is None:
            continue
        for entry in poll.feed.entries:
            try:
                canonical = canonicalize(entry.url, base=poll.source.url)
            except ParseError:
                skipped += 1
                continue
            if canonical in seen_urls:  # the same story listed twice in this cycle
                skipped += 1
                continue
            seen_urls.add(canonical)
            job = PageJob(
                poll.source.id,
                poll.source.name,
                entry,
                canonical,
                obey_robots=poll.source.obey_robots,
            )
            candidates.append((job, entry_keys(poll.source.name, canonical, entry.guid)))
    known = known_keys(session, [k for _, keys in candidates for k in keys])
    parked = parked_urls(session, [job.canonical_url for job, _ in candidates])
    follow = {p.source.id for p in polls if p.source.follow_updates}
    jobs: list[PageJob] = []
    stored: list[PageJob] = []  # known entries their feed marks updated, if followed
    for job, keys in candidates:
        if job.canonical_url in parked:  # failed cycle after cycle: not fetched again
            continue
        if not known.intersection(keys):
            jobs.append(job)
        elif job.source_id in follow and job.entry.updated:
            stored.append(job)
    revisions = updated_entries(session, stored)
    skipped += len(candidates) - len(jobs) - len(revisions)
    return in_publication_order(jobs + revisions), skipped


# An entry is read again at most this many times: some publishing systems touch <updated> on
# every edit, or on every request.
MAX_REVISIONS = 5
# ... and only for updates dated within this long of its first reading: news is updated while
# it is news; a change weeks later (a correction, a re-filed archive page) is not a development
# of a story that may no longer be joined, or remembered (monitor db prune).
FOLLOW_UPDATES_FOR = timedelta(days=7)


def updated_entries(session: Session, jobs: Sequence[PageJob]) -> list[PageJob]:
    """Of ``jobs`` for entries stored already, those whose feed ``updated`` time is later than
    the latest version read (the original's fetch, or the newest revision's time), as jobs that
    read the new version; at most :data:`MAX_REVISIONS` per article, and only for updates dated
    within :data:`FOLLOW_UPDATES_FOR` of the first reading."""
    if not jobs:
        return []
    originals = {
        row.canonical_url: (row.id, as_utc(row.fetched_at))
        for row in session.execute(
            select(ArticleRow.id, ArticleRow.canonical_url, ArticleRow.fetched_at).where(
                ArticleRow.canonical_url.in_([j.canonical_url for j in jobs]),
                ArticleRow.revision_of_id.is_(None),
            )
        )
    }
    versions = {
        row.revision_of_id: (int(row.n), row.latest)
        for row in session.execute(
            select(
                ArticleRow.revision_of_id,
                func.count().label("n"),
                func.max(ArticleRow.published_at).label("latest"),
            )
            .where(ArticleRow.revision_of_id.in_([o[0] for o in originals.values()]))
            .group_by(ArticleRow.revision_of_id)
        )
    }
    out: list[PageJob] = []
    for job in jobs:
        original = originals.get(job.canonical_url)
        if original is None or job.entry.updated is None:
            continue  # known by its GUID under another URL: not this URL's versions
        article_id, fetched_at = original
        count, latest = versions.get(article_id, (0, None))
        seen = max(fetched_at, as_utc(latest)) if latest is not None else fetched_at
        updated = as_utc(job.entry.updated)
        if count < MAX_REVISIONS and seen < updated <= fetched_at + FOLLOW_UPDATES_FOR:
            out.append(replace(job, revision_of=article_id))
    return out


def judge_freshness(
    jobs: Sequence[PageJob], polls: Sequence[FeedPoll], now: datetime, rules: FreshnessRules
) -> list[PageJob]:
    """``jobs`` with the freshness guard's decision (:mod:`monitor.freshness`): an entry dated
    ahead of ``now`` is dated ``now`` (logged), a stale one is marked to be stored without
    alerting (counted in the log, per source). A source's first poll, or one with more than
    ``rules.archive_entries`` new entries, is an archive dump. An updated version of a stored
    article is not judged."""
    new = Counter(job.source_id for job in jobs if job.revision_of is None)
    first = {p.source.id for p in polls if p.source.first_poll}
    listed = {p.source.id for p in polls if p.feed is not None and p.feed.kind == "page"}
    held: Counter[str] = Counter()
    out: list[PageJob] = []
    for job in jobs:
        if job.revision_of is not None:
            out.append(job)
            continue
        archive = is_archive_dump(job.source_id in first, new[job.source_id], rules)
        fresh = judge(
            job.entry.published, now, rules, archive=archive, listed=job.source_id in listed
        )
        if fresh.feed_date is not None:
            logger.warning(
                "source %s: entry %s dated %s, ahead of the fetch; dated %s instead",
                job.source,
                job.canonical_url,
                fresh.feed_date.isoformat(),
                now.isoformat(),
            )
            job = replace(job, entry=replace(job.entry, published=fresh.published))
        if fresh.hold is not None:
            held[job.source] += 1
        out.append(replace(job, alert_hold=fresh.hold, feed_date=fresh.feed_date))
    for source, count in sorted(held.items()):
        logger.info(
            "source %s: %d new entries stale at first sight, stored without alerts", source, count
        )
    return out


_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def _dated(job: PageJob) -> datetime:
    """Sort key: the feed's own date (kept when it lay ahead of the fetch, so that entries
    dated ahead keep their order), undated last."""
    return job.feed_date or job.entry.published or _FAR_FUTURE


def newest_per_source(
    jobs: Sequence[PageJob], max_entries: int | None
) -> tuple[list[PageJob], set[int]]:
    """At most ``max_entries`` jobs per source, its newest (undated ones count as newest, in
    feed order); returns the jobs kept, in their order, and the sources that had more. Those
    others are taken by later polls: the source's validators are not stored meanwhile."""
    if max_entries is None:
        return list(jobs), set()
    by_source: dict[int, list[PageJob]] = {}
    for job in jobs:
        by_source.setdefault(job.source_id, []).append(job)
    kept: set[int] = set()
    capped: set[int] = set()
    for source_id, own in by_source.items():
        if len(own) <= max_entries:
            kept.update(id(j) for j in own)
            continue
        capped.add(source_id)
        newest = sorted(own, key=_dated, reverse=True)
        kept.update(id(j) for j in newest[:max_entries])
    return [j for j in jobs if id(j) in kept], capped


def in_publication_order(jobs: Sequence[PageJob]) -> list[PageJob]:
    """Jobs by their feed's publication time (undated last, feed order kept among equals)."""
    return sorted(jobs, key=_dated)


async def fetch_pages(
    client: httpx.AsyncClient,
    policy: FetchPolicy,
    jobs: Sequence[PageJob],
    limits: FetchLimits | None = None,
    robots: RobotsRules | None = None,
) -> list[FetchedPage]:
    """Fetch the jobs' pages. A page its host's robots.txt disallows (``robots``, for sources
    that obey it) is not requested: it fails with
    :class:`~monitor.errors.RobotsDisallowedError`, permanently, so its entry is stored with
    its feed's summary, like a page that answered 404."""
    urls = [(j.canonical_url, j.obey_robots) for j in jobs]
    refused = await _refusals(client, robots, urls)
    if limits is not None:
        _paced(limits, robots, urls)
    else:
        limits = _paced(FetchLimits(policy), robots, urls)
    allowed = [j for j, no in zip(jobs, refused, strict=True) if no is None]
    # Each source's pages are one group: they share the source's budget (FetchBudget.group_s).
    requests = [FetchRequest(j.canonical_url, group=f"source:{j.source_id}") for j in allowed]
    fetched = iter(await fetch_all(client, requests, policy, limits))
    results = [next(fetched) if no is None else no for no in refused]
    pages: list[FetchedPage] = []
    for job, res in zip(jobs, results, strict=True):
        if isinstance(res, FetchError):
            err = _source_error(job.source, job.canonical_url, SourceErrorKind.FETCH, res)
            pages.append(FetchedPage(job, None, job.canonical_url, err, retry_later=res.retryable))
        else:
            pages.append(FetchedPage(job, res.content, res.final_url))
    return pages


def validators_of(sessions: sessionmaker[Session], urls: Sequence[str]) -> dict[str, Validators]:
    """The validators stored for ``urls`` (:func:`stored_validators`), in a session of its own."""
    with sessions() as session:
        return stored_validators(session, urls)


def remember_robots(sessions: sessionmaker[Session], robots: RobotsRules, now: datetime) -> None:
    """Give ``robots`` the rules earlier cycles read that are still good (:func:`known_robots`)."""
    with sessions() as session:
        robots.remember(known_robots(session, now))


def commit_robots(sessions: sessionmaker[Session], robots: RobotsRules) -> None:
    """Keep the robots.txt rules ``robots`` read, for the next cycles (:func:`store_robots`)."""
    read = robots.fetched()
    if not read:
        return
    with sessions.begin() as session:
        take_write_lock(session)
        store_robots(session, read)


def _synced_sources(
    sessions: sessionmaker[Session], sources: Sequence[SourceConfig]
) -> list[SourceState]:
    """:func:`sync_sources` in a transaction of its own (it reads, then writes)."""
    with sessions.begin() as session:
        take_write_lock(session)
        return sync_sources(session, sources)


def _record_and_select(
    sessions: sessionmaker[Session],
    polls: Sequence[FeedPoll],
    now: datetime,
    failing_after: int,
    max_entries: int | None = None,
    freshness: FreshnessRules | None = None,
    rules: PollingRules | None = None,
    channels: Sequence[ChannelConfig] = (),
) -> tuple[list[PageJob], int, list[SourceHealthChange], set[int]]:
    """:func:`select_new` and :func:`record_polls` (the new entries found keep each source's
    rhythm) in one transaction of their own, with the notices of the health changes for
    ``channels`` (:func:`queue_notices`: told once, since they commit with the change); the
    jobs judged by :func:`judge_freshness` and capped by :func:`newest_per_source`, and the
    sources capped."""
    with sessions.begin() as session:
        take_write_lock(session)
        jobs, skipped = select_new(session, polls)
        jobs = judge_freshness(jobs, polls, now, freshness or FreshnessRules())
        kept, capped = newest_per_source(jobs, max_entries)
        # Entries past the cap are new again at the next poll: counted then, not twice.
        new = Counter(j.source_id for j in kept if j.revision_of is None)
        health = record_polls(
            session, polls, now, failing_after=failing_after, new_entries=new, rules=rules
        )
        queue_notices(session, [change.notice() for change in health], channels, now=now)
        return kept, skipped, health, capped


T = TypeVar("T")


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The limits of every request of a cycle or a check, from the ``MONITOR_HTTP__*`` settings."""
    http = settings.http
    return FetchPolicy(
        timeout_s=http.timeout_s,
        connect_timeout_s=http.connect_timeout_s,
        total_timeout_s=http.total_timeout_s,
        max_bytes=http.max_bytes,
        max_redirects=http.max_redirects,
        max_connections=http.max_connections,
        max_per_host=http.max_per_host,
        allow_private_network=settings.allow_private_network,
        user_agent=settings.user_agent,
        http2=http.http2,
        retries=http.retries,
        max_retry_after_s=http.max_retry_after_s,
        host_delay_s=http.host_delay_s,
        max_crawl_delay_s=http.max_crawl_delay_s,
    )


def polling_rules(settings: Settings) -> PollingRules:
    """When sources are polled (:mod:`monitor.polling`), from the ``MONITOR_POLLING__*``
    settings."""
    polling = settings.polling
    return PollingRules(
        adaptive=polling.adaptive,
        min_interval=timedelta(seconds=polling.min_interval_s),
        max_interval=timedelta(seconds=polling.max_interval_s),
        backoff_max=timedelta(seconds=polling.backoff_max_s),
        quiet_factor=polling.quiet_factor,
        quiet_min=timedelta(hours=polling.quiet_min_hours),
    )


def index_rules(settings: Settings) -> IndexRules:
    """How far sitemap indexes are followed, and what is too old to read again, from the
    ``MONITOR_SITEMAPS__*`` settings."""
    sitemaps = settings.sitemaps
    return IndexRules(
        depth=sitemaps.index_depth,
        children=sitemaps.children,
        skip_old=sitemaps.skip_old,
        margin=timedelta(seconds=sitemaps.lastmod_margin_s),
    )


def freshness_rules(settings: Settings) -> FreshnessRules:
    """The freshness guard's rules, from the ``MONITOR_FRESHNESS__*`` settings."""
    days = settings.freshness.max_entry_age_days
    return FreshnessRules(
        max_age=timedelta(days=days) if days > 0 else None,
        archive_entries=settings.freshness.archive_entries,
    )


_CLOSE_TIMEOUT_S = 10.0  # for the client's sockets to close once its requests are cancelled


class Fetcher:
    """One HTTP client and one set of limits, usable from any thread.

    Its :class:`~monitor.robots.RobotsRules` (given, or its own) decide which feeds and pages
    may be requested. The client lives on an event loop in a thread of its own;
    :meth:`poll_feeds` and :meth:`fetch_pages` block their caller until every request is
    answered. Batches fetched from
    several threads at once share the overall and per-host limits, and their requests start in
    the order they were asked for.

    :meth:`close` cancels whatever is still under way (a cycle that failed while later batches
    were being fetched): every caller still waiting gets :class:`FetcherClosedError` at once,
    so no thread is left waiting on a loop that no longer runs.
    """

    def __init__(
        self,
        policy: FetchPolicy,
        budget: FetchBudget | None = None,
        robots: RobotsRules | None = None,
        index_rules: IndexRules | None = None,
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.index_rules = index_rules
        self.robots = robots if robots is not None else RobotsRules(policy)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="monitor-fetch", daemon=True
        )
        self._thread.start()
        self._client: httpx.AsyncClient | None = None
        self._limits: FetchLimits | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._waiting: set[concurrent.futures.Future[Any]] = set()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._closing:
                coro.close()
                raise FetcherClosedError("the fetcher is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
            self._waiting.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise FetcherClosedError(
                "the fetcher was closed while this fetch was under way"
            ) from None
        finally:
            with self._lock:
                self._waiting.discard(future)

    def _http(self) -> tuple[httpx.AsyncClient, FetchLimits]:
        # Runs on the loop thread only, so no lock is needed.
        if self._client is None or self._limits is None:
            self._limits = FetchLimits(self.policy, self.budget)
            self._client = make_client(self.policy)
        return self._client, self._limits

    async def _fetch_feeds(self, sources: Sequence[SourceState]) -> list[FetchResult | FetchError]:
        client, _ = self._http()
        return await fetch_feeds(client, self.policy, sources, self.robots)

    async def _fetch(self, jobs: Sequence[PageJob]) -> list[FetchedPage]:
        client, limits = self._http()
        return await fetch_pages(client, self.policy, jobs, limits, self.robots)

    async def _resolve(
        self,
        polls: Sequence[FeedPoll],
        parse: FeedsParser,
        validators: ValidatorLookup | None,
    ) -> list[FeedPoll]:
        client, _ = self._http()
        reader = partial(_reader, client, self.policy, self.robots, parse, self.index_rules)
        return await resolve_polls(reader, polls, validators)

    def poll_feeds(
        self,
        sources: Sequence[SourceState],
        parse: FeedsParser = parse_feeds,
        validators: ValidatorLookup | None = None,
    ) -> list[FeedPoll]:
        """Fetch the feeds on the client's loop, then parse them here (or wherever ``parse``
        sends them): parsing is CPU work, and on the loop it would hold up every request. Then
        discover the feeds of sources set to a page and read sitemap indexes
        (:func:`monitor.pipeline.resolve.resolve_polls`; ``validators`` looks up those stored
        for an index's sitemaps)."""
        polls = to_polls(sources, self._run(self._fetch_feeds(sources)), self.policy, parse)
        polls = recent_only(polls, self.index_rules or IndexRules())
        if not any(needs_discovery(p) or (p.feed and p.feed.sitemaps) for p in polls):
            return polls
        return self._run(self._resolve(polls, parse, validators))

    def fetch_pages(self, jobs: Sequence[PageJob]) -> list[FetchedPage]:
        return self._run(self._fetch(jobs))

    def close(self) -> None:
        """Cancel every fetch under way, close the client and stop the loop's thread."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            waiting = list(self._waiting)
        # Cancelled on the loop, the requests end (sockets closed) and their callers wake up.
        stop = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            stop.result(timeout=_CLOSE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a timeout, or the loop failing: stop regardless
            stop.cancel()
        for future in waiting:
            future.cancel()  # a caller whose request did not end in time wakes up now
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for each in tasks:
            each.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()


@dataclass(frozen=True, slots=True)
class Poll:
    """The feeds polled in a cycle and the new entries they list, in publication order."""

    polls: tuple[FeedPoll, ...]
    jobs: tuple[PageJob, ...]
    skipped_known: int
    health: tuple[SourceHealthChange, ...] = ()
    # Not polled: asked to be left alone until retry_at, backing off, or not due yet.
    deferred: tuple[SourceState, ...] = ()
    # Sources with more new entries than the per-poll cap: the rest are for later polls.
    capped: frozenset[int] = frozenset()
    # What the summary says of the sources not polled (see describe_waits).
    waits: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[SourceError, ...]:
        failed = tuple(p.error for p in self.polls if p.error)
        return failed + tuple(e for p in self.polls for e in p.entry_errors)


def poll_sources(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    sources: Sequence[SourceConfig],
    *,
    now: datetime,
    failing_after: int = SOURCE_FAILING_AFTER,
    parse: FeedsParser = parse_feeds,
    max_entries: int | None = None,
    freshness: FreshnessRules | None = None,
    rules: PollingRules | None = None,
    poll_all: bool = False,
    channels: Sequence[ChannelConfig] = (),
) -> Poll:
    """Poll every enabled source that is due (not left alone at its server's request, not
    backing off, and with adaptive ``rules`` due by its rhythm; ``poll_all`` polls all but the
    first kind: see :func:`deferred`), record the outcome, and list the entries to fetch, at
    most ``max_entries`` per source (:func:`newest_per_source`), judged by ``freshness``
    (:func:`judge_freshness`). ``parse`` parses the feeds fetched (here, by default). The
    fetcher's robots.txt rules take those earlier cycles kept (:func:`remember_robots`). A
    source whose health changes gets a notice queued for those of ``channels`` that take
    notices (:mod:`monitor.alerts.notices`)."""
    adaptive = rules is not None and rules.adaptive
    due, waiting = deferred(
        _synced_sources(sessions, sources), now, adaptive=adaptive, poll_all=poll_all
    )
    remember_robots(sessions, fetcher.robots, now)
    polls = fetcher.poll_feeds(due, parse, partial(validators_of, sessions))
    jobs, skipped, health, capped = _record_and_select(
        sessions, polls, now, failing_after, max_entries, freshness, rules, channels
    )
    return Poll(
        tuple(polls),
        tuple(jobs),
        skipped,
        tuple(health),
        tuple(waiting),
        frozenset(capped),
        tuple(describe_waits(waiting, now)),
    )
