"""A chat service that answers a byte at a time cannot hold a delivery (SQLite, PostgreSQL).

apprise bounds each socket read, not the exchange: a service that sends its answer one byte per
second never trips its read timeout. The delivery's timeout must bound the whole send, and the
delivery goes out once the service answers again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import deliver_due
from monitor.config import MonitorConfig, Settings, parse_config
from monitor.storage.tables import DeliveryRow
from tests.integration.test_delivery_apprise import NOW, enqueue_hostile
from tests.support.webhook import MisbehavingReceiver, WebhookReceiver


@pytest.fixture
def dripping() -> Iterator[MisbehavingReceiver]:
    r = MisbehavingReceiver("drip_headers", interval_s=1.0).start()
    yield r
    r.stop()


def setup(settings: Settings, port: int, timeout_s: float) -> tuple[MonitorConfig, Settings]:
    config = parse_config(
        {
            "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
            "channels": [{"type": "apprise", "name": "team-chat", "url_secret": "chat_url"}],
        }
    )
    url = SecretStr(f"json://127.0.0.1:{port}/chat")
    delivery = settings.delivery.model_copy(update={"webhook_timeout_s": timeout_s})
    return config, settings.model_copy(update={"secrets": {"chat_url": url}, "delivery": delivery})


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


async def test_a_dripping_chat_service_fails_the_send_within_the_timeout(
    sessions: sessionmaker[Session],
    dripping: MisbehavingReceiver,
    receiver: WebhookReceiver,
    settings: Settings,
) -> None:
    config, s = setup(settings, port_of(dripping.url()), timeout_s=2.0)
    enqueue_hostile(sessions, config)

    started = time.monotonic()
    report = await deliver_due(sessions, config, s, now=NOW)
    elapsed = time.monotonic() - started

    assert elapsed < 6.0, f"the send took {elapsed:.1f} s against a 2 s timeout"
    assert report.failed == 1
    assert report.errors[0].error_type == "TransientDeliveryError"
    assert "2 s" in report.errors[0].message
    with sessions() as session:
        assert session.scalars(select(DeliveryRow.state)).one() == "failed"

    assert len(dripping.requests) == 1

    # the service answers again (at its new address): the delivery goes out, once
    config, s = setup(settings, receiver.port, timeout_s=2.0)
    later = NOW.replace(day=NOW.day + 1)
    again = await deliver_due(sessions, config, s, now=later)
    assert again.sent == 1
    assert len(receiver.requests) == 1
    with sessions() as session:
        assert session.scalars(select(DeliveryRow.state)).one() == "sent"
