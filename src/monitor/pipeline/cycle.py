"""One monitor cycle: the stages composed once, run by whichever runner is injected.

    poll (1 call) -> fetch+extract (1 call per batch of new entries, concurrent)
    -> detect (1 call per batch, in publication order) -> deliver (1 call) -> report

:func:`compose` is that composition. A :class:`StageRunner` decides how each stage call runs:
the Prefect flow (``flows/cycle.py``) runs them as tasks of its flow run; :class:`PlainRunner`
runs them as plain calls and a thread pool, with no orchestrator at all (``monitor run`` when no
Prefect server is configured, see :func:`run_plain`). The stage functions below are what both
runners call.

Everything overlaps that can: the extraction processes start while the feeds are fetched, and
parse them (in parallel); pages of later batches are fetched and extracted while earlier
batches are detected, and the first batches are small so that detection, the one sequential
stage, starts early.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.config import MonitorConfig, Settings, settings_problems
from monitor.errors import ConfigError
from monitor.extract_pool import Extractor, PageExtractor
from monitor.fetch import FetchBudget
from monitor.models import Article, ExtractedPage, SourceError
from monitor.pipeline.articles import (
    build_articles,
    extract_and_read,
    extraction_errors,
    pages_to_extract,
)
from monitor.pipeline.collect import (
    FetchedPage,
    Fetcher,
    PageJob,
    Poll,
    commit_robots,
    commit_validators,
    fetch_policy,
    freshness_rules,
    index_rules,
    poll_sources,
    polling_rules,
)
from monitor.pipeline.detect import DetectReport, detect
from monitor.pipeline.failures import PageFailure, record_page_failures, refused_articles
from monitor.pipeline.failures import describe as describe_parked
from monitor.pipeline.report import CycleReport, save_report
from monitor.pipeline.sources import SourceHealthChange

__all__ = [
    "BATCHES_AHEAD",
    "DETECT_RETRIES",
    "STAGE_THREADS",
    "PlainRunner",
    "StageRunner",
    "batches",
    "compose",
    "deliver_stage",
    "detect_stage",
    "fetch_extract_stage",
    "poll_stage",
    "run_plain",
]

logger = logging.getLogger(__name__)

# Threads for concurrent extraction batches; each hands its pages to the process pool.
STAGE_THREADS = 4
# Batches submitted but not yet detected: enough to keep every thread busy and one batch ready
# for detection. A cycle holds at most this many batches of pages in memory, however many new
# entries it has.
BATCHES_AHEAD = STAGE_THREADS + 2
# A database restart or failover takes seconds: a detect call that failed is tried again after
# about 2, 4, then 8 s (each +-50 % at random, so that cycles retrying together do not hit the
# database together) before the cycle fails.
DETECT_RETRIES = 3

T_co = TypeVar("T_co", covariant=True)
# A fetched batch: its pages, their extractions, and the pages extraction failed on.
Batch = tuple[list[FetchedPage], list[ExtractedPage | None], list[SourceError]]


def poll_stage(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    extractor: Extractor,
    config: MonitorConfig,
    now: datetime,
    settings: Settings,
) -> Poll:
    """Poll every source that is due (``MONITOR_POLLING__*``); the feeds are parsed in the
    extraction processes (on every core).
    At most ``budgets.entries_per_poll`` new entries are taken per feed, the newest; stale
    ones are marked not to alert (``MONITOR_FRESHNESS__*``). A source whose health changes
    gets a notice queued for the config's channels (those with ``notices`` on)."""
    return poll_sources(
        sessions,
        fetcher,
        config.sources,
        now=now,
        failing_after=settings.source_failing_after,
        parse=extractor.parse_feeds,
        max_entries=settings.budgets.entries_per_poll,
        freshness=freshness_rules(settings),
        rules=polling_rules(settings),
        poll_all=settings.polling.poll_all,
        channels=config.channels,
    )


def fetch_extract_stage(
    fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
) -> Batch:
    """Fetch one batch's pages and extract them."""
    pages = fetcher.fetch_pages(jobs)
    # Detection takes batches in order: of the batches whose pages are ready together (as at
    # pool start), the earliest is extracted first.
    pending = extractor.submit_many(pages_to_extract(pages), priority=n)
    results = pending.results()
    return pages, results, extraction_errors(pages, pending.errors)


def detect_stage(
    sessions: sessionmaker[Session],
    articles: Sequence[Article],
    source_ids: dict[str, int],
    config: MonitorConfig,
    settings: Settings,
    now: datetime,
    prune: bool,
) -> DetectReport:
    """Detect one batch. Safe to retry: articles committed before a failure come back as
    already stored."""
    return detect(sessions, articles, source_ids, config, settings.detection, now=now, prune=prune)


