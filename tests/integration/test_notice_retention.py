"""Retention of source notices, on SQLite and PostgreSQL, after real sends to an SMTP sink and a
webhook receiver on 127.0.0.1: ``prune_archive`` deletes the notices recorded before its cutoff
that were sent or are dead on every channel, with their deliveries; a notice with a delivery
still pending or failed stays whatever its age, and so do recent ones and the newest notice of
each source and kind, so the next notice's episode (and idempotency key) is never one used
before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alert_settings import DeliverySettings
from monitor.alerts.model import NoticeKind, SourceNotice
from monitor.alerts.notices import queue_notices
from monitor.alerts.outbox import DeliveryReport, deliver_due
from monitor.config import MonitorConfig, Settings, SmtpSettings, parse_config
from monitor.detection_settings import DetectionSettings
from monitor.storage.retention import PruneReport, prune_archive
from monitor.storage.tables import NoticeDeliveryRow, SourceNoticeRow
from tests.support.smtp import RecordingHandler, start_smtp
from tests.support.webhook import Behaviour, WebhookReceiver

NOW = datetime(2031, 9, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=1)
COURIER, LEDGER, POST = "Tessaly Courier", "Orlen Ledger", "Brisk Harbour Post"


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, Controller]]:
    handler = RecordingHandler()
    controller = start_smtp(handler)
    yield handler, controller
    controller.stop()


def _config(receiver: WebhookReceiver, *sources: str) -> MonitorConfig:
    return parse_config(
        {
            "sources": [
                {"name": name, "url": f"https://{n}.example/rss"} for n, name in enumerate(sources)
            ],
            "channels": [
                {"type": "email", "name": "desk", "to": ["desk@news.example"]},
                {"type": "webhook", "name": "ops", "url": receiver.url("/ops")},
            ],
        }
    )


class Outbox:
    """Queues notices and delivers them as a cycle would, for the sources of its config (the
    Ledger is another deployment's until :meth:`adopt`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        receiver: WebhookReceiver,
        smtp_port: int,
    ) -> None:
        self.sessions = sessions
        self.receiver = receiver
        self.config = _config(receiver, COURIER, POST)
        smtp = SmtpSettings(
            host="127.0.0.1", port=smtp_port, security="none", sender="m@news.example"
        )
        delivery = DeliverySettings(max_attempts=5, backoff_base_s=60, backoff_max_s=600)
        self.settings = settings.model_copy(update={"smtp": smtp, "delivery": delivery})

    def adopt(self, source: str) -> None:
        self.config = _config(self.receiver, COURIER, POST, source)

    def queue(self, source: str, *kinds: NoticeKind, at: datetime) -> None:
        notices = [SourceNotice(source, "https://x.example/rss", k, f"{source} {k}") for k in kinds]
        with self.sessions.begin() as session:
            queue_notices(session, notices, self.config.channels, now=at)

    def deliver(self, at: datetime, behaviour: Behaviour | None = None) -> DeliveryReport:
        self.receiver.behaviour = behaviour or Behaviour()
        return asyncio.run(deliver_due(self.sessions, self.config, self.settings, now=at))


def _notices(sessions: sessionmaker[Session]) -> set[tuple[str, str, int]]:
    with sessions() as s:
        return {(n.source, n.kind, n.episode) for n in s.scalars(select(SourceNoticeRow))}


def _deliveries(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(NoticeDeliveryRow)) or 0)


def _prune(sessions: sessionmaker[Session], *, dry_run: bool = False) -> PruneReport:
    return prune_archive(
        sessions,
        now=NOW,
        keep_days=90,
        story_active_days=DetectionSettings().story_active_days,
        dry_run=dry_run,
    )


