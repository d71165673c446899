"""The ``monitor`` command line.

Commands that run a cycle (``run``, ``serve``, ``demo``) start the Prefect flow from the top-level
``flows`` package, imported only inside those commands so the core stays free of Prefect;
``run`` with no Prefect server configured runs the core's composition without it.
Stage packages add their own commands through ``register(app)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.config import Settings, get_settings
from monitor.errors import ConfigError, CycleRunningError, MonitorError
from monitor.escaping import json_text, terminal_text
from monitor.pipeline.report import summary_line, to_text
from monitor.timeutil import as_utc

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Track news topics; get one alert per new development, never for reprints or rewrites.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
topics_app = typer.Typer(no_args_is_help=True, help="Work with topic queries.")
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config file (YAML); default: MONITOR_CONFIG_FILE"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="rows to show")]


def load_settings() -> Settings:
    return get_settings()


def start_extraction(settings: Settings) -> None:
    """Start the extraction workers' fork server before Prefect (which takes seconds to start),
    so that its import of trafilatura is done by the time the cycle's first pages arrive."""
    from monitor.extract_pool import start_early

    start_early(settings.extraction.workers)


@contextmanager
def open_session(settings: Settings | None = None) -> Iterator[Session]:
    """A session on the configured database, migrated to the latest schema."""
    from monitor.storage.db import migrated_engine, session_factory

    settings = settings or load_settings()
    with (
        migrated_engine(settings.resolved_database_url()) as engine,
        session_factory(engine)() as session,
    ):
        yield session


def echo(text: object = "", *, err: bool = False) -> None:
    """Print ``text`` with every control character shown visibly (stored titles and error
    texts come from the network; see :mod:`monitor.escaping`). Every command prints with it."""
    typer.echo(terminal_text(text, keep_newlines=True), err=err)


