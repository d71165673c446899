"""Operator actions on the outbox: send a marked test message, re-queue failed deliveries.

Both are what ``monitor alerts test`` and ``monitor alerts retry`` run; neither touches a
delivery that was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import or_, update
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
    all_dead: bool = False,
    now: datetime,
) -> int:
    """Put failed/dead deliveries (of ``alert_ids``, or every dead one, source notices' too)
    back to pending.

    A digest delivery leaves its old batch and joins the next one. Sent deliveries are untouched.
    """
    now = as_utc(now)
    conditions: list[Any] = []
    if all_dead:
        conditions.append(DeliveryRow.state == DeliveryState.DEAD.value)
    if alert_ids:
        conditions.append(
            DeliveryRow.alert_id.in_(list(alert_ids))
            & DeliveryRow.state.in_([DeliveryState.DEAD.value, DeliveryState.FAILED.value])
        )
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