def test_old_settled_notices_are_pruned_and_waiting_recent_and_newest_ones_kept(
    sessions: sessionmaker[Session],
    settings: Settings,
    receiver: WebhookReceiver,
    smtp: tuple[RecordingHandler, Controller],
) -> None:
    handler, controller = smtp
    outbox = Outbox(sessions, settings, receiver, controller.port)
    # Two old outages of the Courier, each told and ended: all sent but the second failing
    # notice on the webhook (410: dead) and the second recovery there (503: failed, to be
    # retried a minute later).
    outbox.queue(COURIER, "failing", "recovered", at=OLD)
    assert outbox.deliver(OLD).sent == 4
    outbox.queue(COURIER, "failing", at=OLD)
    report = outbox.deliver(OLD, Behaviour(fail_paths=frozenset({"/ops"}), fail_status=410))
    assert (report.sent, report.dead) == (1, 1)
    # The Post failed twice lately, told everywhere.
    outbox.queue(POST, "failing", "recovered", "failing", at=RECENT)
    assert outbox.deliver(RECENT).sent == 6
    outbox.queue(COURIER, "recovered", at=OLD)
    report = outbox.deliver(OLD, Behaviour(fail_paths=frozenset({"/ops"}), fail_status=503))
    assert (report.sent, report.failed) == (1, 1)
    # A third outage of the Courier, old too, told everywhere: its newest notices.
    outbox.queue(COURIER, "failing", "recovered", at=OLD)
    assert outbox.deliver(OLD).sent == 4
    # The Ledger (another deployment's source for now) went quiet twice long ago: pending.
    outbox.queue(LEDGER, "quiet", "active", "quiet", at=OLD)
    with sessions() as s:
        states = dict(
            s.execute(
                select(NoticeDeliveryRow.state, func.count()).group_by(NoticeDeliveryRow.state)
            ).all()
        )
    assert states == {"sent": 16, "dead": 1, "failed": 1, "pending": 6}
    assert len(handler.received) == 9

    before = _notices(sessions)
    dry = _prune(sessions, dry_run=True)
    assert dry.notices == 3
    assert "3 source notices recorded before 2031-06-03 12:00 UTC" in dry.lines()[2]
    assert "would be deleted" in dry.lines()[2]
    assert _notices(sessions) == before  # a dry run changes nothing

    report = _prune(sessions)
    assert report.notices == 3
    assert report.as_dict()["notices"] == 3
    gone_now = {
        (COURIER, "failing", 1),  # sent everywhere
        (COURIER, "recovered", 1),
        (COURIER, "failing", 2),  # sent by e-mail, dead on the webhook
    }
    assert _notices(sessions) == before - gone_now
    assert (COURIER, "recovered", 2) in _notices(sessions)  # failed: still to be retried
    assert (LEDGER, "quiet", 1) in _notices(sessions)  # pending
    assert _deliveries(sessions) == 2 * len(before - gone_now)  # theirs went with them
    assert _prune(sessions).notices == 0

    # The Courier's counter survived: its next outage is episode 4, a key never sent before.
    outbox.queue(COURIER, "failing", at=NOW)
    assert (COURIER, "failing", 4) in _notices(sessions)
    assert outbox.deliver(NOW).sent == 3  # and the failed recovery, due long since
    keys = [r.key for r in receiver.accepted]
    assert keys.count("source:Tessaly Courier:failing:4:ops") == 1
    assert len(keys) == len(set(keys))

    # Once the pending ones were sent too, the old settled ones age out in their turn.
    later = NOW + timedelta(days=300)
    outbox.adopt(LEDGER)
    assert outbox.deliver(later).sent == 6
    with sessions() as s:
        assert set(s.scalars(select(NoticeDeliveryRow.state))) == {"sent"}  # dead: pruned
    pruned = prune_archive(
        sessions,
        now=later,
        keep_days=90,
        story_active_days=DetectionSettings().story_active_days,
    )
    assert pruned.notices == 4  # Courier recovered 2 and failing 3, Ledger quiet 1, Post failing 1
    assert _notices(sessions) == {
        (COURIER, "failing", 4),
        (COURIER, "recovered", 3),
        (LEDGER, "active", 1),
        (LEDGER, "quiet", 2),
        (POST, "failing", 2),
        (POST, "recovered", 1),
    }
