"""Per-article cost of dedup + story lookup with 10k and with 1M articles stored, in one run.

The store is pre-filled by bulk insert of synthetic index rows (articles with signatures, URL
keys, LSH band keys, stories with their indexed top terms, document frequencies), at a fixed
arrival rate, so that the archive spans ``size / rate`` days and only the last
``story_active_days`` of stories remain in the candidate index (as after
:func:`monitor.stories.ingest.prune_story_index`). Then ``--probes`` new synthetic articles are
ingested with the real :func:`monitor.stories.ingest.ingest` at each size, and the script prints:

* lookup time: the indexed queries of dedup and clustering (content hash, band candidates,
  document frequencies, story candidates and their loading) and the rewrite of the story's
  indexed terms (a delete by story), the part that could grow with the archive;
* full ingest time: the same plus text features, novelty and writes.

    .venv/bin/python bench/bench_scale.py                  # 10k and 1M (~20 min: the 1M fill)
    .venv/bin/python bench/bench_scale.py --large 100000   # quick check
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.storage import detection as repo
from monitor.storage.db import make_engine, upgrade
from monitor.stories import ingest as ingest_mod

RATE_PER_DAY = 2000
ARTICLES_PER_STORY = 5
VOCAB = 40_000
NOW = datetime(2031, 1, 1, tzinfo=UTC)


def word(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    i += 26 * 26
    while i:
        i, r = divmod(i, 26)
        out += letters[r]
    return out


def zipf_term(rng: random.Random) -> int:
    return min(int(rng.paretovariate(1.1)) - 1, VOCAB - 1)


def synthetic_text(rng: random.Random, sentences: int = 12) -> str:
    lines = []
    for _ in range(sentences):
        words = [word(zipf_term(rng)) for _ in range(rng.randint(12, 22))]
        name = word(rng.randrange(VOCAB)).capitalize()
        lines.append(f"{name} {' '.join(words)} {rng.randint(1, 999)}.")
    return "\n".join(lines)


def prefill(engine: Engine, start: int, stop: int, settings: DetectionSettings, seed: int) -> None:
    """Bulk-insert synthetic rows for article ids [start, stop)."""
    rng = random.Random(seed)
    span_days = stop / RATE_PER_DAY
    first_day = NOW - timedelta(days=span_days)
    active_from = NOW - timedelta(days=settings.story_active_days)
    batch = 20_000
    with engine.begin() as conn:
        for lo in range(start, stop, batch):
            hi = min(lo + batch, stop)
            arts, keys, bands, stories, terms = [], [], [], [], []
            for i in range(lo, hi):
                when = first_day + timedelta(days=i / RATE_PER_DAY)
                blob = (300).to_bytes(4, "little") + rng.randbytes(
                    4 * settings.minhash_permutations
                )
                arts.append(
                    {
                        "id": i + 1,
                        "source_name": "bench",
                        "url": f"https://bench.test/{i}",
                        "canonical_url": f"https://bench.test/{i}",
                        "title": "",
                        "text": "",
                        "summary_only": False,
                        "authors": "[]",
                        "fetched_at": when,
                        "content_hash": f"{rng.getrandbits(256):064x}",
                        "minhash": blob,
                        "is_development": False,
                        "decision": "{}",
                    }
                )
                keys.append({"key": f"url:https://bench.test/{i}", "article_id": i + 1})
                for _ in range(settings.lsh_bands):
                    bands.append({"band_key": rng.getrandbits(63), "article_id": i + 1})
                if i % ARTICLES_PER_STORY == 0:
                    sid = i // ARTICLES_PER_STORY + 1
                    stories.append(
                        {
                            "id": sid,
                            "headline": f"story {sid}",
                            "first_seen_at": when,
                            "last_seen_at": when,
                            "article_count": ARTICLES_PER_STORY,
                            "outlets": "[]",
                            "state": '{"centroid": {}}',
                            "memory": "{}",
                        }
                    )
                    if when >= active_from:  # cold stories were pruned from the index
                        chosen = {zipf_term(rng) for _ in range(settings.story_terms)}
                        terms.extend(
                            {"term": word(t), "story_id": sid, "weight": rng.random() / 5}
                            for t in chosen
                        )
            conn.execute(
                text(
                    "INSERT INTO articles (id, source_name, url, canonical_url, title, text, "
                    "summary_only, authors, fetched_at, content_hash, minhash, is_development, "
                    "decision) VALUES (:id, :source_name, :url, :canonical_url, :title, :text, "
                    ":summary_only, :authors, :fetched_at, :content_hash, :minhash, "
                    ":is_development, :decision)"
                ),
                arts,
            )
            conn.execute(text("INSERT INTO article_keys VALUES (:key, :article_id)"), keys)
            conn.execute(
                text(
                    "INSERT INTO minhash_bands (band_key, article_id) "
                    "VALUES (:band_key, :article_id)"
                ),
                bands,
            )
            if stories:
                conn.execute(
                    text(
                        "INSERT INTO stories (id, headline, first_seen_at, last_seen_at, "
                        "article_count, outlets, state, memory) VALUES (:id, :headline, "
                        ":first_seen_at, :last_seen_at, :article_count, :outlets, :state, :memory)"
                    ),
                    stories,
                )
            if terms:
                conn.execute(
                    text(
                        "INSERT INTO story_terms (term, story_id, weight) "
                        "VALUES (:term, :story_id, :weight)"
                    ),
                    terms,
                )
        # Document frequencies: Zipf-shaped, scaled to the archive size.
        conn.execute(text("DELETE FROM term_stats"))
        conn.execute(
            text("INSERT INTO term_stats (term, df) VALUES (:t, :df)"),
            [{"t": word(t), "df": max(1, int(stop / (t + 2)))} for t in range(VOCAB)]
            + [{"t": "", "df": stop}],
        )
        if engine.dialect.name == "postgresql":
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('articles','id'), :n)"), {"n": stop + 10}
            )
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('stories','id'), :n)"), {"n": stop + 10}
            )
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))


class Timed:
    """Wraps repository functions to add up the time spent in index lookups."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.by_name: dict[str, float] = {}
        self.originals: dict[str, Callable[..., Any]] = {}

    def install(self) -> None:
        for name in (
            "original_by_hash",
            "band_candidates",
            "document_frequencies",
            "story_candidates",
            "load_stories",
            "known_keys",
            "replace_story_terms",
        ):
            fn = getattr(repo, name)
            self.originals[name] = fn
            setattr(repo, name, self._wrap(name, fn))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds += spent
                self.by_name[name] = self.by_name.get(name, 0.0) + spent

        return inner


