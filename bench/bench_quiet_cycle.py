"""Many sources: a quiet cycle's cost beside bare conditional GETs, and a first cycle's
throughput with many sources beside a few.

All on a local HTTP server, each measured command a real ``monitor run --config X --json``
subprocess on a fresh SQLite data directory (no Prefect server), as a user runs it.

**Quiet cycles** (``--feeds 1000,10000``): N feeds, each listing one entry (all the same page,
so the warm-up cycle fetches one page); after that warm-up every feed answers 304 to the
conditional GET. Printed for each N: the quiet cycle's wall time and CPU (the command and every
process it started), the same for a one-feed quiet cycle (the fixed cost: interpreter, imports,
schema check), the **marginal** cost (N feeds minus one), and **bare** conditional GETs of the
same N URLs with httpx at the same concurrency, in a subprocess of their own (its wall time for
the requests only, and its CPU in all). Ratios: marginal wall / bare wall, and how the marginal
cost grows from the smallest N to the largest (linear growth gives the ratio of the Ns).

**First cycle** (``--articles 500``): the same number of new articles from many feeds (one
article each) and from a few (``--few`` feeds): articles per second of each first cycle, and
their ratio.

``MONITOR_HTTP__MAX_CONNECTIONS`` and ``__MAX_PER_HOST`` are both set to ``--concurrency`` (the
server is one host), and the bare client uses the same bound.

Usage: ``.venv/bin/python bench/bench_quiet_cycle.py [--feeds 1000,10000] [--articles 500]
[--adaptive]`` (``--adaptive``: also a quiet cycle with adaptive polling, after one that set
every source's next poll)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench_quick_run import Measured, _cycle_seconds, _measure
from monitor.demo.server import LocalServer, Route

_RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Feed {n}</title>'
    "<link>{base}/</link><description>x</description>{items}</channel></rss>"
)
_ITEM = (
    "<item><title>{title}</title><link>{base}{path}</link><guid>{base}{path}</guid>"
    "<pubDate>Mon, 01 Jun 2026 {hh:02d}:{mm:02d}:00 +0000</pubDate></item>"
)
_PAGE = (
    "<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}"
    "</article></body></html>"
)
_PLACES = ["Tarrow", "Kell", "Marrowick", "Fenwick", "Carrow", "Ostby", "Pellham", "Varga"]
_THINGS = ["ferry", "quay", "school", "bridge", "market", "library", "harbour", "museum"]


def _page(n: int) -> tuple[str, bytes]:
    place, thing = _PLACES[n % 8], _THINGS[(n // 8) % 8]
    title = f"{place} council votes on the {thing}, case {n}"
    sentences = " ".join(
        f"The {thing} in {place} was discussed for the {k}th time at meeting {n}, "
        f"said councillor number {n % 97 + k}."
        for k in range(1, 13)
    )
    return title, _PAGE.format(title=title, body=f"<p>{sentences}</p>" * 3).encode()


def _feed(server: LocalServer, n: int, entries: list[tuple[str, str]]) -> str:
    items = "".join(
        _ITEM.format(title=t, base=server.base_url, path=p, hh=(i // 60) % 24, mm=i % 60)
        for i, (t, p) in enumerate(entries)
    )
    path = f"/f/{n}.xml"
    body = _RSS.format(n=n, base=server.base_url, items=items).encode()
    server.table.set(path, Route(body=body, content_type="application/rss+xml"))
    return server.url(path)


def _config(path: Path, urls: list[str]) -> Path:
    config: dict[str, Any] = {
        "sources": [{"name": f"feed {i}", "url": u} for i, u in enumerate(urls)],
        "topics": [{"name": "Councils", "query": "council"}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(monitor: str, config: Path, env: dict[str, str], what: str) -> tuple[Measured, dict]:
    m = _measure([monitor, "run", "--config", str(config), "--json"], env)
    if m.exit_code != 0:
        raise SystemExit(f"{what}: exit {m.exit_code}\n{m.stderr[-3000:]}")
    return m, json.loads(m.stdout)


def _bare(urls: list[str], concurrency: int, env: dict[str, str], root: Path) -> Measured:
    listing = root / "urls.json"
    listing.write_text(json.dumps(urls))
    argv = [sys.executable, __file__, "--bare", str(listing), "--concurrency", str(concurrency)]
    m = _measure(argv, env)
    if m.exit_code != 0:
        raise SystemExit(f"bare GETs: {m.stderr[-3000:]}")
    return m


async def _bare_gets(urls: list[str], concurrency: int) -> float:
    """Learn each URL's ETag, then time conditional GETs of all of them (all must be 304)."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        etags: dict[str, str] = {}

        async def learn(url: str) -> None:
            async with slots:
                etags[url] = (await client.get(url)).headers["etag"]

        await asyncio.gather(*(learn(u) for u in urls))
        started = time.perf_counter()

        async def conditional(url: str) -> int:
            async with slots:
                return (await client.get(url, headers={"If-None-Match": etags[url]})).status_code

        statuses = await asyncio.gather(*(conditional(u) for u in urls))
        elapsed = time.perf_counter() - started
    if set(statuses) != {304}:
        raise SystemExit(f"bare GETs: statuses {sorted(set(statuses))}")
    return elapsed


