"""A story, a follow-up with new facts, a rewrite of it with no new facts, a further development
and an unrelated story, replayed through the real ingest code on SQLite and PostgreSQL.

The texts are fictional (tests/fixtures/stories). The rewrite shares few 5-grams with the
follow-up, so only novelty detection (not dedup) can keep it silent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitor.dedup import exact_containment
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from monitor.storage.tables import ArticleRow, DevelopmentReportRow, DevelopmentRow, StoryRow
from monitor.stories.ingest import IngestResult, ingest
from tests.support.articles import article

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stories"
START = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)


def _article(name: str, source: str, hours: float) -> Article:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    title = text.splitlines()[0] if not text.startswith("Subscribe") else text.splitlines()[1]
    return article(source, f"https://{source}/{name}", title, text, START + timedelta(hours=hours))


def _ingest(sessions: sessionmaker[Session], article: Article) -> IngestResult:
    with sessions() as session, session.begin():
        return ingest(session, article, source_id=None, settings=DetectionSettings())


def test_rewrite_is_a_report_and_follow_ups_are_developments(
    sessions: sessionmaker[Session],
) -> None:
    first = _ingest(sessions, _article("01_first_report.txt", "harbour-gazette.test", 0))
    follow = _ingest(sessions, _article("02_follow_up.txt", "straits-daily.test", 26))
    rewrite = _ingest(sessions, _article("03_rewrite_of_follow_up.txt", "aggregator.test", 30))
    later = _ingest(sessions, _article("04_new_development.txt", "harbour-gazette.test", 72))
    other = _ingest(sessions, _article("05_other_story.txt", "mountain-news.test", 40))

    assert first.new_story
    assert first.development_id is not None
    assert first.novel_sentences
    for result in (follow, rewrite, later):
        assert result.story_id == first.story_id
        assert result.duplicate_of is None

    assert follow.development_id is not None
    assert any("Castellan" in s for s in follow.novel_sentences)

    # The rewrite is not a textual copy, yet adds nothing: filed under the follow-up's development.
    rewrite_text = (FIXTURES / "03_rewrite_of_follow_up.txt").read_text(encoding="utf-8")
    follow_text = (FIXTURES / "02_follow_up.txt").read_text(encoding="utf-8")
    assert exact_containment(rewrite_text, follow_text) < 0.2
    assert rewrite.development_id is None
    assert rewrite.novel_sentences == ()
    assert rewrite.repeats_development_id == follow.development_id

    assert later.development_id is not None
    assert any("Ellery" in s or "40 cargo" in s for s in later.novel_sentences)

    # Negative control: another story never joins or develops this one.
    assert other.story_id != first.story_id
    assert other.new_story

    with sessions() as session:
        report = session.get(DevelopmentReportRow, (follow.development_id, rewrite.article_id))
        assert report is not None
        story = session.get(StoryRow, first.story_id)
        assert story is not None
        assert story.article_count == 4
        assert set(story.outlets) == {
            "harbour-gazette.test",
            "straits-daily.test",
            "aggregator.test",
        }
        devs = session.query(DevelopmentRow).filter_by(story_id=first.story_id).count()
        assert devs == 3
        row = session.get(ArticleRow, rewrite.article_id)
        assert row is not None
        assert row.decision["outcome"] == "report"
        assert all(not s["novel"] for s in row.decision["novelty"]["sentences"])


@pytest.mark.parametrize("order", ["rewrite-last"])
def test_replaying_the_same_articles_is_a_no_op(
    sessions: sessionmaker[Session], order: str
) -> None:
    article = _article("01_first_report.txt", "harbour-gazette.test", 0)
    first = _ingest(sessions, article)
    again = _ingest(sessions, article)
    assert first.article_id is not None
    assert again.already_stored
    assert again.article_id is None
    with sessions() as session:
        assert session.query(ArticleRow).count() == 1


def test_stories_and_explain_commands_show_the_decisions(
    sessions: sessionmaker[Session], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import typer
    from typer.testing import CliRunner

    from monitor.cli.stories import register

    _ingest(sessions, _article("01_first_report.txt", "harbour-gazette.test", 0))
    _ingest(sessions, _article("02_follow_up.txt", "straits-daily.test", 26))
    rewrite = _ingest(sessions, _article("03_rewrite_of_follow_up.txt", "aggregator.test", 30))
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    listed = runner.invoke(app, ["stories", "--json"])
    assert listed.exit_code == 0, listed.output
    stories = json.loads(listed.output)
    assert len(stories) == 1
    assert [len(d["reports"]) for d in stories[0]["developments"]] == [0, 1]

    explained = runner.invoke(app, ["explain", str(rewrite.article_id)])
    assert explained.exit_code == 0, explained.output
    assert "outcome: report" in explained.output
    assert "no new name, number, quote or event verb" in explained.output
    assert "best match" in explained.output
    assert "\n         ~ " in explained.output  # the earlier sentence a repeat matched

    assert "alerted: none" in explained.output  # no topic was raised for it

    missing = runner.invoke(app, ["explain", "https://nowhere.test/x"])
    assert missing.exit_code == 1


def test_stories_lists_the_most_recent_few_in_a_bounded_number_of_queries(
    sessions: sessionmaker[Session], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``monitor stories --limit N`` reads N stories, not the archive: four statements however
    many stories are stored, the most recently active first, times in UTC."""
    import json

    import typer
    from sqlalchemy import event
    from typer.testing import CliRunner

    from monitor.cli.stories import register, story_listing

    first = _ingest(sessions, _article("01_first_report.txt", "harbour-gazette.test", 0))
    _ingest(sessions, _article("02_follow_up.txt", "straits-daily.test", 26))
    other = _ingest(sessions, _article("05_other_story.txt", "mountain-news.test", 40))
    statements: list[str] = []
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def selects() -> list[str]:  # SQLite's connection set-up runs PRAGMAs on first use
        return [q for q in statements if q.lstrip().upper().startswith("SELECT")]

    with sessions() as session:
        both = story_listing(session, 10)
        counted_both = len(selects())
        statements.clear()
        one = story_listing(session, 1)
    assert [s["id"] for s in both] == [other.story_id, first.story_id]
    assert counted_both == 4
    assert len(selects()) == 4
    assert [s["id"] for s in one] == [other.story_id]
    assert [len(d["reports"]) for d in both[1]["developments"]] == [0, 0]

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    app = typer.Typer()
    register(app)
    listed = CliRunner().invoke(app, ["stories", "--json", "--limit", "1"])
    assert listed.exit_code == 0, listed.output
    [shown] = json.loads(listed.output)
    assert shown["id"] == other.story_id
    assert shown["first_seen_at"] == "2031-06-03T00:00:00+00:00"
    text = CliRunner().invoke(app, ["stories"])
    assert "(article 1, 2031-06-01 08:00 UTC)" in text.output
    assert CliRunner().invoke(app, ["stories", "--limit", "0"]).exit_code == 2


