"""ingest(): keys, exact and near duplicates, reports, aliases, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.storage import detection as repo
from monitor.storage.db import session_factory
from monitor.storage.tables import (
    ArticleKeyRow,
    ArticleRow,
    DevelopmentReportRow,
    MinhashBandRow,
    StoryTermRow,
)
from monitor.stories.ingest import IngestResult, ingest, known_keys
from monitor.stories.reading import read_article
from monitor.text import stem
from tests.support.articles import article

T0 = datetime(2031, 3, 2, 9, 0, tzinfo=UTC)

BODY = """The Corvane river burst its banks near the village of Ashby Fold on Tuesday night.
Emergency coordinator Halvard Quist said 230 homes had been evacuated before midnight.
Pumps borrowed from the town of Merrow were moved to the flooded school by 3 a.m.
"The water rose faster than any of our models predicted," Quist told the regional council.
The council said it would meet on Thursday to approve a relief fund for affected families.
Forecasters expect the river to crest again on Friday after more rain in the Tarn hills.
Volunteers from the Ashby Fold rowing club ferried elderly residents to the parish hall.
Road 14 between Ashby Fold and Merrow remains closed until engineers inspect the bridge."""


def _article(
    url: str,
    text: str = BODY,
    *,
    hours: float = 0,
    guid: str | None = None,
    source: str = "riverside.test",
    rel: str | None = None,
    title: str = "Corvane river floods Ashby Fold",
) -> Article:
    when = T0 + timedelta(hours=hours)
    return article(source, url, title, text, when, guid=guid, rel_canonical=rel)


def _ingest(sessions: sessionmaker[Session], article: Article) -> IngestResult:
    with sessions() as session, session.begin():
        return ingest(session, article, source_id=None, settings=DetectionSettings())


def test_keys_are_stored_and_a_second_ingest_is_a_no_op(sessions: sessionmaker[Session]) -> None:
    first = _ingest(sessions, _article("https://a.test/1", guid="g-1", rel="https://a.test/amp/1"))
    assert first.article_id is not None
    assert first.new_story
    with sessions() as session:
        assert known_keys(
            session,
            [
                "url:https://a.test/1",
                "guid:riverside.test:g-1",
                "url:https://a.test/amp/1",
                "url:https://a.test/other",
            ],
        ) == {"url:https://a.test/1", "guid:riverside.test:g-1", "url:https://a.test/amp/1"}
    # Same GUID under another URL: already stored, nothing written.
    again = _ingest(sessions, _article("https://a.test/1?moved", guid="g-1"))
    assert again.already_stored
    assert again.article_id is None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 1


def test_exact_duplicate_points_at_original_and_never_develops(
    sessions: sessionmaker[Session],
) -> None:
    original = _ingest(sessions, _article("https://a.test/1"))
    # Only case, quotes and spacing differ: the normalised hash is the same.
    copy_text = BODY.replace("\n", "\n\n").upper().replace('"', "\u201c")
    copy = _ingest(sessions, _article("https://b.test/copy", copy_text, hours=2, source="b.test"))
    assert copy.duplicate_kind == "exact"
    assert copy.duplicate_of == original.article_id
    assert copy.development_id is None
    assert copy.repeats_development_id == original.development_id
    assert copy.story_id == original.story_id
    with sessions() as session:
        report = session.get(DevelopmentReportRow, (original.development_id, copy.article_id))
        assert report is not None
        assert report.similarity == 1.0
        # Duplicates are not indexed themselves: their original already covers them.
        bands = session.scalar(
            select(func.count())
            .select_from(MinhashBandRow)
            .where(MinhashBandRow.article_id == copy.article_id)
        )
        assert bands == 0


def test_near_duplicate_found_through_bands(sessions: sessionmaker[Session]) -> None:
    original = _ingest(sessions, _article("https://a.test/1"))
    # A syndicated copy with the last paragraph cut and a tagline added: > 80 % contained.
    lines = BODY.splitlines()
    copy_text = "\n".join(lines[:-1]) + "\nThis story was first published by the Riverside Post."
    copy = _ingest(sessions, _article("https://c.test/syn", copy_text, hours=1, source="c.test"))
    assert copy.duplicate_kind == "near"
    assert copy.duplicate_of == original.article_id
    assert copy.similarity is not None
    assert copy.similarity >= 0.8
    assert copy.development_id is None


def test_a_short_excerpt_of_a_long_article_is_a_near_duplicate(
    sessions: sessionmaker[Session],
) -> None:
    long_text = BODY + "\n" + BODY.replace("Corvane", "Corvane's").replace("Quist", "Mr Quist")
    original = _ingest(sessions, _article("https://a.test/long", long_text))
    excerpt = "\n".join(BODY.splitlines()[:4])
    copy = _ingest(sessions, _article("https://d.test/ex", excerpt, hours=1, source="d.test"))
    assert copy.duplicate_of == original.article_id


def test_different_article_is_not_a_duplicate_and_indexes_story_terms(
    sessions: sessionmaker[Session],
) -> None:
    _ingest(sessions, _article("https://a.test/1"))
    other = """Astronomers at the Pellin observatory catalogued 41 new comets this winter.
