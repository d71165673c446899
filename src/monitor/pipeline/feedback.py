"""The reader's feedback, applied: what the web view's forms and ``monitor feedback`` do.

* **Not my topic** (:func:`mute` without ``days``): the story is muted for the topic; the next
  cycles raise no alert on it for that topic (:mod:`monitor.pipeline.alerting` skips muted
  pairs) until :func:`unmute` or :func:`undo`.
* **Mute for N days** (:func:`mute` with ``days``): the same, until then.
* **Not new** (:func:`not_new`): the development's facts (the sentences its alert quoted) join
  its story's memory as *known* sentences, kept whatever the memory's bound
  (:func:`monitor.stories.placement.known_sentences`), so a later article repeating them
  matches them and is not a development, even once the article's own sentences have aged out
  of the bounded memory. :func:`undo` forgets them again.

Every change runs in :func:`feedback_transaction`, which holds the detection lock the cycles'
detect transactions hold (:func:`monitor.storage.detection.lock_detection`): feedback waits for
a running detect batch and the next batch sees it, so it never races the placement of an
article in the same story. Who gave it and when is stored with it; undoing keeps the record.

An alert's signed action link (:mod:`monitor.action_links`) is applied by :func:`apply_link`:
"not my topic" mutes the alert's story for the alert's topic, "not new" marks the alert's
development, each once: the use is recorded in the same transaction (one per action and alert,
a unique constraint), and a second use changes nothing and says when the first was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor import action_links
from monitor.action_links import LinkClaim
from monitor.errors import FeedbackError
from monitor.storage import feedback as repo
from monitor.storage.detection import lock_detection
from monitor.storage.feedback import MUTE, NOT_MY_TOPIC, NOT_NEW, Feedback, UsedLink
from monitor.storage.tables import AlertRow, DevelopmentRow, StoryRow
from monitor.text import sentence_features

MAX_MUTE_DAYS = 3650


@contextmanager
def feedback_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction holding the detection lock, committed when the block ends."""
    with sessions.begin() as session:
        lock_detection(session)
        yield session


def _story(session: Session, story_id: int) -> StoryRow:
    story = session.get(StoryRow, story_id)
    if story is None:
        raise FeedbackError(f"no story {story_id}")
    return story


def mute(
    session: Session,
    topic: str,
    story_id: int,
    *,
    by: str,
    now: datetime,
    days: int | None = None,
) -> Feedback:
    """Mute ``story_id`` for ``topic``: for good ("not my topic") or for ``days`` days. A mute
    already in force for the pair is replaced (undone by ``by``)."""
    _story(session, story_id)
    if days is not None and not 1 <= days <= MAX_MUTE_DAYS:
        raise FeedbackError(f"a mute lasts 1 to {MAX_MUTE_DAYS} days, not {days}")
    for earlier in repo.mutes_of(session, topic, story_id, now):
        repo.undo(session, earlier, by=by, now=now)
    return repo.add(
        session,
        kind=NOT_MY_TOPIC if days is None else MUTE,
        topic=topic,
        story_id=story_id,
        expires_at=now + timedelta(days=days) if days is not None else None,
        by=by,
        now=now,
    )


def unmute(
    session: Session, topic: str, story_id: int, *, by: str, now: datetime
) -> list[Feedback]:
    """Undo every mute of ``story_id`` for ``topic`` in force; a :class:`FeedbackError` when
    there is none."""
    mutes = repo.mutes_of(session, topic, story_id, now)
    if not mutes:
        raise FeedbackError(f"story {story_id} is not muted for topic {topic!r}")
    return [repo.undo(session, m, by=by, now=now) for m in mutes]


def not_new(
    session: Session,
    development_id: int,
    *,
    by: str,
    now: datetime,
) -> Feedback:
    """Mark a development not new: its facts join its story's memory as already reported.
    Marking it again returns the mark in force."""
    development = session.get(DevelopmentRow, development_id)
    if development is None:
        raise FeedbackError(f"no development {development_id}")
    existing = repo.not_new_of(session, development_id)
    if existing is not None:
        return repo.as_feedback(existing)
    story = _story(session, development.story_id)
    features = [sentence_features(str(fact)) for fact in development.facts or ()]
    repo.remember_known(
        session,
        story.id,
        development_id,
        development.article_id,
        [(f.text, " ".join(sorted(f.terms))) for f in features],
        {e for f in features for e in f.entities},
        {n for f in features for n in f.numbers},
    )
    return repo.add(
        session,
        kind=NOT_NEW,
        story_id=story.id,
        development_id=development_id,
        by=by,
        now=now,
    )


def undo(session: Session, feedback_id: int, *, by: str, now: datetime) -> Feedback:
    """Undo one piece of feedback (a mute, or a development's not-new mark)."""
    row = repo.get(session, feedback_id)
    if row is None or row.undone_at is not None:
        raise FeedbackError(f"no feedback {feedback_id} in force")
    return repo.undo(session, row, by=by, now=now)


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What an alert's action link acts on, for its confirmation page."""

    alert_id: int
    topic: str
    story_id: int
    story_headline: str
    title: str
    development_id: int | None


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """An action link applied (``applied``), or a replay: ``used`` is the first use."""

    applied: bool
    target: LinkTarget
    used: UsedLink | None = None


def link_target(session: Session, claim: LinkClaim) -> LinkTarget:
    """The alert the link names, with its story; a :class:`FeedbackError` when it is gone or
    cannot take the action (no story, or no development to mark not new)."""
    alert = session.get(AlertRow, claim.alert_id)
    if alert is None:
        raise FeedbackError(f"no alert {claim.alert_id}")
    if alert.story_id is None:
        raise FeedbackError(f"alert {claim.alert_id} has no story")
    if claim.action == action_links.NOT_NEW and alert.development_id is None:
        raise FeedbackError(f"alert {claim.alert_id} has no development to mark not new")
    story = _story(session, alert.story_id)
    title = str((alert.payload or {}).get("title") or "")
    return LinkTarget(alert.id, alert.topic, story.id, story.headline, title, alert.development_id)


def used_link(session: Session, claim: LinkClaim) -> UsedLink | None:
    return repo.used_link(session, claim.action, claim.alert_id)


def apply_link(session: Session, claim: LinkClaim, *, by: str, now: datetime) -> LinkOutcome:
    """Apply a verified link's action (in :func:`feedback_transaction`), unless it was used."""
    target = link_target(session, claim)
    earlier = repo.used_link(session, claim.action, claim.alert_id)
    if earlier is not None:
        return LinkOutcome(applied=False, target=target, used=earlier)
    if claim.action == action_links.NOT_MY_TOPIC:
        mark = mute(session, target.topic, target.story_id, by=by, now=now)
    else:
        assert target.development_id is not None  # link_target checked it
        mark = not_new(session, target.development_id, by=by, now=now)
    repo.record_link(session, claim.action, claim.alert_id, mark.id, by=by, now=now)
    return LinkOutcome(applied=True, target=target)


def in_force(session: Session, story_ids: Sequence[int], now: datetime) -> list[Feedback]:
    """The feedback in force on the stories (for the pages)."""
    return repo.story_feedback(session, story_ids, now)


__all__ = [
    "MUTE",
    "NOT_MY_TOPIC",
    "NOT_NEW",
    "Feedback",
    "LinkOutcome",
    "LinkTarget",
    "apply_link",
    "feedback_transaction",
    "in_force",
    "link_target",
    "mute",
    "not_new",
    "undo",
    "unmute",
    "used_link",
]
