"""Chat delivery through apprise's json:// scheme to the loopback receiver (SQLite, PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import deliver_due, enqueue
from monitor.config import MonitorConfig, Settings, parse_config
from monitor.storage.tables import DeliveryRow
from tests.support.alerts import add_alert
from tests.support.webhook import Behaviour, WebhookReceiver

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TOKEN = "xoxb-secret-chat-token-42"


def chat_setup(settings: Settings, receiver: WebhookReceiver) -> tuple[MonitorConfig, Settings]:
    url = f"json://bot:{TOKEN}@127.0.0.1:{receiver.port}/chat"
    config = parse_config(
        {
            "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
            "channels": [{"type": "apprise", "name": "team-chat", "url_secret": "chat_url"}],
        }
    )
    return config, settings.model_copy(update={"secrets": {"chat_url": SecretStr(url)}})


def enqueue_hostile(sessions: sessionmaker[Session], config: MonitorConfig) -> None:
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(
            session,
            topic=topic.name,
            title="Talks collapse [click](https://evil.example) **now**",
            now=NOW,
            facts=("Delegates walked out <script>x()</script>",),
        )
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)


async def test_apprise_json_reaches_receiver_with_escaped_markdown(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    config, s = chat_setup(settings, receiver)
    enqueue_hostile(sessions, config)

    report = await deliver_due(sessions, config, s, now=NOW)

    assert report.sent == 1
    [req] = receiver.requests
    assert req.path == "/chat"
    body = json.loads(req.body)
    assert body["title"] == "[Istanbul talks] Talks collapse [click](https://evil.example) **now**"
    message = body["message"]
    assert r"\[click\]\(https://evil\.example\) \*\*now\*\*" in message
    assert "[click](" not in message
    assert r"\<script\>" in message
    # the delivery key travels as a header so the receiver can dedupe
    assert req.headers["x-monitor-idempotency-key"].endswith(":team-chat")
    with sessions() as session:
        assert session.scalars(select(DeliveryRow.state)).one() == "sent"


async def test_apprise_failure_is_retried_and_url_never_leaks(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    receiver.behaviour = Behaviour(always_status=500)
    config, s = chat_setup(settings, receiver)
    enqueue_hostile(sessions, config)

    report = await deliver_due(sessions, config, s, now=NOW)

    assert report.failed == 1
    assert report.errors[0].error_type == "TransientDeliveryError"
    assert "json://" in report.errors[0].message
    assert TOKEN not in repr(report)
    with sessions() as session:
        row = session.scalars(select(DeliveryRow)).one()
    assert row.state == "failed"
    assert TOKEN not in (row.last_error or "")
    assert TOKEN not in repr(s)
