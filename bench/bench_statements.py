"""SQL statements the detect stage sends per stored article, on SQLite and on PostgreSQL.

Every statement is a round trip to PostgreSQL (on SQLite a call into the library in the same
process), so their number per article bounds how fast detection can store a stream on a server
database whatever the statements cost. This runs the real detect stage
(:func:`monitor.pipeline.detect.detect`, batches of ``--batch`` articles, one transaction each)
over a stream on a fresh database and counts what the driver executes (SQLAlchemy's
``before_cursor_execute``: statements, ``SAVEPOINT`` and ``RELEASE`` included; a statement
executed with many parameter sets counts once), by kind of statement, with the time from
sending each statement to its result (on PostgreSQL the round trip and the server's work):

* ``synthetic``: ``--n`` articles of :func:`monitor.demo.synthetic.synthetic_stream` (stories of
  one to five articles, no copies), the pages ``bench_throughput.py`` serves;
* ``quality``: the labelled stream of ``tests/fixtures/quality/`` (copies, rewrites, follow-ups).

    .venv/bin/python bench/bench_statements.py                       # SQLite only
    .venv/bin/python bench/bench_statements.py \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres   # and PostgreSQL

With ``--postgres`` (a server URL whose role may create databases) each stream runs on a new
database, dropped afterwards. The counts are the same on a busy machine; the times are not.
With ``--rows``, on PostgreSQL, also the row versions the stream wrote per stored article, by
table (``pg_stat_user_tables``: inserted, updated and of those HOT, deleted) with each table's
index count: the server's work that fewer statements do not remove.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from monitor.config import MonitorConfig
from monitor.demo.synthetic import synthetic_stream
from monitor.detection_settings import DetectionSettings
from monitor.evaluation import EVERY_ARTICLE, load_stream
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.db import make_engine, session_factory, upgrade

QUALITY_STREAM = Path(__file__).parent.parent / "tests" / "fixtures" / "quality" / "stream.jsonl"

_KIND = re.compile(
    r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|SAVEPOINT|RELEASE SAVEPOINT|"
    r"ROLLBACK TO SAVEPOINT|BEGIN|COMMIT|ROLLBACK)\s*(\S*)",
    re.IGNORECASE | re.DOTALL,
)


def kind_of(statement: str) -> str:
    """A short label: the verb and, for writes, the table (``INSERT INTO stories``)."""
    if statement.lstrip().upper().startswith("WITH"):
        written = re.findall(r"\b(?:INSERT INTO|(?<!DO )UPDATE|DELETE FROM)\s+(\w+)", statement)
        tables = sorted(set(written))
        return f"WITH writing {', '.join(tables)}"
    match = _KIND.match(statement)
    if match is None:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb, rest = match.group(1).upper(), match.group(2).strip('"')
    if verb in {"INSERT INTO", "UPDATE", "DELETE FROM"}:
        return f"{verb} {rest}"
    if verb == "SELECT":
        table = re.search(r"\bFROM\s+\(?\s*\"?(\w+)", statement, re.IGNORECASE)
        return f"SELECT {table.group(1)}" if table else "SELECT"
    return verb


class StatementCounter:
    """Counts the statements an engine executes while it is installed (by kind), and the wall
    time from sending each to its result (the round trip and the server's work); with a
    :class:`ServerCpu`, also the CPU its backend used meanwhile (sampled by the kernel's clock
    tick, so only sums over many statements mean anything)."""

    def __init__(self, engine: Engine, server: ServerCpu | None = None) -> None:
        self.engine = engine
        self.server = server
        self.kinds: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.server_seconds: Counter[str] = Counter()
        self._sent: dict[int, tuple[float, str, float]] = {}

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        kind = kind_of(statement)
        self.kinds[kind] += 1
        backend = self.server.backend_seconds(conn.info.get("backend_pid")) if self.server else 0.0
        self._sent[id(cursor)] = (time.perf_counter(), kind, backend)

    def _done(self, conn: Any, cursor: Any, *args: Any) -> None:
        sent = self._sent.pop(id(cursor), None)
        if sent is not None:
            self.seconds[sent[1]] += time.perf_counter() - sent[0]
            if self.server is not None:
                backend = self.server.backend_seconds(conn.info.get("backend_pid"))
                self.server_seconds[sent[1]] += backend - sent[2]

    @contextmanager
    def counting(self) -> Iterator[StatementCounter]:
        event.listen(self.engine, "before_cursor_execute", self._count)
        event.listen(self.engine, "after_cursor_execute", self._done)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._count)
            event.remove(self.engine, "after_cursor_execute", self._done)

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


@contextmanager
def database(kind: str, postgres: str | None, tmp: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a new PostgreSQL database dropped after."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    assert postgres is not None
    admin_url = make_url(postgres)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"monitor_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ServerCpu:
    """CPU time of the PostgreSQL server processes serving an engine's connections (on Linux,
    from ``/proc``; the server on this machine): each connection's backend is recorded when it
    connects and read when asked, so call :meth:`seconds` before the engine is disposed."""

    def __init__(self, engine: Engine) -> None:
        self._pids: set[int] = set()
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        if engine.dialect.name == "postgresql":
            engine.pool.dispose()  # connections opened from now on are seen connecting
            event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pid = int(cursor.fetchone()[0])
        cursor.close()
        self._pids.add(pid)
        record.info["backend_pid"] = pid

    def backend_seconds(self, pid: int | None) -> float:
        """CPU seconds one backend used so far (0 when unknown or unreadable)."""
        if pid is None:
            return 0.0
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime, stime

    def seconds(self) -> float | None:
        """CPU seconds the recorded backends used so far (None: not measurable here)."""
        if not self._pids or not all(Path(f"/proc/{pid}").exists() for pid in self._pids):
            return None
        return sum(self.backend_seconds(pid) for pid in self._pids)


ROW_COUNTS = text(
    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, "
    "(SELECT count(*) FROM pg_index i WHERE i.indrelid = s.relid) "
    "FROM pg_stat_user_tables s"
)


def row_counts(engine: Engine) -> dict[str, tuple[int, ...]]:
    """Rows written so far per table of a PostgreSQL database, and its index count. The
    engine's connections are closed first: a backend reports its counts when it ends."""
    engine.dispose()
    time.sleep(0.5)
    with engine.connect() as conn:
        return {str(row[0]): tuple(int(v) for v in row[1:]) for row in conn.execute(ROW_COUNTS)}


