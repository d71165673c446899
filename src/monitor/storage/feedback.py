"""SQL of the reader's feedback: mutes of a story for a topic, developments marked not new.

Kinds (``feedback.kind``):

* ``not_my_topic``: the story is muted for the topic until undone;
* ``mute``: the same, until ``expires_at`` (or until undone);
* ``not_new``: a development's facts were added to its story's memory as known sentences
  (``stories.memory["known"]``, see :func:`monitor.stories.placement.known_sentences`), so a
  later article repeating them is not a development.

Undoing sets ``undone_by`` and ``undone_at`` and keeps the row: what was said, by whom and when
stays on record, and the counts (:func:`feedback_counts`) read only rows not undone.

Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select
from sqlalchemy.orm import Session

from monitor.storage.tables import AlertRow, FeedbackRow, StoryRow, UsedLinkRow
from monitor.timeutil import as_utc

FEEDBACK = cast(Table, FeedbackRow.__table__)
ALERTS = cast(Table, AlertRow.__table__)

NOT_MY_TOPIC = "not_my_topic"
MUTE = "mute"
NOT_NEW = "not_new"
MUTES = (NOT_MY_TOPIC, MUTE)
KINDS = (NOT_MY_TOPIC, MUTE, NOT_NEW)


@dataclass(frozen=True, slots=True)
class Feedback:
    """One piece of feedback, as stored."""

    id: int
    kind: str
    topic: str | None
    story_id: int
    development_id: int | None
    expires_at: datetime | None
    created_by: str
    created_at: datetime
    undone_by: str | None
    undone_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Not undone, and not expired at ``now``."""
        if self.undone_at is not None:
            return False
        return self.expires_at is None or as_utc(self.expires_at) > now

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "topic": self.topic,
            "story_id": self.story_id,
            "development_id": self.development_id,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "undone_by": self.undone_by,
            "undone_at": self.undone_at.isoformat() if self.undone_at else None,
        }


def as_feedback(row: FeedbackRow) -> Feedback:
    return Feedback(
        id=row.id,
        kind=row.kind,
        topic=row.topic,
        story_id=row.story_id,
        development_id=row.development_id,
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        undone_by=row.undone_by,
        undone_at=as_utc(row.undone_at) if row.undone_at else None,
    )


def _in_force(now: datetime) -> ColumnElement[bool]:
    return and_(
        FEEDBACK.c.undone_at.is_(None),
        or_(FEEDBACK.c.expires_at.is_(None), FEEDBACK.c.expires_at > now),
    )


