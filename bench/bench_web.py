"""Server time of the web view's busiest pages over a large archive, beside the bare queries.

Builds a synthetic database by bulk insert: ``--articles`` articles in ``articles / 5`` stories
of five outlets each; in every story the first and fourth articles are developments, the second
and third reports of the first, the fifth another report; one topic has an alert on
``--alert-share`` of the developments. Then, with the app served in-process (httpx over
``ASGITransport``, no network), it requests ``--requests`` times each

* the topic timeline ``/topics/bench`` (its first page, ``TIMELINE_PAGE`` developments),
* a story page ``/stories/<id>`` (a story with alerts, in the middle of the archive),
* the topic's Atom feed ``/topics/bench/feed.atom``,

and times, the same way in the same run, the bare ``SELECT``\\ s of the rows each page shows
(the topic's newest alerts, as many as the page or the feed shows, their developments'
reports and, for the page, their stories' feedback; the story, its articles and their copies,
its developments, their reports, the topics that alerted on it and its feedback) on a plain
connection. The pages are requested twice over: first as readers get them between cycles
(the database unchanged: pages served as kept by the web view's page cache), then with a
committed write to an unrelated table before every request (as after a cycle: every page built
afresh). It prints p50 and p95 of each, the ratio of page to bare query, and for the first
whether the target holds: p95 at most 50 ms on SQLite and at most 3 times the bare query's p95.

    .venv/bin/python bench/bench_web.py                         # 100,000 articles on SQLite
    .venv/bin/python bench/bench_web.py --articles 20000        # quick check
    .venv/bin/python bench/bench_web.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

With ``--postgres`` (a server URL whose role may create databases) the run uses a new database,
dropped afterwards, instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, bindparam, insert, text

from bench_statements import database
from monitor.alerts.model import AlertContent, payload_from_content
from monitor.config import get_settings, parse_config
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    DevelopmentReportRow,
    DevelopmentRow,
    StoryRow,
)
from monitor.web import create_app
from monitor.web.views import TIMELINE_LIMIT, TIMELINE_PAGE

TOPIC = "Bench"
OUTLETS = ("gazette", "post", "herald", "courier", "tribune")
PER_STORY = len(OUTLETS)
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 5_000
P95_LIMIT_MS = 50.0
RATIO_LIMIT = 3.0

TIMELINE_SQL = (
    "SELECT * FROM alerts WHERE topic = :topic ORDER BY created_at DESC, id DESC LIMIT :limit",
    "SELECT r.development_id, a.* FROM development_reports r JOIN articles a "
    "ON a.id = r.article_id WHERE r.development_id IN :developments ORDER BY a.id",
    "SELECT * FROM feedback WHERE story_id IN :stories ORDER BY id",
)
STORY_SQL = (
    "SELECT * FROM stories WHERE id = :story",
    "SELECT * FROM articles WHERE story_id = :story ORDER BY id",
    "SELECT * FROM articles WHERE story_id IS NULL AND duplicate_of_id IN "
    "(SELECT id FROM articles WHERE story_id = :story) ORDER BY id",
    "SELECT * FROM developments WHERE story_id = :story ORDER BY created_at, id",
    "SELECT r.development_id, a.* FROM development_reports r JOIN articles a "
    "ON a.id = r.article_id JOIN developments d ON d.id = r.development_id "
    "WHERE d.story_id = :story ORDER BY a.id",
    "SELECT DISTINCT topic FROM alerts WHERE story_id = :story",
    "SELECT * FROM feedback WHERE story_id = :story ORDER BY id",
)


def _text(rng: random.Random, story: int, n: int) -> str:
    return " ".join(
        f"Council {story} said item {rng.randint(1, 999)} of plan {n} moved to phase "
        f"{rng.randint(1, 9)}."
        for _ in range(6)
    )


def build(engine: Engine, articles: int, alert_share: float, seed: int) -> int:
    """Fill the archive; the id of a story in the middle that has alerts."""
    rng = random.Random(seed)
    stories = articles // PER_STORY
    chosen = 0
    with engine.begin() as conn:
        for lo in range(0, stories, BATCH // PER_STORY):
            hi = min(stories, lo + BATCH // PER_STORY)
            story_rows, article_rows, devs, reports, alerts = [], [], [], [], []
            for s in range(lo, hi):
                sid = s + 1
                first = START + timedelta(minutes=7 * s)
                story_rows.append(
                    {
                        "id": sid,
                        "headline": f"Council {sid} moves plan",
                        "first_seen_at": first,
                        "last_seen_at": first + timedelta(hours=PER_STORY),
                        "article_count": PER_STORY,
                        "outlets": list(OUTLETS),
                        "state": {},
                        "memory": {},
                    }
                )
                dev_ids = (2 * s + 1, 2 * s + 2)
                for k, outlet in enumerate(OUTLETS):
                    aid = s * PER_STORY + k + 1
                    at = first + timedelta(hours=k)
                    is_dev = k in (0, 3)
                    article_rows.append(
                        {
                            "id": aid,
                            "source_name": outlet,
                            "url": f"https://{outlet}.example/{aid}",
                            "canonical_url": f"https://{outlet}.example/{aid}",
                            "title": f"Council {sid} moves plan, part {k}",
                            "text": _text(rng, sid, k),
                            "fetched_at": at,
                            "published_at": at,
                            "content_hash": f"{aid:064x}",
                            "story_id": sid,
                            "is_development": is_dev,
                            "development_id": dev_ids[k // 3] if k < 4 else None,
                            "authors": [],
                            "decision": {},
                        }
                    )
                for d, k in zip(dev_ids, (0, 3), strict=True):
                    devs.append(
                        {
                            "id": d,
                            "story_id": sid,
                            "article_id": s * PER_STORY + k + 1,
                            "facts": [f"Plan {sid} moved to phase {k}."],
                            "created_at": first + timedelta(hours=k),
                        }
                    )
                for k in (1, 2):
                    reports.append(
                        {
                            "development_id": dev_ids[0],
                            "article_id": s * PER_STORY + k + 1,
                            "similarity": 0.8,
                        }
                    )
                for d, k in zip(dev_ids, (0, 3), strict=True):
                    if rng.random() >= alert_share:
                        continue
                    if s >= stories // 2 and not chosen:
                        chosen = sid
                    aid, at = s * PER_STORY + k + 1, first + timedelta(hours=k)
                    content = AlertContent(
                        alert_id=d,
                        idempotency_key=f"{TOPIC}:{d}",
                        topic=TOPIC,
                        story_id=sid,
                        story_headline=f"Council {sid} moves plan",
                        article_id=aid,
                        title=f"Council {sid} moves plan, part {k}",
                        url=f"https://{OUTLETS[k]}.example/{aid}",
                        source=OUTLETS[k],
                        facts=(f"Plan {sid} moved to phase {k}.",),
                        reason="council (title)",
                        first_reported_at=at,
                        published_at=at,
                        outlets=OUTLETS,
                        created_at=at,
                    )
                    alerts.append(
                        {
                            "id": d,
                            "idempotency_key": content.idempotency_key,
                            "topic": TOPIC,
                            "article_id": aid,
                            "story_id": sid,
                            "development_id": d,
                            "reason": content.reason,
                            "payload": payload_from_content(content),
                            "created_at": at,
                        }
                    )
            conn.execute(insert(StoryRow), story_rows)
            conn.execute(insert(ArticleRow), article_rows)
            conn.execute(insert(DevelopmentRow), devs)
            conn.execute(insert(DevelopmentReportRow), reports)
            if alerts:
                conn.execute(insert(AlertRow), alerts)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    if not chosen:
        raise SystemExit("no story with alerts: raise --alert-share or --articles")
    return chosen


def _ms(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return 1000 * statistics.median(ordered), 1000 * p95


def bare_story(engine: Engine, story: int, n: int) -> list[float]:
    """Seconds per run of the story page's statements, every row fetched."""
    times = []
    with engine.connect() as conn:
        for _ in range(n):
            start = time.perf_counter()
            for sql in STORY_SQL:
                conn.execute(text(sql), {"story": story}).fetchall()
            times.append(time.perf_counter() - start)
    return times