Director Ysolde Krane said the survey camera had been upgraded in October.
The team will publish the catalogue in the Journal of Northern Skies next month.
Krane said amateur observers had reported six of the comets before the survey did.
The observatory plans an open night on March 20 for schools in the Pellin valley."""
    res = _ingest(
        sessions,
        _article(
            "https://e.test/sky", other, hours=3, source="e.test", title="Pellin comet survey"
        ),
    )
    assert res.duplicate_of is None
    assert res.new_story
    with sessions() as session:
        terms = set(
            session.scalars(select(StoryTermRow.term).where(StoryTermRow.story_id == res.story_id))
        )
        assert {stem("krane"), stem("pellin"), "41"} <= terms
        keys = session.scalars(
            select(ArticleKeyRow.key).where(ArticleKeyRow.article_id == res.article_id)
        ).all()
        assert keys == ["url:https://e.test/sky"]


def test_alias_key_taken_by_another_article_is_left_alone(
    sessions: sessionmaker[Session],
) -> None:
    first = _ingest(sessions, _article("https://a.test/1"))
    other = (
        BODY.replace("Corvane", "Lessing")
        .replace("Ashby Fold", "Dunmere")
        .replace("Quist", "Orrin")
        .replace("Merrow", "Caldy")
        .replace("230", "85")
        .replace("14", "9")
    )
    second = _ingest(
        sessions,
        _article("https://f.test/2", other, hours=30, source="f.test", rel="https://a.test/1"),
    )
    assert second.article_id is not None
    with sessions() as session:
        row = session.get(ArticleKeyRow, "url:https://a.test/1")
        assert row is not None
        assert row.article_id == first.article_id
        # The database's answer reaches the caller, on either database.
        assert not repo.add_key_if_free(session, second.article_id, "url:https://a.test/1")
        assert repo.add_key_if_free(session, second.article_id, "url:https://f.test/amp/2")
        # Several keys in one statement: all free, or the caller learns that one was not.
        taken = ["url:https://f.test/amp/3", "url:https://a.test/1"]
        assert not repo.add_keys_if_free(session, second.article_id, taken)
        free = ["url:https://f.test/amp/4", "guid:f.test:4", "url:https://f.test/amp/4"]
        assert repo.add_keys_if_free(session, second.article_id, free)
        assert session.get(ArticleKeyRow, "guid:f.test:4") is not None


def test_database_refuses_a_second_original_without_aborting_the_transaction(
    sessions: sessionmaker[Session],
) -> None:
    first = _ingest(sessions, _article("https://a.test/1"))
    with sessions() as session, session.begin():
        original = session.get(ArticleRow, first.article_id)
        assert original is not None
        values = {
            "source_name": "racer.test",
            "url": "https://racer.test/x",
            "canonical_url": "https://racer.test/x",
            "title": "",
            "text": BODY,
            "fetched_at": T0,
            "content_hash": original.content_hash,
            "authors": [],
            "decision": {},
        }
        # What a concurrent writer meets when it lost the race on the content hash.
        assert repo.insert_article(session, values) is None
        values["duplicate_of_id"] = original.id
        assert repo.insert_article(session, values) is not None
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 2


FOLLOW_UP = (
    BODY
    + "\nOn Wednesday the Tarn Water Authority said a breach at the Holloway dam caused the flood."
    + "\nEngineer Marit Solberg said repairs would cost 4.2 million crowns and take 6 weeks."
)


def _outcomes(sessions: sessionmaker[Session], articles: list[Article]) -> list[tuple[object, ...]]:
    """What ingest decided for each article, without the ids (sequences differ between runs)."""
    outcomes = []
    with sessions() as session, session.begin():
        for article in articles:
            result = ingest(session, article, source_id=None, settings=DetectionSettings())
            outcomes.append(
                (
                    result.duplicate_kind,
                    result.similarity,
                    result.new_story,
                    result.development_id is not None,
                    result.novel_sentences,
                )
            )
        session.rollback()
    return outcomes


def test_a_precomputed_reading_changes_nothing_but_the_cost(
    sessions: sessionmaker[Session],
) -> None:
    articles = [
        _article("https://a.test/flood"),
        _article("https://b.test/flood", hours=1),  # a reprint
        _article("https://c.test/dam", FOLLOW_UP, hours=20, title="Dam breach behind flood"),
    ]
    settings = DetectionSettings()
    read = [replace(a, reading=read_article(a.title, a.text, settings)) for a in articles]
    plain = _outcomes(sessions, articles)
    assert [o[0] for o in plain] == [None, "exact", None]
    assert plain[2][3]  # the follow-up is a development
    assert _outcomes(sessions, read) == plain


def test_the_writer_that_loses_a_guid_race_leaves_nothing_behind(postgres_engine: Engine) -> None:
    """Two writers on PostgreSQL store the same feed entry at once, under two URLs; the rival
    commits between our check of the keys and our insert. SQLite admits one writer at a time,
    so this race exists only on PostgreSQL (shared by several workers)."""
    sessions = session_factory(postgres_engine)
    mine = _article("https://a.test/flood", guid="entry-7")
    rival = _article("https://b.test/flood", FOLLOW_UP, guid="entry-7", source="riverside.test")
    raced: list[IngestResult] = []

    def rival_commits_first(state: ORMExecuteState) -> None:
        table = getattr(state.statement, "table", None)
        inserts_article = (
            getattr(table, "name", "") == "articles"
            if state.is_insert
            else "INSERT INTO articles" in str(state.statement)  # a text statement
        )
        if inserts_article and not raced:
            raced.append(_ingest(sessions, rival))

    with sessions() as session, session.begin():
        event.listen(session, "do_orm_execute", rival_commits_first)
        result = ingest(session, mine, source_id=None, settings=DetectionSettings())
        # The transaction is still usable after the refused key.
        assert session.scalar(select(func.count()).select_from(ArticleRow)) == 1
    assert raced
    assert raced[0].article_id is not None
    assert result == IngestResult.stored()
    with sessions() as session:
        urls = session.scalars(select(ArticleRow.canonical_url)).all()
        keys = dict(session.execute(select(ArticleKeyRow.key, ArticleKeyRow.article_id)).all())
    assert urls == ["https://b.test/flood"]
    assert keys == {
        "url:https://b.test/flood": raced[0].article_id,
        "guid:riverside.test:entry-7": raced[0].article_id,
    }
