"""What each page of the web view shows, loaded from the database into frozen values.

Every function here takes an open :class:`~sqlalchemy.orm.Session` and only reads: no write lock,
no commit, nothing that would hold up a running cycle (on SQLite in WAL mode a reader never
blocks the writer). The values hold stored text as it is, unescaped; the templates escape it and
:func:`monitor.alerts.render.safe_url` decides what may become a link.

Topic slugs (:func:`topic_slugs`): the topic's name, Unicode-folded to ASCII, lower case, every
run of other characters one ``-`` (``"Istanbul talks (EU)"`` → ``istanbul-talks-eu``); a name with
no letter or digit is ``topic``. When two topics of a config fold to the same slug, each of them
gets ``-`` and the first 8 hex digits of the SHA-256 of its name appended, so a slug never depends
on the order of the config's topics.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from monitor.alerts.render import content_from_payload
from monitor.backtest import TopicVerdict, topic_verdicts
from monitor.config import MonitorConfig, TopicConfig
from monitor.decision import Decision
from monitor.explanation import placement_lines
from monitor.models import AlertContent
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    DeliveryRow,
    DevelopmentReportRow,
    DevelopmentRow,
    StoryRow,
)
from monitor.timeutil import as_utc
from monitor.topics import Query, parse_query

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
DELIVERY_STATES = ("pending", "failed", "dead")
TIMELINE_LIMIT = 200  # the topic feed's entries
TIMELINE_PAGE = 50  # the topic page's developments per page
_CURSOR_TIME = "%Y%m%dT%H%M%S.%fZ"


def slug_of(name: str) -> str:
    """The plain slug of a topic name (see the module docstring)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", folded.lower()).strip("-") or "topic"


def topic_slugs(topics: Iterable[TopicConfig]) -> dict[str, TopicConfig]:
    """Each topic by its slug; colliding slugs get a suffix from the name's hash."""
    topics = list(topics)
    plain = Counter(slug_of(t.name) for t in topics)
    out: dict[str, TopicConfig] = {}
    for topic in topics:
        slug = slug_of(topic.name)
        if plain[slug] > 1:
            slug = f"{slug}-{hashlib.sha256(topic.name.encode()).hexdigest()[:8]}"
        out[slug] = topic
    return out


@dataclass(frozen=True, slots=True)
class TopicSummary:
    slug: str
    name: str
    query: str
    latest: AlertContent | None
    stories: int
    developments: int
    alerts_this_week: int
    deliveries: dict[str, int]  # pending / failed / dead


@dataclass(frozen=True, slots=True)
class Carrier:
    """An article that carried a development: its outlet, link and time."""

    article_id: int
    source: str
    title: str
    url: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """A place in a topic's timeline: the alert's (creation time, id), the order it is read in.

    Its token (``20250304T080000.000000Z-12``) is the topic page's ``?before=`` parameter: the
    page shows the alerts strictly older than it, so a page boundary never repeats or skips an
    alert, even between alerts raised in the same instant.
    """

    created_at: datetime
    id: int

    @property
    def token(self) -> str:
        return f"{self.created_at.astimezone(UTC).strftime(_CURSOR_TIME)}-{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        """The cursor a token names; ``None`` for anything else."""
        stamp, _, ident = token.partition("-")
        if not ident.isdigit() or len(ident) > 18 or len(stamp) > 30:
            return None
        try:
            at = datetime.strptime(stamp, _CURSOR_TIME).replace(tzinfo=UTC)
        except ValueError:
            return None
        return cls(at, int(ident))


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One alerted development of a topic."""

    alert: AlertContent
    development_id: int | None
    also: tuple[Carrier, ...]  # other reports of the development
    cursor: Cursor  # the alert's place in the timeline


@dataclass(frozen=True, slots=True)
class TimelinePage:
    """A page of a topic's timeline, newest first, and where the next (older) page starts."""

    entries: tuple[TimelineEntry, ...]
    older: Cursor | None  # None on the last page


@dataclass(frozen=True, slots=True)
class StoryArticle:
    id: int
    source: str
    title: str
    url: str
    at: datetime
    role: str  # "development", "report" (of a development), "other" or "duplicate"
    development_id: int | None


@dataclass(frozen=True, slots=True)
class StoryDevelopment:
    id: int
    article_id: int
    created_at: datetime
    facts: tuple[str, ...]
    first: Carrier | None
    also: tuple[Carrier, ...]


@dataclass(frozen=True, slots=True)
class StoryView:
    id: int
    headline: str
    first_seen_at: datetime
    last_seen_at: datetime
    outlets: tuple[str, ...]
    articles: tuple[StoryArticle, ...]
    developments: tuple[StoryDevelopment, ...]


@dataclass(frozen=True, slots=True)
class ArticleView:
    id: int
    title: str
    url: str
    source: str
    story_id: int | None
    outcome: str
    duplicate_of: int | None
    similarity: float | None
    revision_of: int | None
    pruned_at: str | None
    alerts: tuple[tuple[int, str, datetime], ...]  # (alert id, topic, created at)
    topics: tuple[TopicVerdict, ...]
    lines: tuple[str, ...]  # the placement explanation, as `monitor explain` prints it


