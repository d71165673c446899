"""A manual cycle's cost on the embedded default: ``monitor run`` as a user runs it, beside the
cycle's own duration.

One source on a local server, a fresh SQLite data directory, no Prefect server configured. A
first cycle stores the feed's articles (warm-up, not measured); then each measured run is a real
``monitor run --config X --json`` subprocess:

  quiet       the feed answers 304 to the conditional request (nothing new)
  refused     the source's port refuses the connection

each twice: as ``monitor run`` runs by default, and with ``--prefect`` (a Prefect flow run with
its temporary server, which was the only way before). For each it prints the wall time and CPU
of the whole command (every process it started, reaped here), the cycle's own duration from its
report (started/finished) and the ratio of the two. For context: ``python -c "import prefect"``,
``python -c "import monitor.cli"`` and ``monitor check`` on the same config.

On a shared machine the wall times follow the other load; ``--nice -20`` (as root) runs the
measured commands at the highest priority, which comes close to an idle machine's wall times
for them (CPU times are the same either way).

Usage: ``.venv/bin/python bench/bench_quick_run.py [--repeat 3] [--nice -20]``
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import yaml

from monitor.demo.server import LocalServer, Route

_PR_SET_CHILD_SUBREAPER = 36
_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Harbour Gazette</title><link>{base}/</link>
<description>Local news</description>
{items}
</channel></rss>
"""
_ITEM = """<item><title>{title}</title><link>{base}/news/{n}</link><guid>{base}/news/{n}</guid>
<pubDate>Mon, 0{n} Jun 2026 08:00:00 +0000</pubDate><description>{title}</description></item>"""
_PAGE = """<html><head><title>{title}</title></head><body><article><h1>{title}</h1>
{paragraphs}</article></body></html>"""


