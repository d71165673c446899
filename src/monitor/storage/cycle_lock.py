"""One cycle of a config at a time, whoever starts it: a deployment's run, ``monitor run``,
``monitor serve``.

A deployment's ``concurrency_limit`` keeps its own runs apart, but a cycle started by hand knew
nothing of it and repeated the running cycle's fetching and extraction. The lock lives in the
database both share, and dies with its holder:

* PostgreSQL: a session advisory lock, keyed on the config's identity, held on a connection of
  its own for the cycle's length (a crashed holder's connection closes and releases it).
* SQLite: an exclusive ``flock`` on a file beside the database file (released by the kernel
  when the holder exits, however it exits). An in-memory database has no second process.

Who holds it and since when is written to ``cycle_locks``, for the message of a refused start
(:class:`monitor.errors.CycleRunningError`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.engine import make_url

from monitor.errors import CycleRunningError
from monitor.storage.db import dialect_insert
from monitor.storage.tables import CycleLockRow
from monitor.timeutil import as_utc

_NAMESPACE = "monitor-cycle:"


def lock_key(config: str) -> int:
    """The advisory lock key of a config: a signed 64-bit integer, the same in every process."""
    digest = hashlib.sha256((_NAMESPACE + config).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def cycle_lock(engine: Engine, config: str, holder: str) -> Iterator[None]:
    """Hold the cycle lock of ``config`` (its identity: the config file's absolute path) while
    the block runs; raise :class:`CycleRunningError` at once when another process holds it."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, config, holder):
            yield
        return
    database = make_url(engine.url).database
    if not database or database == ":memory:":
        yield
        return
    with _file_lock(engine, Path(database), config, holder):
        yield


@contextmanager
def _pg_lock(engine: Engine, config: str, holder: str) -> Iterator[None]:
    key = lock_key(config)
    with engine.connect() as conn:
        got = conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        conn.commit()
        if not got:
            raise _running(conn, config)
        try:
            _record(conn, config, holder)
            yield
        finally:
            with contextlib.suppress(Exception):  # a dead connection released it already
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()


@contextmanager
def _file_lock(engine: Engine, database: Path, config: str, holder: str) -> Iterator[None]:
    suffix = hashlib.sha256(config.encode()).hexdigest()[:16]
    path = database.with_name(f"{database.name}.cycle-{suffix}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with engine.connect() as conn:
                raise _running(conn, config) from None
        with engine.connect() as conn:
            _record(conn, config, holder)
        yield
    finally:
        handle.close()  # closing the file releases the lock


def _record(conn: Connection, config: str, holder: str) -> None:
    table = CycleLockRow.__table__
    insert = dialect_insert(conn.dialect.name, table)
    values = {"config": config[:500], "holder": holder, "started_at": datetime.now(UTC)}
    conn.execute(
        insert.values(values).on_conflict_do_update(
            index_elements=["config"],
            set_={"holder": insert.excluded.holder, "started_at": insert.excluded.started_at},
        )
    )
    conn.commit()


def _running(conn: Connection, config: str) -> CycleRunningError:
    row = conn.execute(
        select(CycleLockRow.started_at, CycleLockRow.holder).where(
            CycleLockRow.config == config[:500]
        )
    ).first()
    conn.rollback()
    if row is None:
        return CycleRunningError(config, None, None)
    since = f"{as_utc(row[0]):%Y-%m-%d %H:%M:%S} UTC"
    return CycleRunningError(config, since, row[1])
