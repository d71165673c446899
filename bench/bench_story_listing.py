"""Time of ``monitor stories`` (its listing of the 20 most recent stories) with a small and a
large archive stored, in one run: the listing reads the stories it shows, so the ratio should stay
near 1 however large the archive.

The stores are filled as in ``bench_scale.py`` (synthetic articles and stories, SQLite), each
story holding five articles.

    .venv/bin/python bench/bench_story_listing.py                       # 10,000 and 100,000
    .venv/bin/python bench/bench_story_listing.py --small 2000 --large 20000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench_scale import ARTICLES_PER_STORY, prefill
from monitor.cli.stories import story_listing
from monitor.detection_settings import DetectionSettings
from monitor.storage.db import make_engine, upgrade


def listing_ms(size: int, repeats: int) -> float:
    """Median wall time of listing 20 stories with ``size`` articles stored."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/listing.db")
        upgrade(engine)
        prefill(engine, 0, size, DetectionSettings(), seed=1)
        with engine.begin() as conn:  # each synthetic story holds its five articles
            per_story = ARTICLES_PER_STORY
            conn.execute(text(f"UPDATE articles SET story_id = (id - 1) / {per_story} + 1"))
            conn.execute(text("ANALYZE"))
        times = []
        with Session(engine) as session:
            for _ in range(repeats):
                start = time.perf_counter()
                story_listing(session, 20)
                times.append((time.perf_counter() - start) * 1000)
        engine.dispose()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    small = listing_ms(args.small, args.repeats)
    large = listing_ms(args.large, args.repeats)
    print(f"{args.small:>9,} stored: {small:.1f} ms")
    print(f"{args.large:>9,} stored: {large:.1f} ms")
    print(f"ratio {args.large:,}/{args.small:,}: {large / small:.2f}")


if __name__ == "__main__":
    main()
