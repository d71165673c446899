"""What the operator sees of source notices' deliveries, on SQLite and PostgreSQL, after real sends
to an SMTP sink and a webhook receiver on 127.0.0.1: ``monitor alerts`` lists the notices apart
from topic alerts with their pending/failed/dead counts, ``monitor alerts notices`` (text and
JSON) lists them alone, ``--failed`` keeps the ones that did not go out, and the web view's
Deliveries page shows failed and dead notice deliveries, each with a Retry button; after
``monitor alerts retry --all-dead`` and a delivery pass, nothing is left failing. A notice
delivery retried from the page goes out once, under its first attempt's key; a sent or pending
one, or one a pass may be sending, is not re-queued."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import typer
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.alert_settings import DeliverySettings
from monitor.alerts.model import NoticeKind, SourceNotice
from monitor.alerts.notices import queue_notices
from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.cli.alerts import register
from monitor.config import MonitorConfig, Settings, SmtpSettings, get_settings, parse_config
from monitor.storage.db import session_factory
from monitor.storage.tables import NoticeDeliveryRow
from monitor.timeutil import as_utc
from monitor.web import create_app
from tests.integration.test_web_deliveries import CSRF_INPUT
from tests.support.cli import stage_app
from tests.support.smtp import RecordingHandler, start_smtp
from tests.support.web import serve
from tests.support.webhook import Behaviour, WebhookReceiver

T0 = datetime(2031, 3, 2, 7, 0, tzinfo=UTC)
SOURCE = "Tessaly Courier"
SIGNING_KEY = "whsec-notice-status-secret"


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


def _config(receiver: WebhookReceiver) -> MonitorConfig:
    return parse_config(
        {
            "sources": [{"name": SOURCE, "url": "https://tessaly-courier.example/rss"}],
            "channels": [
                {"type": "email", "name": "desk", "to": ["desk@news.example"]},
                {"type": "webhook", "name": "ops", "url": receiver.url("/ops")},
            ],
        }
    )


def _settings(settings: Settings, smtp_port: int, max_attempts: int) -> Settings:
    smtp = SmtpSettings(
        host="127.0.0.1", port=smtp_port, security="none", sender="m@news.example", timeout_s=5
    )
    delivery = DeliverySettings(max_attempts=max_attempts, backoff_base_s=60, backoff_max_s=600)
    return settings.model_copy(update={"smtp": smtp, "delivery": delivery})


def _queue(sessions: sessionmaker[Session], config: MonitorConfig, kind: NoticeKind) -> None:
    notice = SourceNotice(SOURCE, "https://tessaly-courier.example/rss", kind, "feed down")
    with sessions.begin() as session:
        queue_notices(session, [notice], config.channels, now=T0)


def _deliver(
    sessions: sessionmaker[Session], config: MonitorConfig, settings: Settings, at: datetime
) -> DeliveryReport:
    return asyncio.run(deliver_due(sessions, config, settings, now=at))


def _run(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_failed_and_dead_notice_deliveries_are_shown_apart_from_alerts(
    db_url: str,
    engine: Engine,
    settings: Settings,
    receiver: WebhookReceiver,
    smtp: tuple[RecordingHandler, Controller],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    handler, controller = smtp
    sessions = session_factory(engine)
    config = _config(receiver)
    receiver.behaviour = Behaviour(fail_paths=frozenset({"/ops"}), fail_status=500)
    # The failing notice: sent by e-mail, dead on the webhook (one attempt allowed).
    _queue(sessions, config, "failing")
    first = _deliver(sessions, config, _settings(settings, controller.port, 1), T0)
    assert (first.sent, first.dead) == (1, 1)
    # The recovery: sent by e-mail, failed on the webhook (to be retried).
    _queue(sessions, config, "recovered")
    second = _deliver(sessions, config, _settings(settings, controller.port, 5), T0)
    assert (second.sent, second.failed) == (1, 1)
    assert len(handler.received) == 2

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", SIGNING_KEY)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    app = stage_app(register)

    listing = _run(app, "alerts")
    assert listing.startswith("no alerts yet: a topic alerts on each new development")
    notices_part = listing.split("\n\n", 1)[1]
    assert notices_part.startswith("source notices: deliveries 0 pending, 1 failed, 1 dead\n")
    assert re.search(rf"notice \d+  2031-03-02 07:00  {SOURCE}  recovered \(episode 1\)", listing)
    assert re.search(rf"notice \d+  2031-03-02 07:00  {SOURCE}  failing \(episode 1\)", listing)
    assert listing.index("recovered (episode 1)") < listing.index("failing (episode 1)")
    assert re.search(r"\n    ops +dead +attempts 1 ", listing)
    assert re.search(r"\n    ops +failed +attempts 1 ", listing)
    assert len(re.findall(r"\n    desk +sent +attempts 1 +sent 2031-03-02 07:00", listing)) == 2
    assert "HTTP 500" in listing

    assert json.loads(_run(app, "alerts", "--json")) == []  # alerts only, as before
    document = json.loads(_run(app, "alerts", "notices", "--json"))
    assert document["deliveries"] == {"pending": 0, "failed": 1, "dead": 1}
    shown = {
        (n["kind"], d["channel"]): d["state"] for n in document["notices"] for d in n["deliveries"]
    }
    assert shown == {
        ("recovered", "desk"): "sent",
        ("recovered", "ops"): "failed",
        ("failing", "desk"): "sent",
        ("failing", "ops"): "dead",
    }
    assert {n["source"] for n in document["notices"]} == {SOURCE}
    assert document["notices"][0]["created_at"] == T0.isoformat()

    failed = _run(app, "alerts", "--failed")
    assert failed.startswith("no failed alert deliveries\n")
    assert "failing (episode 1)" in failed
    assert "recovered (episode 1)" in failed

    web = get_settings(_env_file=None, database_url=db_url)
    with serve(create_app(web, config)) as base:
        page = httpx.get(f"{base}/deliveries", timeout=10).text
    rows = re.findall(r'<tr class="notice-delivery" data-notice-delivery="(\d+)">', page)
    assert len(rows) == 2  # ops, twice; the e-mails went out
    notices_html = page.split("<h2>Source notices</h2>", 1)[1]
    assert SOURCE in notices_html
    assert 'class="state-dead">dead' in notices_html
    assert 'class="state-failed">failed' in notices_html
    assert "HTTP 500" in notices_html
    assert notices_html.count('action="/notice-deliveries/') == 2
    assert "None: every delivery went out or is pending." in page  # no topic alert failed

    # Re-queued from the CLI and sent on the next pass: nothing is left failing.
    assert "re-queued 1 delivery" in _run(app, "alerts", "retry", "--all-dead")
    receiver.behaviour = Behaviour()
    later = T0 + timedelta(hours=1)
    third = _deliver(sessions, config, _settings(settings, controller.port, 5), later)
    assert (third.sent, third.failed, third.dead) == (2, 0, 0)
    assert len(handler.received) == 2  # no e-mail twice
    quiet = _run(app, "alerts", "notices", "--failed")
    assert quiet == (
        "source notices: deliveries 0 pending, 0 failed, 0 dead\nno failed notice deliveries\n"
    )
    for out in (listing, failed, json.dumps(document)):
        assert SIGNING_KEY not in out
    with serve(create_app(web, config)) as base:
        page = httpx.get(f"{base}/deliveries", timeout=10).text
    assert "None: every source notice went out or is pending." in page


def test_the_listing_without_notices_is_as_before(
    db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    app = stage_app(register)
    assert _run(app, "alerts").startswith("no alerts yet: a topic alerts on each new development")
    assert _run(app, "alerts", "notices") == (
        "source notices: deliveries 0 pending, 0 failed, 0 dead\nno source notices yet\n"
    )


NOTICE_RETRY = re.compile(r'action="/notice-deliveries/(\d+)/retry"')


def _states(sessions: sessionmaker[Session]) -> dict[int, tuple[str, str]]:
    with sessions() as s:
        rows = s.execute(
            select(NoticeDeliveryRow.id, NoticeDeliveryRow.channel, NoticeDeliveryRow.state)
        )
        return {r.id: (r.channel, r.state) for r in rows}


def _ops_refused_once(
    engine: Engine, settings: Settings, receiver: WebhookReceiver, smtp_port: int, attempts: int
) -> tuple[sessionmaker[Session], MonitorConfig, int]:
    """A "failing" notice delivered once: the e-mail sent, the webhook refused (dead with one
    attempt allowed, else failed); the webhook delivery's id."""
    sessions = session_factory(engine)
    config = _config(receiver)
    receiver.behaviour = Behaviour(fail_paths=frozenset({"/ops"}), fail_status=500)
    _queue(sessions, config, "failing")
    report = _deliver(sessions, config, _settings(settings, smtp_port, attempts), T0)
    assert report.sent == 1
    (refused,) = [i for i, (channel, state) in _states(sessions).items() if state != "sent"]
    return sessions, config, refused


