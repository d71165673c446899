"""Archive size per article before and after retention, and the pruning rate, in one run.

Stores ``--n`` synthetic benchmark articles (the newsroom of ``bench_throughput.py``: realistic
length, stories with follow-ups and reprints) through the real detect stage on a fresh database,
then prints the database's bytes per article, the time ``monitor db prune`` takes over all of
them, and the bytes per article after ``VACUUM``. The stories are left in the candidate index,
as they would be a few days after their articles; once their stories have gone cold, the story
sentence memory (about a fifth of the total) goes too, and the second figure shrinks further.
On PostgreSQL, plain ``VACUUM`` makes the freed space reusable without shrinking the files, so
the second size stays close to the first there.

    .venv/bin/python bench/bench_retention.py --n 2000
    MONITOR_DATABASE_URL=postgresql+psycopg://localhost/monitor_bench \\
        .venv/bin/python bench/bench_retention.py       # an empty PostgreSQL database
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

from monitor.config import parse_config
from monitor.demo.synthetic import synthetic_stream
from monitor.detection_settings import DetectionSettings
from monitor.pipeline.detect import detect
from monitor.storage.db import make_engine, session_factory, upgrade
from monitor.storage.retention import database_size, prune_archive, vacuum

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="articles to store")
    args = parser.parse_args()
    url = os.environ.get("MONITOR_DATABASE_URL") or (
        f"sqlite:///{tempfile.mkdtemp(prefix='monitor-retention-')}/monitor.db"
    )
    engine = make_engine(url)
    upgrade(engine)
    sessions = session_factory(engine)
    settings = DetectionSettings()
    batch = synthetic_stream(args.n, seed=7, domain="bench.invalid")
    config = parse_config({"topics": [{"name": "bench", "query": "council OR harbour"}]})
    newest = batch[-1].fetched_at  # the stream is in publication order
    detect(sessions, batch, {}, config, settings, now=newest)
    vacuum(engine)  # start from a compact database, so the two sizes compare like for like
    before = database_size(engine)
    start = time.perf_counter()
    report = prune_archive(
        sessions,
        now=newest + timedelta(days=31),
        keep_days=30,
        story_active_days=settings.story_active_days,
    )
    elapsed = time.perf_counter() - start
    vacuum(engine)
    after = database_size(engine)
    engine.dispose()
    n = len(batch)
    print(f"{engine.dialect.name}: {n} articles stored, {report.articles} pruned")
    print(f"size before pruning:  {before / n / 1024:6.1f} KB/article ({before / 1e6:.1f} MB)")
    print(f"size after + vacuum:  {after / n / 1024:6.1f} KB/article ({after / 1e6:.1f} MB)")
    print(f"ratio after/before:   {after / before:.2f}")
    print(f"pruning: {elapsed:.2f} s, {report.articles / elapsed:.0f} articles/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
