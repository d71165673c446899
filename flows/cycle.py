"""The monitor cycle as a Prefect flow.

Tasks are stages or batches, never one per article (a task run costs milliseconds of client time
and tens of milliseconds of server CPU):

    collect (1 task) -> extract (1 task per batch of pages, concurrent) -> detect (1 task)
    -> deliver (1 task) -> summary artifact

All logic lives in ``monitor.pipeline``; this module decides batching, concurrency and retries.
The same flow runs from ``monitor run``, ``monitor serve``, the deployment in
``deploy/prefect.yaml`` and ``prefect deployment run``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from sqlalchemy.orm import Session, sessionmaker

from flows.secrets import resolve_secret_blocks
from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.config import MonitorConfig, Settings, get_settings, load_config
from monitor.errors import ConfigError
from monitor.extract import Extractor
from monitor.fetch import FetchPolicy
from monitor.models import Article, ExtractedPage
from monitor.pipeline.articles import (
    build_articles,
    extract_and_read,
    in_publication_order,
    pages_to_extract,
)
from monitor.pipeline.collect import Collection, collect
from monitor.pipeline.detect import DetectReport, detect
from monitor.pipeline.report import CycleReport, save_report, to_markdown, to_text
from monitor.storage.db import make_engine, session_factory, upgrade

# Threads for concurrent extraction batches; each hands its pages to the process pool.
TASK_THREADS = 4


@task(name="collect", cache_policy=NO_CACHE)
def collect_task(
    sessions: sessionmaker[Session], settings: Settings, config: MonitorConfig, now: datetime
) -> Collection:
    policy = FetchPolicy.from_settings(settings)
    return asyncio.run(collect(sessions, policy, config.sources, now=now))


@task(name="extract-batch", cache_policy=NO_CACHE)
def extract_task(
    extractor: Extractor, pages: Sequence[tuple[str, bytes]]
) -> list[ExtractedPage | None]:
    return extractor.extract_many(pages)


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


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _settings(database_url: str | None) -> Settings:
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    return resolve_secret_blocks(settings)


def _config(settings: Settings, config_path: str | None) -> MonitorConfig:
    path = Path(config_path) if config_path else settings.config_file
    if path is None:
        raise ConfigError("no config file: pass --config or set MONITOR_CONFIG_FILE")
    return load_config(path)


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
    settings = _settings(database_url)
    config = _config(settings, config_path)
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        report = _run(sessions, settings, config)
    finally:
        engine.dispose()
    logger.info(to_text(report.as_dict()))
    create_markdown_artifact(
        markdown=to_markdown(report),
        key="monitor-cycle-summary",
        description="Sources polled and failed, new articles, duplicates, developments, alerts",
    )
    return report.as_dict()


def _run(sessions: sessionmaker[Session], settings: Settings, config: MonitorConfig) -> CycleReport:
    started = datetime.now(UTC)
    clock = _StageClock()
    collection = collect_task(sessions, settings, config, started)
    clock.lap("collect")
    fetched = [p for p in collection.pages if p.html is not None]
    source_ids = {p.source.name: p.source.id for p in collection.polls}
    detected = DetectReport()
    summary_only = 0
    cfg = settings.extraction
    # Batches in publication order; each batch is detected as soon as it is extracted, while
    # later batches are still in the extraction processes.
    batches = _batches(in_publication_order(collection.pages), cfg.batch_size)
    # The workers also read each page for detection (sentences, fingerprint, terms), which
    # keeps that CPU work off the sequential detect stage.
    reader = partial(extract_and_read, settings=settings.detection)
    with Extractor(
        cfg.workers, min_text_chars=cfg.min_text_chars, page_extractor=reader
    ) as extractor:
        # quote(): Prefect would otherwise walk every page and article looking for futures,
        # which costs milliseconds per article on the flow's (sequential) thread.
        futures = [extract_task.submit(extractor, quote(pages_to_extract(b))) for b in batches]
        for n, (batch, future) in enumerate(zip(batches, futures, strict=True)):
            articles = build_articles(batch, future.result(), started)
            summary_only += sum(a.summary_only for a in articles)
            detected.merge(
                detect_task(
                    sessions, quote(articles), source_ids, config, settings, started, n == 0
                )
            )
    clock.lap("extract+detect")
    delivered = deliver_task(sessions, config, settings)
    clock.lap("deliver")
    report = CycleReport(
        started_at=started,
        finished_at=datetime.now(UTC),
        sources_polled=len(collection.polls),
        sources_not_modified=sum(p.not_modified for p in collection.polls),
        sources_failed=sum(p.error is not None for p in collection.polls),
        entries_skipped_known=collection.skipped_known,
        pages_fetched=len(fetched),
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
        errors=(*collection.errors, *detected.errors),
        lines=tuple(detected.lines),
        stage_seconds=clock.laps,
    )
    with sessions.begin() as session:
        save_report(session, report)
    return report