def bare_timeline(engine: Engine, n: int, limit: int, *, feedback: bool) -> list[float]:
    """Seconds per run of the timeline's statements: the newest ``limit`` alerts, then their
    developments' reports by an IN list of the development ids, as the page asks, and with
    ``feedback`` the feedback on their stories."""
    alerts_sql = text(TIMELINE_SQL[0])
    reports_sql = text(TIMELINE_SQL[1]).bindparams(bindparam("developments", expanding=True))
    feedback_sql = text(TIMELINE_SQL[2]).bindparams(bindparam("stories", expanding=True))
    times = []
    with engine.connect() as conn:
        for _ in range(n):
            start = time.perf_counter()
            rows = conn.execute(alerts_sql, {"topic": TOPIC, "limit": limit}).fetchall()
            ids = [r.development_id for r in rows if r.development_id is not None]
            conn.execute(reports_sql, {"developments": ids}).fetchall()
            if feedback:
                stories = sorted({r.story_id for r in rows if r.story_id is not None})
                conn.execute(feedback_sql, {"stories": stories}).fetchall()
            times.append(time.perf_counter() - start)
    return times


async def pages(
    app: Any, paths: Sequence[str], n: int, *, touch: Callable[[], None] | None = None
) -> tuple[dict[str, list[float]], int]:
    """Seconds per request of each path, served in-process, and how many were served kept.
    With ``touch``, it is called (untimed) before every request: a write that makes the next
    page be built afresh, as after a cycle."""
    out: dict[str, list[float]] = {p: [] for p in paths}
    kept = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for path in paths:  # one warm-up each
            (await client.get(path)).raise_for_status()
        for _ in range(n):
            for path in paths:
                if touch is not None:
                    touch()
                start = time.perf_counter()
                response = await client.get(path)
                out[path].append(time.perf_counter() - start)
                response.raise_for_status()
                kept += "kept" in response.headers.get("server-timing", "")
    return out, kept


