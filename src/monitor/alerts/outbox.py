"""The delivery outbox: alerts are committed first, then delivered at least once per channel.

Lifecycle of a ``deliveries`` row (one per alert and channel)::

    enqueue ──► pending ──send ok──► sent            (never sent again)
                   │
                   └─send fails─► failed ──(back-off, next_attempt_at)──► send again ...
                                    │
                                    └─ permanent error, or max_attempts reached ─► dead
    dead/failed ──``monitor alerts retry``──► pending

* :func:`enqueue` runs in the transaction that inserts the alert, so an alert and its outbox rows
  commit together, before any send. It routes each channel (:func:`monitor.alerts.digest.route`):
  immediate, or into the next digest because of the topic's mode, its hourly cap or quiet hours.
* :func:`deliver_due` sends what is due at the injected ``now`` for the topics of its config:
  immediate rows, and digests whose time has come. Deliveries of other topics belong to another
  deployment sharing the database and are left to it (topic names are the identity of an alert
  stream: two configs naming the same topic share its alerts). Due digest rows of a channel are
  first bound to a batch (``batch_key``, committed) so a retried digest carries the same
  idempotency key.
* Before a send, its rows are **claimed**: one conditional UPDATE moves their ``next_attempt_at``
  ``claim_s`` ahead, and a run that finds them no longer due (another run claimed them first)
  skips them. Two runs at once (a manual cycle during a scheduled one, two deployments on one
  database) therefore never send the same delivery twice. A send happens before its row is
  marked sent; a crash between the two re-sends with the same key once the claim has run out
  (at-least-once), which receivers dedupe. Channels run concurrently; a channel that fails
  transiently is not tried again in the same run, and never holds up another channel.
* Isolation: any exception while building or sending one delivery (a channel's
  :class:`~monitor.errors.DeliveryError`, or anything a library raised that the channel did not
  translate, counted as transient) is that delivery's error: recorded on its row, retried with
  back-off, dead after ``max_attempts``. It never ends the run, so the deliveries other channels
  sent in it are marked sent and never sent again.
* Source health notices (:mod:`monitor.alerts.notices`) have an outbox of their own
  (``notice_deliveries``), sent by the same run, channel by channel after its alerts, with the same
  claim, isolation, back-off and idempotency key on every retry; always immediate.
* Back-off: ``min(base * 2**(attempts-1), max)`` scaled by a jitter factor in [0.5, 1), derived from
  the delivery id and attempt number (deterministic, so tests need no random seed); never
  shorter than a ``Retry-After`` the channel sent with a 429 or 503 (up to ``max``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import httpx
import jinja2
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.action_links import LinkMaker, link_maker
from monitor.alert_settings import ChannelConfig, TopicDelivery
from monitor.alerts.channels import Channel, build_channel, known_secrets, redact
from monitor.alerts.digest import assemble, route, settle_window
from monitor.alerts.model import (
    OutgoingMessage,
    RenderedMessage,
    content_from_payload,
    notice_key,
)
from monitor.alerts.notices import due_notices, notice_of, waiting_notices
from monitor.alerts.render import render_alert, render_digest, render_notice, template_environment
from monitor.config import MonitorConfig, Settings
from monitor.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from monitor.models import AlertContent
from monitor.storage.db import take_write_lock
from monitor.storage.tables import AlertRow, DeliveryRow, NoticeDeliveryRow, SourceNoticeRow
from monitor.timeutil import as_utc

AfterSend = Callable[[OutgoingMessage], None]
# The outbox table a job's rows are in: an alert's deliveries, or a source notice's.
OutboxTable = type[DeliveryRow] | type[NoticeDeliveryRow]


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


WAITING = (DeliveryState.PENDING.value, DeliveryState.FAILED.value)


def _action_links(settings: Settings, now: datetime) -> LinkMaker | None:
    """The alerts' signed action links, valid ``link_days`` from ``now`` (None unless the web
    view's base URL and link secret are both set)."""
    secret = settings.web.link_secret
    return link_maker(
        settings.web.base_url,
        secret.get_secret_value() if secret is not None else None,
        settings.web.link_days,
        lambda: now,
    )


