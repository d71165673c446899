"""What every ``monitor`` command shares: the common options, settings and a database session,
and printing (every command prints through :func:`echo`, which shows control characters in
stored text visibly)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from monitor.config import Settings, get_settings
from monitor.errors import ConfigError, DatabaseUnreachableError, DatabaseUrlError
from monitor.escaping import json_text, terminal_text
from monitor.timeutil import as_utc, since_time

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


def ensure_database(settings: Settings) -> None:
    """Connect to the configured database once, before a command starts a server or a Prefect
    flow run over it: a database that cannot be used is then the one line of
    :func:`database_failure` and its exit code, not a server failing on every request or a
    flow run's traceback."""
    from monitor.storage.db import make_engine, reach

    try:
        engine = make_engine(settings.resolved_database_url())
        try:
            reach(engine)
        finally:
            engine.dispose()
    except (DatabaseUrlError, DatabaseUnreachableError) as exc:
        raise database_failure(exc, settings) from exc


def echo(text: object = "", *, err: bool = False) -> None:
    """Print ``text`` with every control character shown visibly (stored titles and error
    texts come from the network; see :mod:`monitor.escaping`). Every command prints with it."""
    typer.echo(terminal_text(text, keep_newlines=True), err=err)


def fail(message: str, code: int = 2) -> typer.Exit:
    shown = terminal_text(message, keep_newlines=True)
    typer.secho(f"error: {shown}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def database_failure(
    exc: DatabaseUrlError | DatabaseUnreachableError, settings: Settings | None = None
) -> typer.Exit:
    """One line for a database that cannot be used, naming the setting to change, and the exit
    code: 2 for a URL that cannot be used, 1 for a database that cannot be reached."""
    if isinstance(exc, DatabaseUrlError):
        return fail(f"MONITOR_DATABASE_URL: {exc}", DatabaseUrlError.EXIT_CODE)
    return fail(f"{exc} (see {_database_setting(settings)})", DatabaseUnreachableError.EXIT_CODE)


def _database_setting(settings: Settings | None) -> str:
    """The setting the database comes from: its URL, or the default SQLite file's directory."""
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError:
            return "MONITOR_DATABASE_URL"
    return "MONITOR_DATA_DIR" if settings.database_url is None else "MONITOR_DATABASE_URL"


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
    try:
        return since_time(value, datetime.now(UTC))
    except ValueError as exc:
        raise fail(f"--since: expected a date, timestamp or 7d/12h, got {value!r}") from exc


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
