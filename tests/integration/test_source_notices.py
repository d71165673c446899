"""Source health notices reach the configured channels through the outbox, against a real HTTP
server serving the feed, a real SMTP sink and a real webhook receiver on 127.0.0.1, on SQLite
and PostgreSQL: a source that starts failing is told once, further failing cycles tell nothing,
its recovery is told once; a channel that is down gets the notice once it is up, exactly once,
with the same idempotency key on every attempt; a channel with ``notices: false`` gets none."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import DeliverySettings
from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.config import MonitorConfig, Settings, SmtpSettings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.pipeline.collect import Fetcher, Poll, commit_validators, fetch_policy, poll_sources
from monitor.pipeline.cycle import PlainRunner, compose
from monitor.storage.tables import NoticeDeliveryRow, SourceNoticeRow
from tests.support.smtp import Recorded, RecordingHandler, free_port, start_smtp
from tests.support.webhook import Behaviour, Received, WebhookReceiver

RSS = "application/rss+xml; charset=utf-8"
T0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
FEED = "/wire/rss.xml"


def _rss(server: LocalServer) -> bytes:
    when = format_datetime(T0 - timedelta(hours=1), usegmt=True)
    item = (
        f"<item><title>Harbour reopens</title><link>{server.base_url}/wire/a.html</link>"
        f"<guid>a</guid><pubDate>{when}</pubDate></item>"
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Wire</title>"
        f"<link>{server.base_url}/</link><description>x</description>{item}</channel></rss>"
    ).encode()


def _config(server: LocalServer, receiver: WebhookReceiver) -> MonitorConfig:
    return parse_config(
        {
            "sources": [{"name": "Marrowick Wire", "url": server.url(FEED)}],
            "channels": [
                {"type": "email", "name": "desk", "to": ["desk@news.example"]},
                {"type": "webhook", "name": "ops", "url": receiver.url("/ops")},
                # Alerts only: never a source notice.
                {
                    "type": "webhook",
                    "name": "readers",
                    "url": receiver.url("/readers"),
                    "notices": False,
                },
            ],
        }
    )


def _settings(settings: Settings, smtp_port: int, **delivery: Any) -> Settings:
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=smtp_port,
        security="none",
        sender="monitor@news.example",
        timeout_s=5,
    )
    rules = {"max_attempts": 5, "backoff_base_s": 60, "backoff_max_s": 600, **delivery}
    return settings.model_copy(update={"smtp": smtp, "delivery": DeliverySettings(**rules)})


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


class Monitor:
    """Polls (every source, due or not) and delivers like a cycle, at the time it is given."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, config: MonitorConfig
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.config = config

    def poll(self, now: datetime) -> Poll:
        with Fetcher(fetch_policy(self.settings)) as fetcher:
            poll = poll_sources(
                self.sessions,
                fetcher,
                self.config.sources,
                now=now,
                failing_after=2,
                poll_all=True,
                channels=self.config.channels,
            )
        commit_validators(self.sessions, poll.polls, [])
        return poll

    async def deliver(self, now: datetime) -> DeliveryReport:
        return await deliver_due(self.sessions, self.config, self.settings, now=now)


def _on(receiver: WebhookReceiver, path: str) -> list[Received]:
    return [r for r in receiver.accepted if r.path == path]


def _subjects(mails: Sequence[Recorded]) -> list[str]:
    return [str(m.message["Subject"]) for m in mails]


