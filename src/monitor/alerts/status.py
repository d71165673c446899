"""Read side of the outbox: alerts with the state of each of their deliveries (for the CLI)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.alerts.outbox import DeliveryState
from monitor.storage.tables import AlertRow, DeliveryRow
from monitor.timeutil import as_utc

FAILING = (DeliveryState.FAILED.value, DeliveryState.DEAD.value)


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
        def iso(value: datetime | None) -> str | None:
            return None if value is None else as_utc(value).isoformat()

        return {
            "id": self.id,
            "topic": self.topic,
            "title": self.title,
            "url": self.url,
            "created_at": iso(self.created_at),
            "deliveries": [
                {
                    "id": d.id,
                    "channel": d.channel,
                    "state": d.state,
                    "mode": d.mode,
                    "route": d.route,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "next_attempt_at": iso(d.next_attempt_at),
                    "sent_at": iso(d.sent_at),
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
