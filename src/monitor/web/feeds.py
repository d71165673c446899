"""The topic and story feeds, built from what the pages show (:mod:`monitor.web.views`).

``base`` is the web view's address without a trailing slash (``MONITOR_WEB__BASE_URL``, or the
address a request came in on); links in the feed are absolute under it. ``monitor export-feed``
without a base URL writes root-relative links (``/stories/3``), resolved by whoever hosts the file.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from monitor.alerts.render import one_line
from monitor.config import TopicConfig
from monitor.models import AlertContent
from monitor.web.atom import Feed, FeedEntry, entry_link, feed_entries_sorted, tag_uri
from monitor.web.views import Carrier, StoryView, story_view, topic_timeline


def _when(alert: AlertContent) -> str:
    """When the alert's article reported its development (not when its story began)."""
    return (alert.published_at or alert.created_at).strftime("%Y-%m-%d %H:%M UTC")


def _also(carriers: tuple[Carrier, ...], first: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c.source for c in carriers if c.source and c.source != first))


def topic_feed(session: Session, slug: str, topic: TopicConfig, base: str) -> Feed:
    """One entry per alert of the topic (one per development), newest first."""
    entries = []
    for item in topic_timeline(session, topic):
        alert = item.alert
        story_page = f"{base}/stories/{alert.story_id}" if alert.story_id else f"{base}/"
        # Only the development's own other reports: the story's outlets did not all carry it.
        also = _also(item.also, alert.source)
        entries.append(
            FeedEntry(
                id=tag_uri("alert", alert.idempotency_key),
                title=alert.title,
                updated=alert.created_at,
                link=entry_link(alert.url, story_page),
                author=alert.source,
                facts=alert.facts,
                first_reported=f"{alert.source}, {_when(alert)}",
                also=also,
                reason=alert.reason,
            )
        )
    return Feed(
        id=tag_uri("topic", slug),
        title=f"{one_line(topic.name)}: new developments",
        self_link=f"{base}/topics/{slug}/feed.atom",
        alternate=f"{base}/topics/{slug}",
        entries=feed_entries_sorted(entries),
    )


def story_feed(story: StoryView, base: str) -> Feed:
    """One entry per development of the story, newest first."""
    story_page = f"{base}/stories/{story.id}"
    entries = []
    for dev in story.developments:
        first = dev.first
        source = first.source if first else ""
        when = dev.created_at.strftime("%Y-%m-%d %H:%M UTC")
        entries.append(
            FeedEntry(
                id=tag_uri("development", dev.id),
                title=first.title if first else story.headline,
                updated=dev.created_at,
                link=entry_link(first.url if first else "", story_page),
                author=source,
                facts=dev.facts,
                first_reported=f"{source}, {when}" if source else when,
                also=_also(dev.also, source),
            )
        )
    return Feed(
        id=tag_uri("story", story.id),
        title=f"Story: {one_line(story.headline)}",
        self_link=f"{story_page}/feed.atom",
        alternate=story_page,
        entries=feed_entries_sorted(entries),
    )


def load_story_feed(session: Session, story_id: int, base: str) -> Feed | None:
    story = story_view(session, story_id)
    return story_feed(story, base) if story is not None else None
