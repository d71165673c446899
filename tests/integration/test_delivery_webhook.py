"""Webhook delivery through the outbox to a real receiver on 127.0.0.1 (SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import DeliverySettings
from monitor.alerts.admin import requeue
from monitor.alerts.channels.webhook import verify_signature
from monitor.alerts.model import OutgoingMessage
from monitor.alerts.outbox import deliver_due, enqueue
from monitor.config import MonitorConfig, Settings, parse_config
from monitor.storage.tables import DeliveryRow
from tests.support.alerts import add_alert, add_story
from tests.support.tls import server_tls_context, trust_ca, trust_default_bundle
from tests.support.webhook import Behaviour, MisbehavingReceiver, WebhookReceiver

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SIGNING_KEY = "whsec-test-0123456789"


@pytest.fixture
def other_receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def wsettings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_secret": SecretStr(SIGNING_KEY),
            "delivery": DeliverySettings(
                # generous: a loaded machine must not turn a healthy receiver into a timeout;
                # the hanging-receiver test shortens it for itself
                max_attempts=3,
                backoff_base_s=60,
                backoff_max_s=3600,
                webhook_timeout_s=10.0,
            ),
        }
    )


def hook_config(
    *hooks: tuple[str, str], topic_delivery: dict[str, object] | None = None
) -> MonitorConfig:
    return parse_config(
        {
            "topics": [
                {"name": "Istanbul talks", "query": "istanbul", "delivery": topic_delivery or {}}
            ],
            "channels": [{"type": "webhook", "name": name, "url": url} for name, url in hooks],
        }
    )


def enqueue_alert(
    sessions: sessionmaker[Session], config: MonitorConfig, *, title: str, now: datetime = NOW
) -> int:
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(session, topic=topic.name, title=title, now=now)
        enqueue(session, alert, config.channels_for(topic), topic.delivery, now=now)
        return alert.id


def deliveries(sessions: sessionmaker[Session]) -> list[DeliveryRow]:
    with sessions() as session:
        return list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)))


async def test_delivers_signed_versioned_json_once(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    config = hook_config(("hook", receiver.url()))
    alert_id = enqueue_alert(sessions, config, title="Ceasefire agreed in Istanbul")

    report = await deliver_due(sessions, config, wsettings, now=NOW)

    assert (report.sent, report.failed, report.dead, report.messages) == (1, 0, 0, 1)
    [req] = receiver.requests
    doc = json.loads(req.body)
    assert doc["schema"] == "news-monitor/alert"
    assert doc["version"] == 1
    assert doc["kind"] == "alert"
    assert doc["subject"] == "[Istanbul talks] Ceasefire agreed in Istanbul"
    assert doc["alerts"][0]["alert_id"] == alert_id
    assert doc["alerts"][0]["article"]["title"] == "Ceasefire agreed in Istanbul"
    assert (
        req.key
        == doc["idempotency_key"]
        == f"alert:Istanbul talks:{doc['alerts'][0]['article']['id']}:hook"
    )
    assert req.headers["x-monitor-timestamp"] == str(int(NOW.timestamp()))
    assert verify_signature(
        SIGNING_KEY,
        body=req.body,
        timestamp=req.headers["x-monitor-timestamp"],
        signature=req.headers["x-monitor-signature"],
        now=NOW,
    )
    # a replayed request later than the tolerance is refused
    assert not verify_signature(
        SIGNING_KEY,
        body=req.body,
        timestamp=req.headers["x-monitor-timestamp"],
        signature=req.headers["x-monitor-signature"],
        now=NOW + timedelta(minutes=10),
    )
    [row] = deliveries(sessions)
    assert row.state == "sent"
    assert row.attempts == 1

    again = await deliver_due(sessions, config, wsettings, now=NOW + timedelta(hours=1))
    assert again.sent == 0
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-ca", "untrusted-ca"])
async def test_https_receiver_certificate_is_verified(
    sessions: sessionmaker[Session],
    wsettings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trusted: bool,
) -> None:
    ca = trustme.CA()
    receiver = WebhookReceiver(tls=server_tls_context(ca.issue_cert("127.0.0.1"))).start()
    try:
        if trusted:
            trust_ca(ca, tmp_path, monkeypatch)
        else:
            trust_default_bundle(monkeypatch)
        config = hook_config(("hook", receiver.url()))
        enqueue_alert(sessions, config, title="Ceasefire agreed in Istanbul")

        report = await deliver_due(sessions, config, wsettings, now=NOW)
    finally:
        receiver.stop()

    [row] = deliveries(sessions)
    if trusted:
        assert (report.sent, report.failed) == (1, 0)
        [req] = receiver.requests
        assert json.loads(req.body)["alerts"][0]["article"]["title"] == (
            "Ceasefire agreed in Istanbul"
        )
        assert row.state == "sent"
    else:
        # Nothing reached the receiver; the delivery waits for a retry with the reason recorded.
        assert (report.sent, report.failed) == (0, 1)
        assert receiver.requests == []
        assert row.state == "failed"
        assert row.last_error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert row.next_attempt_at is not None


async def test_no_signature_without_secret(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, settings: Settings
) -> None:
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Unsigned")
    report = await deliver_due(sessions, config, settings, now=NOW)
    assert report.sent == 1
    assert "x-monitor-signature" not in receiver.requests[0].headers
    assert "x-monitor-timestamp" in receiver.requests[0].headers


async def test_fails_twice_then_succeeds_with_backoff_and_same_key(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    receiver.behaviour = Behaviour(fail_times=2, fail_status=503)
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Retry me")

    first = await deliver_due(sessions, config, wsettings, now=NOW)
    assert (first.sent, first.failed) == (0, 1)
    assert first.errors[0].error_type == "TransientDeliveryError"
    [row] = deliveries(sessions)
    assert row.state == "failed"
    assert row.attempts == 1
    assert "HTTP 503" in (row.last_error or "")
    assert row.next_attempt_at is not None
    first_retry_at = row.next_attempt_at.replace(tzinfo=UTC)
    # exponential with jitter in [0.5, 1): the first delay lies in [30 s, 60 s)
    assert NOW + timedelta(seconds=30) <= first_retry_at < NOW + timedelta(seconds=60)

    not_yet = await deliver_due(sessions, config, wsettings, now=NOW + timedelta(seconds=10))
    assert (not_yet.sent, not_yet.failed, not_yet.deferred) == (0, 0, 1)
    assert len(receiver.requests) == 1

    second = await deliver_due(sessions, config, wsettings, now=first_retry_at)
    assert second.failed == 1
    [row] = deliveries(sessions)
    second_retry_at = (row.next_attempt_at or NOW).replace(tzinfo=UTC)
    assert (
        first_retry_at + timedelta(seconds=60)
        <= second_retry_at
        < first_retry_at + timedelta(seconds=120)
    )

    third = await deliver_due(sessions, config, wsettings, now=second_retry_at)
    assert third.sent == 1
    keys = {r.key for r in receiver.requests}
    assert len(receiver.requests) == 3
    assert len(keys) == 1
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == ("sent", 3)


async def test_dead_after_max_attempts_then_retry_requeues(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    receiver.behaviour = Behaviour(always_status=500)
    config = hook_config(("hook", receiver.url()))
    alert_id = enqueue_alert(sessions, config, title="Never arrives")
    now = NOW
    for _ in range(3):
        report = await deliver_due(sessions, config, wsettings, now=now)
        now += timedelta(days=1)
    assert report.dead == 1
    [row] = deliveries(sessions)
    assert (row.state, row.attempts, row.next_attempt_at) == ("dead", 3, None)

    assert (await deliver_due(sessions, config, wsettings, now=now)).sent == 0
    receiver.behaviour = Behaviour()
    with sessions.begin() as session:
        assert requeue(session, alert_ids=[alert_id], now=now, hold=timedelta(minutes=10)) == 1
    report = await deliver_due(sessions, config, wsettings, now=now)
    assert report.sent == 1
    assert deliveries(sessions)[0].state == "sent"


async def test_client_error_is_permanent(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    receiver.behaviour = Behaviour(always_status=404)
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Wrong URL")
    report = await deliver_due(sessions, config, wsettings, now=NOW)
    assert report.dead == 1
    assert report.errors[0].error_type == "PermanentDeliveryError"
    assert deliveries(sessions)[0].state == "dead"


async def test_hanging_receiver_times_out_and_does_not_block_other_channel(
    sessions: sessionmaker[Session],
    receiver: WebhookReceiver,
    other_receiver: WebhookReceiver,
    wsettings: Settings,
) -> None:
    receiver.behaviour = Behaviour(hang=True)
    config = hook_config(("slow", receiver.url()), ("fast", other_receiver.url()))
    enqueue_alert(sessions, config, title="First")
    enqueue_alert(sessions, config, title="Second")
    delivery = wsettings.delivery.model_copy(update={"webhook_timeout_s": 1.0})
    impatient = wsettings.model_copy(update={"delivery": delivery})

    report = await deliver_due(sessions, config, impatient, now=NOW)

    assert report.sent == 2  # both alerts on the healthy channel
    assert len(other_receiver.accepted) == 2
    # the hanging channel timed out once and was not tried again in this run
    assert report.failed == 1
    [err] = report.errors
    assert err.channel == "slow"
    assert "timed out" in err.message
    states = {(d.channel, d.state, d.attempts) for d in deliveries(sessions)}
    assert states == {
        ("fast", "sent", 1),
        ("slow", "failed", 1),
        ("slow", "pending", 0),
    }


@pytest.mark.parametrize(
    ("mode", "state"),
    [("endless_body", "sent"), ("drip_body", "sent"), ("drip_headers", "failed")],
)
async def test_a_misbehaving_receiver_is_bounded_by_the_timeout(
    sessions: sessionmaker[Session], wsettings: Settings, mode: str, state: str
) -> None:
    # A 2xx is the receiver's answer: its body is not waited for. Headers that never end are
    # no answer: the timeout bounds the whole exchange, not each read.
    bad = MisbehavingReceiver(mode, interval_s=1.0).start()
    timeout_s = 2.0
    delivery = wsettings.delivery.model_copy(update={"webhook_timeout_s": timeout_s})
    impatient = wsettings.model_copy(update={"delivery": delivery})
    try:
        config = hook_config(("bad", bad.url()))
        enqueue_alert(sessions, config, title="Ceasefire agreed in Istanbul")
        began = time.monotonic()
        async with asyncio.timeout(30):  # a hang fails the test rather than stall the suite
            report = await deliver_due(sessions, config, impatient, now=NOW)
        took = time.monotonic() - began
    finally:
        bad.stop()

    assert len(bad.requests) == 1
    assert json.loads(bad.requests[0].body)["kind"] == "alert"
    [row] = deliveries(sessions)
    assert (row.state, row.attempts) == (state, 1)
    if state == "failed":
        [err] = report.errors
        assert "timed out" in err.message
        assert row.next_attempt_at is not None  # retried later
    else:
        assert report.sent == 1
    # A correctness bound (the receiver would keep it for ever), not a timing.
    assert took < timeout_s + 5


async def test_crash_between_send_and_mark_resends_same_key(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="CrashError test")

    class CrashError(Exception):
        pass

    def crash(message: OutgoingMessage) -> None:
        raise CrashError(message.idempotency_key)

    with pytest.raises(CrashError):
        await deliver_due(sessions, config, wsettings, now=NOW, after_send=crash)
    assert len(receiver.accepted) == 1
    assert deliveries(sessions)[0].state == "pending"

    # The crashed run's claim holds: it might still be sending, as far as anyone can tell.
    claim = timedelta(seconds=wsettings.delivery.claim_s)
    report = await deliver_due(sessions, config, wsettings, now=NOW + claim / 2)
    assert (report.sent, report.deferred) == (0, 1)
    assert len(receiver.accepted) == 1

    report = await deliver_due(sessions, config, wsettings, now=NOW + claim)
    assert report.sent == 1
    assert len(receiver.accepted) == 2  # at-least-once: the receiver saw it twice ...
    assert len(receiver.unique_accepted()) == 1  # ... under one key, so it keeps one
    assert deliveries(sessions)[0].state == "sent"
    later = NOW + claim + timedelta(hours=2)
    assert (await deliver_due(sessions, config, wsettings, now=later)).sent == 0
    assert len(receiver.accepted) == 2


async def test_two_runs_at_once_send_a_delivery_once(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    """A manual cycle during a scheduled one: both find the delivery due, one sends it."""
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Talks resume in Istanbul")

    first, second = await asyncio.gather(
        deliver_due(sessions, config, wsettings, now=NOW),
        deliver_due(sessions, config, wsettings, now=NOW),
    )

    assert len(receiver.accepted) == 1, (first.errors, second.errors)
    assert first.sent + second.sent == 1
    assert first.claimed_elsewhere + second.claimed_elsewhere == 1  # both had it in hand
    assert deliveries(sessions)[0].state == "sent"


async def test_a_deployment_delivers_the_alerts_of_its_own_topics_only(
    sessions: sessionmaker[Session],
    receiver: WebhookReceiver,
    other_receiver: WebhookReceiver,
    wsettings: Settings,
) -> None:
    """Two deployments with their own config files share one database."""

    def config(topic: str, channel: str, url: str) -> MonitorConfig:
        return parse_config(
            {
                "topics": [{"name": topic, "query": topic.split()[0]}],
                "channels": [{"type": "webhook", "name": channel, "url": url}],
            }
        )

    harbour = config("Harbour talks", "desk", receiver.url())
    glacier = config("Glacier museum", "culture", other_receiver.url())
    enqueue_alert(sessions, harbour, title="Harbour talks set for June")
    enqueue_alert(sessions, glacier, title="Glacier museum opens")

    report = await deliver_due(sessions, glacier, wsettings, now=NOW)
    assert (report.sent, report.dead, report.deferred) == (1, 0, 0)
    assert (len(receiver.accepted), len(other_receiver.accepted)) == (0, 1)
    assert {d.channel: d.state for d in deliveries(sessions)} == {
        "desk": "pending",  # not this deployment's to send, nor to declare dead
        "culture": "sent",
    }

    report = await deliver_due(sessions, harbour, wsettings, now=NOW)
    assert (report.sent, report.dead) == (1, 0)
    assert (len(receiver.accepted), len(other_receiver.accepted)) == (1, 1)


async def test_unknown_channel_is_dead_not_lost(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Channel removed later")
    renamed = hook_config(("renamed", receiver.url()))
    report = await deliver_due(sessions, renamed, wsettings, now=NOW)
    assert report.dead == 1
    assert "not in the config file" in report.errors[0].message
    assert deliveries(sessions)[0].state == "dead"


async def test_digest_mode_groups_by_topic_and_story(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    from tests.support.alerts import add_story

    config = hook_config(
        ("hook", receiver.url()),
        topic_delivery={
            "mode": "digest",
            "digest": {"every": "daily", "at": "18:00", "timezone": "Europe/Istanbul"},
        },
    )
    topic = config.topics[0]
    with sessions.begin() as session:
        story = add_story(session, "Talks in Istanbul", NOW)
        for i, (title, sid) in enumerate(
            [("Talks open", story), ("Unrelated vote", None), ("Talks stall", story)]
        ):
            at = NOW + timedelta(minutes=i)
            alert = add_alert(
                session,
                topic=topic.name,
                title=title,
                now=at,
                story_id=sid,
                story_headline="Talks in Istanbul" if sid else "",
            )
            enqueue(session, alert, config.channels_for(topic), topic.delivery, now=at)

    # 18:00 in Istanbul (UTC+3) is 15:00 UTC
    due = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    early = await deliver_due(sessions, config, wsettings, now=due - timedelta(seconds=1))
    assert (early.sent, early.deferred) == (0, 3)
    assert receiver.requests == []

    report = await deliver_due(sessions, config, wsettings, now=due)
    assert (report.sent, report.messages) == (3, 1)
    [req] = receiver.requests
    doc = json.loads(req.body)
    assert doc["kind"] == "digest"
    assert [a["article"]["title"] for a in doc["alerts"]] == [
        "Talks open",
        "Talks stall",
        "Unrelated vote",
    ]
    assert doc["subject"] == "[Digest] 3 new developments: Istanbul talks"
    assert req.key is not None
    assert req.key.startswith("digest:")
    assert all(d.state == "sent" for d in deliveries(sessions))


async def test_cap_overflow_rolls_into_digest(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    config = hook_config(
        ("hook", receiver.url()),
        topic_delivery={"max_per_hour": 2, "digest": {"every": "hourly"}},
    )
    for i in range(5):
        enqueue_alert(sessions, config, title=f"Update {i}", now=NOW + timedelta(minutes=i))
    rows = deliveries(sessions)
    assert [(r.mode, r.route) for r in rows] == [("immediate", "mode")] * 2 + [
        ("digest", "cap")
    ] * 3

    now = NOW + timedelta(minutes=5)
    report = await deliver_due(sessions, config, wsettings, now=now)
    assert (report.sent, report.deferred) == (2, 3)
    assert [json.loads(r.body)["kind"] for r in receiver.requests] == ["alert", "alert"]

    report = await deliver_due(
        sessions, config, wsettings, now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    )
    assert (report.sent, report.messages, report.deferred) == (3, 1, 0)
    digest = json.loads(receiver.requests[-1].body)
    assert digest["kind"] == "digest"
    assert [a["article"]["title"] for a in digest["alerts"]] == ["Update 2", "Update 3", "Update 4"]
    # nothing dropped: every alert arrived exactly once
    titles = [
        a["article"]["title"] for r in receiver.requests for a in json.loads(r.body)["alerts"]
    ]
    assert sorted(titles) == [f"Update {i}" for i in range(5)]


async def test_digest_retry_keeps_batch_key(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    receiver.behaviour = Behaviour(fail_times=1)
    config = hook_config(
        ("hook", receiver.url()), topic_delivery={"mode": "digest", "digest": {"every": "hourly"}}
    )
    enqueue_alert(sessions, config, title="A")
    enqueue_alert(sessions, config, title="B")
    due = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert (await deliver_due(sessions, config, wsettings, now=due)).failed == 2
    # a new alert arriving meanwhile does not join the batch already formed
    enqueue_alert(sessions, config, title="C", now=due + timedelta(minutes=1))
    report = await deliver_due(sessions, config, wsettings, now=due + timedelta(hours=1))
    assert report.sent == 3
    assert report.messages == 2
    first, second, third = receiver.requests
    assert first.key == second.key
    assert [a["article"]["title"] for a in json.loads(second.body)["alerts"]] == ["A", "B"]
    assert [a["article"]["title"] for a in json.loads(third.body)["alerts"]] == ["C"]
    assert third.key != second.key


async def test_a_dead_digest_retried_by_hand_keeps_its_key(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    # the receiver stores every attempt and answers 500: it may well have the digest already
    receiver.behaviour = Behaviour(always_status=500)
    config = hook_config(
        ("hook", receiver.url()), topic_delivery={"mode": "digest", "digest": {"every": "hourly"}}
    )
    enqueue_alert(sessions, config, title="A")
    enqueue_alert(sessions, config, title="B")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for _ in range(3):
        report = await deliver_due(sessions, config, wsettings, now=now)
        now += timedelta(days=1)
    assert report.dead == 2
    enqueue_alert(sessions, config, title="C", now=now)
    receiver.behaviour = Behaviour()
    with sessions.begin() as session:
        assert requeue(session, all_dead=True, now=now, hold=timedelta(minutes=10)) == 2
    report = await deliver_due(sessions, config, wsettings, now=now + timedelta(hours=1))
    assert (report.sent, report.messages) == (3, 2)
    failed, resent = receiver.requests[2], receiver.requests[3]
    later = receiver.requests[4]
    assert [a["article"]["title"] for a in json.loads(resent.body)["alerts"]] == ["A", "B"]
    assert resent.key == failed.key == receiver.requests[0].key
    assert [a["article"]["title"] for a in json.loads(later.body)["alerts"]] == ["C"]
    assert later.key != resent.key


async def test_channel_mode_overrides_topic(
    sessions: sessionmaker[Session],
    receiver: WebhookReceiver,
    other_receiver: WebhookReceiver,
    wsettings: Settings,
) -> None:
    config = parse_config(
        {
            "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
            "channels": [
                {"type": "webhook", "name": "chat", "url": receiver.url()},
                {
                    "type": "webhook",
                    "name": "mailbox",
                    "url": other_receiver.url(),
                    "mode": "digest",
                    "digest": {"every": "hourly"},
                },
            ],
        }
    )
    enqueue_alert(sessions, config, title="Both channels")
    assert {(d.channel, d.mode) for d in deliveries(sessions)} == {
        ("chat", "immediate"),
        ("mailbox", "digest"),
    }
    await deliver_due(sessions, config, wsettings, now=NOW)
    assert [json.loads(r.body)["kind"] for r in receiver.requests] == ["alert"]
    assert other_receiver.requests == []
    await deliver_due(sessions, config, wsettings, now=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert [json.loads(r.body)["kind"] for r in other_receiver.requests] == ["digest"]


async def test_enqueue_twice_adds_nothing(
    sessions: sessionmaker[Session], receiver: WebhookReceiver
) -> None:
    config = hook_config(("hook", receiver.url()))
    topic = config.topics[0]
    with sessions.begin() as session:
        alert = add_alert(session, topic=topic.name, title="Once", now=NOW)
        first = enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)
        second = enqueue(session, alert, config.channels_for(topic), topic.delivery, now=NOW)
    assert len(first) == 1
    assert second == []
    assert len(deliveries(sessions)) == 1


@pytest.mark.parametrize(
    ("retry_after", "waits_s"),
    [
        ("1800", 1800),  # longer than the first back-off (30-60 s): the receiver's wait wins
        ("Fri, 01 Jan 2100 00:00:00 GMT", 3600),  # a date decades ahead: capped at backoff_max_s
    ],
)
async def test_a_rate_limited_receiver_is_not_asked_again_before_its_retry_after(
    sessions: sessionmaker[Session],
    receiver: WebhookReceiver,
    wsettings: Settings,
    retry_after: str,
    waits_s: int,
) -> None:
    receiver.behaviour = Behaviour(fail_times=1, fail_status=429, retry_after=retry_after)
    config = hook_config(("hook", receiver.url()))
    enqueue_alert(sessions, config, title="Slow down")

    first = await deliver_due(sessions, config, wsettings, now=NOW)
    assert first.failed == 1
    [row] = deliveries(sessions)
    assert row.state == "failed"
    assert "asked to wait" in (row.last_error or "")
    assert row.next_attempt_at is not None
    retry_at = row.next_attempt_at.replace(tzinfo=UTC)
    assert retry_at == NOW + timedelta(seconds=waits_s)

    early = await deliver_due(sessions, config, wsettings, now=retry_at - timedelta(seconds=1))
    assert (early.sent, early.failed) == (0, 0)
    assert len(receiver.requests) == 1
    later = await deliver_due(sessions, config, wsettings, now=retry_at)
    assert later.sent == 1
    assert len(receiver.requests) == 2


async def test_settle_window_sends_a_storys_later_developments_as_one_follow_up(
    sessions: sessionmaker[Session], receiver: WebhookReceiver, wsettings: Settings
) -> None:
    config = hook_config(("hook", receiver.url()), topic_delivery={"settle_minutes": 30})
    topic = config.topics[0]

    def develop(title: str, minutes: int, story: int) -> None:
        at = NOW + timedelta(minutes=minutes)
        with sessions.begin() as session:
            alert = add_alert(
                session,
                topic=topic.name,
                title=title,
                now=at,
                story_id=story,
                story_headline="Talks in Istanbul",
                source=f"Outlet {minutes}",
            )
            enqueue(session, alert, config.channels_for(topic), topic.delivery, now=at)

    with sessions.begin() as session:
        story = add_story(session, "Talks in Istanbul", NOW)
        other = add_story(session, "Port strike", NOW)
    develop("Delegations arrive in Istanbul", 0, story)
    await deliver_due(sessions, config, wsettings, now=NOW)
    develop("Talks open with a prisoner swap", 5, story)
    develop("Strike closes the port", 6, other)  # another story: not held
    develop("Both sides agree to meet again", 12, story)
    await deliver_due(sessions, config, wsettings, now=NOW + timedelta(minutes=20))
    subjects = [json.loads(r.body)["subject"] for r in receiver.requests]
    assert subjects == [
        "[Istanbul talks] Delegations arrive in Istanbul",
        "[Istanbul talks] Strike closes the port",
    ]
    # the window (30 minutes after the story's first alert) ends: one follow-up, both reports
    await deliver_due(sessions, config, wsettings, now=NOW + timedelta(minutes=30))
    follow_up = json.loads(receiver.requests[-1].body)
    assert len(receiver.requests) == 3
    assert follow_up["kind"] == "digest"
    assert follow_up["subject"] == "[Follow-up] 2 more developments: Talks in Istanbul"
    assert [a["article"]["title"] for a in follow_up["alerts"]] == [
        "Talks open with a prisoner swap",
        "Both sides agree to meet again",
    ]
    assert "Outlet 5" in follow_up["text"]
    assert "Outlet 12" in follow_up["text"]
    # after the window a development is immediate again, and opens a new window
    develop("A second round is set for June", 45, story)
    await deliver_due(sessions, config, wsettings, now=NOW + timedelta(minutes=45))
    assert json.loads(receiver.requests[-1].body)["subject"] == (
        "[Istanbul talks] A second round is set for June"
    )
    routes = [(d.mode, d.route) for d in deliveries(sessions)]
    assert routes == [
        ("immediate", "mode"),
        ("digest", "settle"),
        ("immediate", "mode"),
        ("digest", "settle"),
        ("immediate", "mode"),
    ]
    assert all(d.state == "sent" for d in deliveries(sessions))
