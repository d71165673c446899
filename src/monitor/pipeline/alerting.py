"""Alert raising: each topic reads the archive from its cursor, whoever stored the articles.

Alert rule: one alert per (topic, development). A stored article that matches a topic raises an
alert when it is a new development of its story, or when it is the first article of an existing
story that matches this topic at all (the topic's first sight of the story, possibly through a
re-report). A later development of a story the topic follows needs the topic's
``min_new_facts``. Duplicates and re-reports of what the topic was told stay silent. The unique
idempotency key ``topic:<name>:development:<id>`` is the final word on "once". An article
stale at its first sight (:mod:`monitor.freshness`) joins its story but is never an event. A
story the reader muted for a topic ("not my topic", or for some days: see
:mod:`monitor.pipeline.feedback`) raises nothing for that topic while the mute is in force; what
was stored meanwhile is not alerted on later.

Topics work from the database, not from what one run stored: a topic's cursor
(:mod:`monitor.storage.topic_cursors`) says up to which article it was evaluated, and
:func:`raise_topic_alerts` evaluates everything stored since, by any deployment, run or
``monitor run``, in id order (the order the articles were placed in), then moves the cursor,
in the caller's transaction. A topic is a name: configs naming the same topic share one cursor
and one alert stream. A topic evaluated for the first time starts at the newest article stored
then, so adding a topic to a config does not alert on the whole archive.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from monitor.alerts.outbox import enqueue
from monitor.alerts.render import payload_from_content
from monitor.alerts.store import (
    AlertStory,
    alert_key,
    alert_story,
    insert_alert,
    set_payload,
    topic_saw_story,
)
from monitor.config import MonitorConfig, TopicConfig
from monitor.models import AlertContent, SourceError
from monitor.pipeline.articles import stored_page_url
from monitor.storage import feedback
from monitor.storage import topic_cursors as cursors
from monitor.storage.topic_cursors import StoredEvent
from monitor.topics import Document, Query, TopicMatch, parse_query


@dataclass(frozen=True, slots=True)
class CompiledTopic:
    config: TopicConfig
    query: Query

    def match(self, doc: Document) -> TopicMatch | None:
        return self.query.match_document(
            doc,
            title_only=self.config.title_only,
            relevance=self.config.relevance,
        )


def compile_topics(config: MonitorConfig) -> list[CompiledTopic]:
    return [CompiledTopic(t, parse_query(t.query)) for t in config.topics]


@dataclass
class RaisedAlerts:
    """What one :func:`raise_topic_alerts` call did: alert ids by article, and the events whose
    evaluation failed (rolled back alone and not tried again)."""

    by_article: dict[int, tuple[StoredEvent, list[int]]] = field(default_factory=dict)
    errors: list[SourceError] = field(default_factory=list)
    evaluated: int = 0  # events read


def raise_topic_alerts(
    session: Session,
    topics: Sequence[CompiledTopic],
    config: MonitorConfig,
    *,
    now: datetime,
    isolate: bool = True,
) -> RaisedAlerts:
    """Evaluate every event stored after each topic's cursor; move the cursors to the newest
    article. Call it inside a transaction holding the detection lock (see
    :mod:`monitor.storage.topic_cursors` for why that makes the cursor safe).

    With ``isolate`` each event is evaluated in a savepoint, and one whose evaluation fails is
    rolled back and reported alone; without, the first failure propagates (for a caller that
    then runs the transaction again isolated).
    """
    raised = RaisedAlerts()
    if not topics:
        return raised
    names = [t.config.name for t in topics]
    newest = cursors.newest_article(session)
    read = open_cursors(session, topics, now, at=newest)
    muted = feedback.active_mutes(session, names, now)
    after = min(read.values())
    for events in cursors.events_after(session, after, newest):
        for event in events:
            raised.evaluated += 1
            due = [t for t in topics if read[t.config.name] < event.article_id]
            if not isolate:
                created = alert_on(session, event, due, config, now=now, muted=muted)
                if created:
                    raised.by_article[event.article_id] = (event, created)
                continue
            try:
                with session.begin_nested():
                    created = alert_on(session, event, due, config, now=now, muted=muted)
            except (OperationalError, InterfaceError):
                raise  # the database's failure, not the article's
            except Exception as exc:  # noqa: BLE001 - one bad article must not stop the rest
                raised.errors.append(
                    SourceError.detect_failure(event.source, event.canonical_url, exc)
                )
                continue
            if created:
                raised.by_article[event.article_id] = (event, created)
    cursors.advance_cursors(session, names, newest, now)
    return raised


def open_cursors(
    session: Session, topics: Sequence[CompiledTopic], now: datetime, *, at: int | None = None
) -> dict[str, int]:
    """The topics' cursors; a topic seen for the first time gets one at the newest article
    (``at``, when the caller read it already). Call it before storing anything in the
    transaction, so that a new topic reads what the transaction stores."""
    names = [t.config.name for t in topics]
    read = cursors.read_cursors(session, names)
    first_time = [n for n in names if n not in read]
    if first_time:
        newest = cursors.newest_article(session) if at is None else at
        cursors.start_cursors(session, first_time, newest, now)
        read = cursors.read_cursors(session, names)
    return read


@dataclass(frozen=True, slots=True)
class _NewAlert:
    """An alert row just inserted (what :func:`monitor.alerts.outbox.enqueue` reads of it)."""

    id: int
    topic: str
    story_id: int | None


def alert_on(
    session: Session,
    event: StoredEvent,
    topics: Sequence[CompiledTopic],
    config: MonitorConfig,
    *,
    now: datetime,
    muted: Collection[tuple[str, int]] = frozenset(),
) -> list[int]:
    """Create alerts (and their outbox rows) for one stored event; returns the new alert ids.
    No alert for a topic whose (topic, story id) is in ``muted``."""
    if not topics:
        return []
    doc = Document(event.title, event.text)  # tokenised once, matched against every topic
    matches = [(topic, match) for topic in topics if (match := topic.match(doc)) is not None]
    if not matches:
        return []
    story = alert_story(session, event.story_id)
    created: list[int] = []
    for topic, match in matches:
        if story is not None and (topic.config.name, story.id) in muted:
            continue  # the reader said this story is not for this topic (for now)
        saw = story is not None and topic_saw_story(session, topic.config.name, story.id)
        if not event.is_development and (story is None or saw):
            continue  # a re-report of something this topic has already been told about
        if event.is_development and len(event.facts) < topic.config.min_new_facts and saw:
            continue  # too small an addition to a story this topic follows (its own threshold)
        alert_id = _insert_alert(session, topic, event, story, match, config, now)
        if alert_id is not None:
            created.append(alert_id)
    return created


def _insert_alert(
    session: Session,
    topic: CompiledTopic,
    event: StoredEvent,
    story: AlertStory | None,
    match: TopicMatch,
    config: MonitorConfig,
    now: datetime,
) -> int | None:
    key = alert_key(topic.config.name, event.development_id)
    why = match.explain()
    if not event.is_development:
        why += "; first article of this story to match the topic"
    if event.revision_of is not None:
        why += "; new in the outlet's update of an article already read"
    values = {
        "idempotency_key": key,
        "topic": topic.config.name,
        "article_id": event.article_id,
        "story_id": story.id if story else None,
        "development_id": event.development_id,
        "reason": why,
        "payload": {},
        "created_at": now,
    }
    alert_id = insert_alert(session, values)  # the unique idempotency key decides "already"
    if alert_id is None:
        return None
    content = AlertContent(
        alert_id=alert_id,
        idempotency_key=key,
        topic=topic.config.name,
        story_id=story.id if story else None,
        story_headline=story.headline if story else event.title,
        article_id=event.article_id,
        title=event.title,
        url=stored_page_url(event.canonical_url, event.revision_of),  # tracking params stripped
        source=event.source,
        facts=event.facts,
        reason=why,
        first_reported_at=story.first_seen_at if story else (event.published_at or now),
        published_at=event.published_at,
        outlets=tuple(story.outlets) if story else (event.source,),
        created_at=now,
    )
    set_payload(session, alert_id, payload_from_content(content))
    alert = _NewAlert(alert_id, topic.config.name, story.id if story else None)
    channels = config.channels_for(topic.config)
    enqueue(session, alert, channels, topic.config.delivery, now=now, new=True)
    return alert_id