def probe(
    engine: Engine, n: int, settings: DetectionSettings, seed: int, timer: Timed
) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    lookups, totals = [], []
    for k in range(n):
        body = synthetic_text(rng)
        article = Article(
            source="probe",
            url=f"https://probe.test/{seed}/{k}",
            canonical_url=f"https://probe.test/{seed}/{k}",
            title=" ".join(word(zipf_term(rng)) for _ in range(8)),
            text=body,
            fetched_at=NOW,
            published_at=NOW,
        )
        timer.seconds = 0.0
        start = time.perf_counter()
        with Session(engine) as session:
            # As the detect stage begins its transactions (SQLite: BEGIN IMMEDIATE; PostgreSQL:
            # the detection lock).
            repo.lock_detection(session)
            ingest_mod.ingest(session, article, source_id=None, settings=settings)
            session.rollback()  # keep the store at the measured size
        totals.append((time.perf_counter() - start) * 1000)
        lookups.append(timer.seconds * 1000)
    return lookups, totals


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="dedup + clustering cost vs archive size")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument(
        "--database-url", default=None, help="empty database to use (default: temp SQLite)"
    )
    args = parser.parse_args()
    settings = DetectionSettings()
    timer = Timed()
    timer.install()
    with tempfile.TemporaryDirectory() as tmp:
        # make_engine hands SQLite transactions to SQLAlchemy (explicit BEGIN), so each probe's
        # rollback undoes everything it wrote.
        engine = make_engine(args.database_url or f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        results = {}
        filled = 0
        for size in (args.small, args.large):
            t0 = time.perf_counter()
            prefill(engine, filled, size, settings, seed=size)
            filled = size
            print(f"prefilled {size:,} articles in {time.perf_counter() - t0:.1f} s")
            probe(engine, 20, settings, seed=1, timer=timer)  # warm caches
            timer.by_name.clear()
            lookups, totals = probe(engine, args.probes, settings, seed=size, timer=timer)
            results[size] = (lookups, totals)
            shares = ", ".join(
                f"{k} {v * 1000 / args.probes:.2f}" for k, v in sorted(timer.by_name.items())
            )
            print(f"  per-article ms by query: {shares}")
            timer.by_name.clear()
            print(
                f"  {size:>9,} stored: lookup mean {statistics.mean(lookups):.2f} ms "
                f"p95 {p95(lookups):.2f} ms | full ingest mean {statistics.mean(totals):.2f} ms "
                f"p95 {p95(totals):.2f} ms"
            )
        engine.dispose()
    small, large = results[args.small], results[args.large]
    ratio = statistics.mean(large[0]) / statistics.mean(small[0])
    ratio_full = statistics.mean(large[1]) / statistics.mean(small[1])
    print(
        f"lookup ratio {args.large:,}/{args.small:,}: {ratio:.2f} (target <= 1.5); "
        f"p95 at {args.large:,}: {p95(large[0]):.2f} ms (target <= 5 ms)"
    )
    print(f"full ingest ratio: {ratio_full:.2f}")


if __name__ == "__main__":
    main()