def fail(message: str, code: int = 2) -> typer.Exit:
    shown = terminal_text(message, keep_newlines=True)
    typer.secho(f"error: {shown}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def _json_value(value: Any) -> str:
    # Timestamps are UTC; SQLite hands them back without an offset, PostgreSQL with one: the
    # output has one either way.
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return str(value)


def echo_json(data: Any) -> None:
    typer.echo(json_text(json.dumps(data, indent=2, default=_json_value, ensure_ascii=False)))


def parse_since(value: str | None) -> datetime | None:
    """``2025-05-12``, an ISO timestamp, or a relative ``7d`` / ``12h``."""
    if value is None:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if value[-1:] in units and value[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--since: expected a date, timestamp or 7d/12h, got {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def warn_unknown_settings() -> None:
    """Print a warning per ``MONITOR_*`` name no setting reads (``check`` fails on them)."""
    from monitor.config import unknown_settings

    for message in unknown_settings():
        typer.secho(f"warning: {terminal_text(message)}", err=True, fg=typer.colors.YELLOW)


def validated_config(given: Path | None, settings: Settings) -> Path:
    """The config file, read and validated as a cycle will use it, channels' secrets included;
    a :class:`ConfigError` (exit 2, one message) otherwise. Run before Prefect is imported."""
    from monitor.alerts.channels import channel_problems
    from monitor.config import config_path, load_config, settings_problems

    warn_unknown_settings()
    path = config_path(given, settings)
    loaded = load_config(path)
    problems = settings_problems(loaded, settings) + channel_problems(loaded.channels, settings)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return path


@app.command()
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
) -> None:
    """Run one monitor cycle.

    With a Prefect server configured (PREFECT_API_URL), the cycle is a flow run of the same
    flow the schedule runs, and shows there. Without one, it runs in this process with no
    orchestrator (no Prefect start); its report is kept in the database either way
    (`monitor cycles`). Exits 0 when the cycle completed, even if some sources failed (they
    are reported), and 3 when another cycle of the same config is running.
    """
    settings = load_settings()
    try:
        path = validated_config(config, settings)  # before Prefect: a bad config exits 2 at once
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    from flows.local import needs_prefect

    try:
        if prefect or needs_prefect(settings):
            start_extraction(settings)
            from flows.cycle import run_cycle

            report = run_cycle(config_path=str(path))
        else:
            from monitor.config import load_config
            from monitor.pipeline.cycle import run_plain

            report = run_plain(settings, load_config(path), config_file=path).as_dict()
    except CycleRunningError as exc:
        raise fail(str(exc), CycleRunningError.EXIT_CODE) from exc
    except MonitorError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        echo_json(report)
        return
    echo(to_text(report))


@app.command()
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


@app.command()
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


@app.command()
def articles(
    as_json: JsonOption = False,
    limit: LimitOption = 20,
    duplicates: Annotated[bool, typer.Option(help="only duplicates")] = False,
    failed: Annotated[
        bool, typer.Option(help="pages that failed in recent cycles, and those parked")
    ] = False,
) -> None:
    """List stored articles, newest first (with --failed: pages that keep failing)."""
    from monitor.storage.tables import ArticleRow

    if failed:
        _failed_pages(as_json, limit)
        return

    with open_session() as session:
        stmt = select(ArticleRow).order_by(ArticleRow.id.desc()).limit(limit)
        if duplicates:
            stmt = stmt.where(ArticleRow.duplicate_of_id.is_not(None))
        rows = list(session.scalars(stmt))
    data = [
        {
            "id": r.id,
            "source": r.source_name,
            "title": r.title,
            "url": r.url,
            "published_at": r.published_at,
            "fetched_at": r.fetched_at,
            "summary_only": r.summary_only,
            "duplicate_of": r.duplicate_of_id,
            "similarity": r.duplicate_similarity,
            "story_id": r.story_id,
            "is_development": r.is_development,
            "revision_of": r.revision_of_id,  # a later version of that article
        }
        for r in rows
    ]
    if as_json:
        echo_json(data)
        return
    for d in data:
        tag = (
            f"dup of #{d['duplicate_of']}"
            if d["duplicate_of"]
            else "development"
            if d["is_development"]
            else "report"
        )
        story = f"story #{d['story_id']}" if d["story_id"] else "-"
        source, title = terminal_text(d["source"])[:18], terminal_text(d["title"])[:70]
        if d["revision_of"]:
            title = f"(update of #{d['revision_of']}) {title}"[:70]
        echo(f"#{d['id']:<5} {source:<18} {tag:<14} {story:<11} {title}")


def _failed_pages(as_json: bool, limit: int) -> None:
    from monitor.redact import redact_text, redact_url
    from monitor.storage.tables import PageFailureRow, SourceRow

    with open_session() as session:
        stmt = (
            select(PageFailureRow, SourceRow.name)
            .join(SourceRow, SourceRow.id == PageFailureRow.source_id)
            .order_by(PageFailureRow.last_failed_at.desc())
            .limit(limit)
        )
        rows = list(session.execute(stmt))
    data = [
        {
            "source": name,
            "url": redact_url(r.url),
            "attempts": r.attempts,
            "parked_at": r.parked_at,  # not fetched again since
            "first_failed_at": r.first_failed_at,
            "last_failed_at": r.last_failed_at,
            "error_type": r.error_type,
            "error": redact_text(r.error) if r.error else None,
        }
        for r, name in rows
    ]
    if as_json:
        echo_json(data)
        return
    for d in data:
        state = "PARKED" if d["parked_at"] else f"failed x{d['attempts']}"
        echo(
            f"{terminal_text(d['source'])[:18]:<18} {state:<10} {terminal_text(d['url'])}\n"
            f"{'':<29} {d['error_type']}: {terminal_text(d['error'])[:160]}"
        )


@app.command()
def sources(as_json: JsonOption = False) -> None:
    """List sources with their health (last poll, last error, failures in a row)."""
    from monitor.pipeline.sources import last_worked
    from monitor.redact import redact_text, redact_url
    from monitor.storage.tables import ArticleRow, PageFailureRow, SourceRow

    with open_session() as session:
        per_source = select(ArticleRow.source_name, func.count()).group_by(ArticleRow.source_name)
        counts: dict[str, int] = {row[0]: row[1] for row in session.execute(per_source)}
        parked_per_source = (
            select(PageFailureRow.source_id, func.count())
            .where(PageFailureRow.parked_at.is_not(None))
            .group_by(PageFailureRow.source_id)
        )
        parked: dict[int, int] = {row[0]: row[1] for row in session.execute(parked_per_source)}
        rows = list(session.scalars(select(SourceRow).order_by(SourceRow.name)))
    data = [
        {
            "name": r.name,
            "url": redact_url(r.url),  # credentials masked; the config has the real one
            "articles": counts.get(r.name, 0),
            "last_polled_at": r.last_polled_at,
            "last_success_at": r.last_success_at,
            "consecutive_failures": r.consecutive_failures,
            "last_error_type": r.last_error_type,
            "last_error": redact_text(r.last_error) if r.last_error else None,
            "retry_at": r.retry_at,  # not polled before: its server asked to wait
            "pages_parked": parked.get(r.id, 0),  # failed cycle after cycle: not fetched again
        }
        for r in rows
    ]
    if as_json:
        echo_json(data)
        return
    for d in data:
        health = "ok"
        if d["consecutive_failures"]:
            worked = d["last_success_at"]
            since = last_worked(worked if isinstance(worked, datetime) else None)
            health = (
                f"FAILING x{d['consecutive_failures']} ({since}): "
                f"{d['last_error_type']}: {str(d['last_error'])[:160]}"
            )
        retry_at = d["retry_at"]
        if isinstance(retry_at, datetime) and as_utc(retry_at) > datetime.now(UTC):
            health = f"not polled until {retry_at:%Y-%m-%d %H:%M} UTC (asked to wait); {health}"
        if d["pages_parked"]:
            health += f"; {d['pages_parked']} page(s) parked (monitor articles --failed)"
        name = terminal_text(d["name"])[:24]
        echo(f"{name:<24} {d['articles']:>5} articles  {terminal_text(health)}")


@app.command()
def cycles(as_json: JsonOption = False, limit: LimitOption = 10) -> None:
    """List recent cycles with their summary counts."""
    from monitor.storage.tables import CycleRow

    with open_session() as session:
        rows = list(session.scalars(select(CycleRow).order_by(CycleRow.id.desc()).limit(limit)))
    if as_json:
        echo_json([r.stats for r in rows])
        return
    for r in rows:
        echo(f"#{r.id} {r.started_at:%Y-%m-%d %H:%M:%S}: " + summary_line(r.stats))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply database migrations (also done automatically before every command)."""
    from monitor.storage.db import current_revision, make_engine, upgrade

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine, revision)
        echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        int,
        typer.Option(
            "--older-than",
            min=1,
            help="prune articles fetched more than DAYS ago",
            metavar="DAYS",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only, change nothing")] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="then give the space back (SQLite: VACUUM)")
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Drop old articles' text and explain records; keep what duplicate detection needs.

    Pruned articles keep their URL keys, content hash and fingerprint, so their reprints are
    still duplicates and nothing old alerts again. Stories that can no longer be joined lose
    their sentence memory.
    """
    from monitor.storage.db import migrated_engine
    from monitor.storage.retention import prune_database

    settings = load_settings()
    with migrated_engine(settings.resolved_database_url()) as engine:
        report = prune_database(
            engine,
            now=datetime.now(UTC),
            keep_days=older_than,
            story_active_days=settings.detection.story_active_days,
            dry_run=dry_run,
            vacuum_after=vacuum,
        )
    if json_out:
        echo(json.dumps(report.as_dict(), indent=2))
        return
    for line in report.lines():
        echo(line)


@topics_app.command("test")
def topics_test(
    query: Annotated[str, typer.Argument(help='e.g. istanbul AND (talks OR "peace deal")')],
    since: Annotated[str | None, typer.Option(help="2025-05-01, an ISO time, or 7d / 12h")] = None,
    title_only: Annotated[bool, typer.Option(help="match titles only")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show which stories and developments QUERY would have alerted on. Sends nothing."""
    from monitor.backtest import backtest
    from monitor.topics import parse_query

    try:
        parsed = parse_query(query)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    with open_session() as session:
        hits = backtest(session, parsed, since=parse_since(since), title_only=title_only)
    if as_json:
        echo_json([_hit_dict(h) for h in hits])
        return
    if not hits:
        echo("no stored article would have alerted")
        return
    story: int | None = -1
    for h in hits:
        if h.story_id != story:
            story = h.story_id
            echo(f"story #{h.story_id}: {terminal_text(h.story_headline)}")
        kind = "development" if h.is_development else "first match"
        source, title = terminal_text(h.source), terminal_text(h.title[:80])
        echo(f"  #{h.article_id} [{source}] {kind}: {title}  ({terminal_text(h.why)})")
    echo(f"{len(hits)} alert(s) in {len({h.story_id for h in hits})} story(ies)")


def _hit_dict(hit: Any) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in hit.__slots__}


def _register_stage_commands() -> None:
    """Stage packages contribute commands; each exposes ``register(app)``."""
    import importlib

    for module in ("monitor.alerts.cli", "monitor.stories.cli", "monitor.demo.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


# Without PREFECT_API_URL, `monitor run --prefect`, `serve` and `demo` start Prefect's serverless
# API in a subprocess, which on its first start creates and migrates its own database. Prefect
# waits 20 s for it; on a fresh, slow machine that first start took longer and the command failed
# (the second attempt, on the migrated database, took seconds). Wait up to two minutes instead,
# unless the user chose a value.
PREFECT_STARTUP_DEFAULTS = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def prefect_defaults() -> None:
    """Set this command line's defaults for Prefect settings not set in the environment (before
    Prefect is imported: it reads them then)."""
    for key, value in PREFECT_STARTUP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def main() -> None:
    prefect_defaults()
    _register_stage_commands()
    try:
        app()
    except ConfigError as exc:
        typer.secho(
            f"error: {terminal_text(exc, keep_newlines=True)}", err=True, fg=typer.colors.RED
        )
        raise SystemExit(2) from exc