def _median(values: list[float]) -> float:
    return statistics.median(values)


def quiet_cycles(args: argparse.Namespace, monitor: str, env: dict[str, str], root: Path) -> None:
    sizes = [int(n) for n in args.feeds.split(",")]
    server = LocalServer().start()
    marginal: dict[int, float] = {}
    try:
        title, body = _page(0)
        server.table.set("/news/shared", Route(body=body))
        urls = [_feed(server, n, [(title, "/news/shared")]) for n in range(max(sizes))]
        one = _config(root / "one.yaml", urls[:1])
        for n in sizes:
            data = root / f"quiet-{n}"
            run_env = {**env, "MONITOR_DATA_DIR": str(data)}
            config = _config(root / f"quiet-{n}.yaml", urls[:n])
            warm, report = _run(monitor, config, run_env, f"warm-up {n}")
            print(
                f"{n} feeds, warm-up cycle: wall {warm.wall_s:.1f} s, "
                f"{report['articles_stored']} stored",
                flush=True,
            )
            walls, cpus, cycles, fixed_walls, fixed_cpus = [], [], [], [], []
            for _ in range(args.repeat):
                m, report = _run(monitor, config, run_env, f"quiet {n}")
                if report["sources_not_modified"] != n:
                    raise SystemExit(f"quiet {n}: {report['sources_not_modified']} not modified")
                walls.append(m.wall_s)
                cpus.append(m.cpu_s)
                cycles.append(_cycle_seconds(m.stdout))
                f, _ = _run(monitor, one, run_env, "one feed")
                fixed_walls.append(f.wall_s)
                fixed_cpus.append(f.cpu_s)
            bare = [_bare(urls[:n], args.concurrency, env, root) for _ in range(args.repeat)]
            bare_wall = _median([float(b.stdout) for b in bare])
            marginal[n] = _median(walls) - _median(fixed_walls)
            if args.adaptive:
                adaptive_env = {**run_env, "MONITOR_POLLING__ADAPTIVE": "true"}
                _run(monitor, config, adaptive_env, f"adaptive warm-up {n}")  # sets next polls
                a, report = _run(monitor, config, adaptive_env, f"adaptive quiet {n}")
                print(
                    f"{n} feeds, adaptive polling (next polls set by the cycle before): "
                    f"wall {a.wall_s:.2f} s  cpu {a.cpu_s:.2f} s, "
                    f"{report['sources_polled']} polled, {report['sources_deferred']} not due",
                    flush=True,
                )
            print(
                f"{n} feeds quiet cycle: wall {_median(walls):.2f} s  cpu {_median(cpus):.2f} s  "
                f"(its own report: {_median(cycles):.2f} s)\n"
                f"  one-feed quiet cycle: wall {_median(fixed_walls):.2f} s  "
                f"cpu {_median(fixed_cpus):.2f} s\n"
                f"  marginal (N - 1 feeds): wall {marginal[n]:.2f} s  "
                f"cpu {_median(cpus) - _median(fixed_cpus):.2f} s\n"
                f"  bare httpx conditional GETs: wall {bare_wall:.2f} s  "
                f"(process cpu {_median([b.cpu_s for b in bare]):.2f} s)\n"
                f"  marginal / bare (wall): {marginal[n] / bare_wall:.2f}x",
                flush=True,
            )
        if len(sizes) > 1:
            lo, hi = min(sizes), max(sizes)
            print(
                f"marginal cost from {lo} to {hi} feeds grew {marginal[hi] / marginal[lo]:.1f}x "
                f"(linear: {hi / lo:.0f}x)"
            )
    finally:
        server.stop()


