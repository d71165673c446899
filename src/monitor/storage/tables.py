"""Database schema (SQLAlchemy 2.0 typed models).

The database is the source of truth for uniqueness: canonical URLs, GUIDs and aliases live in
``article_keys`` (unique key), exact duplicates are prevented by a partial unique index on the
content hash of originals, alerts by a unique idempotency key, deliveries by (alert, channel),
source notices by (source, kind, episode) and their deliveries by (notice, channel).
Code may pre-check as an optimisation, but an ``IntegrityError`` is the final answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class SourceRow(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    # No longer written: validators belong to the feed URL (``feed_validators``), whatever the
    # source is called. Kept so that a downgrade finds them.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_type: Mapped[str | None] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    articles_seen: Mapped[int] = mapped_column(Integer, default=0)
    # Not polled before this time: the feed answered 429 or 503 with Retry-After.
    retry_at: Mapped[datetime | None]
    # "obey" or "ignore": the config's robots setting, as last synced (shown by monitor sources).
    robots: Mapped[str] = mapped_column(String(10), default="obey", server_default="obey")
    # "feed" or "page" (a section page whose links are read): the config's kind, as last synced.
    kind: Mapped[str] = mapped_column(String(10), default="feed", server_default="feed")
    # Its rhythm and polling (see monitor.polling): new entries per day (NULL: not known yet),
    # when it last listed a new entry, when it is due again (NULL: next cycle), the class of
    # its latest failure (NULL after a success), whether it was reported quiet.
    new_per_day: Mapped[float | None] = mapped_column(Float)
    last_new_entry_at: Mapped[datetime | None]
    next_poll_at: Mapped[datetime | None]
    failure_class: Mapped[str | None] = mapped_column(String(10))
    quiet: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A source set to a home or section page: the feed or sitemap found for it, polled instead
    # until it fails hard (404, 410), why it was chosen, and when (see monitor.discovery).
    feed_url: Mapped[str | None] = mapped_column(Text)
    feed_choice: Mapped[str | None] = mapped_column(Text)
    discovered_at: Mapped[datetime | None]


class RobotsTxtRow(Base):
    """A host's robots.txt as last read (see monitor.robots), kept for a day between cycles."""

    __tablename__ = "robots_txt"

    origin: Mapped[str] = mapped_column(String(300), primary_key=True)
    body: Mapped[str | None] = mapped_column(Text)  # NULL: everything allowed
    fetched_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class FeedValidatorRow(Base):
    """A feed's ETag / Last-Modified, by URL: every config polling that URL shares them, under
    whatever source name it gives the feed."""

    __tablename__ = "feed_validators"

    url: Mapped[str] = mapped_column(String(2000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (
        # Exact duplicates: one original per content hash. Duplicates carry the same hash but
        # point at their original, so the partial index leaves them out.
        Index(
            "uq_articles_content_hash_original",
            "content_hash",
            unique=True,
            sqlite_where=text("duplicate_of_id IS NULL"),
            postgresql_where=text("duplicate_of_id IS NULL"),
        ),
        Index("ix_articles_fetched_at", "fetched_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    source_name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    summary_only: Mapped[bool] = mapped_column(Boolean, default=False)
    authors: Mapped[list[Any]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime]
    language: Mapped[str | None] = mapped_column(String(20))
    site_name: Mapped[str | None] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    duplicate_similarity: Mapped[float | None] = mapped_column(Float)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"), index=True)
    # The development this article created or repeats. No foreign key: developments reference
    # articles, and SQLite cannot add the second half of a cycle after both tables exist. No
    # index: nothing looks articles up by development (migration 0016).
    development_id: Mapped[int | None] = mapped_column(Integer)
    is_development: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)  # explain() record
    # A later version of that article (its feed entry was marked updated); its published_at is
    # the version's time.
    revision_of_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"), index=True)
    # Why it never alerts: stale at its first sight (see monitor.freshness); NULL: it may.
    alert_hold: Mapped[str | None] = mapped_column(String(300))
    # The publication time its feed gave, when that lay ahead of the fetch: published_at was
    # set to the fetch time instead.
    feed_date: Mapped[datetime | None]


class ArticleKeyRow(Base):
    """Every way an article can be recognised before its page is fetched: canonical URL,
    feed GUID, ``rel=canonical`` alias. ``key`` is ``kind:value``."""

    __tablename__ = "article_keys"

    key: Mapped[str] = mapped_column(String(2100), primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))


class MinhashBandRow(Base):
    """LSH bands of article MinHash signatures: near-duplicate candidates by index lookup."""

    __tablename__ = "minhash_bands"

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(primary_key=True)
    headline: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    outlets: Mapped[list[Any]] = mapped_column(default=list)
    # What every candidate lookup reads: the centroid (and member count).
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Novelty memory read only for the story an article joins: every name and number reported.
    # The remembered sentences themselves are rows of ``story_sentences``.
    memory: Mapped[dict[str, Any]] = mapped_column(default=dict)


class StorySentenceRow(Base):
    """The most recent sentences of a story, with their terms, for novelty comparison.

    One row per sentence, so a new article appends its sentences and trims the oldest instead of
    rewriting the whole memory. ``terms`` holds the sentence's stemmed terms, space-separated, so
    loading a story does not re-tokenise it.
    """

    __tablename__ = "story_sentences"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # No foreign key: the article is only named as the sentence's source (explain, repeats).
    article_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    terms: Mapped[str] = mapped_column(Text, default="")


class StoryTermRow(Base):
    """Top terms of each story: candidate stories for a new article by index lookup."""

    __tablename__ = "story_terms"
    __table_args__ = (
        # Candidate lookup reads the strongest stories of each term: bounded whatever the archive.
        Index("ix_story_terms_term_weight", "term", "weight"),
    )

    # The key leads with the story: every article rewrites its story's rows, and with ``term``
    # first that delete had no index to use (a scan of the whole active index per article).
    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    term: Mapped[str] = mapped_column(String(100), primary_key=True)
    weight: Mapped[float] = mapped_column(Float, default=0.0)


class TermStatRow(Base):
    """Document frequencies for IDF weighting (term ``""`` holds the document count)."""

    __tablename__ = "term_stats"

    term: Mapped[str] = mapped_column(String(100), primary_key=True)
    df: Mapped[int] = mapped_column(Integer, default=0)


class DevelopmentRow(Base):
    __tablename__ = "developments"

    id: Mapped[int] = mapped_column(primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id"), index=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"), unique=True)
    facts: Mapped[list[Any]] = mapped_column(default=list)  # the novel sentences
    created_at: Mapped[datetime]


class DevelopmentReportRow(Base):
    """Another article that repeats a development ("also reported by")."""

    __tablename__ = "development_reports"

    development_id: Mapped[int] = mapped_column(
        ForeignKey("developments.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    similarity: Mapped[float] = mapped_column(Float, default=0.0)


class AlertRow(Base):
    """One alert per (topic, development). Committed before any delivery is attempted."""

    __tablename__ = "alerts"
    # "Has this topic been told about this story?" is asked for re-reports matching a topic.
    # A topic's newest alerts (the web view's timeline and feed) are read in this order, and a
    # story page asks which topics alerted on the story.
    __table_args__ = (
        Index("ix_alerts_topic_story_id", "topic", "story_id"),
        Index("ix_alerts_topic_created_at_id", "topic", "created_at", "id"),
        Index("ix_alerts_story_id_topic", "story_id", "topic"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"))
    development_id: Mapped[int | None] = mapped_column(ForeignKey("developments.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryRow(Base):
    """Outbox: the state of one alert on one channel."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
        # A topic's hourly cap counts the channel's deliveries of the last hour.
        Index("ix_deliveries_channel_created_at", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    # "immediate" or "digest"; ``route`` says why (mode, cap, quiet_hours) for the CLI.
    mode: Mapped[str] = mapped_column(String(20), default="immediate")
    route: Mapped[str] = mapped_column(String(20), default="mode")
    # Digest deliveries sent together share a batch key, fixed before the first send attempt so a
    # retried digest carries the same idempotency key.
    batch_key: Mapped[str | None] = mapped_column(String(200), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SourceNoticeRow(Base):
    """A change in a source's health worth telling the channels (see
    :mod:`monitor.alerts.notices`): it started failing, recovered, went quiet or is active
    again. One row per (source, kind, episode): the ``n``-th run of failures of a source opens
    ``failing`` episode ``n`` and its recovery closes it as ``recovered`` ``n`` (``quiet`` and
    ``active`` alike), so a change recorded twice is refused by the database."""

    __tablename__ = "source_notices"
    __table_args__ = (UniqueConstraint("source", "kind", "episode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # failing, recovered, quiet, active
    episode: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class NoticeDeliveryRow(Base):
    """Outbox of source notices: the state of one notice on one channel, as
    :class:`DeliveryRow` is for an alert (always immediate: no digest, cap or quiet hours)."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "channel"),
        Index("ix_notice_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("source_notices.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class TopicCursorRow(Base):
    """How far a topic (by name: one alert stream, whichever config names it) has evaluated the
    archive: every article with an id up to ``article_id`` was matched against it."""

    __tablename__ = "topic_cursors"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class FeedbackRow(Base):
    """What the reader said of an alert, applied by the next cycle (see
    :mod:`monitor.storage.feedback`): ``not_my_topic`` and ``mute`` silence a story for a
    topic (``mute`` until ``expires_at``); ``not_new`` remembered a development's facts as
    already reported (the known sentences of its story's memory).
    Undoing sets ``undone_at``; the row stays, for the record and the counts."""

    __tablename__ = "feedback"
    __table_args__ = (
        Index("ix_feedback_topic_story_id", "topic", "story_id"),
        Index("ix_feedback_development_id", "development_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    topic: Mapped[str | None] = mapped_column(String(200))
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    development_id: Mapped[int | None] = mapped_column(
        ForeignKey("developments.id", ondelete="CASCADE")
    )
    expires_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    undone_by: Mapped[str | None] = mapped_column(String(200))
    undone_at: Mapped[datetime | None]


class UsedLinkRow(Base):
    """An alert's signed action link, applied: one row per (action, alert), so a second use of
    it (the same link, or another link for the same action on the alert) is a replay."""

    __tablename__ = "used_links"
    __table_args__ = (UniqueConstraint("action", "alert_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(20))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id", ondelete="SET NULL"))
    used_by: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime]


class CycleLockRow(Base):
    """Who runs a cycle of a config now, for the message another start prints (the lock itself
    is a PostgreSQL advisory lock, or a file lock beside a SQLite database)."""

    __tablename__ = "cycle_locks"

    config: Mapped[str] = mapped_column(String(500), primary_key=True)
    holder: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime]


class PageFailureRow(Base):
    """A page that failed in a cycle (left for later, or refused by the database): its count
    of failed cycles in a row, and when it was parked (no longer fetched)."""

    __tablename__ = "page_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the URL: a unique index cannot hold every URL a feed may list.
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(Text)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_type: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]
    parked_at: Mapped[datetime | None]


class CycleRow(Base):
    """One monitor cycle and its summary counts."""

    __tablename__ = "cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
