"""Operator actions on the outbox: send a marked test message, re-queue failed deliveries.

Both are what ``monitor alerts test`` and ``monitor alerts retry`` run (the web view's
Deliveries page re-queues one delivery with :func:`retry_delivery`); neither touches a delivery
that was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from monitor.alert_settings import ChannelConfig
from monitor.alerts.channels import build_channel, known_secrets, redact
from monitor.alerts.model import OutgoingMessage
from monitor.alerts.outbox import DeliveryState, make_http_client
from monitor.alerts.render import render_test, template_environment
from monitor.config import Settings
from monitor.errors import DeliveryError
from monitor.storage.tables import DeliveryRow, NoticeDeliveryRow
from monitor.timeutil import as_utc


async def send_test(
    channel_config: ChannelConfig,
    settings: Settings,
    *,
    now: datetime,
    http: httpx.AsyncClient | None = None,
) -> str | None:
    """Send a clearly marked test message on one channel; raises :class:`DeliveryError`.

    Error messages are redacted before they leave this function.
    """
    now = as_utc(now)
    env = template_environment(settings.delivery.templates_dir, web_base_url=settings.web.base_url)
    secrets = known_secrets(settings)
    client = http if http is not None else make_http_client(settings)
    try:
        channel = build_channel(channel_config, settings, http=client)
        message = OutgoingMessage(
            channel=channel_config.name,
            idempotency_key=f"test:{channel_config.name}:{int(now.timestamp())}",
            message=render_test(channel_config.name, env, now=now),
            attempted_at=now,
        )
        try:
            return await channel.send(message)
        except DeliveryError as exc:
            raise type(exc)(redact(str(exc), secrets), channel=exc.channel) from None
    finally:
        if http is None:
            await client.aclose()


_Outbox = type[DeliveryRow] | type[NoticeDeliveryRow]


def _retryable(table: _Outbox, now: datetime, hold: timedelta) -> Any:
    """Dead, or failed and not possibly on its way right now (see :func:`requeue`)."""
    return (table.state == DeliveryState.DEAD.value) | (
        (table.state == DeliveryState.FAILED.value)
        & or_(
            table.next_attempt_at.is_(None),
            table.next_attempt_at <= now,
            table.next_attempt_at > now + hold,
        )
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def requeue(
    session: Session,
    *,
    alert_ids: Sequence[int] = (),
    delivery_ids: Sequence[int] = (),
    notice_delivery_ids: Sequence[int] = (),
    all_dead: bool = False,
    now: datetime,
    hold: timedelta,
) -> int:
    """Put failed/dead deliveries (of ``alert_ids``, the ``delivery_ids``, the source notices'
    ``notice_delivery_ids``, or every dead one, source notices' too) back to pending, due at
    ``now``; how many were.

    Sent deliveries are untouched, and so is a failed one whose next attempt falls within
    ``hold`` (``MONITOR_DELIVERY__CLAIM_S``) after ``now``: a delivery pass claims what it
    sends by moving its next attempt that far ahead, so such a row may be on its way to the
    receiver at this moment, and re-queueing it would let a second pass send it again; it is
    tried by then anyway. Every delivery keeps its idempotency key: an immediate one the alert's
    and the channel's (a notice's too), a digest one its batch's, so a receiver that did get an
    attempt the monitor saw fail can drop the resend; alerts queued since form batches of their
    own.
    """
    now = as_utc(now)
    dead = DeliveryState.DEAD.value
    conditions: list[Any] = []
    if all_dead:
        conditions.append(DeliveryRow.state == dead)
    if alert_ids:
        conditions.append(DeliveryRow.alert_id.in_(list(alert_ids)))
    if delivery_ids:
        conditions.append(DeliveryRow.id.in_(list(delivery_ids)))
    notice_conditions: list[Any] = []
    if all_dead:
        notice_conditions.append(NoticeDeliveryRow.state == dead)
    if notice_delivery_ids:
        notice_conditions.append(NoticeDeliveryRow.id.in_(list(notice_delivery_ids)))
    count = 0
    if notice_conditions:
        count += _rowcount(
            session.execute(
                update(NoticeDeliveryRow)
                .where(or_(*notice_conditions) & _retryable(NoticeDeliveryRow, now, hold))
                .values(state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=now)
            )
        )
    if conditions:
        count += _rowcount(
            session.execute(
                update(DeliveryRow)
                .where(or_(*conditions) & _retryable(DeliveryRow, now, hold))
                .values(
                    state=DeliveryState.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
        )
    return count


@dataclass(frozen=True, slots=True)
class Retry:
    """What :func:`retry_delivery` (or :func:`retry_notice_delivery`) did: ``requeued``, else
    ``reason`` says why not. ``owner_id`` is the alert's id (a notice's)."""

    delivery_id: int
    owner_id: int
    channel: str
    requeued: bool
    reason: str = ""


def retry_delivery(
    session: Session, delivery_id: int, *, now: datetime, hold: timedelta
) -> Retry | None:
    """Re-queue one failed or dead alert delivery (as :func:`requeue` does); ``None`` when there
    is no such delivery. Call it in a write transaction
    (:func:`monitor.storage.db.take_write_lock`)."""
    requeued = requeue(session, delivery_ids=[delivery_id], now=now, hold=hold) == 1
    return _retried(session, DeliveryRow, DeliveryRow.alert_id, delivery_id, requeued)


def retry_notice_delivery(
    session: Session, delivery_id: int, *, now: datetime, hold: timedelta
) -> Retry | None:
    """:func:`retry_delivery` for one delivery of a source notice."""
    requeued = requeue(session, notice_delivery_ids=[delivery_id], now=now, hold=hold) == 1
    return _retried(session, NoticeDeliveryRow, NoticeDeliveryRow.notice_id, delivery_id, requeued)


def _retried(
    session: Session, table: _Outbox, owner: Any, delivery_id: int, requeued: bool
) -> Retry | None:
    row = session.execute(
        select(owner, table.channel, table.state, table.sent_at, table.next_attempt_at).where(
            table.id == delivery_id
        )
    ).one_or_none()
    if row is None:
        return None
    owner_id, channel, state, sent_at, next_attempt_at = row
    done = Retry(delivery_id, owner_id, channel, requeued)
    if requeued:
        return done
    if state == DeliveryState.SENT.value:
        when = f" at {as_utc(sent_at):%Y-%m-%d %H:%M} UTC" if sent_at else ""
        reason = f"it was sent{when}; a delivery is never sent twice"
    elif state == DeliveryState.PENDING.value:
        reason = "it is already waiting for the next delivery pass"
    else:
        when = f"{as_utc(next_attempt_at):%Y-%m-%d %H:%M:%S} UTC" if next_attempt_at else "soon"
        reason = (
            f"its next attempt is due at {when}, so a delivery pass may be sending it right "
            "now; it is tried then"
        )
    return replace(done, reason=reason)
