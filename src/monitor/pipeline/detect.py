"""Detect stage: store each new article, place it in a story, and raise alerts on developments.

Articles are stored in batches, one transaction each under the detection lock. A batch runs
first without savepoints; when an article fails, the batch is rolled back and runs again with a
savepoint per article (and per alert), so that the failing one is rolled back and reported
alone and the others are stored as they would have been. At the end
of each batch, in the same transaction, the config's topics read everything stored since their
cursors (this batch's articles and any another deployment or run stored) and raise their
alerts with their outbox rows (:mod:`monitor.pipeline.alerting`, which states the alert rule):
a crash never leaves an alert without its deliveries, and an article stored by a run that died
before alerting is evaluated by the next cycle of any config naming the topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig
from monitor.detection_settings import DetectionSettings
from monitor.models import Article, SourceError
from monitor.pipeline.alerting import (
    CompiledTopic,
    RaisedAlerts,
    compile_topics,
    open_cursors,
    raise_topic_alerts,
)
from monitor.storage.detection import DocumentCounts, lock_detection
from monitor.storage.tables import StoryRow
from monitor.stories.ingest import Batch, IngestResult, ingest, prune_story_index
from monitor.timeutil import as_utc
from monitor.wording import counted

__all__ = ["CompiledTopic", "DetectReport", "IngestFn", "compile_topics", "detect"]


@dataclass
class DetectReport:
    stored: int = 0
    already_stored: int = 0
    duplicates: Counter[str] = field(default_factory=Counter)
    new_stories: int = 0
    developments: int = 0
    reports: int = 0
    alerts: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # one human line per article
    errors: list[SourceError] = field(default_factory=list)

    def merge(self, other: DetectReport) -> None:
        """Add another batch's counts to this report."""
        self.stored += other.stored
        self.already_stored += other.already_stored
        self.duplicates.update(other.duplicates)
        self.new_stories += other.new_stories
        self.developments += other.developments
        self.reports += other.reports
        self.alerts += other.alerts
        self.lines += other.lines
        self.errors += other.errors


IngestFn = Callable[..., IngestResult]


def detect(
    sessions: sessionmaker[Session],
    articles: Sequence[Article],
    source_ids: dict[str, int],
    config: MonitorConfig,
    settings: DetectionSettings,
    *,
    now: datetime,
    batch_size: int = 50,
    ingest_fn: IngestFn = ingest,
    prune: bool = True,
    topics: Sequence[CompiledTopic] | None = None,
) -> DetectReport:
    """Ingest articles in order and raise their alerts.

    ``topics`` replaces the config's compiled topics (an evaluation's topic that matches every
    article: see :mod:`monitor.evaluation`).

    One transaction per batch keeps commits (an fsync each) off the per-article path; one
    article that fails is rolled back and reported alone (see the module docstring).
    Database failures (connection lost, disk full) are not the article's fault and propagate.
    """
    topics = compile_topics(config) if topics is None else topics
    report = DetectReport()
    if prune or not articles:
        with sessions.begin() as session:
            lock_detection(session)
            if prune:
                _prune_cold_stories(session, settings)
            # What other runs stored since this config's topics last looked.
            _count_raised(report, raise_topic_alerts(session, topics, config, now=now), {})
    for start in range(0, len(articles), batch_size):
        batch = articles[start : start + batch_size]
        run = partial(
            _detect_batch,
            batch=batch,
            source_ids=source_ids,
            config=config,
            settings=settings,
            now=now,
            ingest_fn=ingest_fn,
            topics=topics,
        )
        try:
            # Optimistically, without a savepoint per article and per alert (two statements
            # each): an article that fails rolls the whole batch back, which then runs again
            # with them, so that only that article is lost.
            with sessions.begin() as session:
                done = run(session, isolate=False)
        except (OperationalError, InterfaceError):
            raise
        except Exception:  # noqa: BLE001 - an article failed; the retry reports which
            with sessions.begin() as session:
                done = run(session, isolate=True)
        report.merge(done)
    return report


