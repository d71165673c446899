"""The Deliveries page's retry button over HTTP (a real uvicorn on loopback), with a real webhook
receiver, on SQLite and PostgreSQL: a dead delivery goes back in the outbox and the next
delivery pass sends it once, under its idempotency key; a delivery that was sent, or one a pass
may be sending at that moment, is left as it is (409); CSRF and method checks change nothing.
``monitor alerts retry`` re-queues through the same function."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.alert_settings import DeliverySettings
from monitor.alerts.model import OutgoingMessage
from monitor.alerts.outbox import AfterSend, DeliveryReport, deliver_due, delivery_key
from monitor.cli import app as cli_app
from monitor.config import MonitorConfig, Settings, get_settings, parse_config
from monitor.detection_settings import DetectionSettings
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow, DeliveryRow
from monitor.timeutil import as_utc
from monitor.web import create_app
from tests.integration.web_seed import T0, TOPICS, seed_articles
from tests.support.web import Clock, serve
from tests.support.webhook import Behaviour, WebhookReceiver

NOW = T0 + timedelta(days=3)
CLAIM = timedelta(minutes=10)
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
RETRY_FORM = re.compile(r'action="/deliveries/(\d+)/retry"')


@dataclass
class Site:
    base: str
    sessions: sessionmaker[Session]
    config: MonitorConfig
    receiver: WebhookReceiver
    clock: Clock
    client: httpx.Client = field(init=False)
    token: str = ""

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base, timeout=10)

    def page(self) -> str:
        response = self.client.get("/deliveries")
        assert response.status_code == 200
        self.token = CSRF_INPUT.findall(response.text)[0] if "csrf" in response.text else ""
        return response.text

    def retry(self, delivery: int) -> httpx.Response:
        return self.client.post(f"/deliveries/{delivery}/retry", data={"csrf": self.token})

    def deliver(self, settings: Settings, after_send: AfterSend | None = None) -> DeliveryReport:
        return asyncio.run(
            deliver_due(
                self.sessions, self.config, settings, now=self.clock(), after_send=after_send
            )
        )

    def rows(self) -> dict[int, DeliveryRow]:
        with self.sessions() as s:
            return {r.id: r for r in s.scalars(select(DeliveryRow))}

    def key(self, delivery: int) -> str:
        with self.sessions() as s:
            row = s.get(DeliveryRow, delivery)
            assert row is not None
            alert = s.get(AlertRow, row.alert_id)
            assert alert is not None
            return delivery_key(alert.idempotency_key, row.channel)


def _delivery(settings: Settings, **kwargs: float) -> Settings:
    return settings.model_copy(
        update={"delivery": DeliverySettings(claim_s=CLAIM.seconds, **kwargs)}
    )


@pytest.fixture
def site(db_url: str, engine: Engine, receiver: WebhookReceiver) -> Iterator[Site]:
    """Alerts raised by detect() over the web seed's articles, each with one webhook delivery to
    the receiver, none sent yet; the web view on the same database."""
    config = parse_config(
        {"topics": TOPICS, "channels": [{"type": "webhook", "name": "hook", "url": receiver.url()}]}
    )
    sessions = session_factory(engine)
    detect(sessions, seed_articles(), {}, config, DetectionSettings(), now=T0)
    clock = Clock(NOW)
    web = get_settings(_env_file=None, database_url=db_url, delivery={"claim_s": CLAIM.seconds})
    with serve(create_app(web, config, clock=clock)) as base:
        site = Site(base, sessions, config, receiver, clock)
        yield site
        site.client.close()


def test_a_dead_delivery_retried_from_the_page_is_sent_once(site: Site, settings: Settings) -> None:
    site.receiver.behaviour = Behaviour(always_status=404)  # permanent: dead at once
    report = site.deliver(_delivery(settings, max_attempts=1))
    rows = site.rows()
    assert report.dead == len(rows) >= 2
    refused = len(site.receiver.requests)

    page = site.page()
    shown = [int(d) for d in RETRY_FORM.findall(page)]
    assert sorted(shown) == sorted(rows)
    target, other = shown[0], shown[1]

    # no CSRF token, a wrong one, a GET, an unknown delivery: nothing changes
    assert site.client.post(f"/deliveries/{target}/retry").status_code == 403
    bad = site.client.post(f"/deliveries/{target}/retry", data={"csrf": "x" * 43})
    assert bad.status_code == 403
    assert site.client.get(f"/deliveries/{target}/retry?csrf={site.token}").status_code == 405
    assert site.retry(999_999).status_code == 404
    assert {r.state for r in site.rows().values()} == {"dead"}

    response = site.retry(target)
    assert response.status_code == 303
    assert response.headers["location"] == f"/deliveries?retried={target}"
    page = site.client.get(response.headers["location"]).text
    assert f"Delivery {target} is queued again" in page
    assert f'action="/deliveries/{target}/retry"' not in page  # no longer failing
    assert f'action="/deliveries/{other}/retry"' in page
    row = site.rows()[target]
    assert (row.state, row.attempts, row.last_error is not None) == ("pending", 0, True)
    assert site.rows()[other].state == "dead"

    site.receiver.behaviour = Behaviour()
    report = site.deliver(_delivery(settings, max_attempts=1))
    assert (report.sent, report.messages) == (1, 1)
    [sent] = site.receiver.requests[refused:]
    assert sent.status == 200
    assert sent.key == site.key(target)  # the key its failed attempt carried
    assert [r.key for r in site.receiver.requests[:refused]].count(sent.key) == 1
    assert site.rows()[target].state == "sent"

    # the page's form again, after the send: refused, and nothing is sent twice
    again = site.retry(target)
    assert again.status_code == 409
    assert "was sent at" in again.text
    assert "never sent twice" in again.text
    assert site.rows()[target].state == "sent"
    assert site.deliver(_delivery(settings, max_attempts=1)).messages == 0
    assert len(site.receiver.requests) == refused + 1


def test_a_failed_delivery_a_pass_may_be_sending_is_left_to_it(
    site: Site, settings: Settings
) -> None:
    # each delivery fails once and waits its back-off (about a minute: inside the claim)
    site.receiver.behaviour = Behaviour(always_status=503)
    quick = _delivery(settings, max_attempts=5, backoff_base_s=60)
    first = site.deliver(quick)
    assert first.failed >= 1
    failing = sorted(i for i, r in site.rows().items() if r.state == "failed")
    target = failing[0]
    assert site.rows()[target].next_attempt_at is not None
    site.page()
    before = site.rows()[target]
    response = site.retry(target)
    assert response.status_code == 409
    assert "may be sending it right now" in response.text
    after = site.rows()[target]
    assert (after.state, after.attempts, after.next_attempt_at) == (
        before.state,
        before.attempts,
        before.next_attempt_at,
    )

    # A pass at the next attempt claims the delivery and sends it; a retry pressed while it is
    # on its way (after the receiver accepted it, before the pass marks it sent) is refused,
    # so no second pass can send it again.
    site.clock.at = NOW + timedelta(minutes=5)
    site.receiver.behaviour = Behaviour()
    pressed: list[tuple[int, str]] = []

    def press(message: OutgoingMessage) -> None:
        if message.idempotency_key == site.key(target):
            response = site.retry(target)
            pressed.append((response.status_code, site.rows()[target].state))

    report = site.deliver(quick, after_send=press)
    assert pressed == [(409, "failed")]
    assert report.sent >= 1
    assert site.rows()[target].state == "sent"
    keys = [r.key for r in site.receiver.accepted]
    assert keys.count(site.key(target)) == 1
    assert site.deliver(quick).messages == 0


def test_a_failed_delivery_waiting_long_or_overdue_is_requeued(
    site: Site, settings: Settings
) -> None:
    # two passes, each failing one delivery (a channel down is not tried again in the pass)
    site.receiver.behaviour = Behaviour(always_status=503)
    slow = _delivery(settings, max_attempts=5, backoff_base_s=7200, backoff_max_s=7200)
    site.deliver(slow)
    site.deliver(slow)
    overdue, waiting = sorted(i for i, r in site.rows().items() if r.state == "failed")
    for delivery in (overdue, waiting):
        next_attempt = site.rows()[delivery].next_attempt_at
        assert next_attempt is not None
        assert as_utc(next_attempt) > NOW + CLAIM  # waiting its back-off, beyond any claim
    site.page()
    assert site.retry(waiting).status_code == 303
    site.clock.at = NOW + timedelta(hours=3)  # past the other's next attempt: due, not claimed
    assert site.retry(overdue).status_code == 303
    rows = site.rows()
    assert [(rows[d].state, rows[d].attempts) for d in (overdue, waiting)] == [("pending", 0)] * 2
    assert rows[overdue].next_attempt_at is not None
    assert rows[waiting].next_attempt_at is not None
    assert as_utc(rows[overdue].next_attempt_at) == site.clock.at  # due at the retry
    assert as_utc(rows[waiting].next_attempt_at) == NOW
    site.receiver.behaviour = Behaviour()
    assert site.deliver(slow).sent >= 2
    assert {site.rows()[d].state for d in (overdue, waiting)} == {"sent"}


def test_command_line_retry_leaves_sent_and_in_flight_deliveries(
    site: Site, settings: Settings, db_url: str
) -> None:
    site.receiver.behaviour = Behaviour(always_status=404)  # permanent: dead at once
    site.deliver(_delivery(settings, max_attempts=1))
    ids = sorted(site.rows())
    with site.sessions.begin() as s:  # one sent, one failed and due within the claim
        sent, in_flight = s.get(DeliveryRow, ids[0]), s.get(DeliveryRow, ids[1])
        assert sent is not None
        assert in_flight is not None
        sent.state, sent.sent_at = "sent", NOW
        # the command runs at the real time; the claim is the default ten minutes
        in_flight.state = "failed"
        in_flight.next_attempt_at = datetime.now(UTC) + timedelta(minutes=5)
    alerts = [str(r.alert_id) for r in site.rows().values()]
    env = {"MONITOR_DATABASE_URL": db_url}
    result = CliRunner().invoke(cli_app, ["alerts", "retry", *alerts], env=env)
    assert result.exit_code == 0, result.output
    assert f"re-queued {len(ids) - 2} deliveries" in result.output
    states = {i: r.state for i, r in site.rows().items()}
    assert states[ids[0]] == "sent"
    assert states[ids[1]] == "failed"
    assert all(states[i] == "pending" for i in ids[2:])
