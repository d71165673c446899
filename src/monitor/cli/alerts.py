"""``monitor alerts``: list alerts and their deliveries, re-queue failed ones, test a channel.

    monitor alerts [--json] [--failed] [--limit N]
    monitor alerts notices [--json] [--failed] [--limit N]
    monitor alerts retry [ID ...] [--all-dead]
    monitor alerts test CHANNEL [--config FILE]

The listing shows topic alerts, then source notices (a source failing, recovered, quiet, active
again: :mod:`monitor.alerts.notices`) apart from them, each part with how many of its deliveries
are pending, failed and dead; ``--json`` lists the alerts only, ``notices --json`` the notices.
Output passes through secret redaction: error texts were redacted when stored, and are again here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.common import ConfigOption, JsonOption, echo, load_settings, open_session
from monitor.config import config_path, load_config
from monitor.escaping import terminal_text

if TYPE_CHECKING:
    from monitor.alerts.status import AlertStatus, DeliveryCounts, NoticeStatus

alerts_app = typer.Typer(help="Alerts and their delivery states.", no_args_is_help=False)

# On a database with no alert yet: why there may be none, and how to see what a query matches.
NO_ALERTS = (
    "no alerts yet: a topic alerts on each new development a cycle stores that its query "
    "matches (`monitor topics test QUERY` shows what a query would have alerted on)"
)


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


Failed = Annotated[bool, typer.Option("--failed", help="only those with failed/dead deliveries")]


def _redact(text: str, secrets: list[str]) -> str:
    from monitor.alerts.channels import redact

    return redact(text, secrets)


def _echo_alerts(alerts: list[AlertStatus], counts: DeliveryCounts, secrets: list[str]) -> None:
    echo(f"alerts: deliveries {counts.line()}")
    for a in alerts:
        title = terminal_text(a.title)  # one line, whatever the feed put in it
        echo(_redact(f"#{a.id}  {_fmt(a.created_at)}  [{terminal_text(a.topic)}] {title}", secrets))
        for d in a.deliveries:
            when = f"sent {_fmt(d.sent_at)}" if d.sent_at else f"next {_fmt(d.next_attempt_at)}"
            mode = d.mode if d.route == "mode" else f"{d.mode} ({d.route})"
            line = f"    {d.channel:<16} {d.state:<8} {mode:<20} attempts {d.attempts:<3} {when}"
            echo(_redact(line, secrets))
            if d.last_error and d.state != "sent":
                echo(_redact(f"        {d.last_error}", secrets))


def _echo_notices(notices: list[NoticeStatus], counts: DeliveryCounts, secrets: list[str]) -> None:
    echo(f"source notices: deliveries {counts.line()}")
    for n in notices:
        head = (
            f"notice {n.id}  {_fmt(n.created_at)}  {terminal_text(n.source)}  "
            f"{n.kind} (episode {n.episode})"
        )
        echo(_redact(head, secrets))
        for d in n.deliveries:
            when = f"sent {_fmt(d.sent_at)}" if d.sent_at else f"next {_fmt(d.next_attempt_at)}"
            line = f"    {d.channel:<16} {d.state:<8} attempts {d.attempts:<3} {when}"
            echo(_redact(line, secrets))
            if d.last_error and d.state != "sent":
                echo(_redact(f"        {d.last_error}", secrets))


@alerts_app.callback(invoke_without_command=True)
def list_command(
    ctx: typer.Context,
    json_out: JsonOption = False,
    failed: Failed = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="newest N alerts (and notices)")
    ] = 20,
) -> None:
    """List alerts, newest first, with the state of each delivery; then source notices."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.alerts import status
    from monitor.alerts.channels import known_secrets

    settings = load_settings()
    secrets = known_secrets(settings)
    with open_session(settings) as session:
        alerts = status.list_alerts(session, failed_only=failed, limit=limit)
        if json_out:
            echo(_redact(json.dumps([a.to_json() for a in alerts], indent=2), secrets))
            return
        alert_counts = status.alert_delivery_counts(session)
        notices = status.list_notices(session, failed_only=failed, limit=limit)
        notice_counts = status.notice_delivery_counts(session)
    if alerts:
        _echo_alerts(alerts, alert_counts, secrets)
    else:
        echo("no failed alert deliveries" if failed else NO_ALERTS)
    if notices or notice_counts != status.DeliveryCounts():
        echo("")
        _echo_notices(notices, notice_counts, secrets)
        if not notices:
            echo("no failed notice deliveries" if failed else "no source notices yet")


@alerts_app.command("notices")
def notices_command(
    json_out: JsonOption = False,
    failed: Failed = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N notices")] = 20,
) -> None:
    """List source notices (failing, recovered, quiet, active), newest first, with the state
    of each delivery (re-queue dead ones with `monitor alerts retry --all-dead`)."""
    from monitor.alerts import status
    from monitor.alerts.channels import known_secrets

    settings = load_settings()
    secrets = known_secrets(settings)
    with open_session(settings) as session:
        notices = status.list_notices(session, failed_only=failed, limit=limit)
        counts = status.notice_delivery_counts(session)
    if json_out:
        document = {"deliveries": counts.to_json(), "notices": [n.to_json() for n in notices]}
        echo(_redact(json.dumps(document, indent=2), secrets))
        return
    _echo_notices(notices, counts, secrets)
    if not notices:
        echo("no failed notice deliveries" if failed else "no source notices yet")


@alerts_app.command("retry")
def retry_command(
    ids: Annotated[list[int] | None, typer.Argument(help="alert ids to re-queue")] = None,
    all_dead: Annotated[
        bool,
        typer.Option("--all-dead", help="re-queue every dead delivery (source notices too)"),
    ] = False,
) -> None:
    """Put failed/dead deliveries back in the queue for the next cycle (a failed one that a
    delivery pass may be sending right now is left to it)."""
    from monitor.alerts.admin import requeue
    from monitor.storage.db import take_write_lock

    if not ids and not all_dead:
        raise typer.BadParameter("give alert ids or --all-dead")
    settings = load_settings()
    hold = timedelta(seconds=settings.delivery.claim_s)
    with open_session(settings) as session, session.begin():
        take_write_lock(session)
        count = requeue(
            session, alert_ids=ids or (), all_dead=all_dead, now=datetime.now(UTC), hold=hold
        )
    echo(f"re-queued {count} deliver{'y' if count == 1 else 'ies'}")


@alerts_app.command("test")
def send_test_command(
    channel: Annotated[str, typer.Argument(help="channel name from the config file")],
    config: ConfigOption = None,
) -> None:
    """Send a clearly marked test message on one channel (checks credentials)."""
    from monitor.alerts.admin import send_test
    from monitor.errors import ConfigError, DeliveryError

    settings = load_settings()
    try:
        monitor_config = load_config(config_path(config, settings))
    except ConfigError as exc:
        echo(str(exc), err=True)
        raise typer.Exit(2) from None
    by_name = {c.name: c for c in monitor_config.channels}
    if channel not in by_name:
        known = ", ".join(sorted(by_name)) or "none"
        echo(f"unknown channel {channel!r} (known: {known})", err=True)
        raise typer.Exit(2)
    try:
        warning = asyncio.run(send_test(by_name[channel], settings, now=datetime.now(UTC)))
    except (DeliveryError, ConfigError) as exc:
        echo(f"test message on {channel!r} failed: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    echo(f"test message sent on {channel!r}" + (f" ({warning})" if warning else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
