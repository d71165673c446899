"""``monitor db upgrade`` and ``monitor db prune``: database maintenance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from monitor.cli.common import JsonOption, echo, load_settings

db_app = typer.Typer(
    no_args_is_help=True,
    help="Database maintenance: schema migrations (upgrade) and archive retention (prune).",
)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="the Alembic revision to migrate to; head: the latest")
    ] = "head",
) -> None:
    """Apply database migrations and print the revision the database is at.

    Every other command that uses the database migrates it first, except `monitor check` and
    `monitor web`, which never change the schema (the web view asks for this command on a
    database behind the code). Run it once before starting workers on a new database.
    """
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
            help="prune articles fetched (and sent notices recorded) more than DAYS ago",
            metavar="DAYS",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only, change nothing")] = False,
    vacuum: Annotated[
        bool,
        typer.Option(
            "--vacuum",
            help="then VACUUM: SQLite rewrites the file smaller; PostgreSQL (VACUUM ANALYZE) "
            "keeps the files' size and leaves the space to later rows",
        ),
    ] = False,
    json_out: JsonOption = False,
) -> None:
    """Drop old articles' text and explain records; keep what duplicate detection needs.

    Pruned articles keep their URL keys, content hash and fingerprint, so their reprints are
    still duplicates and nothing old alerts again. Stories that can no longer be joined lose
    their sentence memory. Source notices recorded before then that were sent or are dead on
    every channel are deleted with their deliveries (not pending or failed ones, nor the newest
    of each source and kind).
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


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
