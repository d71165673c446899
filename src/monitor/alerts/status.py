"""Read side of the outbox (for the CLI and the web view's Deliveries page): alerts with the
state of each of their deliveries, source notices (:mod:`monitor.alerts.notices`) with theirs,
kept apart, and how many deliveries of each wait or did not go out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.outbox import DeliveryState
from monitor.storage.tables import AlertRow, DeliveryRow, NoticeDeliveryRow, SourceNoticeRow
from monitor.timeutil import as_utc

FAILING = (DeliveryState.FAILED.value, DeliveryState.DEAD.value)
# The states an operator is told the counts of: still waiting, or not gone out.
COUNTED = (DeliveryState.PENDING.value, *FAILING)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    id: int
    channel: str
    state: str
    mode: str
    route: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertStatus:
    id: int
    topic: str
    title: str
    url: str
    created_at: datetime
    deliveries: tuple[DeliveryStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "title": self.title,
            "url": self.url,
            "created_at": _iso(self.created_at),
            "deliveries": [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "state": d.state,
                    "mode": d.mode,
                    "route": d.route,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "next_attempt_at": _iso(d.next_attempt_at),
                    "sent_at": _iso(d.sent_at),
                }
                for d in self.deliveries
            ],
        }


@dataclass(frozen=True, slots=True)
class NoticeDeliveryStatus:
    """One source notice on one channel (always immediate: no mode or route)."""

    id: int
    channel: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    """A source notice (a source started failing, recovered, went quiet, is active again)."""

    id: int
    source: str
    kind: str
    episode: int
    created_at: datetime
    deliveries: tuple[NoticeDeliveryStatus, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "episode": self.episode,
            "created_at": _iso(self.created_at),
            "deliveries": [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "state": d.state,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "next_attempt_at": _iso(d.next_attempt_at),
                    "sent_at": _iso(d.sent_at),
                }
                for d in self.deliveries
            ],
        }


def _status(alert: AlertRow, rows: Iterable[DeliveryRow]) -> AlertStatus:
    payload = alert.payload or {}
    return AlertStatus(
        id=alert.id,
        topic=alert.topic,
        title=str(payload.get("title") or ""),
        url=str(payload.get("url") or ""),
        created_at=as_utc(alert.created_at),
        deliveries=tuple(
            DeliveryStatus(
                id=r.id,
                channel=r.channel,
                state=r.state,
                mode=r.mode,
                route=r.route,
                attempts=r.attempts,
                last_error=r.last_error,
                next_attempt_at=as_utc(r.next_attempt_at) if r.next_attempt_at else None,
                sent_at=as_utc(r.sent_at) if r.sent_at else None,
            )
            for r in sorted(rows, key=lambda r: r.channel)
        ),
    )


def list_alerts(
    session: Session, *, failed_only: bool = False, limit: int = 20
) -> list[AlertStatus]:
    """Newest alerts first; ``failed_only`` keeps alerts with a failed or dead delivery."""
    stmt = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.id.desc()).limit(limit)
    if failed_only:
        failing = select(DeliveryRow.alert_id).where(DeliveryRow.state.in_(FAILING))
        stmt = stmt.where(AlertRow.id.in_(failing))
    alerts = list(session.scalars(stmt))
    rows = session.scalars(
        select(DeliveryRow).where(DeliveryRow.alert_id.in_([a.id for a in alerts]))
    ).all()
    by_alert: dict[int, list[DeliveryRow]] = {}
    for row in rows:
        by_alert.setdefault(row.alert_id, []).append(row)
    return [_status(a, by_alert.get(a.id, ())) for a in alerts]


def _notice_status(notice: SourceNoticeRow, rows: Iterable[NoticeDeliveryRow]) -> NoticeStatus:
    return NoticeStatus(
        id=notice.id,
        source=notice.source,
        kind=notice.kind,
        episode=notice.episode,
        created_at=as_utc(notice.created_at),
        deliveries=tuple(
            NoticeDeliveryStatus(
                id=r.id,
                channel=r.channel,
                state=r.state,
                attempts=r.attempts,
                last_error=r.last_error,
                next_attempt_at=as_utc(r.next_attempt_at) if r.next_attempt_at else None,
                sent_at=as_utc(r.sent_at) if r.sent_at else None,
            )
            for r in sorted(rows, key=lambda r: r.channel)
        ),
    )


def list_notices(
    session: Session, *, failed_only: bool = False, limit: int = 20
) -> list[NoticeStatus]:
    """Newest source notices first; ``failed_only`` keeps notices with a failed or dead
    delivery."""
    stmt = (
        select(SourceNoticeRow)
        .order_by(SourceNoticeRow.created_at.desc(), SourceNoticeRow.id.desc())
        .limit(limit)
    )
    if failed_only:
        failing = select(NoticeDeliveryRow.notice_id).where(NoticeDeliveryRow.state.in_(FAILING))
        stmt = stmt.where(SourceNoticeRow.id.in_(failing))
    notices = list(session.scalars(stmt))
    rows = session.scalars(
        select(NoticeDeliveryRow).where(NoticeDeliveryRow.notice_id.in_([n.id for n in notices]))
    ).all()
    by_notice: dict[int, list[NoticeDeliveryRow]] = {}
    for row in rows:
        by_notice.setdefault(row.notice_id, []).append(row)
    return [_notice_status(n, by_notice.get(n.id, ())) for n in notices]


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """How many deliveries are pending, failed (to be retried) and dead (given up)."""

    pending: int = 0
    failed: int = 0
    dead: int = 0

    def line(self) -> str:
        return f"{self.pending} pending, {self.failed} failed, {self.dead} dead"

    def to_json(self) -> dict[str, int]:
        return {"pending": self.pending, "failed": self.failed, "dead": self.dead}


def _counts(session: Session, table: type[DeliveryRow] | type[NoticeDeliveryRow]) -> DeliveryCounts:
    rows = session.execute(
        select(table.state, func.count()).where(table.state.in_(COUNTED)).group_by(table.state)
    ).tuples()
    by_state = {state: int(n) for state, n in rows}
    return DeliveryCounts(**{state: by_state.get(state, 0) for state in COUNTED})


def alert_delivery_counts(session: Session) -> DeliveryCounts:
    """Alert deliveries pending, failed and dead."""
    return _counts(session, DeliveryRow)


def notice_delivery_counts(session: Session) -> DeliveryCounts:
    """Source notice deliveries pending, failed and dead."""
    return _counts(session, NoticeDeliveryRow)
