"""Detection's stored outcome, table by table, for comparing two versions of the code.

A change to how detection stores its state (a table's layout, a write batched differently, a
storage setting) must leave every decision as it was. This replays the labelled quality stream
(``tests/fixtures/quality/stream.jsonl``) and ``--n`` articles of the synthetic stream
(``bench_statements.py``'s), each on a new database, in batches of 50 and of 7, on SQLite and
(with ``--postgres``) on PostgreSQL, and writes every detection table's rows to a JSON file:
articles with their decision records, stories, sentences, story terms with their weights,
document counts, developments, reports, alerts without their timestamp and payload, article
keys and band keys. Two such files, from the code before and after a change, run with the same
``PYTHONHASHSEED``, are compared with ``--compare``::

    PYTHONHASHSEED=0 PYTHONPATH=<before>/src .venv/bin/python bench/compare_detection.py \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres --out before.json
    PYTHONHASHSEED=0 .venv/bin/python bench/compare_detection.py \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres --out after.json
    .venv/bin/python bench/compare_detection.py --compare before.json after.json

Rows are read in primary-key order and compared as their JSON text; the comparison prints the
rows compared per table and every run whose rows differ (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from bench_statements import QUALITY_STREAM, database, run
from monitor.demo.synthetic import synthetic_stream
from monitor.evaluation import load_stream
from monitor.storage.tables import Base

# Every table detection writes; a table missing from a version of the schema is skipped.
TABLES = (
    "articles",
    "article_keys",
    "minhash_bands",
    "stories",
    "story_sentences",
    "story_terms",
    "term_stats",
    "developments",
    "development_reports",
    "alerts",
)
# Written from the clock or rendered for delivery, not decided by detection.
LEFT_OUT = {"alerts": {"created_at", "payload"}}


def table_rows(engine: Engine) -> dict[str, list[str]]:
    """Every detection table's rows in primary-key order, each as JSON text."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = Base.metadata.tables.get(name)
            if table is None:
                continue
            columns = [c for c in table.columns if c.name not in LEFT_OUT.get(name, set())]
            query = select(*columns).order_by(*table.primary_key.columns)
            found[name] = [
                json.dumps(dict(zip([c.name for c in columns], row, strict=True)), default=_plain)
                for row in conn.execute(query)
            ]
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def replay(postgres: str | None, n: int) -> dict[str, dict[str, list[str]]]:
    streams = {
        "quality": [item.article for item in load_stream(QUALITY_STREAM)],
        "synthetic": synthetic_stream(n, seed=7, domain="bench.test"),
    }
    kinds = ["sqlite", "postgresql"] if postgres else ["sqlite"]
    runs: dict[str, dict[str, list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, articles in streams.items():
            for kind in kinds:
                for batch in (50, 7):
                    with database(kind, postgres, Path(tmp)) as engine:
                        stored, _ = run(engine, articles, batch)
                        runs[f"{name} {kind} batch {batch}"] = table_rows(engine)
                    print(f"{name} {kind} batch {batch}: {stored} stored", flush=True)
    return runs


def compare(before_path: Path, after_path: Path) -> int:
    before = json.loads(before_path.read_text())
    after = json.loads(after_path.read_text())
    differing = 0
    total = 0
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, {}), after.get(key, {})
        counts = []
        for table in TABLES:
            if table not in old or table not in new:
                counts.append(f"{table} (not in both)")
                continue
            total += len(old[table])
            counts.append(f"{table} {len(old[table])}")
            if old[table] != new[table]:
                differing += 1
                missing = [r for r in old[table] if r not in set(new[table])][:3]
                print(f"DIFFERENT {key} {table}: {len(old[table])} / {len(new[table])} rows")
                for row in missing:
                    print(f"    before only: {row[:300]}")
        print(f"{key}: {', '.join(counts)}")
    verdict = "identical" if not differing else f"{differing} tables differ"
    print(f"{total} rows compared: {verdict}")
    return 1 if differing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (admin)")
    parser.add_argument("--n", type=int, default=300, help="synthetic articles (default 300)")
    parser.add_argument("--out", type=Path, help="write the tables' rows here")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("--out or --compare")
    if "PYTHONHASHSEED" not in os.environ:
        print("set PYTHONHASHSEED: runs to compare must iterate sets alike", file=sys.stderr)
        return 2
    args.out.write_text(json.dumps(replay(args.postgres, args.n)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