async def test_failing_is_told_once_and_recovery_once_on_every_channel_taking_notices(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    smtp: tuple[RecordingHandler, Controller],
    receiver: WebhookReceiver,
) -> None:
    handler, controller = smtp
    good = Route(content_type=RSS, body=_rss(local_server))
    local_server.table.set(FEED, good)
    monitor = Monitor(
        sessions, _settings(settings, controller.port), _config(local_server, receiver)
    )

    # Works once, then down for six cycles: told at the second failure, not again.
    told = []
    for i in range(7):
        if i == 1:
            local_server.table.set(FEED, Route(status=500, body=b"down"))
        now = T0 + timedelta(minutes=15 * i)
        monitor.poll(now)
        report = await monitor.deliver(now)
        assert report.errors == ()
        told.append(report.sent)
    assert told == [0, 0, 2, 0, 0, 0, 0]  # desk and ops, once
    assert _subjects(handler.received) == [
        "[Source] Marrowick Wire failing: temporary (TransientFetchError)"
    ]
    mail = handler.received[0].message
    assert mail["X-Monitor-Kind"] == "source"
    assert mail["X-Monitor-Idempotency-Key"] == "source:Marrowick Wire:failing:1:desk"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "source Marrowick Wire is failing: 2 polls in a row" in text
    assert "Last worked: 2031-05-06 08:00 UTC" in text

    [hook] = _on(receiver, "/ops")
    assert hook.key == "source:Marrowick Wire:failing:1:ops"
    assert hook.headers["x-monitor-schema"] == "news-monitor/source-notice; version=1"
    document = json.loads(hook.body)
    assert (document["schema"], document["version"]) == ("news-monitor/source-notice", 1)
    assert (document["type"], document["kind"], document["alerts"]) == (
        "source.failing",
        "source",
        [],
    )
    assert document["idempotency_key"] == hook.key
    source = document["source"]
    assert (source["name"], source["status"], source["episode"]) == ("Marrowick Wire", "failing", 1)
    assert (source["failures"], source["failure_class"]) == (2, "temporary")
    assert source["url"] == local_server.url(FEED)
    assert source["last_success_at"] == T0.isoformat()
    assert _on(receiver, "/readers") == []  # notices: false

    # It works again: told once, as the end of the same episode.
    local_server.table.set(FEED, good)
    for i in range(7, 10):
        now = T0 + timedelta(minutes=15 * i)
        monitor.poll(now)
        told.append((await monitor.deliver(now)).sent)
    assert told[7:] == [2, 0, 0]
    assert _subjects(handler.received)[1:] == [
        "[Source] Marrowick Wire recovered after 6 failed polls"
    ]
    recovered = json.loads(_on(receiver, "/ops")[1].body)
    assert (recovered["type"], recovered["source"]["episode"]) == ("source.recovered", 1)
    assert _on(receiver, "/ops")[1].key == "source:Marrowick Wire:recovered:1:ops"

    # A second run of failures is a second episode, with keys of its own.
    local_server.table.set(FEED, Route(status=404, body=b"gone"))
    for i in range(10, 12):
        now = T0 + timedelta(minutes=15 * i)
        monitor.poll(now)
        await monitor.deliver(now)
    assert _subjects(handler.received)[2:] == [
        "[Source] Marrowick Wire failing: hard (PermanentFetchError)"
    ]
    assert _on(receiver, "/ops")[2].key == "source:Marrowick Wire:failing:2:ops"
    assert _on(receiver, "/readers") == []
    with sessions() as session:
        kinds = [(n.kind, n.episode) for n in session.scalars(select(SourceNoticeRow))]
    assert sorted(kinds) == [("failing", 1), ("failing", 2), ("recovered", 1)]


async def test_channels_down_then_up_get_the_notice_once_with_one_key(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
) -> None:
    # The webhook receiver refuses twice (503); the SMTP server is not there at first.
    receiver = WebhookReceiver(Behaviour(fail_times=2)).start()
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    try:
        local_server.table.set(FEED, Route(status=500, body=b"down"))
        monitor = Monitor(sessions, _settings(settings, port), _config(local_server, receiver))
        monitor.poll(T0)
        monitor.poll(T0 + timedelta(minutes=15))  # failing: one notice, two channels

        at = T0 + timedelta(minutes=15)
        first = await monitor.deliver(at)  # neither channel is up: no exception, no send
        assert (first.sent, first.failed, first.deferred) == (0, 2, 2)
        assert {e.channel for e in first.errors} == {"desk", "ops"}
        again = await monitor.deliver(at + timedelta(minutes=2))  # past the first back-off
        assert (again.sent, again.failed) == (0, 2)

        controller.start()  # both up now
        late = at + timedelta(minutes=10)
        up = await monitor.deliver(late)
        assert (up.sent, up.failed, up.deferred) == (2, 0, 0)
        for later in (late + timedelta(minutes=1), late + timedelta(hours=2)):
            assert (await monitor.deliver(later)).sent == 0

        assert len(handler.received) == 1
        assert [r.status for r in receiver.requests] == [503, 503, 200]
        assert {r.key for r in receiver.requests} == {"source:Marrowick Wire:failing:1:ops"}
        with sessions() as session:
            rows = {r.channel: r for r in session.scalars(select(NoticeDeliveryRow))}
        assert set(rows) == {"desk", "ops"}  # none for "readers"
        assert [(r.state, r.attempts) for r in rows.values()] == [("sent", 3), ("sent", 3)]
    finally:
        controller.stop()
        receiver.stop()


