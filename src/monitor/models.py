"""Values that pipeline stages hand to each other.

All are frozen dataclasses: a stage never mutates what it was given. Times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from monitor.inbound import clean_text
from monitor.redact import redact_text, redact_url

# When extraction consults trafilatura's fallback extractors (readability, jusText): only for a
# page its fast mode cannot extract, or on every page (trafilatura's default).
Fallbacks = Literal["as_needed", "always"]


class PrecomputedReading(Protocol):
    """Detection's reading of a page (:class:`monitor.stories.reading.Reading`), computed where
    the page was extracted and carried here to detection, which alone reads it.

    Stated as a protocol so that this module, below every stage, imports none of them;
    :func:`monitor.stories.reading.reading_for` checks that what it is given is a ``Reading``
    computed from the article's final title and text before using it.
    """

    @property
    def title(self) -> str: ...

    @property
    def text_chars(self) -> int: ...


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP response, already read (and possibly cut off at the size cap)."""

    url: str
    final_url: str
    status: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    elapsed_s: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item of a feed, as the feed describes it."""

    url: str
    title: str = ""
    summary: str = ""
    guid: str | None = None
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    # When the feed says the item last changed (Atom <updated>, JSON Feed date_modified), if it
    # says so apart from the publication time.
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class SitemapRef:
    """A sitemap a sitemap index lists: its URL and ``<lastmod>`` (``None`` when undated)."""

    url: str
    lastmod: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed RSS, Atom or JSON Feed document, an XML sitemap or a sitemap index."""

    url: str
    kind: str  # "rss" | "atom" | "json" | "sitemap" | "sitemapindex"
    title: str
    entries: tuple[FeedEntry, ...]
    # Why entries were left out: an http(s) link that cannot be requested (one reason each).
    rejected: tuple[str, ...] = ()
    # RSS <ttl>: how many minutes the feed may be cached before it is read again.
    ttl_minutes: int | None = None
    # A sitemap index's sitemaps, newest first (empty for any other kind).
    sitemaps: tuple[SitemapRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """What trafilatura found in an article page. ``text`` is never empty."""

    text: str
    title: str = ""
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    language: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    # The page's schema.org types (JSON-LD ``@type``) and declared section, for its kind.
    page_types: tuple[str, ...] = ()
    section: str | None = None
    # Detection's reading of the page, computed in the extraction worker (optional).
    reading: PrecomputedReading | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Article:
    """A new article ready to be stored: feed entry + extracted page (or the feed summary)."""

    source: str
    url: str
    canonical_url: str
    title: str
    text: str
    fetched_at: datetime
    guid: str | None = None
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    language: str | None = None
    site_name: str | None = None
    rel_canonical: str | None = None
    summary_only: bool = False
    # A later version of the article with this id (the feed marked it updated): placed in the
    # original's story, compared with what the story already reported.
    revision_of: int | None = None
    # Why it never alerts (stale at first sight, see monitor.freshness); None: it may.
    alert_hold: str | None = None
    # The publication time its feed gave, when that lay ahead of the fetch (``published_at``
    # is then the fetch time).
    feed_date: datetime | None = None
    # What its page declares of its kind (see monitor.stories.kind); not stored.
    page_types: tuple[str, ...] = ()
    section: str | None = None
    # The extraction worker's reading of ``title`` and ``text``, when it had one.
    reading: PrecomputedReading | None = field(default=None, compare=False, repr=False)


class SourceErrorKind(StrEnum):
    FETCH = "fetch"
    PARSE = "parse"
    EXTRACT = "extract"
    DETECT = "detect"


@dataclass(frozen=True, slots=True)
class SourceError:
    """A failure recorded for a source in a cycle; never fatal to the cycle.

    It is what errors, ``monitor sources``, reports, artifacts and events show, so its URL and
    message are redacted (credentials in URLs masked, see :mod:`monitor.redact`) and cleaned of
    control characters when it is made; the real URL stays with the source."""

    source: str
    url: str
    kind: SourceErrorKind
    error_type: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", clean_text(redact_url(self.url)))
        object.__setattr__(self, "message", clean_text(redact_text(self.message)))

    @classmethod
    def detect_failure(cls, source: str, url: str, exc: Exception) -> SourceError:
        """The error of one article that failed in the detect stage (kept to 500 characters)."""
        return cls(source, url, SourceErrorKind.DETECT, type(exc).__name__, str(exc)[:500])


@dataclass(frozen=True, slots=True)
class AlertContent:
    """Everything an alert says, frozen when the alert is created (stored as its payload).

    ``facts`` are the new sentences the development brought, quoted verbatim from the article.
    ``outlets`` are the outlets carrying the story when the alert was raised.
    """

    alert_id: int
    idempotency_key: str
    topic: str
    story_id: int | None
    story_headline: str
    article_id: int
    title: str
    url: str
    source: str
    facts: tuple[str, ...]
    reason: str
    first_reported_at: datetime
    published_at: datetime | None
    outlets: tuple[str, ...]
    created_at: datetime
