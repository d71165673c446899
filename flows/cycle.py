"""The monitor cycle as a Prefect flow.

Tasks are stages or batches, never one per article (a task run costs milliseconds of client time
and tens of milliseconds of server CPU):

    poll-feeds (1 task) -> fetch-extract-batch (1 task per batch of new entries, concurrent)
    -> detect-batch (1 task per batch, in publication order) -> deliver (1 task)
    -> summary artifact

The cycle is composed once, in :func:`monitor.pipeline.cycle.compose`; this module runs that
composition with its stages as Prefect tasks (:class:`PrefectRunner`) and decides their
concurrency and retries. The same flow runs from ``monitor serve``, the deployment in
``deploy/prefect.yaml``, ``prefect deployment run``, and ``monitor run`` when a Prefect server
is configured (:func:`run_cycle`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import deployment, flow_run
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    temporary_settings,
)
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote
from sqlalchemy.orm import Session, sessionmaker

from flows.events import emit_source_health
from flows.run_logs import quiet_expected_failures
from flows.secrets import flow_settings
from monitor.alerts.outbox import DeliveryReport
from monitor.config import MonitorConfig, Settings, config_path, load_config, polling_all
from monitor.extract_pool import Extractor, start_early
from monitor.models import Article
from monitor.pipeline.collect import Fetcher, PageJob, Poll
from monitor.pipeline.cycle import (
    DETECT_RETRIES,
    STAGE_THREADS,
    Batch,
    StageResult,
    compose,
    deliver_stage,
    detect_stage,
    fetch_extract_stage,
    poll_stage,
)
from monitor.pipeline.detect import DetectReport
from monitor.pipeline.report import artifact_key, to_markdown, to_text
from monitor.pipeline.sources import SourceHealthChange
from monitor.storage.cycle_lock import cycle_lock
from monitor.storage.db import migrated_engine, session_factory

poll_task = task(name="poll-feeds", cache_policy=NO_CACHE)(poll_stage)
fetch_extract_task = task(name="fetch-extract-batch", cache_policy=NO_CACHE)(fetch_extract_stage)
# A database restart or failover takes seconds: the detect stage waits about 2, 4, then 8 s
# (each +-50 % at random, so that deployments retrying together do not hit it together) before
# failing the cycle. A retry is safe: articles committed before a failure come back as stored.
detect_task = task(
    name="detect-batch",
    cache_policy=NO_CACHE,
    retries=DETECT_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
)(detect_stage)
deliver_task = task(name="deliver", cache_policy=NO_CACHE)(deliver_stage)


class PrefectRunner:
    """The cycle's stage calls as tasks of the current flow run; source health changes as
    Prefect events."""

    def poll(
        self,
        sessions: sessionmaker[Session],
        fetcher: Fetcher,
        extractor: Extractor,
        config: MonitorConfig,
        now: datetime,
        settings: Settings,
    ) -> Poll:
        return poll_task(sessions, fetcher, extractor, config, now, settings)

    def submit_fetch_extract(
        self, fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
    ) -> StageResult[Batch]:
        # quote(): Prefect would otherwise walk every job, page and article looking for
        # futures, which costs milliseconds per article on the flow's (sequential) thread.
        return fetch_extract_task.submit(fetcher, extractor, quote(jobs), n)

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
        return detect_task(sessions, quote(articles), source_ids, config, settings, now, prune)

    def deliver(
        self, sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
    ) -> DeliveryReport:
        return deliver_task(sessions, config, settings)

    def source_health(self, changes: Sequence[SourceHealthChange]) -> None:
        emit_source_health(changes)


@flow(
    name="monitor-cycle",
    task_runner=ThreadPoolTaskRunner(max_workers=STAGE_THREADS),
    log_prints=False,
    validate_parameters=True,
)
def monitor_cycle(
    config_path: str | None = None, database_url: str | None = None, poll_all: bool = False
) -> dict[str, Any]:
    """Poll every source that is due (``poll_all``: every source, as ``monitor run --all``),
    store what is new, alert on new developments, deliver."""
    quiet_expected_failures()
    logger = get_run_logger()
    settings = flow_settings(database_url)
    if poll_all:
        settings = polling_all(settings)
    # Already running under `monitor run`; in a deployment's flow run process, the workers'
    # imports overlap the config and database checks.
    start_early(settings.extraction.workers)
    path = resolved_config_path(config_path, settings)
    config = load_config(path)
    with (
        migrated_engine(settings.resolved_database_url()) as engine,
        # One cycle of a config at a time, whichever deployment, worker or `monitor run`.
        cycle_lock(engine, str(path), _holder()),
    ):
        report = compose(session_factory(engine), settings, config, PrefectRunner())
    logger.info(to_text(report.as_dict()))
    create_markdown_artifact(
        markdown=to_markdown(report),
        key=artifact_key(deployment.get_name() or path.stem),
        description="Sources polled and failed, new articles, duplicates, developments, alerts",
    )
    return report.as_dict()


def resolved_config_path(given: str | None, settings: Settings) -> Path:
    """The config file's absolute path: the config's identity for its cycle lock."""
    return config_path(given, settings).resolve()


def _holder() -> str:
    """Who runs this cycle, for the message of a start refused by its lock."""
    run = flow_run.get_name()
    where = f"{socket.gethostname()} pid {os.getpid()}"
    name = deployment.get_name()
    if name:
        return f"flow run {run} of deployment {name} on {where}"
    return f"flow run {run} on {where}"


def run_cycle(config_path: str | None = None, *, poll_all: bool = False) -> dict[str, Any]:
    """Run :func:`monitor_cycle` once, in this process (``monitor run``, the demo), with
    :func:`local_run_settings`."""
    with local_run_settings():
        return monitor_cycle(config_path=config_path, poll_all=poll_all)


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
