"""The reader's feedback applied by the next detect(), on SQLite and PostgreSQL: a muted story
raises no alert for its topic until unmuted or expired; a development marked not new keeps a
later article repeating its facts silent, even once the story's bounded memory has moved on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig, parse_config
from monitor.detection_settings import DetectionSettings
from monitor.errors import FeedbackError
from monitor.models import Article
from monitor.pipeline import feedback
from monitor.pipeline.detect import detect
from monitor.storage.feedback import feedback_counts
from monitor.storage.tables import AlertRow, ArticleRow, DevelopmentRow, StoryRow
from tests.support.articles import article

from .web_seed import FERRY, FERRY_FOLLOW_UP, T0

TOPIC = "Tarrow ferry"
CONFIG = {"topics": [{"name": TOPIC, "query": "tarrow AND ferry"}]}
QUOTED = (
    'Kell Lines director Juno Pell told islanders in Tarrow: "No crossing will be cancelled '
    'while the ferry moves." Pell added: "The Marta will sail twice a day from the north quay."'
)
# The same two quotations, reworded around them, under a headline the story has not used.
REPEAT = (
    'Speaking to Tarrow islanders, Juno Pell of Kell Lines promised: "No crossing will be '
    'cancelled while the ferry moves." The director also said: "The Marta will sail twice a '
    'day from the north quay."'
)
# More sentences than the story remembers (SETTINGS).
FILLER = " ".join(
    f"Tarrow ferry passengers queued at the north quay terminal on day {i} of the move."
    for i in range(1, 60)
)
THIRD = (
    "The harbour council of Tarrow named Petra Holm on Friday to run the ferry terminal works. "
    "Holm said the 31 million crown budget would cover new piles and a waiting hall."
)


# The least memory allowed. The fact signature, which keeps a reworded repeat of a development's
# names and quotations silent by itself, is off: these tests see what the feedback does.
SETTINGS = DetectionSettings(story_sentence_memory=50, fact_signature=False)


def _config() -> MonitorConfig:
    return parse_config(CONFIG)


def _detect(
    sessions: sessionmaker[Session],
    *articles: Article,
    hours: float = 0,
    settings: DetectionSettings = SETTINGS,
) -> None:
    detect(sessions, list(articles), {}, _config(), settings, now=T0 + _h(hours))


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _alerted_articles(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as s:
        return list(s.scalars(select(AlertRow.article_id).order_by(AlertRow.id)))


def _article(s: Session, url: str) -> ArticleRow:
    return s.scalars(select(ArticleRow).where(ArticleRow.url == url)).one()


def _story_of(sessions: sessionmaker[Session], url: str) -> int:
    with sessions() as s:
        story = _article(s, url).story_id
    assert story is not None
    return story


def test_muted_story_raises_no_alert_until_unmuted(sessions: sessionmaker[Session]) -> None:
    _detect(sessions, article("gazette", "https://g.example/1", "Tarrow ferry", FERRY, T0))
    story = _story_of(sessions, "https://g.example/1")
    with feedback.feedback_transaction(sessions) as s:
        mark = feedback.mute(s, TOPIC, story, by="ana", now=T0)
    assert mark.kind == "not_my_topic"
    assert mark.created_by == "ana"

    follow = article(
        "gazette", "https://g.example/2", "Kell Lines adds a ferry", FERRY_FOLLOW_UP, T0 + _h(30)
    )
    _detect(sessions, follow, hours=30)
    with sessions() as s:
        assert _article(s, "https://g.example/2").is_development  # detected, not alerted
        first = _article(s, "https://g.example/1").id
    assert _alerted_articles(sessions) == [first]

    with feedback.feedback_transaction(sessions) as s:
        undone = feedback.unmute(s, TOPIC, story, by="ben", now=T0 + _h(31))
    assert [u.undone_by for u in undone] == ["ben"]
    third = article("post", "https://p.example/3", "Tarrow ferry works", THIRD, T0 + _h(40))
    _detect(sessions, third, hours=40)
    with sessions() as s:
        assert _article(s, "https://p.example/3").is_development
        later = _article(s, "https://p.example/3").id
    assert _alerted_articles(sessions) == [first, later]
    with feedback.feedback_transaction(sessions) as s, pytest.raises(FeedbackError):
        feedback.unmute(s, TOPIC, story, by="ben", now=T0 + _h(41))


def test_mute_for_days_expires(sessions: sessionmaker[Session]) -> None:
    _detect(sessions, article("gazette", "https://g.example/1", "Tarrow ferry", FERRY, T0))
    story = _story_of(sessions, "https://g.example/1")
    with feedback.feedback_transaction(sessions) as s:
        mark = feedback.mute(s, TOPIC, story, by="ana", now=T0, days=1)
    assert mark.kind == "mute"
    assert mark.expires_at == T0 + timedelta(days=1)
    follow = article(
        "gazette", "https://g.example/2", "Kell Lines adds a ferry", FERRY_FOLLOW_UP, T0 + _h(20)
    )
    _detect(sessions, follow, hours=20)  # within the day: silent
    with sessions() as s:
        assert _article(s, "https://g.example/2").is_development
    assert len(_alerted_articles(sessions)) == 1
    third = article("post", "https://p.example/3", "Tarrow ferry works", THIRD, T0 + _h(30))
    _detect(sessions, third, hours=30)  # the mute has expired
    assert len(_alerted_articles(sessions)) == 2


def _quoted_then_filler(
    sessions: sessionmaker[Session], *, mark: bool, settings: DetectionSettings = SETTINGS
) -> None:
    first = article("gazette", "https://g.example/1", "Tarrow ferry", FERRY, T0)
    _detect(sessions, first, settings=settings)
    quoted = article(
        "gazette", "https://g.example/2", "Kell Lines adds a ferry", QUOTED, T0 + _h(5)
    )
    _detect(sessions, quoted, hours=5, settings=settings)
    with sessions() as s:
        development = _article(s, "https://g.example/2").development_id
        assert _article(s, "https://g.example/2").is_development
        assert development is not None
    if mark:
        with feedback.feedback_transaction(sessions) as s:
            feedback.not_new(s, development, by="ana", now=T0 + _h(6))
    filler = article("herald", "https://h.example/3", "Queues at quay", FILLER, T0 + _h(8))
    _detect(sessions, filler, hours=8, settings=settings)
    repeat = article(
        "post",
        "https://p.example/4",
        "Operator pledges no disruption during Tarrow ferry move",
        REPEAT,
        T0 + _h(10),
    )
    _detect(sessions, repeat, hours=10, settings=settings)


def test_repeat_of_facts_marked_not_new_stays_silent(sessions: sessionmaker[Session]) -> None:
    _quoted_then_filler(sessions, mark=True)
    with sessions() as s:
        repeat = _article(s, "https://p.example/4")
        quoted = _article(s, "https://g.example/2")
        assert not repeat.is_development
        assert repeat.development_id == quoted.development_id  # a report of the marked one
        alerted = _alerted_articles(sessions)
        assert repeat.id not in alerted
        assert quoted.id in alerted
        counts = {c.topic: c for c in feedback_counts(s)}
    assert counts[TOPIC].not_new == 1
    assert counts[TOPIC].not_my_topic == 0
    assert counts[TOPIC].alerts == len(alerted)


def test_repeat_without_the_mark_is_a_development(sessions: sessionmaker[Session]) -> None:
    """The control: the story's memory has moved past the quotations, so without the mark the
    reworded repeat counts as new again."""
    _quoted_then_filler(sessions, mark=False)
    with sessions() as s:
        repeat = _article(s, "https://p.example/4")
        assert repeat.is_development
        assert repeat.id in _alerted_articles(sessions)


def test_the_fact_signature_keeps_the_repeat_silent_without_a_mark(
    sessions: sessionmaker[Session],
) -> None:
    """With the shipped fact signature, the reworded repeat names no one and quotes nothing the
    story's developments had not: a report, even once the sentences it repeats are forgotten."""
    signature_on = DetectionSettings(story_sentence_memory=50)
    _quoted_then_filler(sessions, mark=False, settings=signature_on)
    with sessions() as s:
        repeat = _article(s, "https://p.example/4")
        quoted = _article(s, "https://g.example/2")
        assert not repeat.is_development
        assert repeat.id not in _alerted_articles(sessions)
        assert repeat.decision["salience"]["overruled"] == "headline"
        assert quoted.id in _alerted_articles(sessions)


def test_undone_not_new_forgets_the_facts(sessions: sessionmaker[Session]) -> None:
    _detect(sessions, article("gazette", "https://g.example/1", "Tarrow ferry", FERRY, T0))
    with sessions() as s:
        development = s.scalars(select(DevelopmentRow.id)).one()
    with feedback.feedback_transaction(sessions) as s:
        mark = feedback.not_new(s, development, by="ana", now=T0)
        again = feedback.not_new(s, development, by="ben", now=T0)
    assert again.id == mark.id  # marking twice keeps one mark
    with sessions() as s:
        counts = feedback_counts(s)
    assert [(c.topic, c.alerts, c.not_new) for c in counts] == [(TOPIC, 1, 1)]
    with feedback.feedback_transaction(sessions) as s:
        undone = feedback.undo(s, mark.id, by="ben", now=T0 + _h(1))
    assert undone.undone_by == "ben"
    with sessions() as s:
        assert feedback_counts(s)[0].not_new == 0
        story = s.get(StoryRow, mark.story_id)
        assert story is not None
        assert "known" not in story.memory
    with feedback.feedback_transaction(sessions) as s, pytest.raises(FeedbackError):
        feedback.undo(s, mark.id, by="ben", now=T0 + _h(2))
