"""The root ``monitor`` command: every command of :mod:`monitor.cli` registered in one place, in
the order ``monitor --help`` lists them, and :func:`main`, the console script."""

from __future__ import annotations

import inspect
import os

import typer

from monitor.cli import alerts, db, demo, feedback, listings, run, stories, topics, web
from monitor.cli.common import database_failure
from monitor.errors import ConfigError, DatabaseUnreachableError, DatabaseUrlError
from monitor.escaping import terminal_text
from monitor.interrupts import exit_interrupted

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Track news topics; get one alert per new development, never for reprints or rewrites.",
)
# typer lists single commands in the order registered, then groups in the order registered.
run.register(app)
listings.register(app)
db.register(app)
topics.register(app)
alerts.register(app)
feedback.register(app)
stories.register(app)
demo.register(app)
web.register(app)


def _one_line_paragraphs(doc: str) -> str:
    """``doc`` with each paragraph's lines joined (lines opening a list item or indented are
    kept): typer prints a help text's line breaks as they are in the source, which a terminal
    of another width shows as ragged lines cut mid-sentence."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if lines and not line.startswith((" ", "- ", "* ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def unwrap_help(group: typer.Typer) -> None:
    """Give every command of ``group`` (and of its subgroups) its help with one-line
    paragraphs, from its docstring where it has no ``help=``."""
    for command in group.registered_commands:
        doc = command.help or inspect.getdoc(command.callback)
        if doc:
            command.help = _one_line_paragraphs(doc)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            unwrap_help(sub.typer_instance)


unwrap_help(app)

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
    try:
        _main()
    except KeyboardInterrupt:
        exit_interrupted()
    except SystemExit as exc:
        # typer turns a Ctrl-C into a silent exit 130, raised from the KeyboardInterrupt.
        if _from_interrupt(exc):
            exit_interrupted()
        raise


def _from_interrupt(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _main() -> None:
    try:
        app()
    except (DatabaseUrlError, DatabaseUnreachableError) as exc:
        # Raised from whichever command opened the database: one line, no traceback.
        failure = database_failure(exc)
        raise SystemExit(failure.exit_code) from exc
    except ConfigError as exc:
        typer.secho(
            f"error: {terminal_text(exc, keep_newlines=True)}", err=True, fg=typer.colors.RED
        )
        raise SystemExit(2) from exc
