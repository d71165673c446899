"""Articles stage: turn fetched pages and their extractions into :class:`Article` values.

A page whose extraction yielded nothing usable, or that failed permanently (404, too large),
keeps the feed's title and summary and is marked ``summary_only``; an entry its feed does not
date (a section page's link) takes the page's own date, never later than its fetch; a page
that failed transiently is left out so that the next cycle fetches it again. Every text an
article carries (from the feed or the page) is cleaned by :func:`monitor.inbound.clean_text`
and cut to its column's width here, so that storage accepts every article built: one that
could not be stored would be fetched again every cycle. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from monitor.detection_settings import DetectionSettings
from monitor.errors import ExtractionError, ParseError
from monitor.extract import extract_page
from monitor.inbound import clean_line, clean_text, clean_title
from monitor.models import Article, ExtractedPage, Fallbacks, SourceError, SourceErrorKind
from monitor.stories.reading import read_article
from monitor.timeutil import as_utc, publication_date
from monitor.urls import canonicalize

if TYPE_CHECKING:
    # Only for annotations: the extraction workers import this module, and the collect stage
    # would bring SQLAlchemy, httpx and the config models into every worker (slow imports).
    from monitor.pipeline.collect import FetchedPage

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
# The most text stored for one article (MONITOR_EXTRACTION__MAX_TEXT_CHARS): a news article
# is a few thousand characters; a page of megabytes of "text" is not one.
MAX_TEXT_CHARS = 200_000


def cap_text(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, at a word boundary when one is near."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ", max(0, max_chars - 200))
    return cut[:space] if space > 0 else cut


def _unknown_last(when: datetime | None) -> datetime:
    """Sort key: by time, undated items last (``sorted`` keeps their feed order)."""
    return when or _FAR_FUTURE


_REVISION_MARK = "#update-"


def revision_url(canonical_url: str, updated: datetime) -> str:
    """The key of one version of an updated entry: its URL and the feed's updated time."""
    return f"{canonical_url}{_REVISION_MARK}{updated.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def page_url(article: Article) -> str:
    """The canonical URL of the page, for people: without a version's key."""
    return stored_page_url(article.canonical_url, article.revision_of)


def stored_page_url(canonical_url: str, revision_of: int | None) -> str:
    """:func:`page_url` of a stored article."""
    if revision_of is None:
        return canonical_url
    return canonical_url.rsplit(_REVISION_MARK, 1)[0]