def toucher(engine: Engine) -> Callable[[], None]:
    """A committed write to a table no page reads: the database's change mark moves."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_tick (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO bench_tick VALUES (0)"))

    def touch() -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE bench_tick SET n = n + 1"))

    return touch


def report(kind: str, label: str, page: list[float], query: list[float], *, judged: bool) -> None:
    p50, p95 = _ms(page)
    b50, b95 = _ms(query)
    ratio = p95 / b95 if b95 else float("inf")
    limit_ok = p95 <= P95_LIMIT_MS or kind != "sqlite"
    verdict = "met" if limit_ok and ratio <= RATIO_LIMIT else "NOT met"
    print(
        f"{kind:10} {label:18} page p50 {p50:7.1f} ms  p95 {p95:7.1f} ms | bare query "
        f"p50 {b50:6.2f} ms  p95 {b95:6.2f} ms | p95 ratio {ratio:5.1f}x"
        + (f"  target {verdict}" if judged else "  (after a write)")
    )


def label(path: str) -> str:
    if path.endswith(".atom"):
        return "topic feed"
    return "story page" if path.startswith("/stories/") else "timeline"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=100_000, help="default 100000")
    parser.add_argument("--alert-share", type=float, default=0.3, help="of developments")
    parser.add_argument("--requests", type=int, default=200, help="per page (default 200)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL server URL (admin)")
    args = parser.parse_args()

    kind = "postgresql" if args.postgres else "sqlite"
    config = parse_config({"topics": [{"name": TOPIC, "query": "council"}]})
    with tempfile.TemporaryDirectory() as tmp, database(kind, args.postgres, Path(tmp)) as engine:
        start = time.perf_counter()
        story = build(engine, args.articles, args.alert_share, seed=11)
        url = engine.url.render_as_string(hide_password=False)
        print(
            f"{kind}: {args.articles} articles in {args.articles // PER_STORY} stories built in "
            f"{time.perf_counter() - start:.0f} s; story {story}; {args.requests} requests each",
            flush=True,
        )
        app = create_app(get_settings(_env_file=None, database_url=url), config)
        timeline, story_page, feed = "/topics/bench", f"/stories/{story}", "/topics/bench/feed.atom"
        paths = [timeline, story_page, feed]
        page_rows = bare_timeline(engine, args.requests, TIMELINE_PAGE, feedback=True)
        feed_rows = bare_timeline(engine, args.requests, TIMELINE_LIMIT, feedback=False)
        story_rows = bare_story(engine, story, args.requests)
        runs = [("kept", None), ("built", toucher(engine))]  # unchanged database; after writes
        for state, touch in runs:
            served, kept = asyncio.run(pages(app, paths, args.requests, touch=touch))
            print(f"pages {state}: {kept} of {len(paths) * args.requests} requests served kept")
            judged = touch is None
            for path, rows in ((timeline, page_rows), (story_page, story_rows), (feed, feed_rows)):
                report(kind, f"{label(path)} {state}", served[path], rows, judged=judged)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
