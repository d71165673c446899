"""Topic backtest: which stories and developments a query would have alerted on.

Replays the alert rule of the detect stage over stored history without sending or storing
anything: a non-duplicate article that matches the query alerts when it is a development, or when
it is the first matching article of its story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.tables import ArticleRow, StoryRow
from monitor.topics import Query


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


def backtest(
    session: Session, query: Query, *, since: datetime | None = None, title_only: bool = False
) -> list[BacktestHit]:
    stmt = select(ArticleRow).where(ArticleRow.duplicate_of_id.is_(None))
    if since is not None:
        stmt = stmt.where(ArticleRow.fetched_at >= since)
    stmt = stmt.order_by(ArticleRow.fetched_at, ArticleRow.id)
    headlines: dict[int, str] = {}
    seen_stories: set[int] = set()
    hits: list[BacktestHit] = []
    for row in session.scalars(stmt).yield_per(500):
        match = query.match(row.title, row.text, title_only=title_only)
        if match is None:
            continue
        first_for_story = row.story_id is not None and row.story_id not in seen_stories
        if not (row.is_development or first_for_story):
            continue
        if row.story_id is not None:
            seen_stories.add(row.story_id)
            if row.story_id not in headlines:
                story = session.get(StoryRow, row.story_id)
                headlines[row.story_id] = story.headline if story else row.title
        hits.append(
            BacktestHit(
                article_id=row.id,
                story_id=row.story_id,
                story_headline=headlines.get(row.story_id, row.title)
                if row.story_id
                else row.title,
                title=row.title,
                source=row.source_name,
                url=row.url,
                published_at=row.published_at,
                is_development=row.is_development,
                why=match.explain(),
            )
        )
    return hits
