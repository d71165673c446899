"""Throughput of a full monitor cycle against bare trafilatura, measured in one run.

Serves N synthetic article pages (>= 50 KB each, with page chrome) behind RSS/Atom/JSON feeds on
127.0.0.1 from a separate process (like a remote newsroom, its CPU is not the pipeline's and it
takes no share of the pipeline's interpreter), then measures, in this process and this run:

  bare-1   trafilatura.bare_extraction over the same HTML, one process (before and after the
           cycle, pooled: the machine's speed drifts)
  bare-P   the same spread over P processes (P = the pipeline's extraction workers)
  fast-1   bare-1 in trafilatura's fast mode (no readability/jusText comparison), the mode the
           cycle extracts in unless MONITOR_EXTRACTION__FALLBACKS=always (before and after)
  cycle    one full `monitor run` cycle (the Prefect flow: fetch feeds and pages, extract,
           dedup, stories, developments, topic match, alerts), with what `monitor run` does
           before its cycle done already: the Prefect server started, the extraction workers'
           fork server started (it imports trafilatura meanwhile); and the database created
           (once in a deployment's life, not every cycle)

and prints articles/s for each and the ratios cycle/bare-1, cycle/bare-P and cycle/fast-1 (like
for like with the cycle's extraction mode: what the rest of the pipeline costs), with the CPU time
the cycle took per kind of process (on Linux): the flow's own process, the extraction workers,
the Prefect server, the PostgreSQL backends serving the monitor's database (other databases'
backends on the same server count as other work), and anything else that ran meanwhile; and
the statements the cycle sent to the database per stored article (each a round trip to a
PostgreSQL server). From the CPU time of bare-1 and of the cycle's processes it also prints the
ratio's ceiling: the cycle/bare-1 ratio the cycle would reach with every core busy on its work,
cores x (bare CPU per page) / (cycle CPU per article), which says how much of a gap is CPU spent
and how much is idle time.

    .venv/bin/python bench/bench_throughput.py            # N=500
    .venv/bin/python bench/bench_throughput.py --n 100    # quick look
    # on an empty PostgreSQL database:
    MONITOR_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/bench_throughput.py
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

PAGE_BYTES = 60_000


def _bare(pages: list[tuple[str, bytes]], fast: bool = False) -> int:
    import trafilatura

    ok = 0
    for url, html in pages:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, fast=fast)
        ok += doc is not None
    return ok


def bare_throughput(pages: list[tuple[str, bytes]], processes: int, fast: bool = False) -> float:
    start = time.perf_counter()
    if processes <= 1:
        _bare(pages, fast)
    else:
        chunks = [pages[i::processes] for i in range(processes)]
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(partial(_bare, fast=fast), chunks))
    return len(pages) / (time.perf_counter() - start)


def pooled(before: float, after: float) -> float:
    """One rate from two passes over the same pages: both passes' pages over both's time."""
    return 2 / (1 / before + 1 / after)


def newsroom(n: int, base_url: str) -> tuple[dict[str, tuple[bytes, str]], list[tuple[str, bytes]]]:
    """Routes (path -> body, content type) and the (url, html) pages of the synthetic newsroom.

    Deterministic: the serving process and the measuring process build the same bytes.
    """
    from monitor.demo.pages import FEED_CONTENT_TYPES, render_article_page, render_feed
    from monitor.demo.synthetic import SYNTHETIC_OUTLETS, synthetic_articles

    articles = synthetic_articles(n, seed=7)
    outlets = {o.slug: o for o in SYNTHETIC_OUTLETS}
    routes: dict[str, tuple[bytes, str]] = {}
    pages: list[tuple[str, bytes]] = []
    for art in articles:
        html = render_article_page(
            outlets[art.outlet], art, pad_to_bytes=PAGE_BYTES, base_url=base_url
        )
        routes[art.path] = (html, "text/html; charset=utf-8")
        pages.append((base_url + art.path, html))
    for outlet in SYNTHETIC_OUTLETS:
        own = [a for a in articles if a.outlet == outlet.slug]
        feed = render_feed(outlet, own, base_url)
        routes[outlet.feed_path] = (feed, FEED_CONTENT_TYPES[outlet.feed_kind])
    return routes, pages


def serve(n: int, port: int, ready: Connection, stop: Connection) -> None:
    """Child process: serve the newsroom on 127.0.0.1:port until told to stop."""
    from monitor.demo.server import LocalServer, Route

    server = LocalServer(port=port).start()
    routes, _ = newsroom(n, server.base_url)
    for path, (body, content_type) in routes.items():
        server.table.set(path, Route(body=body, content_type=content_type))
    ready.send(True)
    stop.recv()
    server.stop()


def fork_server_cpu() -> float:
    """CPU seconds used so far by this process's extraction fork server (0 if there is none)."""
    own = os.getpid()
    for pid in _pids():
        if _parent(pid) == own and "forkserver" in _cmdline(pid):
            return _cpu_seconds(pid) or 0.0
    return 0.0


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent busy so far (Linux), to measure a run's CPU cost."""
    try:
        with Path("/proc/stat").open(encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(limit_s: float = 60.0) -> float:
    """Wait (at most ``limit_s``) until the machine is nearly idle: after a flow run, the Prefect
    server works through the run's events for a while, which would slow a measurement taken
    meanwhile. Returns the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        before = busy_cpu_seconds()
        time.sleep(1.0)
        after = busy_cpu_seconds()
        if before is None or after is None or after - before < 0.15:
            break
    return time.perf_counter() - start


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _parent(pid: int) -> int | None:
    """The parent process id of ``pid``, or None once it is gone."""
    fields = _stat(pid)
    return int(fields[1]) if fields is not None else None


def _cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used, or None once it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _pids() -> set[int]:
    return {int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}


class ProcessCpu:
    """CPU time per kind of process over a stretch of time (Linux; empty elsewhere).

    The pipeline's processes (this one, the extraction workers, the Prefect server, PostgreSQL's
    backends) are sampled every 0.1 s, so that a worker that exits during the stretch is counted
    up to its last tenth of a second. The sampler runs in this process, beside the flow: it
    reads only the processes it attributes (a handful of small files per sample) and names
    every other process once, so that its own cost stays out of the flow's figure. What the
    rest of the machine used is the machine's busy time minus the pipeline's.
    """

    # The fork server is the flow process's child; the workers are forked from it. It imports
    # and warms up trafilatura when it starts (before the cycle, see fork_server_cpu).
    FORK_SERVER = "extraction fork server (forks the workers)"
    WORKERS = "extraction workers"
    POSTGRES = "PostgreSQL backends serving the monitor's database"
    POSTGRES_SHARED = "PostgreSQL's shared processes (WAL writer, checkpointer, ...)"
    KINDS = (
        (WORKERS, "multiprocessing.forkserver"),
        (WORKERS, "multiprocessing.spawn"),
        ("Prefect server", "uvicorn"),
    )
    FLOW = "flow process (fetch, detection, Prefect client)"
    NEWSROOM = "newsroom server (not the pipeline's)"
    OTHER = "other processes (not the pipeline)"

    def __init__(self, own_pid: int, server_pid: int | None, database: str | None = None) -> None:
        self.enabled = Path("/proc/self/stat").exists()
        # A backend names its database in its title ("postgres: USER DATABASE HOST ..."): other
        # databases' backends on a shared server are other work, not the pipeline's.
        self._database = database
        self._fixed = {own_pid: self.FLOW}
        if server_pid is not None:
            self._fixed[server_pid] = self.NEWSROOM
        self._kind: dict[int, str] = {}  # pids named for good
        self._young: set[int] = set()  # started meanwhile: named again until attributed
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._busy0: float | None = None
        self._busy1: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _name(self, pid: int) -> str:
        fixed = self._fixed.get(pid)
        if fixed is not None:
            return fixed
        cmdline = _cmdline(pid)
        if cmdline.startswith("postgres: ") and self._database is not None:
            words = cmdline.split()[1:]
            if words and words[0].endswith(":"):
                words = words[1:]  # the cluster's name (Debian's "15/main:")
            client = len(words) >= 3 and ("(" in words[2] or words[2] == "[local]")
            if not client:
                return self.POSTGRES_SHARED
            return self.POSTGRES if words[1] == self._database else self.OTHER
        kind = next((kind for kind, mark in self.KINDS if mark in cmdline), self.OTHER)
        if kind == self.WORKERS and "forkserver" in cmdline:
            parent = _parent(pid)
            if parent is not None and self._fixed.get(parent) == self.FLOW:
                return self.FORK_SERVER
        return kind

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self._update()

    def _update(self) -> None:
        alive = _pids()
        self._young &= alive
        for pid in alive - self._kind.keys() - self._young:
            self._young.add(pid)  # a process started during the stretch (it used 0 s before)
            self._start[pid] = 0.0
        for pid in list(self._young):
            # A process forked from another shows its parent's command line until it execs.
            kind = self._name(pid)
            if kind != self.OTHER:
                self._kind[pid] = kind
                self._young.discard(pid)
        for pid, kind in self._kind.items():
            if kind != self.OTHER:
                used = _cpu_seconds(pid)
                if used is not None:  # an exited process keeps its last sample
                    self._last[pid] = used

    def __enter__(self) -> ProcessCpu:
        if self.enabled:
            self._busy0 = busy_cpu_seconds()
            for pid in _pids():
                self._kind[pid] = self._name(pid)
                if self._kind[pid] != self.OTHER:
                    self._start[pid] = self._last[pid] = _cpu_seconds(pid) or 0.0
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._update()
            self._busy1 = busy_cpu_seconds()

    def by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, used in self._last.items():
            spent = used - self._start.get(pid, 0.0)
            if spent > 0.005:
                totals[self._kind[pid]] = totals.get(self._kind[pid], 0.0) + spent
        busy = self.machine_busy()
        if busy is not None:
            rest = busy - sum(totals.values())
            if rest > 0.005:
                totals[self.OTHER] = rest
        return totals

    def machine_busy(self) -> float | None:
        """CPU seconds the whole machine was busy over the stretch (None where unknown)."""
        if self._busy0 is None or self._busy1 is None:
            return None
        return self._busy1 - self._busy0


def monitor_setup(base_url: str, workers: int) -> Path:
    """A config watching the synthetic newsroom at ``base_url`` (one topic, no channels) in a
    new data directory, and the environment a cycle reads; returns the config file."""
    from monitor.demo.synthetic import SYNTHETIC_OUTLETS

    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    config: dict[str, Any] = {
        "sources": [{"name": o.name, "url": base_url + o.feed_path} for o in SYNTHETIC_OUTLETS],
        "topics": [{"name": "bench", "query": "council OR harbour OR budget"}],
        "channels": [],
    }
    config_path = tmp / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ.update(
        {
            "MONITOR_DATA_DIR": str(tmp),
            "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
            "MONITOR_EXTRACTION__WORKERS": str(workers),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    from monitor.cli import prefect_defaults

    prefect_defaults()  # as `monitor run` does: the first serverless start on a new machine is slow
    return config_path


class StatementCount:
    """Statements this process sends to the monitor's database (SQLAlchemy's
    ``before_cursor_execute`` on every engine of that database) while installed."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.dialect = url.get_backend_name()
        self.database = url.database
        self.count = 0

    def _seen(self, conn: Any, *args: Any) -> None:
        url = conn.engine.url
        if url.get_backend_name() == self.dialect and url.database == self.database:
            self.count += 1

    def __enter__(self) -> StatementCount:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "before_cursor_execute", self._seen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="article pages (default 500)")
    parser.add_argument("--workers", type=int, default=2, help="extraction processes")
    args = parser.parse_args()

    from monitor.demo.synthetic import SYNTHETIC_OUTLETS

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop_recv, stop_send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(args.n, port, ready_send, stop_recv), daemon=True)
    server.start()
    _, pages = newsroom(args.n, base_url)
    if not ready_recv.poll(120):
        print("the newsroom server did not start", file=sys.stderr)
        return 1
    sizes = sorted(len(h) for _, h in pages)
    print(
        f"{len(pages)} pages, size min {sizes[0] // 1024} KB, median "
        f"{sizes[len(sizes) // 2] // 1024} KB, {len(SYNTHETIC_OUTLETS)} feeds",
        flush=True,
    )

    config_path = monitor_setup(base_url, args.workers)
    from monitor.cli import start_extraction
    from monitor.config import get_settings

    t0 = time.perf_counter()
    start_extraction(get_settings())  # as `monitor run` does, before Prefect starts
    from flows.cycle import run_cycle
    from prefect import flow

    @flow
    def warm_up() -> int:
        return 1

    warm_up()  # starts the serverless Prefect API once, outside the measurement
    # The database is created once in a deployment's life, not every cycle: like the Prefect
    # start, outside the measurement (the cycle still checks that it is at head).
    from monitor.storage.db import make_engine, upgrade

    engine = make_engine(get_settings().resolved_database_url())
    upgrade(engine)
    engine.dispose()
    startup = time.perf_counter() - t0

    # Bare single-process extraction runs before and after the cycle and the two are pooled:
    # a shared machine's speed drifts over a minute, and one measurement on one side of the
    # cycle made the ratio swing with it (0.64 to 0.92 on the same code).
    cpu0 = time.process_time()
    bare1_before = bare_throughput(pages, 1)
    cpu_before = time.process_time() - cpu0
    fast1_before = bare_throughput(pages, 1, fast=True)
    bare_p = bare_throughput(pages, args.workers)
    fork_cpu = fork_server_cpu()  # its start, done before the cycle
    t0 = time.perf_counter()
    statements = StatementCount(get_settings().resolved_database_url())
    database = statements.database if statements.dialect == "postgresql" else None
    with ProcessCpu(os.getpid(), server.pid, database) as per_process, statements:
        report = run_cycle(config_path=str(config_path))
        cycle_s = time.perf_counter() - t0
    cycle = report["articles_stored"] / cycle_s
    quiet_wait = wait_until_quiet()
    cpu0 = time.process_time()
    bare1_after = bare_throughput(pages, 1)
    cpu_after = time.process_time() - cpu0
    fast1 = pooled(fast1_before, bare_throughput(pages, 1, fast=True))
    bare1_cpu = (cpu_before + cpu_after) / (2 * len(pages))  # seconds of CPU per page
    bare1 = pooled(bare1_before, bare1_after)
    stop_send.send(True)
    server.join(10)

    print(
        f"prefect start, database creation, extraction fork server start (not measured below): "
        f"{startup:.1f} s; the fork server's start took {fork_cpu:.2f} s CPU"
    )
    print(
        f"bare trafilatura, 1 process:        {bare1:7.1f} articles/s "
        f"({bare1_before:.1f} before the cycle, {bare1_after:.1f} after, once the machine was "
        f"quiet again: {quiet_wait:.0f} s)"
    )
    print(f"bare trafilatura, {args.workers} processes:      {bare_p:7.1f} articles/s")
    print(f"bare trafilatura, fast mode, 1 process: {fast1:7.1f} articles/s")
    print(
        f"full cycle ({report['articles_stored']} stored, {report['new_stories']} stories, "
        f"{report['alerts_created']} alerts): {cycle:7.1f} articles/s in {cycle_s:.1f} s"
    )
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in report["stage_seconds"].items()))
    inside = (
        datetime.fromisoformat(report["finished_at"]) - datetime.fromisoformat(report["started_at"])
    ).total_seconds()
    print(
        f"cycle work inside the flow: {inside:.2f} s; the rest, {cycle_s - inside:.2f} s, is the "
        "flow run's start and finish (settings, database check, Prefect run records, summary "
        "artifact)"
    )
    print(
        f"database statements during the cycle ({statements.dialect}): {statements.count}, "
        f"{statements.count / max(1, report['articles_stored']):.1f} per stored article"
    )
    used = per_process.machine_busy()
    if used is not None:
        available = cycle_s * (os.cpu_count() or 1)
        per_article = 1000 * used / max(1, report["articles_stored"])
        print(
            f"machine CPU busy during the cycle: {used:.1f} s of {available:.1f} s available "
            f"({per_article:.1f} ms/article, all processes, the newsroom server's included)"
        )
    stored = max(1, report["articles_stored"])
    for kind, used in sorted(per_process.by_kind().items(), key=lambda kv: -kv[1]):
        print(f"  {kind}: {used:.2f} s CPU, {1000 * used / stored:.1f} ms/article")
    pipeline = sum(
        used
        for kind, used in per_process.by_kind().items()
        # PostgreSQL's shared processes serve every database of the server (on a shared
        # machine, other work's too): printed, but not counted as the cycle's.
        if kind not in (ProcessCpu.OTHER, ProcessCpu.NEWSROOM, ProcessCpu.POSTGRES_SHARED)
    )
    if pipeline > 0:
        # With every core busy on pipeline work, the cycle stores cores / (CPU per article)
        # articles per second; bare-1 extracts 1 / (its CPU per page) on one core.
        cores = os.cpu_count() or 1
        ceiling = cores * bare1_cpu * stored / pipeline
        print(
            f"bare trafilatura CPU {1000 * bare1_cpu:.1f} ms/page; the cycle's processes "
            f"{1000 * pipeline / stored:.1f} ms/article ({pipeline / stored / bare1_cpu:.1f}x); "
            f"on {cores} cores fully busy, cycle / bare-1 is at most {ceiling:.2f}"
        )
    print(f"ratio cycle / bare-1: {cycle / bare1:.2f}   (target >= 0.85)")
    print(
        f"ratio cycle / fast-1: {cycle / fast1:.2f}   (the cycle extracts with "
        f"fallbacks={get_settings().extraction.fallbacks}: like for like, this is what the rest "
        "of the pipeline costs)"
    )
    print(
        f"ratio cycle / bare-{args.workers}: {cycle / bare_p:.2f}   (extraction alone on every "
        "core: the cycle shares those cores with fetching, detection and Prefect)"
    )
    if report["articles_stored"] != len(pages):
        print(f"WARNING: stored {report['articles_stored']} of {len(pages)} pages", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
