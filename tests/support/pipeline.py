"""One cycle as production runs it (:func:`monitor.pipeline.cycle.compose`), for integration
tests against a real HTTP server and real databases, with what the tests look at recorded on the
way: the poll, every fetched page, the detect reports. Delivery is left to the tests that test
it (the recorded cycle delivers nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import DeliveryReport
from monitor.config import MonitorConfig, Settings
from monitor.extract_pool import Extractor
from monitor.models import Article, SourceError
from monitor.pipeline.collect import FetchedPage, Fetcher, PageJob, Poll
from monitor.pipeline.cycle import Batch, PlainRunner, StageResult, compose
from monitor.pipeline.detect import DetectReport, IngestFn, detect
from monitor.pipeline.sources import FeedPoll, SourceHealthChange
from monitor.stories.ingest import ingest


@dataclass(frozen=True)
class Collection:
    """What a cycle polled and fetched."""

    polls: tuple[FeedPoll, ...]
    pages: tuple[FetchedPage, ...]
    skipped_known: int
    errors: tuple[SourceError, ...] = field(default=())
    health: tuple[SourceHealthChange, ...] = field(default=())


class DiedError(Exception):
    """Raised by :class:`RecordingRunner` in place of detection: the process died there."""


class _Recorded:
    """A submitted batch whose pages are recorded when the cycle takes its result."""

    def __init__(self, inner: StageResult[Batch], pages: list[Any], errors: list[Any]) -> None:
        self._inner = inner
        self._pages = pages
        self._errors = errors

    def result(self) -> Batch:
        batch = self._inner.result()
        fetched, _, failed = batch
        self._pages.extend(fetched)
        self._errors.extend(failed)
        return batch


class RecordingRunner(PlainRunner):
    """:class:`PlainRunner` that keeps what each stage returned (and may ingest with another
    function, as :func:`monitor.pipeline.detect.detect` allows)."""

    def __init__(self, ingest_fn: IngestFn = ingest, *, die_at_detect: bool = False) -> None:
        super().__init__()
        self.ingest_fn = ingest_fn
        self.die_at_detect = die_at_detect
        self.polled: Poll | None = None
        self.pages: list[Any] = []
        self.extraction_errors: list[Any] = []
        self.detected = DetectReport()

    def poll(self, *args: Any) -> Poll:
        self.polled = super().poll(*args)
        return self.polled

    def submit_fetch_extract(
        self, fetcher: Fetcher, extractor: Extractor, jobs: Sequence[PageJob], n: int
    ) -> StageResult[Batch]:
        inner = super().submit_fetch_extract(fetcher, extractor, jobs, n)
        return _Recorded(inner, self.pages, self.extraction_errors)

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
        if self.die_at_detect:
            raise DiedError("the process died before storing its entries")
        report = detect(
            sessions,
            articles,
            source_ids,
            config,
            settings.detection,
            now=now,
            prune=prune,
            ingest_fn=self.ingest_fn,
        )
        self.detected.merge(report)
        return report

    def deliver(
        self, sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings
    ) -> DeliveryReport:
        return DeliveryReport()


def run_cycle(
    sessions: sessionmaker[Session],
    settings: Settings,
    config: Any,
    *,
    ingest_fn: IngestFn = ingest,
) -> tuple[Collection, DetectReport]:
    """One production cycle; what it polled and fetched, and what detection reported."""
    runner = RecordingRunner(ingest_fn)
    with runner:
        compose(sessions, settings, config, runner, workers_before_poll=False)
    return _collection(runner), runner.detected


def die_before_storing(
    sessions: sessionmaker[Session], settings: Settings, config: Any
) -> Collection:
    """A production cycle that polls and fetches, then dies where it would store its articles
    (before its feeds' validators are committed); what it had polled and fetched."""
    runner = RecordingRunner(die_at_detect=True)
    with runner:
        try:
            compose(sessions, settings, config, runner, workers_before_poll=False)
        except DiedError:
            pass
        else:
            raise AssertionError("the cycle did not reach detection")
    return _collection(runner)


def _collection(runner: RecordingRunner) -> Collection:
    poll = runner.polled
    assert poll is not None
    pages = tuple(runner.pages)
    errors = (
        poll.errors + tuple(p.error for p in pages if p.error) + tuple(runner.extraction_errors)
    )
    return Collection(poll.polls, pages, poll.skipped_known, errors, poll.health)