def _alert(row: AlertRow) -> AlertContent:
    return content_from_payload(row.payload, alert_id=row.id)


def topic_summaries(
    session: Session, config: MonitorConfig, *, now: datetime
) -> list[TopicSummary]:
    """Every topic of the config, in config order, with its counts and latest alert."""
    week_ago = now - timedelta(days=7)
    out = []
    for slug, topic in topic_slugs(config.topics).items():
        stories, developments = session.execute(
            select(
                func.count(func.distinct(AlertRow.story_id)),
                func.count(func.distinct(AlertRow.development_id)),
            ).where(AlertRow.topic == topic.name)
        ).one()
        week = session.scalar(
            select(func.count())
            .select_from(AlertRow)
            .where(AlertRow.topic == topic.name, AlertRow.created_at >= week_ago)
        )
        latest = session.scalars(
            select(AlertRow)
            .where(AlertRow.topic == topic.name)
            .order_by(AlertRow.created_at.desc(), AlertRow.id.desc())
            .limit(1)
        ).first()
        states = dict.fromkeys(DELIVERY_STATES, 0)
        for state, count in session.execute(
            select(DeliveryRow.state, func.count())
            .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
            .where(AlertRow.topic == topic.name, DeliveryRow.state.in_(DELIVERY_STATES))
            .group_by(DeliveryRow.state)
        ):
            states[state] = count
        out.append(
            TopicSummary(
                slug=slug,
                name=topic.name,
                query=topic.query,
                latest=_alert(latest) if latest is not None else None,
                stories=int(stories or 0),
                developments=int(developments or 0),
                alerts_this_week=int(week or 0),
                deliveries=states,
            )
        )
    return out


# The pages read plain rows of the columns they show (no ORM entities: an article's text and
# decision record are never loaded for a link to it), with statements built once and run on the
# session's connection: building a statement and passing it through the ORM's execution took
# several times what the database did for these pages.
_CARRIER_COLUMNS = (
    ArticleRow.id,
    ArticleRow.source_name,
    ArticleRow.title,
    ArticleRow.url,
    ArticleRow.published_at,
    ArticleRow.fetched_at,
)
_CARRIERS = (
    select(DevelopmentReportRow.development_id, *_CARRIER_COLUMNS)
    .join(ArticleRow, ArticleRow.id == DevelopmentReportRow.article_id)
    .where(DevelopmentReportRow.development_id.in_(bindparam("developments", expanding=True)))
    .order_by(ArticleRow.id)
)
_TIMELINE = select(
    AlertRow.id, AlertRow.development_id, AlertRow.payload, AlertRow.created_at
).where(AlertRow.topic == bindparam("topic"))
_TIMELINE_ORDER = (AlertRow.created_at.desc(), AlertRow.id.desc())
_TIMELINE_FIRST = _TIMELINE.order_by(*_TIMELINE_ORDER).limit(bindparam("limit"))
_TIMELINE_BEFORE = (
    _TIMELINE.where(
        or_(
            AlertRow.created_at < bindparam("at"),
            and_(AlertRow.created_at == bindparam("at"), AlertRow.id < bindparam("id")),
        )
    )
    .order_by(*_TIMELINE_ORDER)
    .limit(bindparam("limit"))
)
_STORY = select(
    StoryRow.id, StoryRow.headline, StoryRow.first_seen_at, StoryRow.last_seen_at, StoryRow.outlets
).where(StoryRow.id == bindparam("story"))
_MEMBER = select(
    *_CARRIER_COLUMNS,
    ArticleRow.duplicate_of_id,
    ArticleRow.is_development,
    ArticleRow.development_id,
)
_MEMBERS = _MEMBER.where(ArticleRow.story_id == bindparam("story")).order_by(ArticleRow.id)
_COPIES = _MEMBER.where(
    ArticleRow.duplicate_of_id.in_(bindparam("members", expanding=True)),
    ArticleRow.story_id.is_(None),
).order_by(ArticleRow.id)
_DEVELOPMENTS = (
    select(
        DevelopmentRow.id,
        DevelopmentRow.article_id,
        DevelopmentRow.created_at,
        DevelopmentRow.facts,
    )
    .where(DevelopmentRow.story_id == bindparam("story"))
    .order_by(DevelopmentRow.created_at, DevelopmentRow.id)
)
_STORY_TOPICS = select(AlertRow.topic).where(AlertRow.story_id == bindparam("story")).distinct()


def _carriers(session: Session, development_ids: Sequence[int]) -> dict[int, list[Carrier]]:
    """Each development's other reports ("also carried by"), in the order they arrived."""
    out: dict[int, list[Carrier]] = defaultdict(list)
    if not development_ids:
        return out
    rows = session.connection().execute(_CARRIERS, {"developments": list(development_ids)})
    for row in rows:
        out[row.development_id].append(_carrier(row))
    return out


def _carrier(row: Any) -> Carrier:
    """A carrier from a row with ``_CARRIER_COLUMNS``' names."""
    at = row.published_at or row.fetched_at
    return Carrier(row.id, row.source_name, row.title, row.url, as_utc(at) if at else None)


