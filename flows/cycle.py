"""The monitor cycle as a Prefect flow.

Tasks are stages or batches, never one per article (a task run costs milliseconds of client time
and tens of milliseconds of server CPU):

    poll-feeds (1 task) -> fetch-extract-batch (1 task per batch of new entries, concurrent)
    -> detect-batch (1 task per batch, in publication order) -> deliver (1 task)
    -> summary artifact

Everything overlaps that can: the extraction processes start while the feeds are fetched, and
parse them (in parallel); pages of later batches are fetched and extracted while earlier
batches are detected, and the first batches are small so that detection, the one sequential
stage, starts early.

All logic lives in ``monitor.pipeline``; this module decides batching, concurrency and retries.
The same flow runs from ``monitor run`` (:func:`run_cycle`), ``monitor serve``, the deployment in
``deploy/prefect.yaml`` and ``prefect deployment run``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    temporary_settings,
)
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from sqlalchemy.orm import Session, sessionmaker

from flows.events import emit_source_health
from flows.secrets import flow_settings
from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.config import MonitorConfig, Settings, config_path, load_config
from monitor.extract_pool import Extractor, PageExtractor, start_early
from monitor.fetch import FetchBudget, FetchPolicy
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
    commit_validators,
    poll_sources,
)
from monitor.pipeline.detect import DetectReport, detect
from monitor.pipeline.failures import (
    PageFailure,
    record_page_failures,
    refused_articles,
)
from monitor.pipeline.failures import describe as describe_parked
from monitor.pipeline.report import CycleReport, save_report, to_markdown, to_text
from monitor.storage.db import migrated_engine, session_factory

# Threads for concurrent extraction batches; each hands its pages to the process pool.
TASK_THREADS = 4
# Batches submitted but not yet detected: enough to keep every task thread busy and one batch
# ready for detection. A cycle holds at most this many batches of pages in memory, however many
# new entries it has.
BATCHES_AHEAD = TASK_THREADS + 2


@task(name="poll-feeds", cache_policy=NO_CACHE)
def poll_task(
    sessions: sessionmaker[Session],
    fetcher: Fetcher,
    extractor: Extractor,
    config: MonitorConfig,
    now: datetime,
    settings: Settings,
) -> Poll:
    # The feeds are parsed in the extraction processes: on every core, while no page is ready.
    return poll_sources(
        sessions,
        fetcher,
        config.sources,
        now=now,
        failing_after=settings.source_failing_after,
        parse=extractor.parse_feeds,
        max_entries=settings.budgets.entries_per_poll,
    )


@task(name="fetch-extract-batch", cache_policy=NO_CACHE)
def fetch_extract_task(
    fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
) -> tuple[list[FetchedPage], list[ExtractedPage | None], list[SourceError]]:
    pages = fetcher.fetch_pages(jobs)
    # Detection takes batches in order: of the batches whose pages are ready together (as at
    # pool start), the earliest is extracted first.
    pending = extractor.submit_many(pages_to_extract(pages), priority=n)
    results = pending.results()
    return pages, results, extraction_errors(pages, pending.errors)


@task(name="detect-batch", cache_policy=NO_CACHE, retries=1)
def detect_task(
    sessions: sessionmaker[Session],
    articles: Sequence[Article],
    source_ids: dict[str, int],
    config: MonitorConfig,
    settings: Settings,
    now: datetime,
    prune: bool,
) -> DetectReport:
    # A retry is safe: articles committed before the failure come back as already stored.
    return detect(sessions, articles, source_ids, config, settings.detection, now=now, prune=prune)


@task(name="deliver", cache_policy=NO_CACHE)
def deliver_task(
    sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
) -> DeliveryReport:
    return asyncio.run(deliver_due(sessions, config, settings, now=datetime.now(UTC)))


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


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    out: list[Sequence[Any]] = []
    start = 0
    for step in _batch_sizes(len(items), size):
        out.append(items[start : start + step])
        start += step
    return out


def _config(settings: Settings, given: str | None) -> MonitorConfig:
    return load_config(config_path(given, settings))


@flow(
    name="monitor-cycle",
    task_runner=ThreadPoolTaskRunner(max_workers=TASK_THREADS),
    log_prints=False,
    validate_parameters=True,
)
def monitor_cycle(
    config_path: str | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """Poll every source once, store what is new, alert on new developments, deliver."""
    logger = get_run_logger()
    settings = flow_settings(database_url)
    # Already running under `monitor run`; in a deployment's flow run process, the workers'
    # imports overlap the config and database checks.
    start_early(settings.extraction.workers)
    config = _config(settings, config_path)
    with migrated_engine(settings.resolved_database_url()) as engine:
        report = _run(session_factory(engine), settings, config)
    logger.info(to_text(report.as_dict()))
    create_markdown_artifact(
        markdown=to_markdown(report),
        key="monitor-cycle-summary",
        description="Sources polled and failed, new articles, duplicates, developments, alerts",
    )
    return report.as_dict()


def run_cycle(config_path: str | None = None) -> dict[str, Any]:
    """Run :func:`monitor_cycle` once, in this process (``monitor run``, the demo), with
    :func:`local_run_settings`."""
    with local_run_settings():
        return monitor_cycle(config_path=config_path)


@contextmanager
def local_run_settings() -> Iterator[None]:
    """Prefect settings for flow runs started in this process.

    Without a Prefect API URL, Prefect is serverless: its API server starts with this process
    and stops with it. A flow run's heartbeats let a lasting server tell a crashed run from a
    running one; here no such server exists, and each run would still wait for its heartbeat
    thread to notice the end (up to a second). Heartbeats are off in that case only: runs that
    report to a Prefect server keep them.
    """
    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def cycle_budget(settings: Settings) -> FetchBudget:
    """The page fetches' budgets: the cycle's (from its first page request) and each
    source's (from its own first page request)."""
    budgets = settings.budgets
    return FetchBudget(total_s=budgets.cycle_s, group_s=budgets.source_s)


