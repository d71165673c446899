"""Extraction stage: article HTML in, :class:`~monitor.models.ExtractedPage` (or ``None``) out.

Contract
--------
* :func:`extract_page` is pure and total: any input (empty, binary, deeply nested, mis-declared
  charset) gives either an :class:`ExtractedPage` with at least ``min_text_chars`` characters of
  main text, or ``None``. ``None`` means "nothing usable": the caller keeps the feed's
  title/summary and marks the article summary-only. It never raises.
* Main text comes from trafilatura (boilerplate such as navigation, footers, related links, cookie
  banners and reader comments left out); so do title, authors and site name. By default
  (``fallbacks="as_needed"``) trafilatura runs in its fast mode, which skips comparing its result
  with the readability and jusText extractors on every page (a large share of its time on a
  news page; see ``docs/performance.md``); a page fast mode cannot extract (``None``, or less
  than ``min_text_chars``) is extracted again with them, so only pages that need the fallbacks
  pay for them (unless the fast pass alone took half a second of CPU: a hostile page would pay
  for both).
  ``fallbacks="always"`` is trafilatura's default: the comparison on every page. The published time
  is a timezone-aware UTC datetime: the page's declared publication timestamp
  (``article:published_time``, JSON-LD ``datePublished``) when htmldate agrees on the day,
  otherwise htmldate's date (midnight UTC when only a day is known). Language is the primary
  subtag of ``<html lang>``, ``Content-Language`` or ``og:locale``: no language model is loaded.
  ``canonical_url`` is ``rel=canonical`` (else ``og:url``) resolved against the page URL, or
  ``None`` when the page declares neither. ``page_types`` are the schema.org ``@type`` values of
  the page's JSON-LD (``OpinionNewsArticle``...) and ``section`` its declared section
  (``article:section``, JSON-LD ``articleSection``): what :mod:`monitor.stories.kind` reads.
* :mod:`monitor.extract_pool` runs it over many pages in worker processes.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from trafilatura import bare_extraction
from trafilatura.settings import Document

from monitor.inbound import clean_title
from monitor.markup import tag_attributes
from monitor.models import ExtractedPage, Fallbacks
from monitor.timeutil import parse_iso, publication_date

__all__ = ["extract_page", "quiet_extraction_logs"]

# htmldate's own default format drops the time of day; asking for it keeps the timestamp when
# the page has one. max_date is left to htmldate, which defaults it to "now".
_DATE_PARAMS: dict[str, Any] = {
    "original_date": True,
    "extensive_search": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}

# trafilatura recognises English comment containers ("comment", "discussion"); news sites in
# other languages name theirs differently and the readers' words would otherwise end up in the
# article text.
_COMMENT_WORDS = ("kommentar", "commentaire", "comentario", "reaction", "yorum", "leserbrief")
_PRUNE_XPATH = "//*[{}]".format(
    " or ".join(f"contains(@id, '{word}') or contains(@class, '{word}')" for word in _COMMENT_WORDS)
)
# The pruning query visits every element (about a fifth of the extraction time); a page whose
# raw bytes never contain one of the words has nothing it could remove.
_COMMENT_BYTES = re.compile("|".join(_COMMENT_WORDS).encode())

# Metadata trafilatura does not return (language, the declared canonical URL, the full publication
# timestamp) is read from the start of the raw document with regular expressions: a second HTML
# parse would cost about as much as the extraction itself.
_HEAD_SCAN_BYTES = 65_536
_HEAD_END = re.compile(rb"</head\s*>|<body[\s>]", re.IGNORECASE)
_TAG = re.compile(rb"<(html|meta|link)\b([^>]{0,4000})>", re.IGNORECASE)
_LD_PUBLISHED = re.compile(rb'"datePublished"\s*:\s*"([^"]{8,40})"')
# JSON-LD is read with two patterns, not parsed: it often sits in the body and is often not
# valid JSON. A type is one string or a list of them; a section one string.
_LD_TYPE = re.compile(rb'"@type"\s*:\s*(\[[^\]]{0,400}\]|"[^"]{1,80}")')
_LD_STRING = re.compile(rb'"([^"]{1,80})"')
_LD_SECTION = re.compile(rb'"articleSection"\s*:\s*\[?\s*"([^"]{1,80})"')
_MAX_PAGE_TYPES = 12
_LANG = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*")
_PUBLISHED_KEYS = frozenset({"article:published_time", "datepublished", "og:published_time"})
_MAX_TAGS = 60_000
# A page whose fast pass alone took this much CPU gets no second pass: the pass with the
# fallbacks costs more than the fast one, and a hostile page (tens of thousands of empty
# paragraphs) would pay for both. Real article pages take a small fraction of this limit.
_SECOND_PASS_MAX_CPU_S = 0.5


@dataclass(frozen=True, slots=True)
class _HeadFacts:
    language: str | None = None
    canonical: str | None = None
    og_url: str | None = None
    published: str | None = None
    page_types: tuple[str, ...] = ()
    section: str | None = None


def extract_page(
    html: bytes | str,
    url: str,
    *,
    min_text_chars: int = 200,
    fallbacks: Fallbacks = "as_needed",
) -> ExtractedPage | None:
    """Extract the article of one page; ``None`` when nothing usable is found. Never raises."""
    try:
        return _extract(html, url, min_text_chars, fallbacks)
    # The contract is "never raises": lxml, htmldate and trafilatura raise a wide and
    # undocumented range of errors (and RecursionError on pathological nesting) on hostile
    # input, and for the pipeline every one of them means the same thing: use the feed summary.
    except Exception:  # noqa: BLE001
        return None


def _extract(
    html: bytes | str, url: str, min_text_chars: int, fallbacks: Fallbacks
) -> ExtractedPage | None:
    if not html:
        return None
    # Extraction cost grows with the element count (over all of trafilatura's passes); a page
    # of unclosed tags can otherwise hold a worker for many
    # seconds. Real article pages, live blogs included, stay far below this.
    tag_count = html.count(b"<") if isinstance(html, bytes) else html.count("<")
    if tag_count > _MAX_TAGS:
        return None
    raw = html if isinstance(html, bytes) else html.encode("utf-8", "replace")
    prune = _PRUNE_XPATH if _COMMENT_BYTES.search(raw) else None
    fast = fallbacks == "as_needed"
    started = time.thread_time()
    found = _trafilatura(html, url, prune, min_text_chars, fast=fast)
    if found is None and fast and time.thread_time() - started < _SECOND_PASS_MAX_CPU_S:
        found = _trafilatura(html, url, prune, min_text_chars, fast=False)
    if found is None:
        return None
    document, text = found
    head = _scan_head(html)
    return ExtractedPage(
        text=text,
        title=clean_title(document.title or ""),
        authors=_split_authors(document.author),
        published=_published(head.published, document.date),
        language=head.language,
        site_name=(document.sitename or "").strip() or None,
        canonical_url=_absolute(head.canonical, url) or _absolute(head.og_url, url),
        page_types=head.page_types,
        section=head.section,
    )


def _trafilatura(
    html: bytes | str, url: str, prune: str | None, min_text_chars: int, *, fast: bool
) -> tuple[Document, str] | None:
    """trafilatura's document and its stripped main text; ``None`` when the text is empty or
    shorter than ``min_text_chars``."""
    document = bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        date_extraction_params=_DATE_PARAMS,
        prune_xpath=prune,
        fast=fast,
    )
    if not isinstance(document, Document):
        return None
    text = (document.text or "").strip()
    return (document, text) if text and len(text) >= min_text_chars else None


def _scan_head(html: bytes | str) -> _HeadFacts:
    raw = html[:_HEAD_SCAN_BYTES]
    head = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    end = _HEAD_END.search(head)
    if end is not None:
        head = head[: end.start()]
    html_lang = content_language = og_locale = canonical = og_url = published = section = None
    for tag in _TAG.finditer(head):
        name = tag.group(1).lower()
        attrs = tag_attributes(tag.group(2))
        if name == b"html":
            html_lang = html_lang or attrs.get(b"lang") or attrs.get(b"xml:lang")
        elif name == b"link":
            if b"canonical" in attrs.get(b"rel", b"").lower().split():
                canonical = canonical or attrs.get(b"href")
        else:
            key = (
                attrs.get(b"property") or attrs.get(b"name") or attrs.get(b"itemprop") or b""
            ).lower()
            content = attrs.get(b"content")
            if attrs.get(b"http-equiv", b"").lower() == b"content-language":
                content_language = content_language or content
            elif key == b"og:locale":
                og_locale = og_locale or content
            elif key == b"og:url":
                og_url = og_url or content
            elif key.decode("ascii", "replace") in _PUBLISHED_KEYS:
                published = published or content
            elif key == b"article:section":
                section = section or content
    if published is None:
        ld = _LD_PUBLISHED.search(head)
        published = ld.group(1) if ld else None
    # JSON-LD may come anywhere in the page: its types and section are read from the whole scan.
    scanned = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if section is None:
        ld = _LD_SECTION.search(scanned)
        section = ld.group(1) if ld else None
    return _HeadFacts(
        language=_language(html_lang) or _language(content_language) or _language(og_locale),
        canonical=_text(canonical),
        og_url=_text(og_url),
        published=_text(published),
        page_types=_page_types(scanned),
        section=_label(section),
    )


def _label(value: bytes | None) -> str | None:
    """A declared label (a section's name) as shown by ``monitor explain``: printable, short."""
    text = _text(value)
    return text if text and len(text) <= 80 and text.isprintable() else None


def _page_types(scanned: bytes) -> tuple[str, ...]:
    """The distinct JSON-LD ``@type`` values of a page, in order, at most ``_MAX_PAGE_TYPES``."""
    found: dict[str, None] = {}
    for declared in _LD_TYPE.finditer(scanned):
        for value in _LD_STRING.finditer(declared.group(1)):
            name = _label(value.group(1))
            if name:
                found.setdefault(name, None)
            if len(found) >= _MAX_PAGE_TYPES:
                return tuple(found)
    return tuple(found)


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.decode("utf-8", "replace").strip() or None


def _language(value: bytes | None) -> str | None:
    text = _text(value)
    if text is None:
        return None
    # Content-Language may list several; the first is the document's main language.
    match = _LANG.fullmatch(text.split(",")[0].strip())
    return match.group(1).lower() if match else None


def _absolute(candidate: str | None, base: str) -> str | None:
    if not candidate:
        return None
    resolved = urljoin(base, candidate)
    parts = urlsplit(resolved)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return resolved


def _split_authors(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    # trafilatura joins several authors with "; "
    names = (name.strip() for name in value.split(";"))
    return tuple(dict.fromkeys(name for name in names if name))


def _published(declared: str | None, found: str | None) -> datetime | None:
    """Prefer the page's declared timestamp (it has the time of day) when htmldate, which also
    weighs the URL and visible dates, agrees on the day; htmldate otherwise."""
    estimate = publication_date(parse_iso(found))
    exact = publication_date(parse_iso(declared))
    if exact is not None and (estimate is None or exact.date() == estimate.date()):
        return exact.astimezone(UTC)
    return estimate.astimezone(UTC) if estimate is not None else None


def quiet_extraction_logs() -> None:
    """Silence the extraction libraries' loggers in this process.

    An extraction process's stderr is nobody's log: a page trafilatura discards is reported as
    ``None`` already.
    """
    for name in ("trafilatura", "htmldate", "courlan", "justext"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
