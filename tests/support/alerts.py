"""Build stored alerts (article, optional story, alert row) the way the pipeline does."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.alerts.model import payload_from_content
from monitor.models import AlertContent
from monitor.storage.tables import AlertRow, ArticleRow, StoryRow


def add_story(session: Session, headline: str, now: datetime) -> int:
    story = StoryRow(headline=headline, first_seen_at=now, last_seen_at=now)
    session.add(story)
    session.flush()
    return story.id


def add_alert(
    session: Session,
    *,
    topic: str,
    title: str,
    now: datetime,
    story_id: int | None = None,
    story_headline: str = "",
    source: str = "Daily Planet",
    facts: tuple[str, ...] = ("A new fact.",),
    outlets: tuple[str, ...] = ("Daily Planet", "Evening Gazette"),
    url: str | None = None,
) -> AlertRow:
    """An article and its alert, flushed (not committed): the caller's transaction decides."""
    digest = hashlib.sha256(f"{topic}|{title}|{now.isoformat()}".encode()).hexdigest()
    url = url or f"https://news.example/{digest[:12]}"
    article = ArticleRow(
        source_name=source,
        url=url,
        canonical_url=url,
        title=title,
        text=" ".join(facts),
        fetched_at=now,
        content_hash=digest,
        story_id=story_id,
    )
    session.add(article)
    session.flush()
    key = f"alert:{topic}:{article.id}"
    content = AlertContent(
        alert_id=0,
        idempotency_key=key,
        topic=topic,
        story_id=story_id,
        story_headline=story_headline or title,
        article_id=article.id,
        title=title,
        url=url,
        source=source,
        facts=facts,
        reason=f"matched the query of topic {topic!r}",
        first_reported_at=now,
        published_at=now,
        outlets=outlets,
        created_at=now,
    )
    alert = AlertRow(
        idempotency_key=key,
        topic=topic,
        article_id=article.id,
        story_id=story_id,
        reason=content.reason,
        payload=payload_from_content(content),
        created_at=now,
    )
    session.add(alert)
    session.flush()
    return alert
