"""Throughput of a full monitor cycle against bare trafilatura, measured in one run.

Serves N synthetic article pages (>= 50 KB each, with page chrome) behind RSS/Atom/JSON feeds on
127.0.0.1, then measures, in this process and this run:

  bare-1   trafilatura.bare_extraction over the same HTML, one process
  bare-P   the same spread over P processes (P = the pipeline's extraction workers)
  cycle    one full `monitor run` cycle (the Prefect flow: fetch feeds and pages, extract,
           dedup, stories, developments, topic match, alerts), Prefect server already started

and prints articles/s for each and the ratios cycle/bare-1 and cycle/bare-P.

    .venv/bin/python bench/bench_throughput.py            # N=500
    .venv/bin/python bench/bench_throughput.py --n 100    # quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

PAGE_BYTES = 60_000


def _bare(pages: list[tuple[str, bytes]]) -> int:
    import trafilatura

    ok = 0
    for url, html in pages:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
        ok += doc is not None
    return ok


def bare_throughput(pages: list[tuple[str, bytes]], processes: int) -> float:
    start = time.perf_counter()
    if processes <= 1:
        _bare(pages)
    else:
        chunks = [pages[i::processes] for i in range(processes)]
        with ProcessPoolExecutor(processes) as pool:
            list(pool.map(_bare, chunks))
    return len(pages) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="article pages (default 500)")
    parser.add_argument("--workers", type=int, default=2, help="extraction processes")
    args = parser.parse_args()

    from monitor.demo.pages import (
        FEED_CONTENT_TYPES,
        render_article_page,
        render_feed,
    )
    from monitor.demo.server import LocalServer, Route
    from monitor.demo.synthetic import SYNTHETIC_OUTLETS, synthetic_articles

    articles = synthetic_articles(args.n, seed=7)
    outlets = {o.slug: o for o in SYNTHETIC_OUTLETS}
    server = LocalServer().start()
    pages: list[tuple[str, bytes]] = []
    for art in articles:
        html = render_article_page(
            outlets[art.outlet], art, pad_to_bytes=PAGE_BYTES, base_url=server.base_url
        )
        server.table.set(art.path, Route(body=html))
        pages.append((server.url(art.path), html))
    for outlet in SYNTHETIC_OUTLETS:
        own = [a for a in articles if a.outlet == outlet.slug]
        server.table.set(
            outlet.feed_path,
            Route(
                body=render_feed(outlet, own, server.base_url),
                content_type=FEED_CONTENT_TYPES[outlet.feed_kind],
            ),
        )
    sizes = sorted(len(h) for _, h in pages)
    print(
        f"{len(pages)} pages, size min {sizes[0] // 1024} KB, median "
        f"{sizes[len(sizes) // 2] // 1024} KB, {len(SYNTHETIC_OUTLETS)} feeds",
        flush=True,
    )

    tmp = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    config: dict[str, Any] = {
        "sources": [{"name": o.name, "url": server.url(o.feed_path)} for o in SYNTHETIC_OUTLETS],
        "topics": [{"name": "bench", "query": "council OR harbour OR budget"}],
        "channels": [],
    }
    config_path = tmp / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    os.environ.update(
        {
            "MONITOR_DATA_DIR": str(tmp),
            "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
            "MONITOR_EXTRACTION__WORKERS": str(args.workers),
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    from flows.cycle import monitor_cycle
    from prefect import flow

    @flow
    def warm_up() -> int:
        return 1

    t0 = time.perf_counter()
    warm_up()  # starts the serverless Prefect API once, outside the measurement
    startup = time.perf_counter() - t0

    bare1 = bare_throughput(pages, 1)
    bare_p = bare_throughput(pages, args.workers)
    t0 = time.perf_counter()
    report = monitor_cycle(config_path=str(config_path))
    cycle_s = time.perf_counter() - t0
    cycle = report["articles_stored"] / cycle_s
    server.stop()

    print(f"prefect start (not measured below): {startup:.1f} s")
    print(f"bare trafilatura, 1 process:        {bare1:7.1f} articles/s")
    print(f"bare trafilatura, {args.workers} processes:      {bare_p:7.1f} articles/s")
    print(
        f"full cycle ({report['articles_stored']} stored, {report['new_stories']} stories, "
        f"{report['alerts_created']} alerts): {cycle:7.1f} articles/s in {cycle_s:.1f} s"
    )
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in report["stage_seconds"].items()))
    print(f"ratio cycle / bare-1: {cycle / bare1:.2f}")
    print(f"ratio cycle / bare-{args.workers}: {cycle / bare_p:.2f}   (target >= 0.85)")
    if report["articles_stored"] != len(pages):
        print(f"WARNING: stored {report['articles_stored']} of {len(pages)} pages", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