def build_article(
    page: FetchedPage,
    extracted: ExtractedPage | None,
    now: datetime,
    *,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> Article:
    article = _storable(_build_article(page, extracted, now))
    if len(article.text) > max_text_chars:
        article = replace(article, text=cap_text(article.text, max_text_chars))
    job = page.job
    if job.alert_hold is not None or job.feed_date is not None:
        article = replace(article, alert_hold=job.alert_hold, feed_date=job.feed_date)
    if job.revision_of is None or job.entry.updated is None:
        return article
    # A later version of a stored article: stored under its own key, dated by the feed's
    # updated time, placed against the original (see monitor.stories.ingest).
    return replace(
        article,
        canonical_url=revision_url(job.canonical_url, job.entry.updated),
        guid=None,
        published_at=job.entry.updated,
        rel_canonical=None,
        revision_of=job.revision_of,
    )


# The widths of the articles table's bounded columns.
_MAX_LANGUAGE = 20
_MAX_SITE_NAME = 300


def _storable(article: Article) -> Article:
    """``article`` with every text as storage accepts it (see the module docstring)."""
    language = clean_line(article.language)[:_MAX_LANGUAGE] if article.language else None
    site_name = clean_line(article.site_name)[:_MAX_SITE_NAME] if article.site_name else None
    return replace(
        article,
        url=clean_text(article.url),
        title=clean_title(article.title),
        text=clean_text(article.text),
        guid=clean_text(article.guid) if article.guid else None,
        authors=tuple(a for a in (clean_line(name) for name in article.authors) if a),
        language=language or None,
        site_name=site_name or None,
        # Whatever reached here: a date outside the believed range cannot be placed.
        published_at=publication_date(article.published_at),
    )


def _page_date(published: datetime | None, now: datetime) -> datetime | None:
    """The date a page gives itself (an undated entry: a section page's link), never ahead of
    its fetch (see :mod:`monitor.freshness`)."""
    if published is None:
        return None
    return min(as_utc(published), now)


def _build_article(page: FetchedPage, extracted: ExtractedPage | None, now: datetime) -> Article:
    entry = page.job.entry
    if extracted is None:
        return Article(
            source=page.job.source,
            url=entry.url,
            canonical_url=page.job.canonical_url,
            title=entry.title,
            text=entry.summary or entry.title,
            fetched_at=now,
            guid=entry.guid,
            authors=entry.authors,
            published_at=entry.published,
            summary_only=True,
        )
    rel_canonical: str | None = None
    if extracted.canonical_url:
        try:
            rel_canonical = canonicalize(extracted.canonical_url, base=page.final_url)
        except ParseError:
            rel_canonical = None
    return Article(
        source=page.job.source,
        url=entry.url,
        canonical_url=page.job.canonical_url,
        title=extracted.title or entry.title,
        text=extracted.text,
        fetched_at=now,
        guid=entry.guid,
        authors=extracted.authors or entry.authors,
        # The feed's date is what the outlet publishes as the release time; pages often carry
        # only a day, or an "updated" time.
        published_at=entry.published or _page_date(extracted.published, now),
        language=extracted.language,
        site_name=extracted.site_name,
        rel_canonical=rel_canonical if rel_canonical != page.job.canonical_url else None,
        page_types=extracted.page_types,
        section=extracted.section,
        reading=extracted.reading,  # used only if it fits the final title and text
    )


def build_articles(
    pages: Sequence[FetchedPage],
    extracted: Sequence[ExtractedPage | None],
    now: datetime,
    *,
    max_text_chars: int = MAX_TEXT_CHARS,
) -> list[Article]:
    """Articles in publication order (unknown dates last, in feed order), their text cut to
    ``max_text_chars``."""
    articles = [
        build_article(page, ext, now, max_text_chars=max_text_chars)
        for page, ext in zip(pages, extracted, strict=True)
        if not page.retry_later
    ]
    return sorted(articles, key=lambda a: _unknown_last(a.published_at))


def pages_to_extract(pages: Sequence[FetchedPage]) -> list[tuple[str, bytes]]:
    """(url, html) for every page that was fetched; failed pages get an empty body."""
    return [(p.final_url, p.html or b"") for p in pages]


def extraction_errors(
    pages: Sequence[FetchedPage], errors: Sequence[ExtractionError | None]
) -> list[SourceError]:
    """The pages whose extraction failed (too large, too slow, a crashed worker) as source
    errors: such a page is stored with its feed summary, and the error says why."""
    return [
        SourceError(
            page.job.source,
            page.job.canonical_url,
            SourceErrorKind.EXTRACT,
            type(e).__name__,
            str(e),
        )
        for page, e in zip(pages, errors, strict=True)
        if e is not None and page.html is not None
    ]


def extract_and_read(
    html: bytes | str,
    url: str,
    *,
    min_text_chars: int,
    settings: DetectionSettings,
    fallbacks: Fallbacks = "as_needed",
    max_text_chars: int = MAX_TEXT_CHARS,
) -> ExtractedPage | None:
    """:func:`monitor.extract.extract_page` plus detection's reading of the page, its text cut
    to ``max_text_chars`` first (as :func:`build_article` stores it).

    Run in the extraction workers, so that the CPU work of splitting sentences, fingerprinting
    and counting terms happens on the other cores, not in the (sequential) detect stage.
    """
    page = extract_page(html, url, min_text_chars=min_text_chars, fallbacks=fallbacks)
    if page is None:
        return None
    if len(page.text) > max_text_chars:
        page = replace(page, text=cap_text(page.text, max_text_chars))
    return replace(page, reading=read_article(page.title, page.text, settings))