def delivery_key(alert_key: str, channel: str) -> str:
    """The idempotency key of one alert on one channel: stable across every retry."""
    return f"{alert_key}:{channel}"


def jitter(delivery_id: int, attempts: int) -> float:
    """A factor in [0.5, 1) fixed for a (delivery, attempt)."""
    digest = hashlib.sha256(f"{delivery_id}:{attempts}".encode()).digest()
    return 0.5 + int.from_bytes(digest[:4], "big") / 2**33


def backoff_delay(attempts: int, *, base_s: float, max_s: float, factor: float) -> timedelta:
    """Delay before the next attempt after ``attempts`` failures (exponential, capped)."""
    exp = min(base_s * 2 ** max(attempts - 1, 0), max_s)
    return timedelta(seconds=exp * factor)


# --------------------------------------------------------------------------------------- enqueue


def _immediate_last_hour(
    session: Session, topic: str, channel: str, alert_id: int, now: datetime
) -> int:
    stmt = (
        select(func.count(DeliveryRow.id))
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            AlertRow.topic == topic,
            DeliveryRow.channel == channel,
            DeliveryRow.mode == "immediate",
            DeliveryRow.created_at > now - timedelta(hours=1),
            DeliveryRow.alert_id != alert_id,
        )
    )
    return int(session.scalar(stmt) or 0)


class QueuedAlert(Protocol):
    """What :func:`enqueue` reads of an alert: an :class:`AlertRow`, or its id, topic and
    story."""

    @property
    def id(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def story_id(self) -> int | None: ...


def _story_alerted_at(
    session: Session, alert: QueuedAlert, channel: str, now: datetime, window: timedelta
) -> datetime | None:
    """When the newest immediate delivery of ``alert``'s story (same topic and channel) was
    enqueued, if within ``window`` before ``now``."""
    if alert.story_id is None:
        return None
    stmt = (
        select(func.max(DeliveryRow.created_at))
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            AlertRow.topic == alert.topic,
            AlertRow.story_id == alert.story_id,
            DeliveryRow.channel == channel,
            DeliveryRow.mode == "immediate",
            DeliveryRow.created_at > now - window,
            DeliveryRow.alert_id != alert.id,
        )
    )
    found = session.scalar(stmt)
    return as_utc(found) if found is not None else None


def enqueue(
    session: Session,
    alert: QueuedAlert,
    channels: Sequence[ChannelConfig],
    delivery: TopicDelivery,
    *,
    now: datetime,
    new: bool = False,
) -> list[DeliveryRow]:
    """Add an outbox row per channel for ``alert`` (in the caller's transaction).

    Channels the alert already has a row for are skipped, so calling this twice is harmless;
    ``new=True`` says the alert was inserted in this transaction and has no rows to look for.
    """
    now = as_utc(now)
    if alert.id is None:
        session.flush()
    existing: set[str] = (
        set()
        if new
        else set(
            session.scalars(select(DeliveryRow.channel).where(DeliveryRow.alert_id == alert.id))
        )
    )
    rows: list[DeliveryRow] = []
    for channel in channels:
        if channel.name in existing:
            continue
        rules = channel.effective_delivery(delivery)
        sent = (
            _immediate_last_hour(session, alert.topic, channel.name, alert.id, now)
            if rules.max_per_hour is not None and rules.mode == "immediate"
            else 0
        )
        window = settle_window(rules)
        alerted_at = (
            _story_alerted_at(session, alert, channel.name, now, window)
            if window is not None and rules.mode == "immediate"
            else None
        )
        decision = route(rules, now=now, sent_last_hour=sent, story_alerted_at=alerted_at)
        row = DeliveryRow(
            alert_id=alert.id,
            channel=channel.name,
            state=DeliveryState.PENDING.value,
            mode=decision.mode,
            route=decision.reason,
            attempts=0,
            next_attempt_at=decision.due_at,
            created_at=now,
        )
        session.add(row)
        session.flush()  # the next channel's cap count sees this row
        existing.add(channel.name)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------- deliver_due


