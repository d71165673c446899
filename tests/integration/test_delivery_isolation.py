"""One channel's failure is that delivery's error, and the private-destination policy, against a
real SMTP sink and a real webhook receiver on 127.0.0.1 (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import DeliverySettings, WebhookChannel
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.config import MonitorConfig, Settings, SmtpSettings, parse_config
from monitor.storage.tables import DeliveryRow
from tests.support.alerts import add_alert
from tests.support.smtp import RecordingHandler, start_smtp
from tests.support.webhook import WebhookReceiver

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TOPIC = {"name": "Harbour strike", "query": "strike"}


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


def _settings(settings: Settings, controller: Controller | None, **delivery: object) -> Settings:
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=controller.port if controller else 25,
        security="none",
        sender="monitor@news.example",
        timeout_s=5,
    )
    return settings.model_copy(
        update={
            "smtp": smtp,
            "secrets": {**settings.secrets},
            "delivery": DeliverySettings(
                max_attempts=3, backoff_base_s=60, backoff_max_s=600, **delivery
            ),
        }
    )


def _enqueue(sessions: sessionmaker[Session], config: MonitorConfig) -> None:
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(session, topic=topic.name, title="Dockers strike at Marrowick", now=NOW)
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)


def _rows(sessions: sessionmaker[Session]) -> dict[str, DeliveryRow]:
    with sessions() as session:
        return {r.channel: r for r in session.scalars(select(DeliveryRow))}


# URLs a config written before they were checked (or edited around the check) may hold: each
# made httpx raise something that was not a delivery error.
BROKEN_URLS = [
    "http://127.0.0.1:99999/hook",  # port out of range
    "http://[::1/hook",  # unclosed IPv6 literal
    "http://[::zz]/hook",  # not an IPv6 address
    "http://xn--zz--.example/hook",  # invalid IDNA label
    "http://\u2603.example/hook",  # not encodable as IDNA 2008
]


@pytest.mark.parametrize("url", BROKEN_URLS)
async def test_a_broken_webhook_never_resends_the_email_beside_it(
    url: str,
    sessions: sessionmaker[Session],
    smtp: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    handler, controller = smtp
    config = parse_config(
        {"topics": [TOPIC], "channels": [{"type": "email", "name": "desk", "to": ["d@x.org"]}]}
    )
    # Bypasses the config check, which refuses these URLs, as an old config would.
    broken = WebhookChannel.model_construct(type="webhook", name="ops", url=url, secret=None)
    config = config.model_copy(update={"channels": [*config.channels, broken]})
    _enqueue(sessions, config)
    s = _settings(settings, controller)

    for cycle in range(4):  # each cycle after the back-off of the last
        report = await deliver_due(sessions, config, s, now=NOW + timedelta(hours=cycle))
        assert report.sent == (1 if cycle == 0 else 0)

    assert len(handler.received) == 1  # the e-mail went out once, in the first cycle
    rows = _rows(sessions)
    assert rows["desk"].state == "sent"
    assert rows["desk"].attempts == 1
    # The webhook's failure is recorded on its own row: dead at once when httpx refuses the URL
    # (permanent), after max_attempts when the socket does (a failed connection, transient).
    assert rows["ops"].state == "dead"
    assert "webhook 'ops'" in (rows["ops"].last_error or "")


async def test_an_unexpected_error_is_retried_with_back_off_then_dead(
    sessions: sessionmaker[Session],
    smtp: tuple[RecordingHandler, Controller],
    settings: Settings,
    tmp_path: Path,
) -> None:
    """Any exception while building a delivery, not only a channel's own errors: here a
    template override that divides by zero (not a Jinja error)."""
    handler, controller = smtp
    (tmp_path / "alert.subject.j2").write_text("{{ 1 // 0 }}", encoding="utf-8")
    config = parse_config(
        {"topics": [TOPIC], "channels": [{"type": "email", "name": "desk", "to": ["d@x.org"]}]}
    )
    _enqueue(sessions, config)
    s = _settings(settings, controller, templates_dir=tmp_path)

    states = []
    for cycle in range(4):
        report = await deliver_due(sessions, config, s, now=NOW + timedelta(hours=cycle))
        row = _rows(sessions)["desk"]
        states.append((row.state, row.attempts))
        assert report.sent == 0

    assert states == [("failed", 1), ("failed", 2), ("dead", 3), ("dead", 3)]
    assert "ZeroDivisionError" in (_rows(sessions)["desk"].last_error or "")
    assert handler.received == []


async def test_a_private_webhook_destination_is_refused_when_not_allowed(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    config = parse_config(
        {"topics": [TOPIC], "channels": [{"type": "webhook", "name": "ops", "url": receiver.url()}]}
    )
    _enqueue(sessions, config)
    s = _settings(settings, None, allow_private_destinations=False)

    report = await deliver_due(sessions, config, s, now=NOW)

    assert report.sent == 0
    assert receiver.requests == []  # nothing reached the loopback receiver
    row = _rows(sessions)["ops"]
    assert row.state == "dead"  # permanent: retrying will not change the address
    assert "non-public address 127.0.0.1" in (row.last_error or "")
    assert "ALLOW_PRIVATE_DESTINATIONS" in (row.last_error or "")


async def test_a_private_webhook_destination_is_delivered_by_default(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    config = parse_config(
        {"topics": [TOPIC], "channels": [{"type": "webhook", "name": "ops", "url": receiver.url()}]}
    )
    _enqueue(sessions, config)
    s = _settings(settings, None)
    assert s.delivery.allow_private_destinations  # the documented default

    report = await deliver_due(sessions, config, s, now=NOW)

    assert report.sent == 1
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("allowed", [True, False])
async def test_the_policy_applies_to_self_hosted_apprise_services(
    allowed: bool, sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    config = parse_config(
        {
            "topics": [TOPIC],
            "channels": [{"type": "apprise", "name": "chat", "url_secret": "chat_url"}],
        }
    )
    _enqueue(sessions, config)
    s = _settings(settings, None, allow_private_destinations=allowed)
    hook = receiver.url().replace("http://", "json://")
    s = s.model_copy(update={"secrets": {"chat_url": SecretStr(hook)}})

    report = await deliver_due(sessions, config, s, now=NOW)

    row = _rows(sessions)["chat"]
    if allowed:
        assert report.sent == 1
        assert len(receiver.requests) == 1
    else:
        assert report.sent == 0
        assert receiver.requests == []
        assert row.state == "dead"
        assert "non-public address" in (row.last_error or "")
        assert hook not in (row.last_error or "")  # the apprise URL stays secret
