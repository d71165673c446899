"""Every statement a new article costs uses an index, on SQLite and on PostgreSQL.

The statements are the ones the real detect stage sends for a story, a follow-up, a rewrite, a
further development, an unrelated story, a reprint, an excerpt and an article already stored,
with a topic that raises alerts. Each is explained with the parameters it ran with. A full scan
of a table (or SQLite's skip-scan, which walks every distinct leading value of an index) makes
the article's cost grow with the archive, which is what this test is here to catch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.detection import document_frequencies, story_candidates
from monitor.storage.tables import Base, StoryRow, StoryTermRow, TermStatRow
from tests.support.articles import article

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"
START = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)
TABLES = set(Base.metadata.tables)


def _article(name: str, source: str, hours: float, text: str | None = None) -> Article:
    body = text if text is not None else (FIXTURES / name).read_text(encoding="utf-8")
    lines = [line for line in body.splitlines() if line and not line.startswith("Subscribe")]
    when = START + timedelta(hours=hours)
    return article(
        source, f"https://{source}/{name}", lines[0], body, when, guid=f"{source}-{name}"
    )


def _coverage() -> list[Article]:
    first = (FIXTURES / "01_first_report.txt").read_text(encoding="utf-8")
    excerpt = "\n".join(first.splitlines()[:6])
    return [
        _article("01_first_report.txt", "harbour-gazette.test", 0),
        _article("02_follow_up.txt", "straits-daily.test", 26),
        _article("03_rewrite_of_follow_up.txt", "aggregator.test", 30),
        _article("05_other_story.txt", "mountain-news.test", 40),
        _article("04_new_development.txt", "harbour-gazette.test", 72),
        _article("01_first_report.txt", "wire-reprints.test", 73, first),  # a reprint
        _article("excerpt.txt", "digest.test", 74, excerpt),  # part of the first report
    ]


@pytest.fixture
def statements(engine: Engine) -> Iterator[dict[str, Any]]:
    """Statements sent while the test runs, each with the parameters of its first execution."""
    seen: dict[str, Any] = {}

    def record(*args: Any) -> None:
        _conn, _cursor, statement, params, _context, many = args
        seen.setdefault(statement, params[0] if many else params)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _run_detection(sessions: sessionmaker[Session]) -> None:
    config = MonitorConfig.model_validate(
        {
            # A channel with an hourly cap: enqueueing counts the topic's recent deliveries.
            "topics": [{"name": "valmora", "query": "Valmora", "delivery": {"max_per_hour": 5}}],
            "channels": [{"type": "webhook", "name": "desk", "url": "https://hooks.test/desk"}],
        }
    )
    articles = _coverage()
    reports = [
        # prune=False: the once-a-cycle prune reads the active index whole by design.
        detect(sessions, batch, {}, config, DetectionSettings(), now=START, prune=False)
        for batch in (articles, articles[:2])  # the second pass finds them stored
    ]
    # The paths this test means to cover were taken.
    assert [r.errors for r in reports] == [[], []]
    assert reports[0].duplicates == {"exact": 1, "near": 1}
    assert reports[0].reports >= 1  # the rewrite
    assert reports[0].developments >= 3
    assert reports[1].already_stored == 2


def _explained(statement: str) -> bool:
    return statement.lstrip().split(None, 1)[0].upper() in {"SELECT", "UPDATE", "DELETE", "WITH"}


def _sqlite_plan(cursor: Any, statement: str, params: Any) -> list[str]:
    """The steps of SQLite's plan for ``statement``."""
    cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
    return [str(row[-1]) for row in cursor.fetchall()]


def _sqlite_scans(cursor: Any, statement: str, params: Any) -> list[str]:
    return [
        d
        for d in _sqlite_plan(cursor, statement, params)
        if (d.startswith("SCAN ") and d.split()[1] in TABLES) or "ANY(" in d  # skip-scan
    ]


def _pg_leading_columns(cursor: Any) -> dict[str, str]:
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
    )
    return {str(name): str(column) for name, column in cursor.fetchall()}


def _pg_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _pg_nodes(child)


def _pg_plan(cursor: Any, statement: str, params: Any) -> Iterator[dict[str, Any]]:
    """Every node of PostgreSQL's plan for ``statement``."""
    cursor.execute("EXPLAIN (FORMAT JSON) " + statement, params)
    raw = cursor.fetchone()[0]
    return _pg_nodes((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])


