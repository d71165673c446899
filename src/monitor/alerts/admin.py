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


def requeue(
    session: Session,
    *,
    alert_ids: Sequence[int] = (),
    delivery_ids: Sequence[int] = (),
    all_dead: bool = False,
    now: datetime,
    hold: timedelta,
) -> int:
    """Put failed/dead deliveries (of ``alert_ids``, the ``delivery_ids``, or every dead one,
    source notices' too) back to pending, due at ``now``; how many were.

    Sent deliveries are untouched, and so is a failed one whose next attempt falls within
    ``hold`` (``MONITOR_DELIVERY__CLAIM_S``) after ``now``: a delivery pass claims what it
    sends by moving its next attempt that far ahead, so such a row may be on its way to the
    receiver at this moment, and re-queueing it would let a second pass send it again; it is
    tried by then anyway. An immediate delivery keeps its idempotency key (the alert's and the
    channel's); a digest delivery leaves its old batch and joins the next one.
    """
    now = as_utc(now)
    retryable = (DeliveryRow.state == DeliveryState.DEAD.value) | (
        (DeliveryRow.state == DeliveryState.FAILED.value)
        & or_(
            DeliveryRow.next_attempt_at.is_(None),
            DeliveryRow.next_attempt_at <= now,
            DeliveryRow.next_attempt_at > now + hold,
        )
    )
    conditions: list[Any] = []
    if all_dead:
        conditions.append(DeliveryRow.state == DeliveryState.DEAD.value)
    if alert_ids:
        conditions.append(DeliveryRow.alert_id.in_(list(alert_ids)) & retryable)
    if delivery_ids:
        conditions.append(DeliveryRow.id.in_(list(delivery_ids)) & retryable)
    if not conditions:
        return 0
    notices = 0
    if all_dead:
        requeued = session.execute(
            update(NoticeDeliveryRow)
            .where(NoticeDeliveryRow.state == DeliveryState.DEAD.value)
            .values(state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=now)
        )
        notices = int(getattr(requeued, "rowcount", 0) or 0)
    result = session.execute(
        update(DeliveryRow)
        .where(or_(*conditions))
        .values(
            state=DeliveryState.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            batch_key=None,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0) + notices


@dataclass(frozen=True, slots=True)
class Retry:
    """What :func:`retry_delivery` did: ``requeued``, else ``reason`` says why not."""

    delivery_id: int
    alert_id: int
    channel: str
    requeued: bool
    reason: str = ""


def retry_delivery(
    session: Session, delivery_id: int, *, now: datetime, hold: timedelta
) -> Retry | None:
    """Re-queue one failed or dead delivery (as :func:`requeue` does); ``None`` when there is
    no such delivery. Call it in a write transaction
    (:func:`monitor.storage.db.take_write_lock`)."""
    now = as_utc(now)
    requeued = requeue(session, delivery_ids=[delivery_id], now=now, hold=hold) == 1
    row = session.execute(
        select(
            DeliveryRow.alert_id,
            DeliveryRow.channel,
            DeliveryRow.state,
            DeliveryRow.sent_at,
            DeliveryRow.next_attempt_at,
        ).where(DeliveryRow.id == delivery_id)
    ).one_or_none()
    if row is None:
        return None
    alert_id, channel, state, sent_at, next_attempt_at = row
    done = Retry(delivery_id, alert_id, channel, requeued)
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
