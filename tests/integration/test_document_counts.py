"""The detect stage writes a batch's document frequencies once, at the batch's end
(:class:`monitor.storage.detection.DocumentCounts`): every article must still see exactly the
frequencies it would have seen had each article's been written at once, and an article rolled
back must not be counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage import detection as repo
from monitor.storage.db import make_engine, session_factory, upgrade
from monitor.storage.tables import ArticleRow, TermStatRow
from monitor.stories.ingest import IngestResult, ingest
from tests.support.articles import article

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"
START = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)
CONFIG = MonitorConfig.model_validate(
    {"sources": [], "topics": [{"name": "harbour", "query": "harbour OR strike"}]}
)


def _coverage() -> list[Article]:
    out = []
    for hours, (name, source) in enumerate(
        [
            ("01_first_report.txt", "harbour-gazette.test"),
            ("05_other_story.txt", "mountain-news.test"),
            ("02_follow_up.txt", "straits-daily.test"),
            ("03_rewrite_of_follow_up.txt", "aggregator.test"),
            ("04_new_development.txt", "harbour-gazette.test"),
        ]
    ):
        text = (FIXTURES / name).read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line and "Subscribe" not in line)
        when = START + timedelta(hours=6 * hours)
        out.append(article(source, f"https://{source}/{name}", title, text, when))
    return out


def _outcome(sessions: sessionmaker[Session]) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """The stored document frequencies, and per article its story, development and the
    clustering scores and novelty verdicts it was placed with."""
    with sessions() as session:
        df = {str(t): int(n) for t, n in session.execute(select(TermStatRow.term, TermStatRow.df))}
        rows = session.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        placed = [
            (
                r.url,
                r.story_id,
                r.development_id,
                r.decision.get("cluster"),
                r.decision.get("novelty"),
            )
            for r in rows
        ]
    return df, placed


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Every article in its own transaction, its frequencies written at once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    upgrade(engine)
    one_by_one = session_factory(engine)
    for each in _coverage():
        with one_by_one.begin() as session:
            ingest(session, each, source_id=None, settings=DetectionSettings())
    yield one_by_one
    engine.dispose()


def test_a_batch_sees_the_frequencies_of_articles_written_one_by_one(
    sessions: sessionmaker[Session], reference: sessionmaker[Session]
) -> None:
    report = detect(sessions, _coverage(), {}, CONFIG, DetectionSettings(), now=START, prune=False)

    assert report.stored == 5
    expected_df, expected_placed = _outcome(reference)
    df, placed = _outcome(sessions)
    assert df == expected_df
    assert df[repo.DOC_COUNT_TERM] == 5  # every article was placed in a story, none a duplicate
    assert placed == expected_placed
    # The clustering of the later articles did read the earlier ones' frequencies.
    assert any(p[3]["candidates"] for p in placed[1:])


def test_an_article_rolled_back_is_not_counted(sessions: sessionmaker[Session]) -> None:
    coverage = _coverage()

    def fails_after_placing(session: Session, item: Article, **kw: Any) -> IngestResult:
        result = ingest(session, item, **kw)  # counted in the batch's pending frequencies
        if "05_other_story" in item.url:
            raise ValueError("placed, then failed")
        return result

    settings = DetectionSettings()
    report = detect(
        sessions, coverage, {}, CONFIG, settings, now=START, ingest_fn=fails_after_placing
    )
    assert [e.error_type for e in report.errors] == ["ValueError"]
    assert report.stored == 4
    df, _ = _outcome(sessions)
    assert df[repo.DOC_COUNT_TERM] == 4
    with sessions() as session:
        kept = [a for a in coverage if "05_other_story" not in a.url]
        reads = [_counted_terms(a) for a in kept]
        expected = Counter(t for terms in reads for t in terms)
        assert {t: n for t, n in df.items() if t != repo.DOC_COUNT_TERM} == dict(expected)
        assert session.query(ArticleRow).count() == 4


def _counted_terms(item: Article) -> list[str]:
    """The terms ingest counts for an article: its most frequent ``max_df_terms``."""
    from monitor.stories.reading import read_article

    settings = DetectionSettings()
    counts = read_article(item.title, item.text, settings).counts
    terms = sorted(counts, key=lambda t: -counts[t])[: settings.max_df_terms]
    return list(dict.fromkeys(t[: repo.MAX_TERM_LEN] for t in terms))


def test_stored_counts_read_once_per_batch_add_up_with_the_batch(
    sessions: sessionmaker[Session], reference: sessionmaker[Session]
) -> None:
    """Stored frequencies are read once in a batch and reused: with earlier batches already
    stored, every article still sees exactly what one-by-one writes would have shown it."""
    coverage = _coverage()
    settings = DetectionSettings()
    detect(sessions, coverage[:2], {}, CONFIG, settings, now=START, prune=False)
    detect(sessions, coverage[2:], {}, CONFIG, settings, now=START, prune=False, batch_size=2)

    assert _outcome(sessions) == _outcome(reference)


def test_a_batch_reads_each_stored_count_once(sessions: sessionmaker[Session]) -> None:
    coverage = _coverage()
    first, second = coverage[0], coverage[2]  # the first report and its follow-up share words
    settings = DetectionSettings()
    detect(sessions, [first], {}, CONFIG, settings, now=START, prune=False)  # stored counts
    terms = _counted_terms(second)
    read: list[int] = []

    def count_reads(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        if "FROM term_stats" in statement:
            read.append(1)

    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", count_reads)
    try:
        with sessions.begin() as session:
            pending = repo.DocumentCounts()
            once, docs = repo.document_frequencies(session, terms, pending)
            reads_first = len(read)
            again, docs_again = repo.document_frequencies(session, terms, pending)
            assert len(read) == reads_first > 0  # the second call read nothing
            assert (again, docs_again) == (once, docs)
            assert docs == 1  # the first article's counts, as stored
            assert once
            pending.add(terms)
            pending.keep()
            counted, docs_counted = repo.document_frequencies(session, terms, pending)
            assert len(read) == reads_first
            assert docs_counted == 2
            assert all(counted[t] == once.get(t, 0) + 1 for t in dict.fromkeys(terms))
            pending.write(session)
            assert not pending.stored  # written: the next batch reads the new counts
        with sessions() as session:
            fresh, fresh_docs = repo.document_frequencies(session, terms)
        assert (fresh, fresh_docs) == (counted, docs_counted)
    finally:
        event.remove(engine, "before_cursor_execute", count_reads)