def deliver_stage(
    sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
) -> DeliveryReport:
    """Send what is due in the outbox."""
    return asyncio.run(deliver_due(sessions, config, settings, now=datetime.now(UTC)))


class StageResult(Protocol[T_co]):
    def result(self) -> T_co: ...


class StageRunner(Protocol):
    """How a cycle's stage calls run. Each method takes its stage function's arguments."""

    def poll(
        self,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        extractor: Extractor,
        config: MonitorConfig,
        now: datetime,
        settings: Settings,
    ) -> Poll: ...

    def submit_fetch_extract(
        self, fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
    ) -> StageResult[Batch]: ...

    def detect(
        self,
        sessions: sessionmaker[Session],
        articles: Sequence[Article],
        source_ids: dict[str, int],
        config: MonitorConfig,
        settings: Settings,
        now: datetime,
        prune: bool,
    ) -> DetectReport: ...

    def deliver(
        self, sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
    ) -> DeliveryReport: ...

    def source_health(self, changes: Sequence[SourceHealthChange]) -> None:
        """Tell whoever watches sources that some started failing or recovered, went quiet or
        are active again."""


class PlainRunner:
    """Stage calls as plain calls; batches on a pool of :data:`STAGE_THREADS` threads.

    A detect call that raises is tried again after a back-off with jitter, as the flow's task
    is (:data:`DETECT_RETRIES`). Source health changes are logged (warning for a failing or a
    quiet source): with no orchestrator there is nobody to send an event to.
    """

    def __init__(self) -> None:
        self._threads = ThreadPoolExecutor(STAGE_THREADS, thread_name_prefix="cycle-batch")

    def __enter__(self) -> PlainRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)

    def poll(
        self,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        extractor: Extractor,
        config: MonitorConfig,
        now: datetime,
        settings: Settings,
    ) -> Poll:
        return poll_stage(sessions, fetcher, extractor, config, now, settings)

    def submit_fetch_extract(
        self, fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
    ) -> StageResult[Batch]:
        return self._threads.submit(fetch_extract_stage, fetcher, extractor, jobs, n)

    def detect(
        self,
        sessions: sessionmaker[Session],
        articles: Sequence[Article],
        source_ids: dict[str, int],
        config: MonitorConfig,
        settings: Settings,
        now: datetime,
        prune: bool,
    ) -> DetectReport:
        args = (sessions, articles, source_ids, config, settings, now, prune)
        for attempt in range(DETECT_RETRIES):
            try:
                return detect_stage(*args)
            except Exception:
                wait = 2.0 * 2**attempt * random.uniform(0.5, 1.5)  # noqa: S311 - jitter only
                logger.warning("detection failed; trying again in %.1f s", wait, exc_info=True)
                time.sleep(wait)
        return detect_stage(*args)

    def deliver(
        self, sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
    ) -> DeliveryReport:
        return deliver_stage(sessions, config, settings)

    def source_health(self, changes: Sequence[SourceHealthChange]) -> None:
        for change in changes:
            level = logging.WARNING if change.status in ("failing", "quiet") else logging.INFO
            logger.log(level, change.describe())


class _StageClock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(now - self._last, 3)
        self._last = now


