"""PostgreSQL: detection's two term lookups as they are sent now, against the forms they replaced.

Until 2026-12-04 every detect transaction on PostgreSQL switched off sequential and bitmap scans
(``SET LOCAL enable_seqscan/enable_bitmapscan = off``) so that the planner read these two
lookups through their indexes; now the statements are written so that it does so by itself:

* document frequencies: ``term = ANY(:terms)`` → one primary-key lookup per term (``LATERAL``
  with ``LIMIT 1``);
* a term's strongest stories: the same ``LATERAL`` read of the ``(term, weight)`` index, with its
  limit as a subquery.

This fills a new database with ``bench_scale.py``'s synthetic archive (``--size`` articles,
planner statistics taken after the fill), picks an article's worth of terms (half of them the
most common), and times each form, with and without the switch, alternating, in one session.
It prints the plan of each and the median time per execution (round trip included), each
execution planned with its parameters (a custom plan, the one ``EXPLAIN`` shows).

    .venv/bin/python bench/bench_pg_lookups.py \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres --size 10000
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from bench_scale import prefill
from monitor.detection_settings import DetectionSettings
from monitor.storage.db import make_engine, upgrade
from monitor.storage.detection import _PG_FREQUENCIES, _PG_POSTINGS

SWITCH = (
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)
OLD_FREQUENCIES = text("SELECT term, df FROM term_stats WHERE term = ANY(CAST(:terms AS text[]))")
OLD_POSTINGS = text(
    "SELECT p.story_id, p.weight FROM unnest(CAST(:terms AS text[])) AS t(term) "
    "CROSS JOIN LATERAL (SELECT story_id, weight FROM story_terms "
    "WHERE story_terms.term = t.term ORDER BY weight DESC LIMIT :n) AS p"
)


def _plan(conn: Connection, stmt: Any, params: dict[str, Any]) -> str:
    sql = str(stmt.compile(conn))
    rows = conn.exec_driver_sql("EXPLAIN " + sql, params).all()
    return " / ".join(
        str(r[0]).strip().split("  (")[0].lstrip("-> ")
        for r in rows
        if "Scan" in r[0] or "Sort" in r[0]
    )


def _time(conn: Connection, stmt: Any, params: dict[str, Any], switch: bool) -> float:
    with conn.begin():
        conn.execute(text(SWITCH if switch else "SELECT 1"))  # BEGIN goes with this one
        # The plan EXPLAIN shows: after five executions psycopg prepares a statement, and the
        # server's generic plan (the limit a parameter) may differ from it.
        conn.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
        start = time.perf_counter()
        conn.execute(stmt, params).all()
        return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=None, help="server URL whose role creates DBs")
    parser.add_argument("--size", type=int, default=10_000, help="articles in the archive")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if args.postgres is None:  # `dev.py bench` runs every benchmark with the same arguments
        print("skipped: PostgreSQL only, give it a server with --postgres URL")
        return 0
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"bench_lookups_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        prefill(engine, 0, args.size, DetectionSettings(), seed=args.size)  # ends with ANALYZE
        with engine.connect() as conn:
            common = conn.scalars(
                text("SELECT term FROM story_terms GROUP BY term ORDER BY count(*) DESC LIMIT 12")
            ).all()
            rare = conn.scalars(
                text("SELECT term FROM story_terms GROUP BY term ORDER BY md5(term) LIMIT 13")
            ).all()
            words = conn.scalars(
                text("SELECT term FROM term_stats ORDER BY md5(term) LIMIT 200")
            ).all()
            conn.commit()
            cases = {
                "frequencies": (
                    {"terms": list(words)},
                    {"ANY (before)": OLD_FREQUENCIES, "LATERAL (now)": _PG_FREQUENCIES},
                ),
                "postings": (
                    {"terms": [*common, *rare], "n": DetectionSettings().postings_per_term},
                    {"LIMIT :n (before)": OLD_POSTINGS, "LIMIT (SELECT :n) (now)": _PG_POSTINGS},
                ),
            }
            for lookup, (params, forms) in cases.items():
                times: dict[tuple[str, bool], list[float]] = {}
                for label, stmt in forms.items():
                    for switch in (True, False):
                        with conn.begin():
                            if switch:
                                conn.execute(text(SWITCH))
                            plan = _plan(conn, stmt, params)
                        print(
                            f"{lookup:11s} {label:24s} switch {'on ' if switch else 'off'}: {plan}"
                        )
                        times[label, switch] = []
                for _ in range(args.rounds):  # interleaved: the machine's speed drifts
                    for label, stmt in forms.items():
                        for switch in (True, False):
                            times[label, switch].append(_time(conn, stmt, params, switch))
                for (label, switch), measured in times.items():
                    print(
                        f"{lookup:11s} {label:24s} switch {'on ' if switch else 'off'}: "
                        f"median {statistics.median(measured):.2f} ms"
                    )
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
