"""E-mail delivery to real aiosmtpd servers on loopback ports (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import DeliverySettings, EmailChannel
from monitor.alerts.admin import send_test
from monitor.alerts.channels.email import message_id
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.config import MonitorConfig, Settings, SmtpSettings, parse_config
from monitor.errors import PermanentDeliveryError
from monitor.storage.tables import DeliveryRow
from monitor.timeutil import as_utc
from tests.support.alerts import add_alert
from tests.support.smtp import DrippingSmtp, PasswordAuth, RecordingHandler, start_smtp
from tests.support.tls import server_tls_context

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
PASSWORD = "correct-horse-battery-staple"
RECIPIENTS = ["ops@example.org", "desk@example.org"]


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler(mode=getattr(request, "param", "accept"))
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    controller = start_smtp(
        handler,
        tls_context=server_tls_context(cert),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=PasswordAuth("monitor", PASSWORD),
    )
    yield handler, controller
    controller.stop()


def mail_settings(
    settings: Settings, controller: Controller | DrippingSmtp, **smtp: Any
) -> Settings:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": controller.port,
        "security": "none",
        "sender": "monitor@news.example",
        "timeout_s": 5,
        **smtp,
    }
    return settings.model_copy(
        update={
            "smtp": SmtpSettings(**fields),
            "delivery": DeliverySettings(max_attempts=3, backoff_base_s=60),
        }
    )


def mail_config() -> MonitorConfig:
    return parse_config(
        {
            "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
            "channels": [{"type": "email", "name": "desk", "to": RECIPIENTS}],
        }
    )


def enqueue_one(sessions: sessionmaker[Session], config: MonitorConfig, title: str) -> str:
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(
            session,
            topic=topic.name,
            title=title,
            now=NOW,
            facts=("Both delegations signed a 30-day ceasefire.",),
        )
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)
        return alert.idempotency_key


def only_delivery(sessions: sessionmaker[Session]) -> DeliveryRow:
    with sessions() as session:
        [row] = session.scalars(select(DeliveryRow)).all()
        return row


async def test_sends_multipart_to_all_recipients_once(
    sessions: sessionmaker[Session],
    smtp_server: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    handler, controller = smtp_server
    config = mail_config()
    key = enqueue_one(sessions, config, "Ceasefire agreed <b>tonight</b>")
    s = mail_settings(settings, controller)

    report = await deliver_due(sessions, config, s, now=NOW)

    assert report.sent == 1
    [mail] = handler.received
    assert sorted(mail.rcpt_tos) == sorted(RECIPIENTS)
    assert mail.mail_from == "monitor@news.example"
    msg = mail.message
    assert msg["Subject"] == "[Istanbul talks] Ceasefire agreed <b>tonight</b>"
    assert msg["Message-ID"] == message_id(f"{key}:desk", "monitor@news.example")
    assert msg["X-Monitor-Idempotency-Key"] == f"{key}:desk"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "Both delegations signed a 30-day ceasefire." in plain
    assert "Reported by Daily Planet" in plain
    assert "Also carried by: Evening Gazette" in plain
    html_body = html.get_content()
    assert "&lt;b&gt;tonight&lt;/b&gt;" in html_body
    assert "<b>tonight</b>" not in html_body
    assert 'name="viewport"' in html_body

    assert (await deliver_due(sessions, config, s, now=NOW + timedelta(hours=1))).sent == 0
    assert len(handler.received) == 1


@pytest.mark.parametrize("smtp_server", ["reject_rcpt"], indirect=True)
async def test_rejected_recipients_are_permanent(
    sessions: sessionmaker[Session],
    smtp_server: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    handler, controller = smtp_server
    config = mail_config()
    enqueue_one(sessions, config, "Rejected")
    report = await deliver_due(sessions, config, mail_settings(settings, controller), now=NOW)
    assert report.dead == 1
    row = only_delivery(sessions)
    assert row.state == "dead"
    assert "550" in (row.last_error or "")
    assert handler.received == []


@pytest.mark.parametrize("smtp_server", ["temp_reject_rcpt"], indirect=True)
async def test_temporarily_rejected_recipients_are_retried(
    sessions: sessionmaker[Session],
    smtp_server: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    _, controller = smtp_server
    config = mail_config()
    enqueue_one(sessions, config, "Greylisted")
    report = await deliver_due(sessions, config, mail_settings(settings, controller), now=NOW)
    assert report.failed == 1
    row = only_delivery(sessions)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "451" in (row.last_error or "")


@pytest.mark.parametrize("smtp_server", ["drop"], indirect=True)
async def test_dropped_connection_is_transient(
    sessions: sessionmaker[Session],
    smtp_server: tuple[RecordingHandler, Controller],
    settings: Settings,
) -> None:
    _, controller = smtp_server
    config = mail_config()
    enqueue_one(sessions, config, "Dropped")
    report = await deliver_due(sessions, config, mail_settings(settings, controller), now=NOW)
    assert report.failed == 1
    assert report.errors[0].error_type == "TransientDeliveryError"
    row = only_delivery(sessions)
    assert row.state == "failed"
    assert row.next_attempt_at is not None


@pytest.mark.parametrize("prompt", [0, 2], ids=["greeting", "mail-from"])
async def test_a_dripping_server_cannot_hold_delivery_and_the_mail_goes_out_later_once(
    sessions: sessionmaker[Session], settings: Settings, prompt: int
) -> None:
    # Each reply byte arrives within the per-read timeout; only a bound on the whole session
    # ends it. The greeting is dripped, or the reply to MAIL FROM after a prompt EHLO.
    config = mail_config()
    key = enqueue_one(sessions, config, "Dripped")
    dripping = DrippingSmtp(prompt=prompt, interval_s=1.0).start()
    try:
        began = time.monotonic()
        async with asyncio.timeout(30):  # a hang fails the test rather than stall the suite
            report = await deliver_due(
                sessions, config, mail_settings(settings, dripping, timeout_s=2), now=NOW
            )
        took = time.monotonic() - began
    finally:
        dripping.stop()
    assert dripping.sessions == 1
    assert report.failed == 1
    assert report.errors[0].error_type == "TransientDeliveryError"
    assert "timed out" in report.errors[0].message
    row = only_delivery(sessions)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.next_attempt_at is not None
    assert took < 2 + 5  # a correctness bound: the server would keep it for ever

    handler = RecordingHandler()
    healthy = start_smtp(handler)
    try:
        later = as_utc(row.next_attempt_at) + timedelta(seconds=1)
        sent = await deliver_due(sessions, config, mail_settings(settings, healthy), now=later)
        again = await deliver_due(
            sessions, config, mail_settings(settings, healthy), now=later + timedelta(hours=2)
        )
    finally:
        healthy.stop()
    assert (sent.sent, again.sent) == (1, 0)
    [mail] = handler.received
    assert mail.message["X-Monitor-Idempotency-Key"] == f"{key}:desk"
    assert only_delivery(sessions).state == "sent"


async def test_starttls_and_auth_with_verified_certificate(
    sessions: sessionmaker[Session],
    tls_server: tuple[RecordingHandler, Controller],
    settings: Settings,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    handler, controller = tls_server
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = mail_config()
    enqueue_one(sessions, config, "Over TLS")
    s = mail_settings(
        settings,
        controller,
        security="starttls",
        username="monitor",
        password=SecretStr(PASSWORD),
        ca_file=ca_file,
    )
    report = await deliver_due(sessions, config, s, now=NOW)
    assert report.sent == 1
    assert handler.received[0].message["Subject"] == "[Istanbul talks] Over TLS"


async def test_wrong_password_is_permanent_and_not_leaked(
    sessions: sessionmaker[Session],
    tls_server: tuple[RecordingHandler, Controller],
    settings: Settings,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    _, controller = tls_server
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    config = mail_config()
    enqueue_one(sessions, config, "Bad credentials")
    wrong = "hunter2-wrong-password"
    s = mail_settings(
        settings,
        controller,
        security="starttls",
        username="monitor",
        password=SecretStr(wrong),
        ca_file=ca_file,
    )
    report = await deliver_due(sessions, config, s, now=NOW)
    assert report.dead == 1
    assert "535" in report.errors[0].message
    row = only_delivery(sessions)
    assert wrong not in (row.last_error or "")
    assert wrong not in repr(report)
    assert wrong not in repr(s)


async def test_unverified_certificate_is_refused(
    tls_server: tuple[RecordingHandler, Controller], settings: Settings
) -> None:
    handler, controller = tls_server
    s = mail_settings(
        settings,
        controller,
        security="starttls",
        username="monitor",
        password=SecretStr(PASSWORD),
    )
    channel = EmailChannel(type="email", name="desk", to=RECIPIENTS)
    with pytest.raises(PermanentDeliveryError, match="certificate verification failed"):
        await send_test(channel, s, now=NOW)
    assert handler.received == []


async def test_implicit_tls(ca: trustme.CA, settings: Settings, tmp_path: Path) -> None:
    handler = RecordingHandler()
    cert = ca.issue_cert("127.0.0.1")
    controller = start_smtp(handler, ssl_context=server_tls_context(cert))
    try:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        s = mail_settings(settings, controller, security="ssl", ca_file=ca_file)
        channel = EmailChannel(type="email", name="desk", to=RECIPIENTS)
        assert await send_test(channel, s, now=NOW) is None
    finally:
        controller.stop()
    [mail] = handler.received
    assert mail.message["Subject"].startswith("[TEST] ")
    assert "TEST MESSAGE" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
