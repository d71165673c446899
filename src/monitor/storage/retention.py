"""Archive retention: drop what old articles no longer need, keep what dedup needs.

Most of what an article costs on disk is its ``monitor explain`` record (every sentence with its
best match) and the article text; a monitor with a few thousand new articles a day grows by
gigabytes a year (figures in ``docs/performance.md``). Neither is needed once the article is
old: detection reads stored articles only through their keys, content hash, MinHash signature
and LSH bands, and a story's novelty memory lives in ``story_sentences``. :func:`prune_archive`
therefore, for articles fetched before a cutoff:

* empties ``text`` and shrinks ``decision`` to its outcome (duplicate of, story, development),
  keeping the row, its keys, hash, signature and bands: a reprint of a pruned article is still a
  duplicate and its URL is still "already stored", so nothing old alerts again;
* forgets the sentence memory of stories that can no longer be joined (cold for longer than both
  the cutoff and ``story_active_days``, and no longer in the candidate index).

It also deletes the source notices (:mod:`monitor.alerts.notices`) recorded before the cutoff
whose every delivery was sent or is dead, with their deliveries: one still pending or failed
(to be retried) keeps its notice, whatever its age. The newest notice of each source and kind is
kept too: the next notice's episode is counted from it, and without it a later notice would be
numbered anew and reuse an idempotency key a receiver has seen already (and a recovery would not
find the failure it ends).

Titles, URLs, stories, developments (with their quoted facts), alerts and deliveries are kept.
Topic backtests (``monitor topics test``) see only the titles of pruned articles.
Rows are changed in chunks, one short transaction each, so a running cycle is never held up for
long; a pruned article is skipped on the next run, so the work can be stopped and resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.decision import Decision
from monitor.storage.db import session_factory, take_write_lock
from monitor.storage.detection import ARTICLES, STORIES, STORY_SENTENCES, STORY_TERMS, chunks
from monitor.storage.tables import NoticeDeliveryRow, SourceNoticeRow
from monitor.wording import counted

CHUNK = 500
NOTICES = cast(Table, SourceNoticeRow.__table__)
NOTICE_DELIVERIES = cast(Table, NoticeDeliveryRow.__table__)
# A notice delivery in one of these states is done with: sent, or given up on (until an
# operator re-queues it). Any other state (pending, failed) keeps its notice.
SETTLED = ("sent", "dead")


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff: datetime  # articles fetched before this lost their text and explain record
    story_cutoff: datetime  # stories last seen before this (and unindexed) lost their memory
    articles: int
    stories: int
    sentences: int
    dry_run: bool
    notices: int = 0  # source notices recorded before the cutoff, sent or dead on every channel
    size_before: int | None = None  # bytes, when the database was vacuumed
    size_after: int | None = None

    def lines(self) -> list[str]:
        """What was (or, on a dry run, would be) dropped, one sentence per line."""
        verb = "would lose" if self.dry_run else "lost"
        out = [
            f"{counted(self.articles, 'article')} fetched before {self.cutoff:%Y-%m-%d %H:%M} "
            f"UTC {verb} their text and explain record",
            f"{counted(self.stories, 'cold story', 'cold stories')} last seen before "
            f"{self.story_cutoff:%Y-%m-%d} {verb} their sentence memory "
            f"({counted(self.sentences, 'sentence')})",
            f"{counted(self.notices, 'source notice')} recorded before "
            f"{self.cutoff:%Y-%m-%d %H:%M} UTC, "
            f"sent or dead on every channel, {'would be' if self.dry_run else 'were'} deleted",
        ]
        if self.size_before is not None and self.size_after is not None:
            out.append(
                f"database size: {self.size_before / 1e6:.1f} MB -> {self.size_after / 1e6:.1f} MB"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["cutoff"] = self.cutoff.isoformat()
        out["story_cutoff"] = self.story_cutoff.isoformat()
        return out


def pruned_decision(decision: Mapping[str, Any] | None, when: datetime) -> dict[str, Any]:
    """A stored decision record (any version) shrunk to what ``monitor explain`` needs."""
    return Decision.from_json(decision).pruned(when).to_json()


_PRUNABLE = (
    select(ARTICLES.c.id)
    .where(ARTICLES.c.fetched_at < bindparam("cutoff"), ARTICLES.c.text != "")
    .order_by(ARTICLES.c.id)
)
_PRUNE_ARTICLE = (
    update(ARTICLES)
    .where(ARTICLES.c.id == bindparam("row_id"))
    .values(text="", decision=bindparam("new_decision"))
)


def _forgettable(story_cutoff: datetime) -> Any:
    """Stories no article can join any more: cold, and out of the candidate index."""
    indexed = exists().where(STORY_TERMS.c.story_id == STORIES.c.id)
    return select(STORIES.c.id).where(STORIES.c.last_seen_at < story_cutoff, ~indexed)


def prune_archive(
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    keep_days: int,
    story_active_days: float,
    dry_run: bool = False,
    chunk: int = CHUNK,
) -> PruneReport:
    """Prune articles fetched more than ``keep_days`` ago (see the module docstring)."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1, got {keep_days}")
    cutoff = now - timedelta(days=keep_days)
    story_cutoff = now - timedelta(days=max(keep_days, story_active_days))
    with sessions() as session:
        ids = list(session.scalars(_PRUNABLE, {"cutoff": cutoff}))
        if dry_run:
            stories, sentences = _memory_counts(session, story_cutoff)
            notices = len(session.scalars(_prunable_notices(cutoff)).all())
            return PruneReport(
                cutoff, story_cutoff, len(ids), stories, sentences, dry_run=True, notices=notices
            )
    pruned = 0
    for part in chunks(ids, chunk):
        with sessions.begin() as session:
            take_write_lock(session)
            rows = session.execute(
                select(ARTICLES.c.id, ARTICLES.c.decision).where(
                    ARTICLES.c.id.in_(part), ARTICLES.c.text != ""
                )
            ).all()
            if rows:
                session.execute(
                    _PRUNE_ARTICLE,
                    [
                        {"row_id": row_id, "new_decision": pruned_decision(decision, now)}
                        for row_id, decision in rows
                    ],
                )
            pruned += len(rows)
    with sessions.begin() as session:
        take_write_lock(session)
        stories, sentences = _memory_counts(session, story_cutoff)
        session.execute(
            delete(STORY_SENTENCES).where(
                STORY_SENTENCES.c.story_id.in_(_forgettable(story_cutoff))
            )
        )
    notices = prune_notices(sessions, cutoff)
    return PruneReport(
        cutoff, story_cutoff, pruned, stories, sentences, dry_run=False, notices=notices
    )