def print_rows(
    before: dict[str, tuple[int, ...]], after: dict[str, tuple[int, ...]], per: int
) -> None:
    written = {
        table: [a - b for a, b in zip(counts[:4], before.get(table, (0, 0, 0, 0)), strict=False)]
        for table, counts in after.items()
    }
    print("    rows per stored article: inserted, updated (HOT), deleted; indexes")
    for table, d in sorted(written.items(), key=lambda kv: -(kv[1][0] + kv[1][1] + kv[1][3])):
        if any(d):
            print(
                f"    {table:22} {d[0] / per:7.2f} {d[1] / per:7.2f} ({d[2] / per:5.2f}) "
                f"{d[3] / per:6.2f}   {after[table][4]}"
            )


def run(
    engine: Engine, articles: Sequence[Article], batch: int, server: ServerCpu | None = None
) -> tuple[int, StatementCounter]:
    """Articles stored by the detect stage over ``articles``, and its statements."""
    counter = StatementCounter(engine, server)
    sessions = session_factory(engine)
    stored = 0
    with counter.counting():
        for first in range(0, len(articles), batch):
            cycle = articles[first : first + batch]
            last = cycle[-1]
            report = detect(
                sessions,
                cycle,
                {},
                MonitorConfig(),
                DetectionSettings(),
                now=last.published_at or last.fetched_at,
                batch_size=batch,
                topics=[EVERY_ARTICLE],
            )
            if report.errors:
                raise RuntimeError(f"detection failed: {report.errors[0]}")
            stored += report.stored
    return stored, counter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="synthetic articles (default 200)")
    parser.add_argument("--batch", type=int, default=50, help="articles per batch (default 50)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (admin)")
    parser.add_argument("--detail", action="store_true", help="statements by kind")
    parser.add_argument("--rows", action="store_true", help="rows written by table (PostgreSQL)")
    args = parser.parse_args()

    streams = {
        "synthetic": synthetic_stream(args.n, seed=7, domain="bench.test"),
        "quality": [item.article for item in load_stream(QUALITY_STREAM)],
    }
    kinds = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, articles in streams.items():
            for kind in kinds:
                with database(kind, args.postgres, Path(tmp)) as engine:
                    rows = args.rows and kind == "postgresql"
                    before = row_counts(engine) if rows else {}
                    server = ServerCpu(engine)
                    start, cpu = time.perf_counter(), time.process_time()
                    stored, counted = run(engine, articles, args.batch, server)
                    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                    server_cpu = server.seconds()
                    after = row_counts(engine) if rows else {}
                total = counted.total
                per = max(1, stored)
                print(
                    f"{name:9} {kind:10} {stored:4} stored, {total:6} statements, "
                    f"{total / per:5.2f} per stored article (batches of {args.batch}); "
                    f"{1000 * wall / per:.1f} ms/article, {1000 * cpu / per:.1f} ms CPU in "
                    f"this process, {1000 * sum(counted.seconds.values()) / per:.1f} ms in "
                    "statements"
                    + (
                        f", {1000 * server_cpu / per:.1f} ms CPU in the server's backend"
                        if server_cpu is not None
                        else ""
                    ),
                    flush=True,
                )
                if after:
                    print_rows(before, after, per)
                if args.detail:
                    for label, n in counted.kinds.most_common():
                        spent = 1000 * counted.seconds[label] / per
                        line = f"    {n / per:6.2f}  {spent:6.2f} ms  {label}"
                        if server_cpu is not None:
                            used = 1000 * counted.server_seconds[label] / per
                            line = f"    {n / per:6.2f}  {spent:6.2f} ms  {used:6.2f} ms  {label}"
                        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
