"""Peak memory of the flow process for a cycle of N new articles and of 4N, measured in one run.

Each cycle runs in a fresh process (peak RSS is a high-water mark) against the synthetic newsroom
of ``bench_throughput.py`` served from another process, on a new SQLite database. The newsroom,
the Prefect server and the extraction workers are other processes and are not counted. A cycle
holds only the batches in flight, so the peak should grow far more slowly than the cycle:

    .venv/bin/python bench/bench_memory.py               # 500 and 2000 articles
    .venv/bin/python bench/bench_memory.py --n 1000      # 1000 and 4000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_throughput import free_port, monitor_setup, serve


def one_cycle(n: int) -> dict[str, Any]:
    """Run one cycle of ``n`` new articles in this process; its peak RSS and what it stored."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    ctx = multiprocessing.get_context("spawn")
    ready_recv, ready_send = ctx.Pipe(duplex=False)
    stop_recv, stop_send = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(n, port, ready_send, stop_recv), daemon=True)
    server.start()
    if not ready_recv.poll(300):
        raise RuntimeError("the newsroom server did not start")
    config_path = monitor_setup(base_url, workers=2)
    from flows.cycle import run_cycle

    report = run_cycle(config_path=str(config_path))
    stop_send.send(True)
    server.join(10)
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    return {"n": n, "stored": report["articles_stored"], "peak_mb": peak / 2**20}


def measure(n: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(n)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )
    if done.returncode != 0:
        raise RuntimeError(f"cycle of {n} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="the smaller cycle (default 500)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # flows/
        print(json.dumps(one_cycle(args.one)))
        return 0
    small, large = measure(args.n), measure(4 * args.n)
    for r in (small, large):
        stored = f"{r['stored']} stored"
        print(f"cycle of {r['n']:>5} new articles ({stored}): peak {r['peak_mb']:.0f} MB")
    growth = (large["peak_mb"] - small["peak_mb"]) / (large["n"] - small["n"]) * 1000
    print(f"peak grows {growth:.0f} MB per 1,000 more articles in the cycle")
    print(
        f"ratio peak {large['n']} / peak {small['n']}: {large['peak_mb'] / small['peak_mb']:.2f} "
        f"(the cycle is 4x larger)"
    )
    ok = small["stored"] == small["n"] and large["stored"] == large["n"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