def _run(
    sessions: sessionmaker[Session],
    settings: Settings,
    config: MonitorConfig,
    *,
    page_extractor: PageExtractor | None = None,
) -> CycleReport:
    """The cycle's stages; ``page_extractor`` replaces the extraction workers' function (a
    module-level function, see :class:`~monitor.extract_pool.Extractor`)."""
    started = datetime.now(UTC)
    clock = _StageClock()
    cfg = settings.extraction
    detected = DetectReport()
    pages_fetched = 0
    page_errors: list[SourceError] = []
    left_for_later: list[FetchedPage] = []
    fetched_ok: list[str] = []  # canonical URLs of pages fetched (not left for later)
    failures: list[PageFailure] = []  # pages left for later, articles refused by the database
    summary_only = 0
    # The workers also read each page for detection (sentences, fingerprint, terms), which
    # keeps that CPU work off the sequential detect stage.
    reader = page_extractor or partial(
        extract_and_read,
        settings=settings.detection,
        fallbacks=cfg.fallbacks,
        max_text_chars=cfg.max_text_chars,
    )
    extractor = Extractor(
        cfg.workers,
        min_text_chars=cfg.min_text_chars,
        page_extractor=reader,
        page_timeout_s=cfg.page_timeout_s,
        page_wall_timeout_s=cfg.page_wall_timeout_s,
        max_html_bytes=cfg.max_html_bytes,
        memory_limit_mb=cfg.memory_limit_mb or None,
    )
    with (
        extractor as pool,
        Fetcher(FetchPolicy.from_settings(settings), cycle_budget(settings)) as fetcher,
    ):
        pool.start()  # the workers import trafilatura while the feeds are polled
        poll = poll_task(sessions, fetcher, pool, config, started, settings)
        emit_source_health(poll.health)
        clock.lap("poll")
        source_ids = {p.source.name: p.source.id for p in poll.polls}
        # quote(): Prefect would otherwise walk every job, page and article looking for
        # futures, which costs milliseconds per article on the flow's (sequential) thread.
        waiting = deque(enumerate(_batches(poll.jobs, cfg.batch_size)))
        # A finished future holds its batch's pages and extractions: only BATCHES_AHEAD are
        # submitted at a time, and each is dropped as soon as its results are taken.
        futures: deque[tuple[int, Any]] = deque()

        def submit_ahead() -> None:
            while waiting and len(futures) < BATCHES_AHEAD:
                number, batch = waiting.popleft()
                future = fetch_extract_task.submit(fetcher, pool, quote(batch), number)
                futures.append((number, future))

        submit_ahead()
        while futures:
            n, future = futures.popleft()
            fetched, extracted, failed = future.result()
            del future
            submit_ahead()  # the next batch is fetched and extracted while this one is detected
            pages_fetched += sum(p.html is not None for p in fetched)
            page_errors += [p.error for p in fetched if p.error] + failed
            left_for_later += [p for p in fetched if p.retry_later]
            fetched_ok += [p.job.canonical_url for p in fetched if not p.retry_later]
            failures += [
                PageFailure.of(p.job.source_id, p.job.canonical_url, p.error)
                for p in fetched
                if p.retry_later and p.error
            ]
            articles = build_articles(
                fetched, extracted, started, max_text_chars=cfg.max_text_chars
            )
            del fetched, extracted
            summary_only += sum(a.summary_only for a in articles)
            batch = detect_task(
                sessions, quote(articles), source_ids, config, settings, started, n == 0
            )
            failures += refused_articles(articles, batch.errors, source_ids)
            detected.merge(batch)
    # Only now are the polls' new entries all stored (or left for later): a cycle that died
    # before this point reads the same feeds again next time instead of getting a 304.
    commit_validators(sessions, poll.polls, left_for_later, unfinished=poll.capped)
    parked = record_page_failures(
        sessions, failures, fetched_ok, started, max_attempts=settings.budgets.page_attempts
    )
    clock.lap("fetch+extract+detect")
    delivered = deliver_task(sessions, config, settings)
    clock.lap("deliver")
    names = {p.source.id: p.source.name for p in poll.polls}
    report = CycleReport(
        started_at=started,
        finished_at=datetime.now(UTC),
        sources_polled=len(poll.polls),
        sources_not_modified=sum(p.not_modified for p in poll.polls),
        sources_failed=sum(p.error is not None and not p.held_back for p in poll.polls),
        entries_skipped_known=poll.skipped_known,
        pages_fetched=pages_fetched,
        articles_stored=detected.stored,
        summary_only=summary_only,
        exact_duplicates=detected.duplicates["exact"],
        near_duplicates=detected.duplicates["near"],
        new_stories=detected.new_stories,
        developments=detected.developments,
        reports=detected.reports,
        alerts_created=len(detected.alerts),
        deliveries_sent=delivered.sent,
        deliveries_failed=delivered.failed + delivered.dead,
        errors=(*poll.errors, *page_errors, *detected.errors),
        lines=tuple(detected.lines),
        source_health=(
            *(change.describe() for change in poll.health),
            *(source.describe_wait() for source in poll.deferred),
            *(
                describe_parked(f, names.get(f.source_id, "?"), settings.budgets.page_attempts)
                for f in parked
            ),
            *(
                f"source {names.get(source_id, '?')} lists more than "
                f"{settings.budgets.entries_per_poll} new entries: the newest taken, the rest "
                "in later polls"
                for source_id in sorted(poll.capped)
            ),
        ),
        sources_deferred=len(poll.deferred) + sum(p.held_back for p in poll.polls),
        stage_seconds=clock.laps,
    )
    with sessions.begin() as session:
        save_report(session, report)
    return report