def _prunable_notices(cutoff: datetime) -> Any:
    """Notices recorded before ``cutoff``, every delivery settled, none the newest of its source
    and kind (see the module docstring)."""
    unsettled = exists().where(
        NOTICE_DELIVERIES.c.notice_id == NOTICES.c.id, NOTICE_DELIVERIES.c.state.not_in(SETTLED)
    )
    newer = NOTICES.alias("newer")
    superseded = exists().where(
        newer.c.source == NOTICES.c.source,
        newer.c.kind == NOTICES.c.kind,
        newer.c.episode > NOTICES.c.episode,
    )
    return (
        select(NOTICES.c.id)
        .where(NOTICES.c.created_at < cutoff, ~unsettled, superseded)
        .order_by(NOTICES.c.id)
    )


def prune_notices(sessions: sessionmaker[Session], cutoff: datetime) -> int:
    """Delete the prunable notices of :func:`_prunable_notices` with their deliveries, in one
    transaction; how many notices were deleted.

    Their deliveries are locked first (PostgreSQL: ``FOR UPDATE``; SQLite holds the database's
    write lock), then the notices are chosen again: a delivery re-queued meanwhile (``monitor
    alerts retry --all-dead``) is pending by then and keeps its notice.
    """
    with sessions.begin() as session:
        take_write_lock(session)
        candidates = list(session.scalars(_prunable_notices(cutoff)))
        if not candidates:
            return 0
        session.execute(
            select(NOTICE_DELIVERIES.c.id)
            .where(NOTICE_DELIVERIES.c.notice_id.in_(candidates))
            .with_for_update()
        ).all()
        ids = list(session.scalars(_prunable_notices(cutoff)))
        for part in chunks(ids, CHUNK):
            session.execute(
                delete(NOTICE_DELIVERIES).where(NOTICE_DELIVERIES.c.notice_id.in_(part))
            )
            session.execute(delete(NOTICES).where(NOTICES.c.id.in_(part)))
    return len(ids)


def _memory_counts(session: Session, story_cutoff: datetime) -> tuple[int, int]:
    """Stories that would lose their sentence memory, and the sentences they hold."""
    stmt = select(func.count(func.distinct(STORY_SENTENCES.c.story_id)), func.count()).where(
        STORY_SENTENCES.c.story_id.in_(_forgettable(story_cutoff))
    )
    stories, sentences = session.execute(stmt).one()
    return int(stories), int(sentences)


def database_size(engine: Engine) -> int:
    """The database's size in bytes (SQLite: its pages; PostgreSQL: ``pg_database_size``)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            page_size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(page_size)
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())


def vacuum(engine: Engine) -> None:
    """Give the space of pruned rows back: SQLite rewrites the file (``VACUUM``), PostgreSQL
    marks it reusable and refreshes the planner's statistics (``VACUUM (ANALYZE)``)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            # The engine's connections leave transaction control to SQLAlchemy (autocommit at
            # the driver), which VACUUM needs: it cannot run inside a transaction.
            raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(
            "VACUUM (ANALYZE) articles, story_sentences, source_notices, notice_deliveries"
        )


def prune_database(
    engine: Engine,
    *,
    now: datetime,
    keep_days: int,
    story_active_days: float,
    dry_run: bool = False,
    vacuum_after: bool = False,
) -> PruneReport:
    """:func:`prune_archive` on ``engine``, then :func:`vacuum` it if asked (never on a dry run),
    reporting its size before and after."""
    before = database_size(engine) if vacuum_after and not dry_run else None
    report = prune_archive(
        session_factory(engine),
        now=now,
        keep_days=keep_days,
        story_active_days=story_active_days,
        dry_run=dry_run,
    )
    if before is None:
        return report
    vacuum(engine)
    return replace(report, size_before=before, size_after=database_size(engine))
