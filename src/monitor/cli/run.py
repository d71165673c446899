"""``monitor run``, ``monitor check`` and ``monitor serve``: a cycle now, a dry check of the
config's sources and the database, cycles on a schedule.

``run`` and ``serve`` start the Prefect flow from the top-level ``flows`` package, imported only
inside those commands so the core stays free of Prefect; ``run`` with no Prefect server
configured runs the core's composition without it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import (
    ConfigOption,
    JsonOption,
    database_failure,
    echo,
    echo_json,
    ensure_database,
    fail,
    load_settings,
    start_extraction,
    validated_config,
)
from monitor.config import Settings
from monitor.errors import (
    ConfigError,
    CycleRunningError,
    DatabaseUnreachableError,
    DatabaseUrlError,
    MonitorError,
)
from monitor.pipeline.report import to_text


def run(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect",
            help="run as a Prefect flow run even with no Prefect server configured "
            "(Prefect then starts a temporary one)",
        ),
    ] = False,
    poll_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="poll every source, even those not due by their rhythm or backing off after "
            "failures (a server's Retry-After is still honoured)",
        ),
    ] = False,
) -> None:
    """Run one monitor cycle.

    With a Prefect server configured (PREFECT_API_URL), the cycle is a flow run of the same
    flow the schedule runs, and shows there. Without one, it runs in this process with no
    orchestrator (no Prefect start); its report is kept in the database either way
    (`monitor cycles`). With `--all`, every source is polled, even one not due by its rhythm
    (MONITOR_POLLING__ADAPTIVE) or backing off after failures. Exits 0 when the cycle
    completed, even if some sources failed (they are reported), and 3 when another cycle of
    the same config is running.
    """
    settings = load_settings()
    if poll_all:
        from monitor.config import polling_all

        settings = polling_all(settings)
    try:
        path = validated_config(config, settings)  # before Prefect: a bad config exits 2 at once
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    try:
        report = _cycle(settings, path, prefect=prefect, poll_all=poll_all)
    except CycleRunningError as exc:
        raise fail(str(exc), CycleRunningError.EXIT_CODE) from exc
    except (DatabaseUrlError, DatabaseUnreachableError) as exc:
        raise database_failure(exc, settings) from exc
    except MonitorError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        echo_json(report)
        return
    echo(to_text(report))


def _cycle(settings: Settings, path: Path, *, prefect: bool, poll_all: bool) -> dict[str, Any]:
    """One cycle's report: a Prefect flow run when asked or configured, else in this process."""
    from flows.local import needs_prefect

    if prefect or needs_prefect(settings):
        # A database error inside the flow run would come with Prefect's traceback.
        _check_database(settings)
        start_extraction(settings)
        from flows.cycle import run_cycle

        return run_cycle(config_path=str(path), poll_all=poll_all)
    from monitor.config import load_config
    from monitor.pipeline.cycle import run_plain

    return run_plain(settings, load_config(path), config_file=path).as_dict()


def check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Try the config's sources and the database without storing anything.

    Each enabled source is fetched and parsed once, as a cycle polls it; the database is
    reached and its schema compared with this version's. Exits 1 when anything failed.
    """
    import asyncio

    from monitor.check import check as run_checks
    from monitor.check import summary
    from monitor.config import config_path, load_config, unknown_settings

    settings = load_settings()
    loaded = load_config(config_path(config, settings))
    findings = asyncio.run(run_checks(loaded, settings, unknown_settings=unknown_settings()))
    if as_json:
        echo_json([dataclasses.asdict(f) for f in findings])
    else:
        for finding in findings:
            echo(finding.line())
        echo(summary(findings))
    if any(f.status == "failed" for f in findings):
        raise typer.Exit(1)


def serve(
    config: ConfigOption = None,
    cron: Annotated[str | None, typer.Option(help="cron schedule, e.g. '*/15 * * * *'")] = None,
    interval: Annotated[int | None, typer.Option(help="seconds between cycles")] = None,
    name: Annotated[str, typer.Option(help="deployment name")] = "monitor-scheduled",
    prune_days: Annotated[
        int | None,
        typer.Option(
            "--prune-days",
            min=1,
            metavar="DAYS",
            help="also run `monitor db prune --older-than DAYS` weekly (Sunday 03:30 UTC)",
        ),
    ] = None,
    prefect_port: Annotated[
        int | None,
        typer.Option(
            "--prefect-port",
            min=1,
            max=65535,
            help="port of the local Prefect server started when PREFECT_API_URL is not set "
            "(default: a free one)",
        ),
    ] = None,
) -> None:
    """Run cycles on a schedule in this process (Prefect flow.serve).

    With PREFECT_API_URL set, that server schedules the runs. Without it, a local Prefect
    server (SQLite in MONITOR_DATA_DIR/prefect) is started for as long as serve runs. Exits 1
    when no server can schedule runs, 2 on a config error.
    """
    if cron is None and interval is None:
        interval = 900
    settings = load_settings()
    try:
        path = validated_config(config, settings).resolve()
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    _check_database(settings)  # before a Prefect server is started for runs that would fail
    from flows.serve import serve_flows

    def announce(api_url: str, started: bool) -> None:
        where = "a local Prefect server" if started else "the Prefect server"
        typer.echo(f"scheduling with {where} at {api_url}")

    try:
        serve_flows(
            path,
            name=name,
            cron=cron,
            interval=interval,
            prune_days=prune_days,
            server_home=(settings.data_dir / "prefect").resolve(),
            server_port=prefect_port,
            on_server=announce,
        )
    except MonitorError as exc:
        raise fail(str(exc), code=1) from exc


def _check_database(settings: Settings) -> None:
    """:func:`ensure_database` before Prefect starts, unless the database URL names a Prefect
    Secret block: only a flow run can read that, and it reaches the database itself."""
    from flows.secrets import PREFIX

    url = settings.database_url
    if url is not None and url.get_secret_value().startswith(PREFIX):
        return
    ensure_database(settings)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(check)
    app.command()(serve)