def add(
    session: Session,
    *,
    kind: str,
    story_id: int,
    by: str,
    now: datetime,
    topic: str | None = None,
    development_id: int | None = None,
    expires_at: datetime | None = None,
) -> Feedback:
    row = FeedbackRow(
        kind=kind,
        topic=topic,
        story_id=story_id,
        development_id=development_id,
        expires_at=expires_at,
        created_by=by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return as_feedback(row)


def get(session: Session, feedback_id: int) -> FeedbackRow | None:
    return session.get(FeedbackRow, feedback_id)


def undo(session: Session, row: FeedbackRow, *, by: str, now: datetime) -> Feedback:
    """Mark ``row`` undone; a ``not_new`` row's known sentences are forgotten again."""
    if row.kind == NOT_NEW and row.development_id is not None:
        forget_known(session, row.story_id, row.development_id)
    row.undone_by = by
    row.undone_at = now
    session.flush()
    return as_feedback(row)


def remember_known(
    session: Session,
    story_id: int,
    development_id: int,
    article_id: int,
    sentences: Sequence[tuple[str, str]],
    names: Iterable[str],
    numbers: Iterable[str],
) -> None:
    """Add a development's ``(text, stemmed terms)`` sentences to its story's known sentences,
    with their names and numbers (placement keeps both whatever the memory's bound)."""
    story = session.get(StoryRow, story_id)
    if story is None:
        return
    memory = dict(story.memory or {})
    known = [k for k in memory.get("known", ()) if int(k[0]) != development_id]
    known += [[development_id, article_id, text, terms] for text, terms in sentences]
    story.memory = {
        **memory,
        "entities": sorted(set(memory.get("entities", ())) | set(names)),
        "numbers": sorted(set(memory.get("numbers", ())) | set(numbers)),
        "known": known,
    }
    session.flush()


def forget_known(session: Session, story_id: int, development_id: int) -> None:
    """Drop a development's known sentences from its story's memory (its names and numbers
    stay: placement never forgets those either)."""
    story = session.get(StoryRow, story_id)
    if story is None:
        return
    memory = dict(story.memory or {})
    known = [k for k in memory.get("known", ()) if int(k[0]) != development_id]
    if known:
        memory["known"] = known
    else:
        memory.pop("known", None)
    story.memory = memory
    session.flush()


def active_mutes(session: Session, topics: Sequence[str], now: datetime) -> set[tuple[str, int]]:
    """The (topic, story id) pairs muted at ``now`` among ``topics``."""
    if not topics:
        return set()
    rows = session.execute(
        select(FEEDBACK.c.topic, FEEDBACK.c.story_id).where(
            FEEDBACK.c.kind.in_(MUTES), FEEDBACK.c.topic.in_(list(topics)), _in_force(now)
        )
    )
    return {(str(topic), int(story_id)) for topic, story_id in rows}


def mutes_of(session: Session, topic: str, story_id: int, now: datetime) -> list[FeedbackRow]:
    """The mutes of ``story_id`` for ``topic`` in force at ``now``."""
    return list(
        session.scalars(
            select(FeedbackRow).where(
                FeedbackRow.kind.in_(MUTES),
                FeedbackRow.topic == topic,
                FeedbackRow.story_id == story_id,
                _in_force(now),
            )
        )
    )


@dataclass(frozen=True, slots=True)
class UsedLink:
    """An alert's action link, applied (``feedback_id``: the feedback it gave, if kept)."""

    action: str
    alert_id: int
    feedback_id: int | None
    used_by: str
    used_at: datetime


def used_link(session: Session, action: str, alert_id: int) -> UsedLink | None:
    row = session.scalars(
        select(UsedLinkRow).where(UsedLinkRow.action == action, UsedLinkRow.alert_id == alert_id)
    ).one_or_none()
    if row is None:
        return None
    return UsedLink(row.action, row.alert_id, row.feedback_id, row.used_by, as_utc(row.used_at))


def record_link(
    session: Session, action: str, alert_id: int, feedback_id: int, *, by: str, now: datetime
) -> None:
    """Record the use; the unique (action, alert) constraint refuses a second one."""
    session.add(
        UsedLinkRow(
            action=action, alert_id=alert_id, feedback_id=feedback_id, used_by=by, used_at=now
        )
    )
    session.flush()


def not_new_of(session: Session, development_id: int) -> FeedbackRow | None:
    """The ``not_new`` mark of a development, unless undone."""
    return session.scalars(
        select(FeedbackRow).where(
            FeedbackRow.kind == NOT_NEW,
            FeedbackRow.development_id == development_id,
            FeedbackRow.undone_at.is_(None),
        )
    ).first()


def story_feedback(session: Session, story_ids: Sequence[int], now: datetime) -> list[Feedback]:
    """The feedback in force on the stories, oldest first."""
    if not story_ids:
        return []
    rows = session.scalars(
        select(FeedbackRow)
        .where(FeedbackRow.story_id.in_(list(story_ids)), _in_force(now))
        .order_by(FeedbackRow.id)
    )
    return [as_feedback(r) for r in rows]


def recent(session: Session, *, limit: int) -> list[Feedback]:
    """The newest feedback, undone or not, newest first."""
    rows = session.scalars(select(FeedbackRow).order_by(FeedbackRow.id.desc()).limit(limit))
    return [as_feedback(r) for r in rows]


@dataclass(frozen=True, slots=True)
class TopicFeedbackCounts:
    """Of a topic's alerts: how many the reader marked not new, and how many were on stories
    marked not the topic's (the reader's own precision figure)."""

    topic: str
    alerts: int
    not_new: int
    not_my_topic: int

    @property
    def precision(self) -> float | None:
        """The share of alerts not marked either way (``None`` without alerts)."""
        if not self.alerts:
            return None
        return (self.alerts - self.not_new - self.not_my_topic) / self.alerts

    def to_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "alerts": self.alerts,
            "not_new": self.not_new,
            "not_my_topic": self.not_my_topic,
            "precision": self.precision,
        }


def feedback_counts(session: Session) -> list[TopicFeedbackCounts]:
    """Per topic with alerts: its alerts, those marked not new, and those on a story marked not
    its topic (an alert marked both counts as not its topic only). Undone marks do not count."""
    not_new = (
        select(FEEDBACK.c.development_id)
        .where(FEEDBACK.c.kind == NOT_NEW, FEEDBACK.c.undone_at.is_(None))
        .scalar_subquery()
    )
    wrong = (
        select(FEEDBACK.c.id)
        .where(
            FEEDBACK.c.kind == NOT_MY_TOPIC,
            FEEDBACK.c.undone_at.is_(None),
            FEEDBACK.c.topic == ALERTS.c.topic,
            FEEDBACK.c.story_id == ALERTS.c.story_id,
        )
        .exists()
    )
    marked_wrong = case((wrong, 1), else_=0)
    marked_not_new = case((wrong, 0), (ALERTS.c.development_id.in_(not_new), 1), else_=0)
    rows = session.execute(
        select(ALERTS.c.topic, func.count(), func.sum(marked_not_new), func.sum(marked_wrong))
        .group_by(ALERTS.c.topic)
        .order_by(ALERTS.c.topic)
    )
    return [
        TopicFeedbackCounts(str(topic), int(alerts), int(nn or 0), int(nm or 0))
        for topic, alerts, nn, nm in rows
    ]
