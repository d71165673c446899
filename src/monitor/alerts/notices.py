"""Source health notices on the configured channels: the outbox rows of "a source started
failing, recovered, went quiet, is active again".

Lifecycle::

    the poll that changes a source's health ──queue_notices──► source_notices (one row)
                                                               notice_deliveries (one per channel)
    deliver_due ──► pending ──send ok──► sent ... (the alerts' outbox, see monitor.alerts.outbox)

* :func:`queue_notices` runs in the transaction that records the poll
  (:func:`monitor.pipeline.sources.record_polls`), so the new health state and its notice commit
  together, or neither does: a change is told once, whatever crashes when. Each notice is one
  ``source_notices`` row per (source, kind, episode), a unique constraint the database enforces:
  a source's ``n``-th run of failures opens ``failing`` episode ``n`` and its recovery closes it
  as ``recovered`` ``n`` (``quiet`` and ``active`` alike). It gets a ``notice_deliveries`` row
  per channel whose ``notices`` option is on (the default; ``notices: false`` keeps a channel to
  alerts), whatever topics the channel serves.
* :func:`due_notices` lists what :func:`monitor.alerts.outbox.deliver_due` sends with the alerts
  of the same run: the same claim before a send, back-off and jitter, ``max_attempts`` and
  idempotency key on every retry (``source:<name>:<kind>:<episode>:<channel>``). Notices are
  always immediate: a topic's digest, cap and quiet hours are about its alerts. A run sends the
  notices of the sources its config names (another deployment's sources are its own).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alert_settings import ChannelConfig
from monitor.alerts.model import NoticeKind, SourceNotice, notice_from_payload, notice_payload
from monitor.storage.db import dialect_insert
from monitor.storage.tables import NoticeDeliveryRow, SourceNoticeRow
from monitor.timeutil import as_utc

# The kind that opens the episode a kind belongs to.
_OPENED_BY: dict[NoticeKind, NoticeKind] = {
    "failing": "failing",
    "recovered": "failing",
    "quiet": "quiet",
    "active": "quiet",
}


def _episode(session: Session, source: str, kind: NoticeKind) -> int:
    """The episode ``kind`` belongs to: a new one for ``failing`` and ``quiet``; the latest
    opened for ``recovered`` and ``active`` (0 when it opened before notices were kept)."""
    opener = _OPENED_BY[kind]
    latest = session.scalar(
        select(func.max(SourceNoticeRow.episode)).where(
            SourceNoticeRow.source == source, SourceNoticeRow.kind == opener
        )
    )
    latest = int(latest or 0)
    return latest + 1 if kind == opener else latest


def queue_notices(
    session: Session,
    notices: Sequence[SourceNotice],
    channels: Sequence[ChannelConfig],
    *,
    now: datetime,
) -> list[SourceNotice]:
    """Record each notice and an outbox row per channel taking notices, in the caller's
    transaction; returns them numbered (their episode). A notice recorded already (same
    source, kind and episode) gets no second row."""
    now = as_utc(now)
    dialect = session.get_bind().dialect.name
    takers = [c.name for c in channels if c.notices]
    numbered: list[SourceNotice] = []
    for notice in notices:
        episode = _episode(session, notice.source, notice.kind)
        insert = dialect_insert(dialect, SourceNoticeRow.__table__)
        session.execute(
            insert.values(
                source=notice.source,
                kind=notice.kind,
                episode=episode,
                payload=notice_payload(notice),
                created_at=now,
            ).on_conflict_do_nothing(index_elements=["source", "kind", "episode"])
        )
        notice_id = session.scalar(
            select(SourceNoticeRow.id).where(
                SourceNoticeRow.source == notice.source,
                SourceNoticeRow.kind == notice.kind,
                SourceNoticeRow.episode == episode,
            )
        )
        if takers and notice_id is not None:
            rows = [
                {
                    "notice_id": notice_id,
                    "channel": name,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for name in takers
            ]
            insert = dialect_insert(dialect, NoticeDeliveryRow.__table__)
            session.execute(
                insert.values(rows).on_conflict_do_nothing(index_elements=["notice_id", "channel"])
            )
        numbered.append(replace(notice, episode=episode, created_at=now))
    return numbered


def notice_of(row: SourceNoticeRow) -> SourceNotice:
    """The notice a row holds (``ValueError``, ``KeyError`` or ``TypeError`` when its payload
    cannot be read)."""
    return notice_from_payload(
        row.payload,
        source=row.source,
        kind=row.kind,
        episode=row.episode,
        created_at=as_utc(row.created_at),
    )


def due_notices(
    session: Session, now: datetime, sources: Collection[str], states: Collection[str]
) -> list[tuple[NoticeDeliveryRow, SourceNoticeRow]]:
    """The notice deliveries of ``sources`` in ``states`` due at ``now``, oldest first.

    Waiting notices are few, and a config may name tens of thousands of sources: they are
    picked here rather than by a statement holding every name."""
    rows = session.execute(
        select(NoticeDeliveryRow, SourceNoticeRow)
        .join(SourceNoticeRow, SourceNoticeRow.id == NoticeDeliveryRow.notice_id)
        .where(NoticeDeliveryRow.state.in_(states), NoticeDeliveryRow.next_attempt_at <= now)
        .order_by(NoticeDeliveryRow.id)
    ).tuples()
    return [(delivery, notice) for delivery, notice in rows if notice.source in sources]


def waiting_notices(session: Session, sources: Collection[str], states: Collection[str]) -> int:
    """How many notice deliveries of ``sources`` are in ``states``."""
    waiting = session.scalars(
        select(SourceNoticeRow.source)
        .join(NoticeDeliveryRow, SourceNoticeRow.id == NoticeDeliveryRow.notice_id)
        .where(NoticeDeliveryRow.state.in_(states))
    )
    return sum(source in sources for source in waiting)