def _newsroom(server: LocalServer) -> None:
    """A feed of three fictional articles with their pages; the feed has an ETag (304 later)."""
    titles = [
        "Harbour council approves the new ferry timetable",
        "Storm closes the coastal road for a second night",
        "Lighthouse museum reopens after two years of repairs",
    ]
    items = []
    for n, title in enumerate(titles, 1):
        items.append(_ITEM.format(base=server.base_url, n=n, title=title))
        text = " ".join(f"{title}, sentence {i} of the report from the harbour." for i in range(12))
        page = _PAGE.format(title=title, paragraphs=f"<p>{text}</p>" * 4)
        server.table.set(f"/news/{n}", Route(body=page.encode()))
    feed = _RSS.format(base=server.base_url, items="\n".join(items))
    server.table.set("/feed.xml", Route(body=feed.encode(), content_type="application/rss+xml"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(path: Path, url: str) -> Path:
    config = {
        "sources": [{"name": "Harbour Gazette", "url": url}],
        "topics": [{"name": "Harbour", "query": "harbour OR ferry"}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Measured:
    wall_s: float  # until the command exits
    cpu_s: float  # user + system of the command and every process it started
    exit_code: int
    stdout: str
    stderr: str


def _measure(argv: Sequence[str], env: dict[str, str]) -> Measured:
    """Run ``argv``; its wall time, and the CPU of it and of all its descendants: this process
    is their subreaper, so orphans (a fork server, a server's children) are reaped here too."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        return _measure_to(argv, env, out, err)


def _measure_to(
    argv: Sequence[str], env: dict[str, str], out: IO[bytes], err: IO[bytes]
) -> Measured:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, preexec_fn=_renice
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    cpu = usage.ru_utime + usage.ru_stime
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the orphans left: they end with their parent
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
            continue
        cpu += usage.ru_utime + usage.ru_stime
    else:
        print(f"warning: processes left running after {argv[:3]}", file=sys.stderr)
    out.seek(0)
    err.seek(0)
    return Measured(wall, cpu, proc.returncode, out.read().decode(), err.read().decode())


_NICE = [0]  # the --nice increment of measured commands


def _renice() -> None:
    if _NICE[0]:
        os.nice(_NICE[0])


def _cycle_seconds(stdout: str) -> float:
    report = json.loads(stdout)
    started = datetime.fromisoformat(report["started_at"])
    finished = datetime.fromisoformat(report["finished_at"])
    return (finished - started).total_seconds()


def _row(name: str, runs: list[Measured], cycles: list[float] | None) -> str:
    wall = statistics.median(r.wall_s for r in runs)
    cpu = statistics.median(r.cpu_s for r in runs)
    spread = f"{min(r.wall_s for r in runs):5.2f}-{max(r.wall_s for r in runs):5.2f}"
    line = f"{name:<34} wall {wall:6.2f} s ({spread})  cpu {cpu:6.2f} s"
    if cycles:
        cycle = statistics.median(cycles)
        line += f"  cycle {cycle:5.2f} s  wall/cycle {wall / cycle:6.1f}x"
    return line


def _run_cycles(
    name: str, argv: list[str], env: dict[str, str], repeat: int, expect: dict[str, int]
) -> tuple[list[Measured], list[float]]:
    runs: list[Measured] = []
    cycles: list[float] = []
    for _ in range(repeat):
        m = _measure(argv, env)
        if m.exit_code != 0:
            raise SystemExit(f"{name}: exit {m.exit_code}\n{m.stderr[-3000:]}")
        report = json.loads(m.stdout)
        for key, value in expect.items():
            if report[key] != value:
                raise SystemExit(f"{name}: {key} = {report[key]}, expected {value}")
        runs.append(m)
        cycles.append(_cycle_seconds(m.stdout))
    return runs, cycles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured runs of each command")
    parser.add_argument(
        "--modes",
        default="default,prefect",
        help="default: `monitor run`; prefect: `monitor run --prefect` (comma-separated)",
    )
    parser.add_argument(
        "--nice", type=int, default=0, help="niceness increment of the measured commands"
    )
    args = parser.parse_args()
    _NICE[0] = args.nice

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("warning: not a subreaper; orphans' CPU is not counted", file=sys.stderr)

    bindir = Path(sys.executable).parent
    monitor = str(bindir / "monitor")
    python = sys.executable
    with (
        tempfile.TemporaryDirectory(prefix="bench-quick-run-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        root = Path(tmp)
        server = LocalServer().start()
        stack.callback(server.stop)
        _newsroom(server)
        quiet = _config(root / "quiet.yaml", server.url("/feed.xml"))
        refused = _config(root / "refused.yaml", f"http://127.0.0.1:{_closed_port()}/feed.xml")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MONITOR_", "PREFECT_API_URL", "PREFECT_PROFILE"))
            # as on a user's machine: Python caches compiled modules
            and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            {
                "MONITOR_DATA_DIR": str(root / "data"),
                "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
                # Prefect's own home and database here, not the user's.
                "PREFECT_HOME": str(root / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600",
            }
        )
        # Warm-up, not measured: the Prefect temporary server's database is created (its first
        # start migrates it, which takes minutes on a busy machine), the monitor database is
        # created and the feed's articles stored.
        upgrade = _measure([str(bindir / "prefect"), "server", "database", "upgrade", "-y"], env)
        if upgrade.exit_code != 0:
            raise SystemExit(f"prefect database upgrade: {upgrade.stderr[-3000:]}")
        first = _measure([monitor, "run", "--config", str(quiet), "--json"], env)
        if first.exit_code != 0:
            raise SystemExit(f"first cycle: exit {first.exit_code}\n{first.stderr[-3000:]}")
        stored = json.loads(first.stdout)["articles_stored"]
        print(f"first cycle: {stored} articles stored, wall {first.wall_s:.2f} s")
        modes = [
            (name, extra)
            for name, extra in (("monitor run", []), ("monitor run --prefect", ["--prefect"]))
            if ("prefect" if extra else "default") in args.modes.split(",")
        ]
        if any(extra for _, extra in modes):
            warm = _measure([monitor, "run", "--prefect", "--config", str(quiet), "--json"], env)
            print(f"first --prefect cycle (Prefect database created): wall {warm.wall_s:.2f} s")

        quiet_expect = {"sources_not_modified": 1, "pages_fetched": 0, "sources_failed": 0}
        refused_expect = {"sources_failed": 1, "pages_fetched": 0}
        rows: list[str] = []
        for label, path, expect in (
            ("quiet", quiet, quiet_expect),
            ("refused", refused, refused_expect),
        ):
            for mode, extra in modes:
                argv = [monitor, "run", *extra, "--config", str(path), "--json"]
                runs, cycles = _run_cycles(f"{mode} {label}", argv, env, args.repeat, expect)
                rows.append(_row(f"{mode} ({label})", runs, cycles))
                print(rows[-1], flush=True)
        context = (
            ('python -c "import prefect"', [python, "-c", "import prefect"]),
            ('python -c "import monitor.cli"', [python, "-c", "import monitor.cli"]),
            ("monitor check (quiet)", [monitor, "check", "--config", str(quiet)]),
        )
        for name, argv in context:
            runs = [_measure(argv, env) for _ in range(args.repeat)]
            print(_row(name, runs, None), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
