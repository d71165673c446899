"""SQL of topic cursors: how far each topic has read the archive, and what it has not read yet.

The archive's articles, in id order, are the log every topic reads: an article that is not a
duplicate and has a development (its own, or the one it repeats) is an *event* a topic may alert
on, unless it was stale at its first sight (``alert_hold``, see :mod:`monitor.freshness`): that
one joins its story but never alerts. A topic's cursor is the id of the last article it was
evaluated against.

A cursor never skips a row committed late: every writer of articles inserts them inside a
transaction holding the detection lock (:func:`monitor.storage.detection.lock_detection`), and
cursors are read and moved only inside such a transaction too. Under the lock, every article
with an id up to the newest one is committed (or is the caller's own), so "everything after the
cursor, up to the newest" is complete, and the next writer's ids are all higher.

Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from monitor.storage.db import dialect_insert
from monitor.storage.tables import ArticleRow, DevelopmentRow, TopicCursorRow

ARTICLES = cast(Table, ArticleRow.__table__)
DEVELOPMENTS = cast(Table, DevelopmentRow.__table__)
CURSORS = cast(Table, TopicCursorRow.__table__)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored article a topic may alert on: a development, or a report repeating one."""

    article_id: int
    development_id: int
    is_development: bool
    story_id: int | None
    source: str
    canonical_url: str
    title: str
    text: str
    published_at: datetime | None
    revision_of: int | None
    facts: tuple[str, ...]  # the development's new sentences


def newest_article(session: Session) -> int:
    """The highest article id stored (0 for an empty archive)."""
    return int(session.scalar(select(func.coalesce(func.max(ARTICLES.c.id), 0))) or 0)


def read_cursors(session: Session, topics: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(CURSORS.c.topic, CURSORS.c.article_id).where(CURSORS.c.topic.in_(list(topics)))
    )
    return {topic: int(article_id) for topic, article_id in rows}


def start_cursors(session: Session, topics: Sequence[str], at: int, now: datetime) -> None:
    """Cursors for topics evaluated for the first time, at article ``at``: a topic added to a
    config later reads what is stored from then on, not the whole archive."""
    if not topics:
        return
    insert = dialect_insert(session.get_bind().dialect.name, CURSORS)
    rows = [{"topic": t, "article_id": at, "updated_at": now} for t in sorted(topics)]
    session.execute(insert.values(rows).on_conflict_do_nothing(index_elements=["topic"]))


_ADVANCE = (
    update(CURSORS)
    .where(CURSORS.c.topic.in_(bindparam("topics", expanding=True)))
    .where(CURSORS.c.article_id < bindparam("at"))
    .values(article_id=bindparam("at"), updated_at=bindparam("now"))
)


def advance_cursors(session: Session, topics: Sequence[str], at: int, now: datetime) -> None:
    """Move the topics' cursors forward to article ``at`` (never back)."""
    if topics:
        session.execute(_ADVANCE, {"topics": sorted(topics), "at": at, "now": now})


_EVENTS = (
    select(
        ARTICLES.c.id,
        ARTICLES.c.development_id,
        ARTICLES.c.is_development,
        ARTICLES.c.story_id,
        ARTICLES.c.source_name,
        ARTICLES.c.canonical_url,
        ARTICLES.c.title,
        ARTICLES.c.text,
        ARTICLES.c.published_at,
        ARTICLES.c.revision_of_id,
        DEVELOPMENTS.c.facts,
    )
    .join(DEVELOPMENTS, DEVELOPMENTS.c.id == ARTICLES.c.development_id, isouter=True)
    .where(
        ARTICLES.c.id > bindparam("after"),
        ARTICLES.c.id <= bindparam("upto"),
        ARTICLES.c.duplicate_of_id.is_(None),
        ARTICLES.c.development_id.is_not(None),
        ARTICLES.c.alert_hold.is_(None),
    )
    .order_by(ARTICLES.c.id)
    .limit(bindparam("limit"))
)


def events_after(
    session: Session, after: int, upto: int, chunk: int = 200
) -> Iterator[list[StoredEvent]]:
    """Events with ``after < id <= upto``, oldest first, ``chunk`` at a time (their texts are
    read, so a topic catching up on many articles does not hold them all at once)."""
    while after < upto:
        rows = session.execute(_EVENTS, {"after": after, "upto": upto, "limit": chunk}).all()
        if not rows:
            return
        yield [
            StoredEvent(
                article_id=int(row[0]),
                development_id=int(row[1]),
                is_development=bool(row[2]),
                story_id=int(row[3]) if row[3] is not None else None,
                source=row[4],
                canonical_url=row[5],
                title=row[6] or "",
                text=row[7] or "",
                published_at=row[8],
                revision_of=int(row[9]) if row[9] is not None else None,
                facts=tuple(row[10] or ()),
            )
            for row in rows
        ]
        after = int(rows[-1][0])
