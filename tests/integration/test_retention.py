"""prune_archive(): old articles lose text and explain record, never their power to dedup.

On SQLite and PostgreSQL: a reprint or a rewrite of a pruned article is still a duplicate, its URL
still "already stored", and nothing old alerts again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import parse_config
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.retention import PruneReport, database_size, prune_archive, vacuum
from monitor.storage.tables import AlertRow, ArticleRow, StorySentenceRow
from tests.support.articles import article

NOW = datetime(2031, 9, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=200)

STRIKE = (
    "Dock workers at the port of Vellmar walked out on Monday over a new shift rota. "
    "Union organiser Petra Aslund said 1,400 members had backed the strike in a vote. "
    "Ships bound for Vellmar were told to anchor offshore until the dispute is settled. "
    "The port authority said talks with the union would resume on Wednesday morning."
)
STRIKE_REWRITE = (
    "Dock workers at the port of Vellmar walked out on Monday over a new shift rota. "
    "Union organiser Petra Aslund said 1,400 members had backed the strike in a vote. "
    "Ships bound for Vellmar were told to anchor offshore until the dispute is settled. "
    "The port authority said talks with the union would resume on Wednesday."
)
BRIDGE = (
    "The Orrin bridge reopened to traffic on Friday after eleven months of repairs. "
    "City engineer Tomas Reyl said the new deck was built to carry 40-tonne lorries. "
    "Cyclists get a separate lane on the east side, protected by a steel barrier."
)
CONFIG = parse_config({"topics": [{"name": "port", "query": "vellmar OR orrin"}]})


def _article(n: int, text: str, when: datetime, title: str = "Vellmar dockers strike") -> Article:
    return article("harbour-news", f"https://harbour-news.test/{n}", title, text, when)


def _seed(sessions: sessionmaker[Session], *, next_cycle: bool = True) -> None:
    old = [_article(1, STRIKE, OLD)]
    recent = [_article(2, BRIDGE, NOW - timedelta(days=2), title="Orrin bridge reopens")]
    detect(sessions, old, {}, CONFIG, DetectionSettings(), now=OLD)
    detect(sessions, recent, {}, CONFIG, DetectionSettings(), now=NOW)
    if next_cycle:
        # The next cycle starts by dropping the cold strike story from the candidate index.
        detect(sessions, [], {}, CONFIG, DetectionSettings(), now=NOW)


def _row(sessions: sessionmaker[Session], article_id: int) -> ArticleRow:
    with sessions() as s:
        row = s.get(ArticleRow, article_id)
        assert row is not None
        s.expunge(row)
        return row


def _sentences(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(StorySentenceRow)) or 0)


def _prune(
    sessions: sessionmaker[Session], *, dry_run: bool = False, keep_days: int = 90
) -> PruneReport:
    return prune_archive(
        sessions,
        now=NOW,
        keep_days=keep_days,
        story_active_days=DetectionSettings().story_active_days,
        dry_run=dry_run,
        chunk=1,  # one transaction per article: the chunking is exercised too
    )


def test_old_articles_lose_text_and_explain_record_and_recent_ones_keep_them(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    before_recent = _row(sessions, 2)
    old_story = _row(sessions, 1).story_id
    with sessions() as s:
        old_sentences = s.scalar(select(func.count()).where(StorySentenceRow.story_id == old_story))
    assert old_sentences
    assert old_sentences < _sentences(sessions)

    dry = _prune(sessions, dry_run=True)
    assert (dry.articles, dry.stories, dry.sentences) == (1, 1, old_sentences)
    assert _row(sessions, 1).text == STRIKE  # a dry run changes nothing

    report = _prune(sessions)
    assert (report.articles, report.stories, report.sentences) == (1, 1, old_sentences)
    assert report.cutoff == NOW - timedelta(days=90)

    old = _row(sessions, 1)
    assert old.text == ""
    assert old.decision["outcome"] == "development"
    assert old.decision["story_id"] == old_story
    assert old.decision["pruned_at"] == NOW.isoformat()
    assert "novelty" not in old.decision
    assert "cluster" not in old.decision
    assert old.title == "Vellmar dockers strike"
    assert old.minhash
    assert old.content_hash

    recent = _row(sessions, 2)
    assert recent.text == BRIDGE
    assert recent.decision == before_recent.decision
    with sessions() as s:
        kept = s.scalar(select(func.count()).where(StorySentenceRow.story_id == recent.story_id))
    assert kept == _sentences(sessions) > 0

    again = _prune(sessions)
    assert (again.articles, again.stories, again.sentences) == (0, 0, 0)


def test_a_pruned_article_still_catches_its_reprints_rewrites_and_url(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    _prune(sessions)
    with sessions() as s:
        alerts_before = s.scalar(select(func.count()).select_from(AlertRow))
    late = [
        _article(1, STRIKE, NOW),  # the same URL again
        _article(3, STRIKE, NOW),  # a reprint under another URL
        _article(4, STRIKE_REWRITE, NOW),  # a light rewrite
    ]
    report = detect(sessions, late, {}, CONFIG, DetectionSettings(), now=NOW)
    assert report.already_stored == 1
    assert report.duplicates == {"exact": 1, "near": 1}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AlertRow)) == alerts_before
        dup_of = dict(s.execute(select(ArticleRow.id, ArticleRow.duplicate_of_id)).all())
    assert dup_of[3] == 1
    assert dup_of[4] == 1


def test_a_story_that_can_still_be_joined_keeps_its_memory(
    sessions: sessionmaker[Session],
) -> None:
    _seed(sessions)
    total = _sentences(sessions)
    # Texts older than 30 days go, but the strike story is still inside a 300-day window.
    report = prune_archive(sessions, now=NOW, keep_days=30, story_active_days=300)
    assert report.articles == 1
    assert (report.stories, report.sentences) == (0, 0)
    assert _sentences(sessions) == total


def test_a_cold_story_still_in_the_candidate_index_keeps_its_memory(
    sessions: sessionmaker[Session],
) -> None:
    # No cycle has run since the strike story went cold: it can still be found, so it stays.
    _seed(sessions, next_cycle=False)
    total = _sentences(sessions)
    report = _prune(sessions)
    assert report.articles == 1
    assert (report.stories, report.sentences) == (0, 0)
    assert _sentences(sessions) == total


def test_keep_days_below_one_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        prune_archive(sessions, now=NOW, keep_days=0, story_active_days=60)


def test_vacuum_gives_the_space_back(engine: Engine, sessions: sessionmaker[Session]) -> None:
    batch = [
        _article(100 + i, f"{BRIDGE} Lane {i} of the bridge was painted by crew {i * 7}.", OLD)
        for i in range(40)
    ]
    detect(sessions, batch, {}, CONFIG, DetectionSettings(), now=OLD)
    assert _prune(sessions, keep_days=30).articles == 40
    before = database_size(engine)
    vacuum(engine)
    after = database_size(engine)
    if engine.dialect.name == "sqlite":
        assert after < before  # the file is rewritten without the freed pages
    else:
        assert after > 0  # PostgreSQL keeps the space for reuse; the statement must run