def test_an_alert_raised_twice_is_stored_and_queued_once(sessions: sessionmaker[Session]) -> None:
    """A second raise for the same (topic, development) is refused by the idempotency key:
    no second alert, no second outbox row, and the caller's transaction carries on."""
    from monitor.config import MonitorConfig
    from monitor.pipeline.alerting import alert_on, compile_topics
    from monitor.storage.tables import AlertRow, DeliveryRow
    from monitor.storage.topic_cursors import events_after, newest_article

    config = MonitorConfig.model_validate(
        {
            "sources": [{"name": "harbour-gazette.test", "url": "https://harbour-gazette.test/"}],
            "topics": [{"name": "harbour", "query": "harbour OR port OR strike"}],
            "channels": [{"type": "webhook", "name": "hook", "url": "https://hooks.test/in"}],
        }
    )
    story = _article("01_first_report.txt", "harbour-gazette.test", 0)
    topics = compile_topics(config)
    with sessions() as session, session.begin():
        result = ingest(session, story, source_id=None, settings=DetectionSettings())
        [[event]] = list(events_after(session, 0, newest_article(session)))
        first = alert_on(session, event, topics, config, now=START)
        second = alert_on(session, event, topics, config, now=START)
        assert len(first) == 1
        assert second == []
    with sessions() as session:
        alert = session.get(AlertRow, first[0])
        assert alert is not None
        assert alert.payload["alert_id"] == first[0]
        assert alert.payload["facts"] == list(result.novel_sentences)
        assert session.query(AlertRow).count() == 1
        assert [d.channel for d in session.query(DeliveryRow)] == ["hook"]


def test_a_topic_with_min_new_facts_hears_of_small_developments_only_from_the_first(
    sessions: sessionmaker[Session], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two topics on the same coverage: one alerts on every development, the other only on
    developments with at least N new facts, except the story's first alert, always sent."""
    from monitor.config import MonitorConfig
    from monitor.pipeline.alerting import compile_topics, raise_topic_alerts
    from monitor.storage.tables import AlertRow
    from monitor.storage.topic_cursors import start_cursors

    coverage = [
        _article("01_first_report.txt", "harbour-gazette.test", 0),
        _article("02_follow_up.txt", "straits-daily.test", 26),
        _article("04_new_development.txt", "harbour-gazette.test", 72),
    ]
    results = [_ingest(sessions, each) for each in coverage]
    first, follow, later = results
    assert all(r.development_id is not None for r in results)
    # Above the follow-up's count of new facts and above the first report's too.
    threshold = max(len(first.novel_sentences), len(follow.novel_sentences)) + 1
    query = "valmora"
    config = MonitorConfig.model_validate(
        {
            "topics": [
                {"name": "every", "query": query},
                {"name": "big", "query": query, "min_new_facts": threshold},
            ]
        }
    )
    topics = compile_topics(config)
    with sessions() as session, session.begin():
        start_cursors(session, ["every", "big"], 0, START)  # topics that were there from the start
        raise_topic_alerts(session, topics, config, now=START)
    with sessions() as session:
        alerted = {
            topic: [a.development_id for a in session.query(AlertRow).filter_by(topic=topic)]
            for topic in ("every", "big")
        }
    assert sorted(alerted["every"]) == sorted(r.development_id for r in results)
    expected = [first.development_id]  # the first, though it has fewer facts than asked
    if len(later.novel_sentences) >= threshold:
        expected.append(later.development_id)
    assert sorted(alerted["big"]) == sorted(expected)

    # `monitor explain` names the topics an article alerted.
    import json

    import typer
    from typer.testing import CliRunner

    from monitor.cli.stories import register

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    shown = runner.invoke(app, ["explain", str(first.article_id), "--json"])
    assert shown.exit_code == 0, shown.output
    assert sorted(a["topic"] for a in json.loads(shown.output)["alerts"]) == ["big", "every"]
    shown = runner.invoke(app, ["explain", str(follow.article_id)])
    assert shown.exit_code == 0, shown.output
    assert "alerted: 'every' (alert " in shown.output
    assert "'big'" not in shown.output
