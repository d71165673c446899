"""Topic backtest: which stories and developments a query would have alerted on.

Replays the alert rule of the detect stage over stored history without sending or storing
anything: a non-duplicate article that matches the query alerts when it is a development, or when
it is the first matching article of its story. The relevance rule is the topic's (see
:mod:`monitor.topics`); unless it is ``anywhere``, the backtest also lists the **borderline**
articles: those that would have alerted had every mention counted (``relevance: anywhere``),
each with the terms it mentions only in passing, so a user can see what the rule keeps out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.tables import ArticleRow, StoryRow
from monitor.topics import Document, Query, TopicMatch


@dataclass(frozen=True, slots=True)
class BacktestHit:
    article_id: int
    story_id: int | None
    story_headline: str
    title: str
    source: str
    url: str
    published_at: datetime | None
    is_development: bool
    why: str


@dataclass
class Backtest:
    """``hits`` would have alerted; ``borderline`` would have, had every mention counted."""

    hits: list[BacktestHit] = field(default_factory=list)
    borderline: list[BacktestHit] = field(default_factory=list)


class _AlertRule:
    """The detect stage's rule over a stream in storage order: a development, or the first
    matching article of its story."""

    def __init__(self) -> None:
        self.seen_stories: set[int] = set()

    def alerts(self, row: ArticleRow) -> bool:
        first_for_story = row.story_id is not None and row.story_id not in self.seen_stories
        if not (row.is_development or first_for_story):
            return False
        if row.story_id is not None:
            self.seen_stories.add(row.story_id)
        return True


def backtest(
    session: Session,
    query: Query,
    *,
    since: datetime | None = None,
    title_only: bool = False,
    relevance: str = "prominent",
) -> Backtest:
    stmt = select(ArticleRow).where(ArticleRow.duplicate_of_id.is_(None))
    if since is not None:
        stmt = stmt.where(ArticleRow.fetched_at >= since)
    stmt = stmt.order_by(ArticleRow.fetched_at, ArticleRow.id)
    headlines: dict[int, str] = {}
    result = Backtest()
    kept, anywhere = _AlertRule(), _AlertRule()
    for row in session.scalars(stmt).yield_per(500):
        doc = Document(row.title, row.text)
        match = query.match_document(doc, title_only=title_only, relevance=relevance)
        if match is not None:
            if kept.alerts(row):
                result.hits.append(_hit(session, row, match, headlines))
            anywhere.alerts(row)
            continue
        if relevance == "anywhere":
            continue
        loose = query.match_document(doc, title_only=title_only)
        if loose is not None and anywhere.alerts(row):
            result.borderline.append(_hit(session, row, loose, headlines))
    return result


def _hit(
    session: Session, row: ArticleRow, match: TopicMatch, headlines: dict[int, str]
) -> BacktestHit:
    if row.story_id is not None and row.story_id not in headlines:
        story = session.get(StoryRow, row.story_id)
        headlines[row.story_id] = story.headline if story else row.title
    return BacktestHit(
        article_id=row.id,
        story_id=row.story_id,
        story_headline=headlines.get(row.story_id, row.title) if row.story_id else row.title,
        title=row.title,
        source=row.source_name,
        url=row.url,
        published_at=row.published_at,
        is_development=row.is_development,
        why=match.explain(),
    )


@dataclass(frozen=True, slots=True)
class TopicVerdict:
    """How one topic's query reads one article, for ``monitor explain``."""

    topic: str
    relevance: str
    why: str | None  # the match's explanation; None when it does not match
    passing: str | None  # not a match, but a mention in passing would be (borderline)

    def describe(self) -> str:
        if self.why is not None:
            return f"matches ({self.why})"
        if self.passing is not None:
            return (
                f"mentions its terms only in passing ({self.passing}): not a match under "
                f"relevance: {self.relevance} (relevance: anywhere or body:term would count them)"
            )
        return "does not match"


def topic_verdicts(
    topics: list[tuple[str, Query, bool, str]], title: str, text: str
) -> list[TopicVerdict]:
    """Each ``(name, query, title_only, relevance)`` topic's verdict on one article."""
    doc = Document(title, text)
    verdicts = []
    for name, query, title_only, relevance in topics:
        match = query.match_document(doc, title_only=title_only, relevance=relevance)
        passing = None
        if match is None and relevance != "anywhere":
            loose = query.match_document(doc, title_only=title_only)
            passing = loose.explain() if loose is not None else None
        verdicts.append(TopicVerdict(name, relevance, match.explain() if match else None, passing))
    return verdicts