def test_a_dead_notice_delivery_retried_from_the_page_is_sent_once(
    db_url: str,
    engine: Engine,
    settings: Settings,
    receiver: WebhookReceiver,
    smtp: tuple[RecordingHandler, Controller],
) -> None:
    handler, controller = smtp
    sessions, config, dead = _ops_refused_once(engine, settings, receiver, controller.port, 1)
    assert _states(sessions)[dead] == ("ops", "dead")
    (refused,) = receiver.requests
    later = T0 + timedelta(hours=1)
    web = get_settings(
        _env_file=None, database_url=db_url, delivery={"claim_s": 600}, web={"user": "ana"}
    )
    with (
        serve(create_app(web, config, clock=lambda: later)) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        page = client.get("/deliveries").text
        assert NOTICE_RETRY.findall(page) == [str(dead)]
        token = CSRF_INPUT.findall(page)[0]
        path = f"/notice-deliveries/{dead}/retry"
        assert client.post(path).status_code == 403  # no CSRF field: nothing changes
        assert client.get(path).status_code == 405
        assert _states(sessions)[dead] == ("ops", "dead")
        posted = client.post(path, data={"csrf": token})
        assert posted.status_code == 303
        assert posted.headers["location"] == f"/deliveries?retried_notice={dead}"
        shown = client.get(posted.headers["location"]).text
        assert f"Source notice delivery {dead} is queued again" in shown
        assert _states(sessions)[dead] == ("ops", "pending")
        again = client.post(path, data={"csrf": token})
        assert again.status_code == 409
        assert "already waiting" in again.text
        assert (
            client.post("/notice-deliveries/999999/retry", data={"csrf": token}).status_code == 404
        )

        receiver.behaviour = Behaviour()
        report = _deliver(sessions, config, _settings(settings, controller.port, 5), later)
        assert (report.sent, report.failed, report.dead) == (1, 0, 0)
        sent = client.post(path, data={"csrf": token})
        assert sent.status_code == 409
        assert "never sent twice" in sent.text
        assert "None: every source notice went out or is pending." in client.get("/deliveries").text
    delivered = [r for r in receiver.requests if r.status < 300]
    assert len(delivered) == 1
    assert refused.key is not None
    assert delivered[0].key == refused.key  # the same idempotency key as the first attempt
    assert len(handler.received) == 1  # the e-mail went out once, before


def test_a_failed_notice_delivery_a_pass_may_be_sending_is_left_to_it(
    db_url: str,
    engine: Engine,
    settings: Settings,
    receiver: WebhookReceiver,
    smtp: tuple[RecordingHandler, Controller],
) -> None:
    _handler, controller = smtp
    sessions, config, failed = _ops_refused_once(engine, settings, receiver, controller.port, 5)
    assert _states(sessions)[failed] == ("ops", "failed")
    with sessions() as s:
        row = s.get(NoticeDeliveryRow, failed)
        assert row is not None
        assert row.next_attempt_at is not None
        due = as_utc(row.next_attempt_at)
    web = get_settings(_env_file=None, database_url=db_url, delivery={"claim_s": 600})
    # within the claim window before its next attempt: a pass may be sending it right now
    with (
        serve(create_app(web, config, clock=lambda: due - timedelta(seconds=30))) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        token = CSRF_INPUT.findall(client.get("/deliveries").text)[0]
        held = client.post(f"/notice-deliveries/{failed}/retry", data={"csrf": token})
    assert held.status_code == 409
    assert "may be sending it right now" in held.text
    assert _states(sessions)[failed] == ("ops", "failed")
