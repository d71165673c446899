"""The alert rows: what alert creation reads and writes (its SQL lives here, with the alerts).

:mod:`monitor.pipeline.alerting` decides which stored events become alerts; this module owns the
statements: the story an alert tells of, whether a topic has been told of a story, and the
insert whose unique idempotency key (``topic:<name>:development:<id>``) is the final word on
"once" per (topic, development).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from monitor.storage.db import insert_if_free
from monitor.storage.tables import AlertRow, StoryRow

ALERTS = cast(Table, AlertRow.__table__)
STORIES = cast(Table, StoryRow.__table__)


@dataclass(frozen=True, slots=True)
class AlertStory:
    """What an alert tells of its story."""

    id: int
    headline: str
    first_seen_at: datetime
    outlets: tuple[str, ...]


_ALERT_STORY = select(
    STORIES.c.id, STORIES.c.headline, STORIES.c.first_seen_at, STORIES.c.outlets
).where(STORIES.c.id == bindparam("story_id"))

_SET_PAYLOAD = update(ALERTS).where(ALERTS.c.id == bindparam("alert_id"))


def alert_key(topic: str, development_id: int) -> str:
    """The idempotency key of the one alert a topic gets for a development."""
    return f"topic:{topic}:development:{development_id}"


def alert_story(session: Session, story_id: int | None) -> AlertStory | None:
    """The story an alert tells of, read as the columns it needs (the mapped row would also
    load and decode the story's centroid and memory)."""
    if story_id is None:
        return None
    row = session.execute(_ALERT_STORY, {"story_id": story_id}).first()
    if row is None:
        return None
    return AlertStory(int(row[0]), row[1], row[2], tuple(row[3] or ()))


def topic_saw_story(session: Session, topic: str, story_id: int) -> bool:
    """Whether ``topic`` has had an alert on this story already."""
    stmt = select(AlertRow.id).where(AlertRow.topic == topic, AlertRow.story_id == story_id)
    return session.scalars(stmt.limit(1)).first() is not None


def insert_alert(session: Session, values: dict[str, Any]) -> int | None:
    """Insert an alert row unless its idempotency key is taken; its id, or ``None`` when the
    (topic, development) was alerted already."""
    insert = insert_if_free(session.get_bind().dialect.name, ALERTS, "idempotency_key", "id")
    alert_id = session.execute(insert, values).scalar()
    return None if alert_id is None else int(alert_id)


def set_payload(session: Session, alert_id: int, payload: dict[str, Any]) -> None:
    """Store the rendered payload of a just-inserted alert (it needs the alert's id)."""
    session.execute(_SET_PAYLOAD, {"alert_id": alert_id, "payload": payload})