def first_cycles(args: argparse.Namespace, monitor: str, env: dict[str, str], root: Path) -> None:
    total = args.articles
    rates: dict[str, float] = {}
    for label, feeds in (("many feeds", total), (f"{args.few} feeds", args.few)):
        server = LocalServer().start()
        try:
            per_feed: list[list[tuple[str, str]]] = [[] for _ in range(feeds)]
            for n in range(total):
                title, body = _page(n)
                path = f"/news/{n}"
                server.table.set(path, Route(body=body))
                per_feed[n % feeds].append((title, path))
            urls = [_feed(server, i, entries) for i, entries in enumerate(per_feed)]
            config = _config(root / f"first-{feeds}.yaml", urls)
            run_env = {
                **env,
                "MONITOR_DATA_DIR": str(root / f"first-{feeds}"),
                "MONITOR_BUDGETS__ENTRIES_PER_POLL": str(total),
            }
            m, report = _run(monitor, config, run_env, f"first cycle, {label}")
        finally:
            server.stop()
        stored = report["articles_stored"]
        rates[label] = stored / m.wall_s
        print(
            f"first cycle, {total} articles from {feeds} feeds: {stored} stored, "
            f"wall {m.wall_s:.1f} s, cpu {m.cpu_s:.1f} s, {rates[label]:.1f} articles/s",
            flush=True,
        )
    many, few = rates["many feeds"], rates[f"{args.few} feeds"]
    print(f"many-feeds rate / few-feeds rate: {many / few:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", default="1000,10000", help="feed counts, comma-separated")
    parser.add_argument("--articles", type=int, default=500, help="first-cycle articles (0: skip)")
    parser.add_argument("--few", type=int, default=5, help="feeds of the few-feeds first cycle")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--adaptive",
        action="store_true",
        help="also a quiet cycle with MONITOR_POLLING__ADAPTIVE=true after one that set the "
        "sources' next polls",
    )
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # internal: the bare client's run
    args = parser.parse_args()
    if args.bare:
        urls = json.loads(Path(args.bare).read_text())
        print(f"{asyncio.run(_bare_gets(urls, args.concurrency)):.4f}")
        return 0
    monitor = str(Path(sys.executable).parent / "monitor")
    with tempfile.TemporaryDirectory(prefix="bench-quiet-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env.update(
            {
                "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
                "MONITOR_HTTP__MAX_CONNECTIONS": str(args.concurrency),
                "MONITOR_HTTP__MAX_PER_HOST": str(args.concurrency),
                "PREFECT_HOME": str(root / "prefect"),
            }
        )
        with contextlib.suppress(KeyboardInterrupt):
            if args.feeds:
                quiet_cycles(args, monitor, env, root)
            if args.articles:
                first_cycles(args, monitor, env, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
