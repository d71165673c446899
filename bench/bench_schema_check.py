"""The schema check every cycle starts with, in a fresh process, as a scheduled cycle runs.

Every cycle calls :func:`monitor.storage.db.upgrade` first; on a database already at head that
is a check, not a migration. Each measured run is a new Python process that imports
``monitor.storage.db`` and calls ``upgrade`` on a SQLite database at head, and reports the CPU
and wall time from before that import to the call's return (the interpreter's own start is left
out). With ``--other-src`` the same runs alternate with another checkout's ``src`` directory
(e.g. the previous commit from ``git archive``), so both are measured in one run; the script
prints medians and their ratio, and what the difference is per day at a cycle every 15 minutes.

    .venv/bin/python bench/bench_schema_check.py --repeat 10
    .venv/bin/python bench/bench_schema_check.py --repeat 10 --other-src /tmp/base/src
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

HERE = Path(__file__).resolve().parents[1] / "src"
CYCLES_PER_DAY = 24 * 4  # one every 15 minutes

_PROBE = """
import json, sys, time
cpu, wall = time.process_time(), time.perf_counter()
from monitor.storage.db import make_engine, upgrade
engine = make_engine(sys.argv[1])
upgrade(engine)
print(json.dumps({"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall,
                  "alembic": "alembic" in sys.modules}))
"""


def run(src: Path, url: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, url], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--other-src", type=Path, default=None, help="another checkout's src")
    args = parser.parse_args()
    sources = {"this checkout": HERE}
    if args.other_src is not None:
        sources["other"] = args.other_src.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/at-head.db"
        for src in sources.values():
            run(src, url)  # migrate to head; also warms the bytecode cache
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sources}
        for _ in range(args.repeat):  # interleaved: the machine's speed drifts
            for name, src in sources.items():
                runs[name].append(run(src, url))
    cpu = {}
    for name, measured in runs.items():
        cpu[name] = statistics.median(r["cpu_s"] for r in measured)
        wall = statistics.median(r["wall_s"] for r in measured)
        alembic = {bool(r["alembic"]) for r in measured}
        print(
            f"{name:14s} import + upgrade at head: CPU {cpu[name] * 1000:6.1f} ms, wall "
            f"{wall * 1000:6.1f} ms (median of {len(measured)}); Alembic imported: {alembic}; "
            f"per day at a cycle every 15 minutes: {cpu[name] * CYCLES_PER_DAY:.1f} s of CPU"
        )
    if "other" in cpu:
        print(f"CPU this / other: {cpu['this checkout'] / cpu['other']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