def _batch_sizes(total: int, size: int) -> list[int]:
    """Batch sizes: the first ones smaller (size/4, size/2) so detection starts early, the last
    ones too (size/2, size/4) so little detection is left once the last pages are extracted."""
    ramp = [max(1, size // 4), max(1, size // 2)]
    head: list[int] = []
    for step in ramp:
        if total > 0:
            head.append(min(step, total))
            total -= head[-1]
    tail: list[int] = []
    for step in ramp:
        if total > step:
            tail.insert(0, step)
            total -= step
    body = [size] * (total // size) + ([total % size] if total % size else [])
    return head + body + tail


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """``items`` in batches of about ``size``, smaller at both ends (:func:`_batch_sizes`)."""
    out: list[Sequence[Any]] = []
    start = 0
    for step in _batch_sizes(len(items), size):
        out.append(items[start : start + step])
        start += step
    return out


@dataclass
class _Tally:
    """What a cycle's batches add up to, for its report and its end-of-cycle bookkeeping."""

    detected: DetectReport = field(default_factory=DetectReport)
    pages_fetched: int = 0
    summary_only: int = 0
    page_errors: list[SourceError] = field(default_factory=list)
    left_for_later: list[FetchedPage] = field(default_factory=list)
    fetched_ok: list[str] = field(default_factory=list)  # canonical URLs not left for later
    failures: list[PageFailure] = field(default_factory=list)  # left for later, or refused

    def fetched(self, pages: Sequence[FetchedPage], extraction_failed: list[SourceError]) -> None:
        self.pages_fetched += sum(p.html is not None for p in pages)
        self.page_errors += [p.error for p in pages if p.error] + extraction_failed
        self.left_for_later += [p for p in pages if p.retry_later]
        self.fetched_ok += [p.job.canonical_url for p in pages if not p.retry_later]
        self.failures += [
            PageFailure.of(p.job.source_id, p.job.canonical_url, p.error)
            for p in pages
            if p.retry_later and p.error
        ]

    def detected_batch(
        self, articles: Sequence[Article], batch: DetectReport, source_ids: dict[str, int]
    ) -> None:
        self.summary_only += sum(a.summary_only for a in articles)
        self.failures += refused_articles(articles, batch.errors, source_ids)
        self.detected.merge(batch)


def make_extractor(settings: Settings, page_extractor: PageExtractor | None = None) -> Extractor:
    """The cycle's extraction pool, with its limits from the settings. The workers also read
    each page for detection (sentences, fingerprint, terms), which keeps that CPU work off the
    sequential detect stage; ``page_extractor`` replaces the workers' function (a module-level
    function, see :class:`~monitor.extract_pool.Extractor`)."""
    cfg = settings.extraction
    reader = page_extractor or partial(
        extract_and_read,
        settings=settings.detection,
        fallbacks=cfg.fallbacks,
        max_text_chars=cfg.max_text_chars,
    )
    return Extractor(
        cfg.workers,
        min_text_chars=cfg.min_text_chars,
        page_extractor=reader,
        page_timeout_s=cfg.page_timeout_s,
        page_wall_timeout_s=cfg.page_wall_timeout_s,
        max_html_bytes=cfg.max_html_bytes,
        memory_limit_mb=cfg.memory_limit_mb or None,
    )


def cycle_budget(settings: Settings) -> FetchBudget:
    """The page fetches' budgets: the cycle's (from its first page request) and each
    source's (from its own first page request)."""
    budgets = settings.budgets
    return FetchBudget(total_s=budgets.cycle_s, group_s=budgets.source_s)


def compose(
    sessions: sessionmaker[Session],
    settings: Settings,
    config: MonitorConfig,
    run: StageRunner,
    *,
    workers_before_poll: bool = True,
    page_extractor: PageExtractor | None = None,
) -> CycleReport:
    """Run one cycle with ``run``'s stage calls; save and return its report.

    ``workers_before_poll``: the extraction processes start while the feeds are fetched, and
    parse them; otherwise only once the poll found pages to fetch (the feeds are then parsed in
    this process), so that a cycle with nothing new starts no process at all.
    """
    problems = settings_problems(config, settings)
    if problems:
        raise ConfigError("; ".join(problems))
    started = datetime.now(UTC)
    clock = _StageClock()
    tally = _Tally()
    with (
        make_extractor(settings, page_extractor) as pool,
        Fetcher(
            fetch_policy(settings), cycle_budget(settings), index_rules=index_rules(settings)
        ) as fetcher,
    ):
        if workers_before_poll:
            pool.start()  # the workers import trafilatura while the feeds are polled
        poll = run.poll(sessions, fetcher, pool, config, started, settings)
        if poll.jobs:
            pool.start()  # (if not started yet) while the first pages are fetched
        run.source_health(poll.health)
        clock.lap("poll")
        _fetch_and_detect(run, sessions, fetcher, pool, poll, config, settings, started, tally)
    parked = _commit_progress(sessions, poll, fetcher, tally, started, settings)
    clock.lap("fetch+extract+detect")
    delivered = run.deliver(sessions, config, settings)
    clock.lap("deliver")
    report = _report(started, poll, tally, delivered, parked, settings, clock.laps)
    with sessions.begin() as session:
        save_report(session, report)
    return report


def _fetch_and_detect(
    run: StageRunner,
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    pool: Extractor,
    poll: Poll,
    config: MonitorConfig,
    settings: Settings,
    started: datetime,
    tally: _Tally,
) -> None:
    """Fetch, extract and detect the poll's pages batch by batch, counting into ``tally``; with
    no batch, detect once anyway."""
    source_ids = {p.source.name: p.source.id for p in poll.polls}

    def detect(articles: Sequence[Article], first: bool) -> None:
        batch = run.detect(sessions, articles, source_ids, config, settings, started, first)
        tally.detected_batch(articles, batch, source_ids)

    batches_done = 0
    for fetched, extracted, failed in _fetched_batches(run, fetcher, pool, poll, settings):
        tally.fetched(fetched, failed)
        articles = build_articles(
            fetched, extracted, started, max_text_chars=settings.extraction.max_text_chars
        )
        del fetched, extracted
        detect(articles, batches_done == 0)
        batches_done += 1
    if batches_done == 0:
        # Nothing new here; the topics still read what other runs stored since they looked.
        detect([], True)


def _commit_progress(
    sessions: sessionmaker[Session],
    poll: Poll,
    fetcher: Fetcher,
    tally: _Tally,
    started: datetime,
    settings: Settings,
) -> list[PageFailure]:
    """End-of-cycle bookkeeping once every batch is done: the feeds' validators, the robots
    rules read and the page failures; returns the pages this cycle parked."""
    # Only now are the polls' new entries all stored (or left for later): a cycle that died
    # before this point reads the same feeds again next time instead of getting a 304.
    commit_validators(
        sessions, poll.polls, tally.left_for_later, unfinished=poll.capped, polled_at=started
    )
    commit_robots(sessions, fetcher.robots)  # the rules read, for the next cycles
    return record_page_failures(
        sessions,
        tally.failures,
        tally.fetched_ok,
        started,
        max_attempts=settings.budgets.page_attempts,
    )


def _fetched_batches(
    run: StageRunner, fetcher: Fetcher, pool: Extractor, poll: Poll, settings: Settings
) -> Iterator[Batch]:
    """The poll's new pages, fetched and extracted batch by batch through ``run``, in
    publication order. The next batches are fetched and extracted while the caller detects
    this one; a finished batch holds its pages and extractions, so only BATCHES_AHEAD are
    submitted at a time and each is dropped as soon as it is handed over."""
    waiting = deque(enumerate(batches(poll.jobs, settings.extraction.batch_size)))
    submitted: deque[StageResult[Batch]] = deque()

    def submit_ahead() -> None:
        while waiting and len(submitted) < BATCHES_AHEAD:
            number, batch = waiting.popleft()
            submitted.append(run.submit_fetch_extract(fetcher, pool, batch, number))

    submit_ahead()
    while submitted:
        result = submitted.popleft().result()
        submit_ahead()
        yield result


def _report(
    started: datetime,
    poll: Poll,
    tally: _Tally,
    delivered: DeliveryReport,
    parked: Sequence[PageFailure],
    settings: Settings,
    laps: dict[str, float],
) -> CycleReport:
    detected = tally.detected
    names = {p.source.id: p.source.name for p in poll.polls}
    entries_cap = settings.budgets.entries_per_poll
    return CycleReport(
        started_at=started,
        finished_at=datetime.now(UTC),
        sources_polled=len(poll.polls),
        sources_not_modified=sum(p.not_modified for p in poll.polls),
        sources_failed=sum(p.error is not None and not p.held_back for p in poll.polls),
        entries_skipped_known=poll.skipped_known,
        pages_fetched=tally.pages_fetched,
        articles_stored=detected.stored,
        summary_only=tally.summary_only,
        exact_duplicates=detected.duplicates["exact"],
        near_duplicates=detected.duplicates["near"],
        new_stories=detected.new_stories,
        developments=detected.developments,
        reports=detected.reports,
        alerts_created=len(detected.alerts),
        deliveries_sent=delivered.sent,
        deliveries_failed=delivered.failed + delivered.dead,
        errors=(*poll.errors, *tally.page_errors, *detected.errors),
        lines=tuple(detected.lines),
        source_health=(
            *(change.describe() for change in poll.health),
            *poll.waits,
            *(
                describe_parked(f, names.get(f.source_id, "?"), settings.budgets.page_attempts)
                for f in parked
            ),
            *(
                f"source {names.get(source_id, '?')} lists more than {entries_cap} new "
                "entries: the newest taken, the rest in later polls"
                for source_id in sorted(poll.capped)
            ),
        ),
        sources_deferred=len(poll.deferred) + sum(p.held_back for p in poll.polls),
        stage_seconds=laps,
    )


def run_plain(
    settings: Settings, config: MonitorConfig, *, config_file: Path | None = None
) -> CycleReport:
    """One cycle in this process with no orchestrator: :func:`compose` with a
    :class:`PlainRunner`, on the settings' database (migrated first). The extraction processes
    start only when there are pages: a quiet cycle (every feed unchanged) costs this process
    alone. With ``config_file``, the cycle holds that config's cycle lock (no other cycle of it
    runs meanwhile, whoever started it: :class:`monitor.errors.CycleRunningError` otherwise)."""
    from monitor.storage.cycle_lock import cycle_lock
    from monitor.storage.db import migrated_engine, session_factory

    holder = f"monitor run on {socket.gethostname()} pid {os.getpid()}"
    with migrated_engine(settings.resolved_database_url()) as engine, PlainRunner() as runner:
        locked = (
            cycle_lock(engine, str(config_file.resolve()), holder)
            if config_file is not None
            else nullcontext()
        )
        with locked:
            return compose(
                session_factory(engine), settings, config, runner, workers_before_poll=False
            )