def topic_timeline(
    session: Session,
    topic: TopicConfig,
    *,
    limit: int = TIMELINE_LIMIT,
    before: Cursor | None = None,
) -> list[TimelineEntry]:
    """The topic's alerted developments, newest first: at most ``limit``, those older than
    ``before`` when given."""
    conn = session.connection()
    if before is None:
        rows = conn.execute(_TIMELINE_FIRST, {"topic": topic.name, "limit": limit}).all()
    else:
        rows = conn.execute(
            _TIMELINE_BEFORE,
            {"topic": topic.name, "limit": limit, "at": before.created_at, "id": before.id},
        ).all()
    carriers = _carriers(session, [r.development_id for r in rows if r.development_id])
    return [
        TimelineEntry(
            alert=content_from_payload(r.payload, alert_id=r.id),
            development_id=r.development_id,
            also=tuple(carriers.get(r.development_id, ())) if r.development_id else (),
            cursor=Cursor(as_utc(r.created_at), r.id),
        )
        for r in rows
    ]


def timeline_page(
    session: Session, topic: TopicConfig, *, size: int = TIMELINE_PAGE, before: Cursor | None = None
) -> TimelinePage:
    """One page of the topic's timeline: its ``size`` newest developments older than ``before``."""
    entries = topic_timeline(session, topic, limit=size + 1, before=before)
    shown = tuple(entries[:size])
    return TimelinePage(shown, shown[-1].cursor if len(entries) > size else None)


def _role(row: Any, reports: dict[int, int]) -> str:
    if row.duplicate_of_id is not None:
        return "duplicate"
    if row.is_development:
        return "development"
    if row.id in reports:
        return "report"
    return "other"


def _story_members(session: Session, story_id: int) -> list[Any]:
    """The rows of the articles placed in the story, then of their copies, each by id."""
    conn = session.connection()
    members = list(conn.execute(_MEMBERS, {"story": story_id}))
    if members:
        members.extend(conn.execute(_COPIES, {"members": [a.id for a in members]}))
    return members


def story_view(session: Session, story_id: int) -> StoryView | None:
    """The story with every article placed in it (and copies of them) and its developments."""
    story = session.connection().execute(_STORY, {"story": story_id}).first()
    if story is None:
        return None
    members = _story_members(session, story_id)
    developments = session.connection().execute(_DEVELOPMENTS, {"story": story_id}).all()
    carriers = _carriers(session, [d.id for d in developments])
    reports = {c.article_id: dev_id for dev_id, cs in carriers.items() for c in cs}
    by_id = {a.id: a for a in members}
    articles = tuple(
        StoryArticle(
            id=a.id,
            source=a.source_name,
            title=a.title,
            url=a.url,
            at=as_utc(a.published_at or a.fetched_at),
            role=_role(a, reports),
            development_id=a.development_id,
        )
        for a in sorted(members, key=lambda a: (as_utc(a.published_at or a.fetched_at), a.id))
    )
    return StoryView(
        id=story.id,
        headline=story.headline,
        first_seen_at=as_utc(story.first_seen_at),
        last_seen_at=as_utc(story.last_seen_at),
        outlets=tuple(str(o) for o in story.outlets or ()),
        articles=articles,
        developments=tuple(
            StoryDevelopment(
                id=d.id,
                article_id=d.article_id,
                created_at=as_utc(d.created_at),
                facts=tuple(str(f) for f in d.facts or ()),
                first=_carrier(by_id[d.article_id]) if d.article_id in by_id else None,
                also=tuple(carriers.get(d.id, ())),
            )
            for d in developments
        ),
    )


def story_topics(session: Session, story_id: int) -> set[str]:
    """The names of the topics that alerted on the story."""
    return set(session.connection().execute(_STORY_TOPICS, {"story": story_id}).scalars())


def article_view(session: Session, article_id: int, config: MonitorConfig) -> ArticleView | None:
    """What ``monitor explain`` says about the article, for the article page."""
    row = session.get(ArticleRow, article_id)
    if row is None:
        return None
    record = Decision.from_json(dict(row.decision or {}))
    alerts = tuple(
        (a.id, a.topic, as_utc(a.created_at))
        for a in session.scalars(
            select(AlertRow).where(AlertRow.article_id == row.id).order_by(AlertRow.id)
        )
    )
    topics: list[tuple[str, Query, bool, str]] = [
        (t.name, parse_query(t.query), t.title_only, t.relevance) for t in config.topics
    ]
    show_placement = not record.is_duplicate and record.pruned_at is None
    return ArticleView(
        id=row.id,
        title=row.title,
        url=row.url,
        source=row.source_name,
        story_id=row.story_id,
        outcome=record.outcome or "unknown",
        duplicate_of=record.duplicate_of,
        similarity=record.similarity,
        revision_of=record.revision_of,
        pruned_at=record.pruned_at,
        alerts=alerts,
        topics=tuple(topic_verdicts(topics, row.title, row.text)),
        lines=tuple(placement_lines(record)) if show_placement else (),
    )
