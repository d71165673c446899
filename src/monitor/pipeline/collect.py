"""Collect stage: poll feeds, keep only entries not seen before, fetch their pages.

One shared ``httpx.AsyncClient`` serves the whole stage (injected, or built from settings).
Feeds are fetched with the validators stored from the previous poll, so an unchanged feed costs
a 304. Entries whose canonical URL or GUID is already stored are dropped *before* their page is
fetched. Every failure becomes a :class:`~monitor.models.SourceError` in the result; nothing
here raises for a single bad source or page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import SourceConfig
from monitor.errors import FetchError, ParseError
from monitor.feeds import parse_feed
from monitor.fetch import FetchPolicy, FetchRequest, fetch_all, make_client
from monitor.models import FeedEntry, FetchResult, ParsedFeed, SourceError, SourceErrorKind
from monitor.storage.tables import SourceRow
from monitor.stories.ingest import known_keys
from monitor.urls import canonicalize


@dataclass(frozen=True, slots=True)
class SourceState:
    id: int
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class FeedPoll:
    source: SourceState
    feed: ParsedFeed | None = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    error: SourceError | None = None


@dataclass(frozen=True, slots=True)
class PageJob:
    source_id: int
    source: str
    entry: FeedEntry
    canonical_url: str


@dataclass(frozen=True, slots=True)
class FetchedPage:
    job: PageJob
    html: bytes | None
    final_url: str
    error: SourceError | None = None
    retry_later: bool = False  # a transient failure: leave the entry for the next cycle


@dataclass(frozen=True, slots=True)
class Collection:
    polls: tuple[FeedPoll, ...]
    pages: tuple[FetchedPage, ...]
    skipped_known: int
    errors: tuple[SourceError, ...] = field(default=())


def sync_sources(session: Session, sources: Sequence[SourceConfig]) -> list[SourceState]:
    """Upsert configured sources by name; return the enabled ones with their validators."""
    rows = {row.name: row for row in session.scalars(select(SourceRow))}
    states: list[SourceState] = []
    for src in sources:
        row = rows.get(src.name)
        if row is None:
            row = SourceRow(name=src.name, url=src.url, consecutive_failures=0, articles_seen=0)
            session.add(row)
        elif row.url != src.url:  # a moved feed: its old validators mean nothing
            row.url, row.etag, row.last_modified = src.url, None, None
        if src.enabled:
            states.append(SourceState(0, src.name, src.url))
    session.flush()
    by_name = {row.name: row for row in session.scalars(select(SourceRow))}
    return [
        SourceState(
            by_name[s.name].id, s.name, s.url, by_name[s.name].etag, by_name[s.name].last_modified
        )
        for s in states
    ]


def _source_error(source: str, url: str, kind: SourceErrorKind, exc: Exception) -> SourceError:
    return SourceError(source, url, kind, type(exc).__name__, str(exc))


async def poll_feeds(
    client: httpx.AsyncClient, policy: FetchPolicy, sources: Sequence[SourceState]
) -> list[FeedPoll]:
    requests = [FetchRequest(s.url, etag=s.etag, last_modified=s.last_modified) for s in sources]
    results = await fetch_all(client, requests, policy)
    return [_to_poll(src, res) for src, res in zip(sources, results, strict=True)]


def _to_poll(source: SourceState, result: FetchResult | FetchError) -> FeedPoll:
    if isinstance(result, FetchError):
        return FeedPoll(
            source, error=_source_error(source.name, source.url, SourceErrorKind.FETCH, result)
        )
    if result.not_modified:
        return FeedPoll(
            source,
            not_modified=True,
            etag=result.etag or source.etag,
            last_modified=result.last_modified or source.last_modified,
        )
    try:
        feed = parse_feed(result)
    except ParseError as exc:
        return FeedPoll(
            source, error=_source_error(source.name, source.url, SourceErrorKind.PARSE, exc)
        )
    return FeedPoll(source, feed=feed, etag=result.etag, last_modified=result.last_modified)


def record_polls(session: Session, polls: Sequence[FeedPoll], now: datetime) -> None:
    """Store validators and health per source. Validators of a failed poll are kept."""
    rows = {
        r.id: r
        for r in session.scalars(
            select(SourceRow).where(SourceRow.id.in_([p.source.id for p in polls]))
        )
    }
    for poll in polls:
        row = rows[poll.source.id]
        row.last_polled_at = now
        if poll.error is not None:
            row.last_error = poll.error.message
            row.last_error_type = poll.error.error_type
            row.consecutive_failures = (row.consecutive_failures or 0) + 1
            continue
        row.etag, row.last_modified = poll.etag, poll.last_modified
        row.last_success_at = now
        row.last_error = row.last_error_type = None
        row.consecutive_failures = 0


def entry_keys(source: str, canonical_url: str, guid: str | None) -> list[str]:
    """The ``article_keys`` an entry is known by (see monitor.stories.ingest)."""
    keys = [f"url:{canonical_url}"]
    if guid:
        keys.append(f"guid:{source}:{guid}")
    return keys


def select_new(session: Session, polls: Sequence[FeedPoll]) -> tuple[list[PageJob], int]:
    """Entries not stored yet, one job per canonical URL; returns (jobs, skipped count)."""
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
            job = PageJob(poll.source.id, poll.source.name, entry, canonical)
            candidates.append((job, entry_keys(poll.source.name, canonical, entry.guid)))
    known = known_keys(session, [k for _, keys in candidates for k in keys])
    jobs = [job for job, keys in candidates if not known.intersection(keys)]
    return jobs, skipped + len(candidates) - len(jobs)


async def fetch_pages(
    client: httpx.AsyncClient, policy: FetchPolicy, jobs: Sequence[PageJob]
) -> list[FetchedPage]:
    results = await fetch_all(client, [FetchRequest(j.canonical_url) for j in jobs], policy)
    pages: list[FetchedPage] = []
    for job, res in zip(jobs, results, strict=True):
        if isinstance(res, FetchError):
            err = _source_error(job.source, job.canonical_url, SourceErrorKind.FETCH, res)
            pages.append(FetchedPage(job, None, job.canonical_url, err, retry_later=res.retryable))
        else:
            pages.append(FetchedPage(job, res.content, res.final_url))
    return pages


async def collect(
    sessions: sessionmaker[Session],
    policy: FetchPolicy,
    sources: Sequence[SourceConfig],
    *,
    now: datetime,
    client: httpx.AsyncClient | None = None,
) -> Collection:
    """Run the whole collect stage with one shared client."""
    with sessions.begin() as session:
        states = sync_sources(session, sources)
    own_client = client is None
    http = client if client is not None else make_client(policy)
    try:
        polls = await poll_feeds(http, policy, states)
        with sessions.begin() as session:
            record_polls(session, polls, now)
            jobs, skipped = select_new(session, polls)
        pages = await fetch_pages(http, policy, jobs)
    finally:
        if own_client:
            await http.aclose()
    errors = [p.error for p in polls if p.error] + [p.error for p in pages if p.error]
    return Collection(tuple(polls), tuple(pages), skipped, tuple(errors))
