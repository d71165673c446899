"""Extraction workers' start: with and without the fork server preloading the main's imports.

A worker process first runs its parent's main module again. This benchmark starts a fresh
process for each way the cycle runs and measures, from the moment the cycle's pool is asked
for its workers, how long until they answer, the CPU they used and the memory they hold
alone (not shared with the fork server or each other):

  monitor run        a script main that imports the CLI, like the ``monitor`` console script,
                     with the fork server started ahead (``monitor run`` starts it first)
  deployment run     ``python -m prefect.engine``, how Prefect runs a deployment's or
                     ``flow.serve``'s flow run; the fork server starts with the flow

each once as shipped and once with the preload of the main's imports turned off, and prints
the ratios. The fork server's CPU is its whole start (trafilatura's warm-up and the preload);
for ``monitor run`` that happens while Prefect starts, before the cycle.

Usage: ``.venv/bin/python bench/bench_worker_start.py [--repeat 3]``
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
    if os.environ.get("BENCH_NO_PRELOAD"):
        pool.main_imports = lambda: []
    if os.environ.get("BENCH_START_AHEAD"):
        pool.start_fork_server()
        time.sleep(float(os.environ["BENCH_START_AHEAD"]))
    started = time.perf_counter()
    pool.start_early(2)
    with pool.Extractor(2) as extractor:
        extractor.start()
        extractor._get_pool()
        ready = time.perf_counter() - started
        extractor_pids = list(extractor._pool._processes)
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


def run(where: Path, mode: str, preload: bool) -> dict[str, float]:
    # the measuring code uses bench_throughput's /proc readers: this directory on the path
    bench = str(Path(__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(where), bench, *sys.path[1:]]))
    env.pop("BENCH_NO_PRELOAD", None)
    if not preload:
        env["BENCH_NO_PRELOAD"] = "1"
    if mode == "monitor run":
        env["BENCH_START_AHEAD"] = "3"
        command = [sys.executable, str(where / "monitor_like.py")]
    else:
        command = [sys.executable, "-m", "engine_like"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=where)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(mode: str, runs: dict[bool, list[dict[str, float]]]) -> None:
    # For `monitor run` the fork server's start is outside the cycle (it overlaps Prefect's).
    counts_server = mode != "monitor run"
    ready: dict[bool, float] = {}
    cpu: dict[bool, float] = {}
    for preload in (False, True):
        ready[preload] = statistics.median(r["ready_s"] for r in runs[preload])
        workers = statistics.median(r["workers_cpu_s"] for r in runs[preload])
        server = statistics.median(r["server_cpu_s"] for r in runs[preload])
        private = statistics.median(r["workers_private_mb"] for r in runs[preload])
        cpu[preload] = workers + (server if counts_server else 0.0)
        label = "main's imports preloaded" if preload else "workers import them"
        print(
            f"{mode:15s} {label:24s}: workers ready in {ready[preload]:5.2f} s, their CPU "
            f"{workers:5.2f} s, the fork server's {server:5.2f} s; workers' private memory "
            f"{private:4.0f} MB"
        )
    counted = "workers' and fork server's" if counts_server else "workers'"
    print(
        f"{mode:15s} preloaded / not: {counted} CPU {cpu[True] / cpu[False]:.2f}, "
        f"time to ready {ready[True] / ready[False]:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        (where / "monitor_like.py").write_text(_SCRIPT_MAIN, encoding="utf-8")
        (where / "engine_like.py").write_text(_MODULE_MAIN, encoding="utf-8")
        for mode in ("monitor run", "deployment run"):
            runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for _ in range(args.repeat):  # interleaved: the machine's speed drifts
                for preload in (False, True):
                    runs[preload].append(run(where, mode, preload))
            report(mode, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
