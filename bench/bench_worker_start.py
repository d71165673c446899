"""Extraction workers' start, in a fresh process for each way the cycle runs.

A worker process first runs its parent's main module again. This benchmark starts a fresh
process for each way the cycle runs and measures, from the moment the cycle's pool is asked
for its workers, how long until they answer, the CPU they used and the memory they hold
alone (not shared with the fork server or each other):

  monitor run        a script main that imports the CLI, like the ``monitor`` console script,
                     with the fork server started ahead (``monitor run`` starts it first)
  deployment run     ``python -m prefect.engine``, how Prefect runs a deployment's or
                     ``flow.serve``'s flow run; the fork server starts with the flow

With ``--other-src`` each is measured, interleaved, with this checkout's ``src`` and with
another's (e.g. the previous commit from ``git archive``), and the ratios are printed. The fork
server's CPU is its whole start (trafilatura's warm-up and whatever else it preloads); for
``monitor run`` that happens while Prefect starts, before the cycle. (Until 2026-12-04 the fork
server also imported what the main module imports, found by reading the main script; this
benchmark compared that with and without, see docs/performance.md.)

Usage: ``.venv/bin/python bench/bench_worker_start.py [--repeat 3] [--other-src DIR/src]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# The measuring code run inside each fresh process (as its main module's body).
_PROBE = """
import json, os, time
import monitor.extract_pool as pool

def _private_mb(pid):
    # memory only this process holds (not shared with the fork server or its siblings)
    total = 0
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1])
    return total / 1024

def measure():
    # imported here, not at the top: a worker that runs this module again must not load it
    from bench_throughput import _cpu_seconds as _cpu
    if os.environ.get("BENCH_START_AHEAD"):
        pool.start_fork_server()
        time.sleep(float(os.environ["BENCH_START_AHEAD"]))
    started = time.perf_counter()
    pool.start_early(2)
    with pool.Extractor(2) as extractor:
        extractor.start()
        extractor._get_pool()
        ready = time.perf_counter() - started
        # pebble keeps its workers by pid
        extractor_pids = list(extractor._pool._pool_manager.worker_manager.workers)
        workers = sum(_cpu(pid) for pid in extractor_pids)
        private = sum(_private_mb(pid) for pid in extractor_pids)
    from multiprocessing import forkserver
    server = _cpu(forkserver._forkserver._forkserver_pid)
    print(json.dumps({"ready_s": ready, "workers_cpu_s": workers, "server_cpu_s": server,
                      "workers_private_mb": private}))
"""

_SCRIPT_MAIN = (
    "import sys\nfrom monitor.cli import main\n"
    + _PROBE
    + ("\nif __name__ == '__main__':\n    measure()\n")
)
_MODULE_MAIN = "import prefect.engine\n" + _PROBE + "\nif __name__ == '__main__':\n    measure()\n"


HERE = Path(__file__).resolve().parents[1] / "src"


def run(where: Path, mode: str, src: Path) -> dict[str, float]:
    # the measuring code uses bench_throughput's /proc readers: this directory on the path
    bench = str(Path(__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(where), bench, str(src)]))
    if mode == "monitor run":
        env["BENCH_START_AHEAD"] = "3"
        command = [sys.executable, str(where / "monitor_like.py")]
    else:
        command = [sys.executable, "-m", "engine_like"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=where)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(mode: str, runs: dict[str, list[dict[str, float]]]) -> None:
    # For `monitor run` the fork server's start is outside the cycle (it overlaps Prefect's).
    counts_server = mode != "monitor run"
    ready: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, measured in runs.items():
        ready[name] = statistics.median(r["ready_s"] for r in measured)
        workers = statistics.median(r["workers_cpu_s"] for r in measured)
        server = statistics.median(r["server_cpu_s"] for r in measured)
        private = statistics.median(r["workers_private_mb"] for r in measured)
        cpu[name] = workers + (server if counts_server else 0.0)
        print(
            f"{mode:15s} {name:14s}: workers ready in {ready[name]:5.2f} s, their CPU "
            f"{workers:5.2f} s, the fork server's {server:5.2f} s; workers' private memory "
            f"{private:4.0f} MB"
        )
    if "other" in runs:
        counted = "workers' and fork server's" if counts_server else "workers'"
        print(
            f"{mode:15s} this / other: {counted} CPU "
            f"{cpu['this checkout'] / cpu['other']:.2f}, time to ready "
            f"{ready['this checkout'] / ready['other']:.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--other-src", type=Path, default=None, help="another checkout's src")
    args = parser.parse_args()
    sources = {"this checkout": HERE}
    if args.other_src is not None:
        sources["other"] = args.other_src.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        (where / "monitor_like.py").write_text(_SCRIPT_MAIN, encoding="utf-8")
        (where / "engine_like.py").write_text(_MODULE_MAIN, encoding="utf-8")
        for mode in ("monitor run", "deployment run"):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in sources}
            for _ in range(args.repeat):  # interleaved: the machine's speed drifts
                for name, src in sources.items():
                    runs[name].append(run(where, mode, src))
            report(mode, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