@dataclass(frozen=True, slots=True)
class ChannelError:
    channel: str
    error_type: str
    message: str  # secrets redacted
    delivery_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Counts are outbox rows (one digest message may settle many); ``deferred`` is what waits
    for a later run (digests not yet due, back-off, channels down this run); ``claimed_elsewhere``
    is what another run was sending at the same time."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    claimed_elsewhere: int = 0
    messages: int = 0
    errors: tuple[ChannelError, ...] = ()
    warnings: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class _Job:
    channel: str
    delivery_ids: tuple[int, ...]
    attempts: int
    key: str
    build: Callable[[], RenderedMessage]
    table: OutboxTable = DeliveryRow


@dataclass(slots=True)
class _Tally:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    claimed_elsewhere: int = 0
    messages: int = 0
    errors: list[ChannelError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def make_http_client(settings: Settings) -> httpx.AsyncClient:
    """The client webhooks are posted with when the caller does not inject one."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.delivery.webhook_timeout_s),
        headers={"User-Agent": settings.user_agent},
        follow_redirects=False,
    )


def _form_digest_batches(
    session: Session, now: datetime, max_items: int, topics: Collection[str]
) -> None:
    rows = session.scalars(
        select(DeliveryRow)
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            AlertRow.topic.in_(topics),
            DeliveryRow.mode == "digest",
            DeliveryRow.state == DeliveryState.PENDING.value,
            DeliveryRow.batch_key.is_(None),
            DeliveryRow.next_attempt_at <= now,
        )
        .order_by(DeliveryRow.channel, DeliveryRow.id)
    ).all()
    by_channel: dict[str, list[DeliveryRow]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel].append(row)
    for channel, members in by_channel.items():
        for start in range(0, len(members), max_items):
            chunk = members[start : start + max_items]
            key = f"digest:{chunk[0].id}:{channel}"[:200]
            for row in chunk:
                row.batch_key = key


def _content(row: AlertRow) -> AlertContent:
    try:
        return content_from_payload(row.payload, alert_id=row.id)
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentDeliveryError(
            f"alert {row.id}: stored payload is unreadable ({type(exc).__name__}: {exc})",
            channel="",
        ) from exc


def _due_jobs(
    session: Session,
    now: datetime,
    env: jinja2.Environment,
    topics: Collection[str],
    sources: Collection[str],
) -> list[_Job]:
    """The jobs due at ``now`` for ``topics``: each immediate delivery, then each digest batch;
    then each source notice of ``sources``."""
    jobs = _immediate_jobs(session, now, env, topics)
    jobs.extend(_digest_jobs(session, now, env, topics))
    jobs.extend(_notice_jobs(session, now, env, sources))
    return jobs


def _notice_jobs(
    session: Session, now: datetime, env: jinja2.Environment, sources: Collection[str]
) -> list[_Job]:
    """One job per source notice delivery due at ``now``, oldest first."""
    jobs: list[_Job] = []
    for delivery, notice in due_notices(session, now, sources, WAITING):

        def build(notice: SourceNoticeRow = notice) -> RenderedMessage:
            try:
                content = notice_of(notice)
            except (KeyError, TypeError, ValueError) as exc:
                raise PermanentDeliveryError(
                    f"source notice {notice.id}: stored payload is unreadable "
                    f"({type(exc).__name__}: {exc})",
                    channel="",
                ) from exc
            return render_notice(content, env)

        key = notice_key(notice.source, notice.kind, notice.episode)
        jobs.append(
            _Job(
                channel=delivery.channel,
                delivery_ids=(delivery.id,),
                attempts=delivery.attempts,
                key=delivery_key(key, delivery.channel),
                build=build,
                table=NoticeDeliveryRow,
            )
        )
    return jobs


def _immediate_jobs(
    session: Session, now: datetime, env: jinja2.Environment, topics: Collection[str]
) -> list[_Job]:
    """One job per immediate delivery due at ``now``, oldest first."""
    jobs: list[_Job] = []
    immediate = session.execute(
        select(DeliveryRow, AlertRow)
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            AlertRow.topic.in_(topics),
            DeliveryRow.mode == "immediate",
            DeliveryRow.state.in_(WAITING),
            DeliveryRow.next_attempt_at <= now,
        )
        .order_by(DeliveryRow.id)
    ).all()
    for delivery, alert in immediate:

        def build(alert: AlertRow = alert) -> RenderedMessage:
            return render_alert(_content(alert), env)

        jobs.append(
            _Job(
                channel=delivery.channel,
                delivery_ids=(delivery.id,),
                attempts=delivery.attempts,
                key=delivery_key(alert.idempotency_key, delivery.channel),
                build=build,
            )
        )
    return jobs


def _digest_jobs(
    session: Session, now: datetime, env: jinja2.Environment, topics: Collection[str]
) -> list[_Job]:
    """One job per digest batch (rows bound to one ``batch_key``) due at ``now``."""
    jobs: list[_Job] = []
    batched = session.execute(
        select(DeliveryRow, AlertRow)
        .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
        .where(
            AlertRow.topic.in_(topics),
            DeliveryRow.mode == "digest",
            DeliveryRow.batch_key.is_not(None),
            DeliveryRow.state.in_(WAITING),
            DeliveryRow.next_attempt_at <= now,
        )
        .order_by(DeliveryRow.id)
    ).all()
    batches: dict[str, list[tuple[DeliveryRow, AlertRow]]] = defaultdict(list)
    for delivery, alert in batched:
        assert delivery.batch_key is not None
        batches[delivery.batch_key].append((delivery, alert))
    for key, members in batches.items():
        alerts = [a for _, a in members]
        follow_up = all(d.route == "settle" for d, _ in members)

        def build_digest(
            alerts: list[AlertRow] = alerts, follow_up: bool = follow_up
        ) -> RenderedMessage:
            digest = assemble([_content(a) for a in alerts], now=now, follow_up=follow_up)
            return render_digest(digest, env)

        jobs.append(
            _Job(
                channel=members[0][0].channel,
                delivery_ids=tuple(d.id for d, _ in members),
                attempts=max(d.attempts for d, _ in members),
                key=key,
                build=build_digest,
            )
        )
    return jobs


def _claim(sessions: sessionmaker[Session], job: _Job, now: datetime, hold: timedelta) -> bool:
    """Take every row of ``job`` for ``hold``, or none of them when another run has one."""
    table = job.table
    with sessions() as session:
        result = session.execute(
            update(table)
            .where(
                table.id.in_(job.delivery_ids),
                table.state.in_(WAITING),
                table.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + hold)
        )
        if int(getattr(result, "rowcount", 0) or 0) != len(job.delivery_ids):
            session.rollback()
            return False
        session.commit()
        return True


def _mark_sent(
    sessions: sessionmaker[Session], job: _Job, now: datetime, warning: str | None
) -> int:
    table = job.table
    with sessions.begin() as session:
        result = session.execute(
            update(table)
            .where(table.id.in_(job.delivery_ids), table.state != "sent")
            .values(
                state=DeliveryState.SENT.value,
                sent_at=now,
                attempts=table.attempts + 1,
                last_error=warning,
                next_attempt_at=None,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _mark_failed(
    sessions: sessionmaker[Session],
    job: _Job,
    exc: DeliveryError,
    message: str,
    *,
    now: datetime,
    settings: Settings,
) -> bool:
    """Record a failed attempt; ``True`` when the delivery is now dead."""
    attempts = job.attempts + 1
    dead = not exc.retryable or attempts >= settings.delivery.max_attempts
    delay = backoff_delay(
        attempts,
        base_s=settings.delivery.backoff_base_s,
        max_s=settings.delivery.backoff_max_s,
        factor=jitter(job.delivery_ids[0], attempts),
    )
    asked = exc.retry_after_s if isinstance(exc, TransientDeliveryError) else None
    if asked is not None:  # the channel's own wait, within the longest back-off
        delay = max(delay, timedelta(seconds=min(asked, settings.delivery.backoff_max_s)))
    table = job.table
    with sessions.begin() as session:
        session.execute(
            update(table)
            .where(table.id.in_(job.delivery_ids), table.state != "sent")
            .values(
                state=DeliveryState.DEAD.value if dead else DeliveryState.FAILED.value,
                attempts=attempts,
                last_error=f"{type(exc).__name__}: {message}"[:2000],
                next_attempt_at=None if dead else now + delay,
            )
        )
    return dead


def _prepare(
    name: str, job: _Job, channel: Channel | ConfigError | None, now: datetime
) -> tuple[Channel, OutgoingMessage]:
    """The channel to send ``job`` with and its rendered message, or the delivery's error."""
    if channel is None:
        raise PermanentDeliveryError(f"channel {name!r} is not in the config file", channel=name)
    if isinstance(channel, ConfigError):
        raise PermanentDeliveryError(str(channel), channel=name)
    try:
        rendered = job.build()
    except jinja2.TemplateError as exc:
        raise PermanentDeliveryError(
            f"template error: {type(exc).__name__}: {exc}", channel=name
        ) from exc
    return channel, OutgoingMessage(
        channel=name, idempotency_key=job.key, message=rendered, attempted_at=now
    )


def _record_failure(
    name: str,
    job: _Job,
    exc: DeliveryError,
    sessions: sessionmaker[Session],
    settings: Settings,
    secrets: list[str],
    now: datetime,
    tally: _Tally,
) -> bool:
    message = redact(str(exc), secrets)
    dead = _mark_failed(sessions, job, exc, message, now=now, settings=settings)
    if dead:
        tally.dead += len(job.delivery_ids)
    else:
        tally.failed += len(job.delivery_ids)
    tally.errors.append(ChannelError(name, type(exc).__name__, message, job.delivery_ids))
    return dead


async def _run_channel(
    name: str,
    jobs: list[_Job],
    channel: Channel | ConfigError | None,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    secrets: list[str],
    now: datetime,
    tally: _Tally,
    after_send: AfterSend | None,
) -> None:
    hold = timedelta(seconds=settings.delivery.claim_s)
    for job in jobs:
        if not _claim(sessions, job, now, hold):
            tally.claimed_elsewhere += len(job.delivery_ids)
            continue  # another run is sending it
        try:
            sender, outgoing = _prepare(name, job, channel, now)
            warning = await sender.send(outgoing)
        except DeliveryError as exc:
            _record_failure(name, job, exc, sessions, settings, secrets, now, tally)
            if exc.retryable:
                return  # the channel is down: leave its other deliveries for a later run
            continue
        except Exception as raised:  # noqa: BLE001 - any failure is this delivery's, see below
            # One delivery's failure, whatever raised it (a library error a channel did not
            # translate, a bug), is recorded on its row and retried with back-off: it never
            # ends the run, so another channel's delivery sent in this run is marked sent and
            # is not sent again.
            unexpected = TransientDeliveryError(f"{type(raised).__name__}: {raised}", channel=name)
            _record_failure(name, job, unexpected, sessions, settings, secrets, now, tally)
            continue
        if after_send is not None:
            after_send(outgoing)
        tally.sent += _mark_sent(sessions, job, now, redact(warning, secrets) if warning else None)
        tally.messages += 1
        if warning:
            tally.warnings.append(redact(warning, secrets))


def _build_channels(
    names: set[str], config: MonitorConfig, settings: Settings, http: httpx.AsyncClient
) -> dict[str, Channel | ConfigError | None]:
    by_name = {c.name: c for c in config.channels}
    built: dict[str, Channel | ConfigError | None] = {}
    for name in names:
        if name not in by_name:
            built[name] = None
            continue
        try:
            built[name] = build_channel(by_name[name], settings, http=http)
        except ConfigError as exc:
            built[name] = exc
        except Exception as exc:  # noqa: BLE001 - the channel's deliveries record it
            built[name] = ConfigError(f"channel {name!r}: {type(exc).__name__}: {exc}")
    return built


async def deliver_due(
    sessions: sessionmaker[Session],
    config: MonitorConfig,
    settings: Settings,
    *,
    now: datetime,
    http: httpx.AsyncClient | None = None,
    after_send: AfterSend | None = None,
) -> DeliveryReport:
    """Send every delivery due at ``now``; see the module docstring for the guarantees.

    ``after_send`` is called after a message was accepted and before its rows are marked sent
    (an exception from it propagates, leaving the rows unsent: how tests simulate a crash).
    """
    now = as_utc(now)
    env = template_environment(
        settings.delivery.templates_dir,
        web_base_url=settings.web.base_url,
        links=_action_links(settings, now),
    )
    secrets = known_secrets(settings)
    topics = {topic.name for topic in config.topics}
    sources = {source.name for source in config.sources}
    with sessions.begin() as session:
        take_write_lock(session)  # reads, then binds rows to batches
        _form_digest_batches(session, now, settings.delivery.max_digest_items, topics)
    with sessions() as session:
        jobs = _due_jobs(session, now, env, topics, sources)
    by_channel: dict[str, list[_Job]] = defaultdict(list)
    for job in jobs:
        by_channel[job.channel].append(job)
    tally = _Tally()
    await _send_channels(
        by_channel,
        config,
        sessions=sessions,
        settings=settings,
        secrets=secrets,
        now=now,
        tally=tally,
        http=http,
        after_send=after_send,
    )
    deferred = _count_waiting(sessions, topics, sources)
    return DeliveryReport(
        sent=tally.sent,
        failed=tally.failed,
        dead=tally.dead,
        deferred=deferred,
        claimed_elsewhere=tally.claimed_elsewhere,
        messages=tally.messages,
        errors=tuple(tally.errors),
        warnings=tuple(tally.warnings),
    )


async def _send_channels(
    by_channel: dict[str, list[_Job]],
    config: MonitorConfig,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    secrets: list[str],
    now: datetime,
    tally: _Tally,
    http: httpx.AsyncClient | None,
    after_send: AfterSend | None,
) -> None:
    """Run every channel's jobs concurrently, with ``http`` or a client of its own (closed at
    the end)."""
    client = http if http is not None else make_http_client(settings)
    try:
        channels = _build_channels(set(by_channel), config, settings, client)
        await asyncio.gather(
            *(
                _run_channel(
                    name,
                    channel_jobs,
                    channels[name],
                    sessions=sessions,
                    settings=settings,
                    secrets=secrets,
                    now=now,
                    tally=tally,
                    after_send=after_send,
                )
                for name, channel_jobs in sorted(by_channel.items())
            )
        )
    finally:
        if http is None:
            await client.aclose()


def _count_waiting(
    sessions: sessionmaker[Session], topics: Collection[str], sources: Collection[str]
) -> int:
    """How many deliveries of ``topics`` and notices of ``sources`` still wait (pending or
    failed) after the run."""
    with sessions() as session:
        alerts = int(
            session.scalar(
                select(func.count(DeliveryRow.id))
                .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
                .where(AlertRow.topic.in_(topics), DeliveryRow.state.in_(WAITING))
            )
            or 0
        )
        return alerts + waiting_notices(session, sources, WAITING)


# ------------------------------------------------------------------------------- test and retry
