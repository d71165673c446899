"""Engine and session factories, and schema migrations.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, so a
scheduled cycle and a CLI listing can share the file. PostgreSQL (production) goes through
psycopg 3. Migrations are Alembic's, applied with :func:`upgrade`.

A URL that cannot be used raises :class:`~monitor.errors.DatabaseUrlError` from
:func:`make_engine`; a database that cannot be reached or opened raises
:class:`~monitor.errors.DatabaseUnreachableError` from :func:`make_engine` (a SQLite directory
that cannot be created) or :func:`upgrade` (the first connection). Neither message shows a
password.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import DatabaseUnreachableError, DatabaseUrlError

MIGRATIONS = Path(__file__).with_name("migrations")


def with_psycopg_driver(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite opens and commits transactions on its own, which breaks SAVEPOINTs; hand
    # transaction control to SQLAlchemy (BEGIN is emitted in _sqlite_begin).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


WRITE_LOCK = "monitor_write_lock"  # connection execution option, see take_write_lock()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(
        "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_LOCK) else "BEGIN"
    )


def dialect_insert(dialect: str, table: Any) -> Any:
    """An INSERT for ``dialect`` that supports ``on_conflict_do_*`` (SQLite and PostgreSQL)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


@functools.lru_cache(maxsize=32)
def insert_if_free(dialect: str, table: Any, key: str, returning: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING returning``: the unique index on
    ``key`` decides, without a savepoint, and no row comes back when the key was taken."""
    return (
        dialect_insert(dialect, table)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[returning])
    )


def take_write_lock(session: Session) -> None:
    """Begin the session's transaction as a writer; call it before anything else in it.

    On SQLite this is ``BEGIN IMMEDIATE``: the database's write lock is taken up front, and a
    second writer waits for the first to commit (``busy_timeout``). With a plain ``BEGIN``, a
    transaction that reads before it writes fails at its first write ("database is locked")
    whenever another writer committed in between, because its snapshot is then stale: a manual
    ``monitor run`` during a scheduled cycle failed that way. PostgreSQL locks rows, not the
    database; this changes nothing there.
    """
    session.connection(execution_options={WRITE_LOCK: True})


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; the parent directory of a SQLite file is created.

    Raises :class:`DatabaseUrlError` for a URL that does not parse or names a dialect or driver
    that is unknown or not installed, :class:`DatabaseUnreachableError` for a SQLite directory
    that cannot be created. Nothing is connected to yet.
    """
    try:
        url = with_psycopg_driver(url)
        parsed = make_url(url)
        sqlite_file = parsed.get_backend_name() == "sqlite"
        if not sqlite_file:
            kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError as exc:
        raise DatabaseUrlError(
            f"{_shown(url)}: not a database type or driver SQLAlchemy knows ({_first_line(exc)})"
        ) from exc
    except (ArgumentError, ValueError) as exc:
        raise DatabaseUrlError(f"{_shown(url)}: {_first_line(exc)}") from exc
    except ImportError as exc:
        raise DatabaseUrlError(
            f"{_shown(url)}: its driver is not installed ({_first_line(exc)})"
        ) from exc
    if sqlite_file:
        if parsed.database and parsed.database != ":memory:":
            _sqlite_directory(Path(parsed.database).parent)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite ``url`` names; None for another database, an in-memory one, a URI
    filename (``?uri=true``) or a URL that does not parse (:func:`make_engine` says why)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri"):
        return None
    return Path(parsed.database)


def _sqlite_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DatabaseUnreachableError(
            f"cannot create the SQLite database's directory {directory}: {reason}"
        ) from exc


def reach(engine: Engine) -> None:
    """Connect to ``engine``'s database once; :class:`DatabaseUnreachableError` if that fails
    (refused, unknown host or database, credentials, a SQLite file that cannot be opened)."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        raise DatabaseUnreachableError(
            f"cannot open the database {_shown(engine.url)}: {reason}"
        ) from exc


def _shown(url: str | URL) -> str:
    """``url`` as an error may show it: no password; a string that does not parse as a URL is
    not shown at all (it may be a secret pasted into the wrong place)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "not a URL (expected e.g. sqlite:///data/monitor.db or postgresql://user@host/db)"


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an error's text, without SQLAlchemy's suffixes."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent).

    Every cycle calls this first. A database already at head is recognised with one query
    (against the heads Alembic reads from the migration files, :func:`head_revisions`). Raises
    :class:`DatabaseUnreachableError` when the database cannot be connected to.
    """
    reach(engine)
    if revision == "head" and is_at_head(engine):
        return
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine on ``url`` with the schema at head (:func:`upgrade`), disposed on exit."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@functools.cache
def head_revisions() -> frozenset[str]:
    """The head revisions of the shipped migrations, as Alembic reads them (once per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return frozenset(ScriptDirectory.from_config(cfg).get_heads())


def is_at_head(engine: Engine) -> bool:
    """True when the database's recorded revisions are exactly the shipped heads."""
    heads = head_revisions()
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:  # no version table yet: a new database
        return False
    return {row[0] for row in rows} == heads


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