def test_a_cycle_with_its_smtp_server_down_runs_and_tells_it_on_a_later_cycle(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    receiver: WebhookReceiver,
) -> None:
    local_server.table.set(FEED, Route(status=500, body=b"down"))
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    config = _config(local_server, receiver)
    cycle_settings = _settings(settings, port, backoff_base_s=0.01, backoff_max_s=0.01)
    cycle_settings = cycle_settings.model_copy(update={"source_failing_after": 1})
    try:
        with PlainRunner() as runner:
            first = compose(sessions, cycle_settings, config, runner, workers_before_poll=False)
        assert first.sources_failed == 1
        assert "source Marrowick Wire is failing" in first.source_health[0]
        assert (first.deliveries_sent, first.deliveries_failed) == (1, 1)  # ops; desk is down
        controller.start()
        for _ in range(2):  # the source backs off; its notice to desk goes out once
            with PlainRunner() as runner:
                compose(sessions, cycle_settings, config, runner, workers_before_poll=False)
        assert _subjects(handler.received) == [
            "[Source] Marrowick Wire failing: temporary (TransientFetchError)"
        ]
        assert len(_on(receiver, "/ops")) == 1
    finally:
        controller.stop()


async def test_a_dead_notice_is_sent_again_after_retry_all_dead(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    smtp: tuple[RecordingHandler, Controller],
) -> None:
    from monitor.alerts.admin import requeue

    receiver = WebhookReceiver(Behaviour(always_status=410)).start()  # permanent: dead at once
    try:
        local_server.table.set(FEED, Route(status=500, body=b"down"))
        _, controller = smtp
        monitor = Monitor(
            sessions, _settings(settings, controller.port), _config(local_server, receiver)
        )
        monitor.poll(T0)
        monitor.poll(T0 + timedelta(minutes=15))
        report = await monitor.deliver(T0 + timedelta(minutes=15))
        assert (report.sent, report.dead) == (1, 1)
        receiver.behaviour.always_status = None
        with sessions.begin() as session:
            assert (
                requeue(
                    session,
                    all_dead=True,
                    now=T0 + timedelta(minutes=20),
                    hold=timedelta(minutes=10),
                )
                == 1
            )
        again = await monitor.deliver(T0 + timedelta(minutes=20))
        assert (again.sent, again.dead) == (1, 0)  # the webhook's; the e-mail is not sent twice
        assert [r.status for r in receiver.requests] == [410, 200]
    finally:
        receiver.stop()


def test_episodes_pair_each_change_with_its_end_and_a_repeat_is_refused(
    sessions: sessionmaker[Session],
) -> None:
    from monitor.alerts.model import NoticeKind, SourceNotice
    from monitor.alerts.notices import queue_notices

    config = parse_config(
        {
            "channels": [
                {"type": "webhook", "name": "ops", "url": "https://hooks.example.org/ops"},
                {
                    "type": "webhook",
                    "name": "readers",
                    "url": "https://hooks.example.org/r",
                    "notices": False,
                },
            ]
        }
    )

    def queue(*kinds: NoticeKind) -> list[tuple[str, int]]:
        notices = [SourceNotice("Kell Gazette", "https://kell.example/rss", k, k) for k in kinds]
        with sessions.begin() as session:
            queued = queue_notices(session, notices, config.channels, now=T0)
        return [(n.kind, n.episode) for n in queued]

    assert queue("quiet") == [("quiet", 1)]
    assert queue("active", "quiet") == [("active", 1), ("quiet", 2)]
    assert queue("failing") == [("failing", 1)]  # episodes are counted per pair of kinds
    assert queue("recovered") == [("recovered", 1)]
    assert queue("recovered") == [("recovered", 1)]  # the same change again: no second row
    with sessions() as session:
        notices = session.scalars(select(SourceNoticeRow)).all()
        deliveries = session.scalars(select(NoticeDeliveryRow)).all()
    assert len(notices) == 5
    assert sorted((n.kind, n.episode) for n in notices) == [
        ("active", 1),
        ("failing", 1),
        ("quiet", 1),
        ("quiet", 2),
        ("recovered", 1),
    ]
    assert {d.channel for d in deliveries} == {"ops"}
    assert len(deliveries) == 5


async def test_a_config_sends_the_notices_of_its_own_sources_only(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    receiver: WebhookReceiver,
) -> None:
    local_server.table.set(FEED, Route(status=500, body=b"down"))
    ours = _config(local_server, receiver)
    monitor = Monitor(sessions, _settings(settings, free_port()), ours)
    monitor.poll(T0)
    monitor.poll(T0 + timedelta(minutes=15))
    # Another deployment on the database, with channels of the same names, other sources.
    theirs = ours.model_copy(
        update={"sources": [ours.sources[0].model_copy(update={"name": "Kell Gazette"})]}
    )
    report = await deliver_due(sessions, theirs, monitor.settings, now=T0 + timedelta(hours=1))
    assert (report.sent, report.failed, report.deferred) == (0, 0, 0)
    assert receiver.requests == []
    with sessions() as session:
        states = {r.state for r in session.scalars(select(NoticeDeliveryRow))}
    assert states == {"pending"}  # left for the deployment whose source it is
