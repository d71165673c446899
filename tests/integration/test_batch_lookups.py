"""A detect batch reads its lookups once (:class:`monitor.stories.ingest.Batch`) and runs without
a savepoint per article: on SQLite and PostgreSQL, every article must be decided as when each
is ingested alone, and the statements a stored article costs stay bounded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig
from monitor.demo.synthetic import synthetic_stream
from monitor.detection_settings import DetectionSettings
from monitor.evaluation import EVERY_ARTICLE
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.db import make_engine, session_factory, upgrade
from monitor.storage.detection import DocumentCounts, lock_detection
from monitor.storage.tables import ArticleKeyRow, ArticleRow
from monitor.stories.ingest import Batch, ingest
from tests.support.articles import article

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"
START = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)


def _story(name: str) -> tuple[str, str]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line and "Subscribe" not in line)
    return title, text


def _batch() -> list[Article]:
    """A batch whose later articles depend on earlier ones of the same batch."""
    first_title, first = _story("01_first_report.txt")
    follow_title, follow = _story("02_follow_up.txt")
    other_title, other = _story("05_other_story.txt")
    next_title, later = _story("04_new_development.txt")
    rewrite_title, rewrite = _story("03_rewrite_of_follow_up.txt")

    def at(hours: int, source: str, path: str, title: str, text: str, **extra: Any) -> Article:
        when = START + timedelta(hours=hours)
        return article(source, f"https://{source}/{path}", title, text, when, **extra)

    return [
        at(0, "gazette.test", "fire", first_title, first, guid="g-1"),
        # The same text under another URL: an exact copy of the article just stored.
        at(1, "wire.test", "fire-copy", first_title, first),
        # The same feed entry again under another URL: already stored (its GUID key).
        at(2, "gazette.test", "fire-amp", first_title, first, guid="g-1"),
        # Declares the next article's URL as its canonical one.
        at(3, "straits.test", "follow", follow_title, follow, rel_canonical="https://x.test/f"),
        at(4, "x.test", "f", follow_title, follow),  # already stored under that alias
        at(5, "mountain.test", "other", other_title, other),
        at(6, "wire.test", "follow-copy", follow_title, follow),  # a copy of the follow-up
        # A development after the follow-up, then a report repeating the follow-up (not the
        # story's latest development) and a near copy of it: both read the placement of an
        # article of this batch.
        at(7, "gazette.test", "next", next_title, later),
        at(8, "coast.test", "rewrite", rewrite_title, rewrite),
        at(
            9,
            "harbour.test",
            "near",
            follow_title,
            follow + "\nA harbour official said more would follow later in the day.",
        ),
    ]


def _decisions(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with sessions() as session:
        rows = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        return [
            (r.url, r.duplicate_of_id, r.story_id, r.development_id, r.is_development, r.decision)
            for r in rows
        ]


@pytest.fixture
def one_by_one(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """The batch's articles ingested one by one, each in its own transaction, no batch."""
    engine = make_engine(f"sqlite:///{tmp_path / 'one-by-one.db'}")
    upgrade(engine)
    sessions = session_factory(engine)
    for each in _batch():
        with sessions.begin() as session:
            ingest(session, each, source_id=None, settings=DetectionSettings())
    yield sessions
    engine.dispose()


def test_a_batch_decides_each_article_as_alone(
    engine: Engine, sessions: sessionmaker[Session], one_by_one: sessionmaker[Session]
) -> None:
    inserts: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # On PostgreSQL the article's row and its keys are one WITH statement.
        if statement.startswith("INSERT INTO articles") or "AS (INSERT INTO articles" in statement:
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        report = detect(sessions, _batch(), {}, MonitorConfig(), DetectionSettings(), now=START)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert report.errors == []
    assert report.already_stored == 2
    assert report.duplicates == {"exact": 2, "near": 1}
    assert report.reports == 1  # the rewrite
    assert _decisions(sessions) == _decisions(one_by_one)
    # Known from the batch's own articles: no insert was tried and refused by the database.
    assert len(inserts) == report.stored


def test_a_key_taken_after_the_batch_was_read_leaves_nothing_behind(
    sessions: sessionmaker[Session],
) -> None:
    """Every writer of articles holds the detection lock, so a key the batch did not see stored
    cannot be taken meanwhile; if one is (a writer without the lock), the article's row goes
    again and the article counts as already stored."""
    mine = article("gazette.test", "https://gazette.test/a", "Fire", "x " * 50, START, guid="g")
    rival = replace(mine, url="https://gazette.test/b", canonical_url="https://gazette.test/b")
    settings = DetectionSettings()
    with sessions.begin() as session:
        lock_detection(session)
        counts = DocumentCounts()
        batch = Batch.prepare(session, [mine], settings, counts)
        taken = ingest(session, rival, source_id=None, settings=settings)  # no batch: not seen
        result = ingest(session, mine, source_id=None, settings=settings, batch=batch)
        counts.write(session)
    assert taken.article_id is not None
    assert result.already_stored
    with sessions() as session:
        assert session.scalars(select(ArticleRow.canonical_url)).all() == [rival.canonical_url]
        keys = dict(session.execute(select(ArticleKeyRow.key, ArticleKeyRow.article_id)).all())
    assert keys == {
        "url:https://gazette.test/b": taken.article_id,
        "guid:gazette.test:g": taken.article_id,
    }


# What a stored article may cost, in statements sent to the database, within a batch: on
# PostgreSQL each is a round trip. The batch's lookups are read once and its articles'
# placements written once; PostgreSQL writes a placement's story rows and the article's band
# keys in one statement, and the article's row and its keys in another, which SQLite cannot.
MAX_STATEMENTS_PER_ARTICLE = {"sqlite": 17.0, "postgresql": 10.0}


def test_statements_per_stored_article_are_bounded(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    stream = synthetic_stream(40, seed=11, domain="count.test")
    kinds: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        kinds[statement.split(None, 1)[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = detect(
            sessions,
            stream,
            {},
            MonitorConfig(),
            DetectionSettings(),
            now=stream[-1].fetched_at,
            batch_size=len(stream),
            topics=[EVERY_ARTICLE],
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert report.errors == []
    assert report.stored == len(stream)
    assert report.developments > report.new_stories > 1  # stories joined, not only opened
    assert kinds["SAVEPOINT"] == 0  # none per article when none fails
    per_article = sum(kinds.values()) / report.stored
    assert per_article <= MAX_STATEMENTS_PER_ARTICLE[engine.dialect.name], kinds
