"""Detect stage: store each new article, place it in a story, and raise alerts on developments.

Each article is handled in its own transaction: the article, its story/development bookkeeping,
any alerts and their outbox rows commit together or not at all, so a crash mid-cycle never
leaves an alert without its deliveries or a half-processed article.

Alert rule: one alert per (topic, development). An article that matches a topic raises an alert
when it is a new development of its story, or when it is the first article of an existing story
that matches this topic at all (the topic's first sight of the story). Reprints, near
duplicates and re-reports stay silent. The unique idempotency key is the final word on "once".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import enqueue
from monitor.alerts.render import payload_from_content
from monitor.config import MonitorConfig, TopicConfig
from monitor.models import AlertContent, Article, SourceError, SourceErrorKind
from monitor.pipeline.articles import page_url
from monitor.storage.db import insert_if_free
from monitor.storage.detection import DocumentCounts, lock_detection, prefer_index_scans
from monitor.storage.tables import AlertRow, DevelopmentRow, StoryRow
from monitor.stories.ingest import IngestResult, ingest, prune_story_index
from monitor.stories.settings import DetectionSettings
from monitor.timeutil import as_utc
from monitor.topics import Document, Query, TopicMatch, parse_query


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    config: TopicConfig
    query: Query

    def match(self, doc: Document) -> TopicMatch | None:
        return self.query.match_document(doc, title_only=self.config.title_only)


def compile_topics(config: MonitorConfig) -> list[CompiledTopic]:
    return [CompiledTopic(t, parse_query(t.query)) for t in config.topics]


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


ALERTS = cast(Table, AlertRow.__table__)
STORIES = cast(Table, StoryRow.__table__)


@dataclass(frozen=True, slots=True)
class _AlertStory:
    """What an alert tells of its story."""

    id: int
    headline: str
    first_seen_at: datetime
    outlets: tuple[str, ...]


_ALERT_STORY = select(
    STORIES.c.id, STORIES.c.headline, STORIES.c.first_seen_at, STORIES.c.outlets
).where(STORIES.c.id == bindparam("story_id"))


def _story(session: Session, story_id: int | None) -> _AlertStory | None:
    if story_id is None:
        return None
    # Not the mapped row: that would also load and decode the story's centroid and memory.
    row = session.execute(_ALERT_STORY, {"story_id": story_id}).first()
    if row is None:
        return None
    return _AlertStory(int(row[0]), row[1], row[2], tuple(row[3] or ()))


@dataclass(frozen=True, slots=True)
class _NewAlert:
    """An alert row just inserted (what :func:`monitor.alerts.outbox.enqueue` reads of it)."""

    id: int
    topic: str


_SET_PAYLOAD = update(ALERTS).where(ALERTS.c.id == bindparam("alert_id"))


def _development_facts(session: Session, development_id: int) -> tuple[str, ...]:
    development = session.get(DevelopmentRow, development_id)
    return tuple(development.facts) if development else ()


def _alert_key(topic: str, development_id: int) -> str:
    return f"topic:{topic}:development:{development_id}"


def _topic_saw_story(session: Session, topic: str, story_id: int) -> bool:
    stmt = select(AlertRow.id).where(AlertRow.topic == topic, AlertRow.story_id == story_id)
    return session.scalars(stmt.limit(1)).first() is not None


def raise_alerts(
    session: Session,
    article: Article,
    result: IngestResult,
    topics: Sequence[CompiledTopic],
    config: MonitorConfig,
    *,
    now: datetime,
) -> list[int]:
    """Create alerts (and their outbox rows) for one ingested article; returns alert ids."""
    if result.article_id is None or result.duplicate_of is not None:
        return []
    dev_id = result.development_id or result.repeats_development_id
    if dev_id is None:
        return []
    doc = Document(article.title, article.text)  # tokenised once, matched against every topic
    matches = [(topic, match) for topic in topics if (match := topic.match(doc)) is not None]
    if not matches:
        return []
    story = _story(session, result.story_id)
    created: list[int] = []
    for topic, match in matches:
        if result.development_id is None and (
            story is None or _topic_saw_story(session, topic.config.name, story.id)
        ):
            continue  # a re-report of something this topic has already been told about
        facts = result.novel_sentences or _development_facts(session, dev_id)
        if (
            result.development_id is not None  # a re-report here is the story's first alert
            and len(facts) < topic.config.min_new_facts
            and story is not None
            and _topic_saw_story(session, topic.config.name, story.id)
        ):
            continue  # too small an addition to a story this topic follows (its own threshold)
        alert_id = _insert_alert(
            session, topic, article, result, story, dev_id, facts, match, config, now
        )
        if alert_id is not None:
            created.append(alert_id)
    return created


def _insert_alert(
    session: Session,
    topic: CompiledTopic,
    article: Article,
    result: IngestResult,
    story: _AlertStory | None,
    development_id: int,
    facts: Sequence[str],
    match: TopicMatch,
    config: MonitorConfig,
    now: datetime,
) -> int | None:
    assert result.article_id is not None
    key = _alert_key(topic.config.name, development_id)
    why = match.explain()
    if result.development_id is None:
        why += "; first article of this story to match the topic"
    if article.revision_of is not None:
        why += "; new in the outlet's update of an article already read"
    values = {
        "idempotency_key": key,
        "topic": topic.config.name,
        "article_id": result.article_id,
        "story_id": story.id if story else None,
        "development_id": development_id,
        "reason": why,
        "payload": {},
        "created_at": now,
    }
    # The unique idempotency key decides "already alerted".
    insert = insert_if_free(session.get_bind().dialect.name, ALERTS, "idempotency_key", "id")
    alert_id = session.execute(insert, values).scalar()
    if alert_id is None:
        return None
    content = AlertContent(
        alert_id=alert_id,
        idempotency_key=key,
        topic=topic.config.name,
        story_id=story.id if story else None,
        story_headline=story.headline if story else article.title,
        article_id=result.article_id,
        title=article.title,
        url=page_url(article),  # tracking parameters stripped
        source=article.source,
        facts=tuple(facts),
        reason=why,
        first_reported_at=story.first_seen_at if story else (article.published_at or now),
        published_at=article.published_at,
        outlets=tuple(story.outlets) if story else (article.source,),
        created_at=now,
    )
    session.execute(_SET_PAYLOAD, {"alert_id": alert_id, "payload": payload_from_content(content)})
    alert = _NewAlert(alert_id, topic.config.name)
    channels = config.channels_for(topic.config)
    enqueue(session, alert, channels, topic.config.delivery, now=now, new=True)
    return int(alert_id)


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

    One transaction per batch keeps commits (an fsync each) off the per-article path; a
    savepoint per article means one article that fails is rolled back and reported alone.
    Database failures (connection lost, disk full) are not the article's fault and propagate.
    """
    topics = compile_topics(config) if topics is None else topics
    report = DetectReport()
    if prune:
        with sessions.begin() as session:
            lock_detection(session)
            _prune_cold_stories(session, settings)
    for start in range(0, len(articles), batch_size):
        with sessions.begin() as session:
            lock_detection(session)  # another writer's detect waits for this batch to commit
            prefer_index_scans(session)
            counts = DocumentCounts()  # the batch's document frequencies, written at its end
            for article in articles[start : start + batch_size]:
                try:
                    with session.begin_nested():
                        result = ingest_fn(
                            session,
                            article,
                            source_id=source_ids.get(article.source),
                            settings=settings,
                            pending=counts,
                        )
                        alert_ids = raise_alerts(session, article, result, topics, config, now=now)
                    counts.keep()
                except (OperationalError, InterfaceError):
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad article must not stop the cycle
                    counts.drop()  # rolled back with the article
                    report.errors.append(
                        SourceError(
                            article.source,
                            article.url,
                            SourceErrorKind.DETECT,
                            type(exc).__name__,
                            str(exc)[:500],
                        )
                    )
                    continue
                _count(report, article, result, alert_ids)
            counts.write(session)
    return report


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
            f"{label}: {what}, {len(result.novel_sentences)} new fact(s), {len(alerts)} alert(s)"
        )
    else:
        report.reports += 1
        report.lines.append(
            f"{label}: another report of development "
            f"#{result.repeats_development_id} in story #{result.story_id}"
            f"{', first for a topic: alert' if alerts else ', no alert'}"
        )