def _pg_scans(cursor: Any, statement: str, params: Any, leading: dict[str, str]) -> list[str]:
    found = []
    for node in _pg_plan(cursor, statement, params):
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in TABLES:
            found.append(f"Seq Scan on {node['Relation Name']}")
        cond, index = node.get("Index Cond"), node.get("Index Name")
        # A condition on a later column of an index still reads all of the index.
        if cond and index in leading and not re.search(rf"\b{leading[index]}\b", cond):
            found.append(f"{node['Node Type']} using {index}: {cond}")
    return found


def test_every_statement_of_a_new_article_uses_an_index(
    engine: Engine, sessions: sessionmaker[Session], statements: dict[str, Any]
) -> None:
    _run_detection(sessions)
    sent = [(sql, params) for sql, params in statements.items() if _explained(sql)]
    # On PostgreSQL a placement's writes are one statement (monitor.storage.placement_pg).
    assert any("DELETE FROM story_terms" in sql for sql, _ in sent)
    assert any("FROM alerts" in sql for sql, _ in sent)  # the topic had seen the story
    assert any("count(deliveries.id)" in sql for sql, _ in sent)  # the hourly cap

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            scans = {sql: _sqlite_scans(cursor, sql, params) for sql, params in sent}
        else:
            leading = _pg_leading_columns(cursor)
            cursor.execute("SET enable_seqscan = off")  # a seq scan is then a missing index
            scans = {sql: _pg_scans(cursor, sql, params, leading) for sql, params in sent}
    finally:
        raw.close()
    assert {sql: found for sql, found in scans.items() if found} == {}


def test_an_articles_terms_are_read_through_the_primary_key(
    engine: Engine, statements: dict[str, Any]
) -> None:
    """An article's terms are found by one primary-key lookup each, whatever the planner's
    statistics say (on PostgreSQL, ``term = ANY(:terms)`` was planned as a scan of the whole
    table at this size)."""
    vocabulary = [f"term{i}" for i in range(5000)]
    with engine.begin() as conn:
        conn.execute(TermStatRow.__table__.insert(), [{"term": t, "df": 1} for t in vocabulary])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE term_stats")
    wanted = vocabulary[::25]  # 200 terms, as many as an article looks up
    statements.clear()
    with Session(engine) as session, session.begin():
        found, _ = document_frequencies(session, wanted)
        assert set(found) == set(wanted)
        ((sql, params),) = [(q, p) for q, p in statements.items() if "FROM term_stats" in q]
        cursor = session.connection().connection.cursor()
        if engine.dialect.name == "sqlite":
            assert _sqlite_scans(cursor, sql, params) == []
        else:
            assert _pg_scans(cursor, sql, params, _pg_leading_columns(cursor)) == []


def test_a_terms_strongest_stories_are_read_in_index_order(
    engine: Engine, statements: dict[str, Any]
) -> None:
    """A common term may index thousands of stories; candidate lookup must read its few
    strongest from the (term, weight) index, not gather and sort all of them, also where the
    statistics say terms have fewer postings than are read (here: statistics from before the
    term became common)."""
    when = START
    with engine.begin() as conn:
        conn.execute(
            StoryRow.__table__.insert(),
            [
                {"id": i, "headline": f"s{i}", "first_seen_at": when, "last_seen_at": when}
                for i in range(1, 2001)
            ],
        )
        conn.execute(
            StoryTermRow.__table__.insert(),
            [
                # 1,000 terms of 20 stories each
                {"story_id": i, "term": f"term{(i * 10 + k) % 1000}", "weight": 0.1}
                for i in range(1, 2001)
                for k in range(10)
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE story_terms")
    # Then the term becomes common: statistics lag behind, as they do during a cycle.
    with engine.begin() as conn:
        conn.execute(
            StoryTermRow.__table__.insert(),
            [{"story_id": i, "term": "harbour", "weight": i / 2000} for i in range(1, 2001)],
        )
    statements.clear()
    with Session(engine) as session, session.begin():
        assert story_candidates(session, ["harbour"], per_term=50, limit=3) == [2000, 1999, 1998]
        ((sql, params),) = [(q, p) for q, p in statements.items() if "story_terms" in q]
        cursor = session.connection().connection.cursor()
        if engine.dialect.name == "sqlite":
            plan = _sqlite_plan(cursor, sql, params)
            assert not [step for step in plan if "TEMP B-TREE" in step], plan
        else:
            kinds = {node["Node Type"] for node in _pg_plan(cursor, sql, params)}
            assert not kinds & {"Sort", "Bitmap Heap Scan", "Seq Scan"}, kinds