def _detect_batch(
    session: Session,
    *,
    batch: Sequence[Article],
    source_ids: dict[str, int],
    config: MonitorConfig,
    settings: DetectionSettings,
    now: datetime,
    ingest_fn: IngestFn,
    topics: Sequence[CompiledTopic],
    isolate: bool,
) -> DetectReport:
    """Ingest one batch and raise its alerts in the caller's transaction.

    With ``isolate``, each article and each alert runs in a savepoint and one that fails is
    rolled back and reported alone; without, the first failure propagates (the caller rolls
    the transaction back).
    """
    report = DetectReport()
    lock_detection(session)  # another writer's detect waits for this batch to commit
    open_cursors(session, topics, now)  # a new topic reads this batch's articles too
    counts = DocumentCounts()  # the batch's document frequencies, written at its end
    lookups = Batch.prepare(session, batch, settings, counts)
    placed: list[tuple[Article, IngestResult]] = []
    for article in batch:
        place = partial(
            ingest_fn,
            session,
            article,
            source_id=source_ids.get(article.source),
            settings=settings,
            pending=counts,
            batch=lookups,
        )
        result = _place(session, article, place, counts, lookups, report, isolate=isolate)
        if result is not None:
            placed.append((article, result))
    lookups.write(session)  # the articles' placements, which alerting reads
    counts.write(session)
    raised = raise_topic_alerts(session, topics, config, now=now, isolate=isolate)
    mine = {r.article_id: (a, r) for a, r in placed if r.article_id is not None}
    for article, result in placed:
        entry = raised.by_article.get(result.article_id or -1)
        _count(report, article, result, entry[1] if entry else [])
    _count_raised(report, raised, mine)
    return report


def _place(
    session: Session,
    article: Article,
    place: Callable[[], IngestResult],
    counts: DocumentCounts,
    lookups: Batch,
    report: DetectReport,
    *,
    isolate: bool,
) -> IngestResult | None:
    """Ingest one article of the batch and keep its pending counts and lookups.

    With ``isolate``, the article runs in a savepoint; when it fails, its counts and lookups are
    dropped, the failure is added to ``report`` and the result is None. Without, a failure
    propagates.
    """
    if not isolate:
        result = place()
        counts.keep()
        lookups.keep()
        return result
    try:
        with session.begin_nested():
            result = place()
        counts.keep()
        lookups.keep()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # noqa: BLE001 - one bad article must not stop the cycle
        counts.drop()  # rolled back with the article
        lookups.drop()
        report.errors.append(SourceError.detect_failure(article.source, article.url, exc))
        return None
    return result


def _count_raised(
    report: DetectReport, raised: RaisedAlerts, mine: dict[int, tuple[Article, IngestResult]]
) -> None:
    """Count the alerts raised on articles other runs stored, and any evaluation errors."""
    report.errors += raised.errors
    for article_id, (event, alert_ids) in sorted(raised.by_article.items()):
        if article_id in mine:
            continue  # counted with the article
        report.alerts.extend(alert_ids)
        report.lines.append(
            f"[{event.source}] {event.title[:80]}: stored by another run (#{article_id}), "
            f"{counted(len(alert_ids), 'alert')}"
        )


def _prune_cold_stories(session: Session, settings: DetectionSettings) -> None:
    """Drop cold stories from the candidate index, once per cycle.

    Story times are article publication times, so "cold" is measured against the newest story,
    not the wall clock: replaying old coverage (an evaluation, a backfill) behaves like live news.
    """
    newest = session.scalar(select(func.max(StoryRow.last_seen_at)))
    if newest is not None:
        prune_story_index(session, as_utc(newest), settings)


def _count(report: DetectReport, article: Article, result: IngestResult, alerts: list[int]) -> None:
    label = f"[{article.source}] {article.title[:80]}"
    if article.alert_hold is not None:
        label += f" (stale, no alert: {article.alert_hold})"
    if result.already_stored:
        report.already_stored += 1
        return
    report.stored += 1
    report.alerts.extend(alerts)
    if result.duplicate_of is not None:
        report.duplicates[result.duplicate_kind or "near"] += 1
        sim = f" ({result.similarity:.2f})" if result.similarity is not None else ""
        report.lines.append(
            f"{label}: {result.duplicate_kind} duplicate of #{result.duplicate_of}{sim}, no alert"
        )
        return
    report.new_stories += int(result.new_story)
    if result.development_id is not None:
        report.developments += 1
        what = "new story" if result.new_story else f"new development in story #{result.story_id}"
        report.lines.append(
            f"{label}: {what}, {counted(len(result.novel_sentences), 'new fact')}, "
            f"{counted(len(alerts), 'alert')}"
        )
    else:
        report.reports += 1
        report.lines.append(
            f"{label}: another report of development "
            f"#{result.repeats_development_id} in story #{result.story_id}"
            f"{', first for a topic: alert' if alerts else ', no alert'}"
        )
