"""Atom feeds (RFC 4287) of a topic's alerted developments and of a story's developments.

Values in, bytes out; no I/O. One entry per development:

* ``id``: a ``tag:`` URI (RFC 4151) that never changes for the same development, so a reader that
  fetches the feed again never shows an entry twice: for a topic, from the alert's idempotency key
  (``tag:news-monitor,2025:alert/topic%3AName%3Adevelopment%3A12``); for a story, from the
  development's id. The feed's own id is built the same way from the topic's slug or story id.
* ``updated``: when the alert was raised (topic) or the development recorded (story); the feed's
  ``updated`` is the newest entry's, or the Unix epoch for a feed without entries, so the same
  database gives the same bytes (and the same ETag) on every fetch.
* ``content type="html"``: the new facts quoted, first outlet and time, "also carried by"; built
  with :func:`html.escape` and then escaped again as XML text, so a stored ``<script>`` reaches the
  reader as text.
* one ``link rel="alternate"`` per entry: the article when its URL is http(s), else the story page.

Stored text may carry characters XML 1.0 cannot hold (NUL, most C0 controls, lone surrogates,
U+FFFE/U+FFFF); they are removed, so the document is always well-formed.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from monitor.alerts.render import safe_url

ATOM_NS = "http://www.w3.org/2005/Atom"
TAG_AUTHORITY = "tag:news-monitor,2025:"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
XML_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"

# Characters outside XML 1.0's Char production.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WS = re.compile(r"\s+")


def xml_text(value: object) -> str:
    """``value`` without the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("", str(value))


def _line(value: object) -> str:
    return _WS.sub(" ", xml_text(value)).strip()


def tag_uri(kind: str, key: object) -> str:
    """A stable ``tag:`` URI for ``kind``/``key`` (the key percent-encoded)."""
    return f"{TAG_AUTHORITY}{kind}/{quote(str(key), safe='')}"


@dataclass(frozen=True, slots=True)
class FeedEntry:
    id: str
    title: str
    updated: datetime
    link: str  # http(s) URL of the article, or the story page
    author: str
    facts: tuple[str, ...]
    first_reported: str  # "gazette, 2025-03-04 08:00 UTC"
    also: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Feed:
    id: str
    title: str
    self_link: str
    alternate: str  # the page the feed belongs to
    entries: tuple[FeedEntry, ...]

    @property
    def updated(self) -> datetime:
        return max((e.updated for e in self.entries), default=EPOCH)


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: str  # HTTP-date
    updated: datetime


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry_link(article_url: str, fallback: str) -> str:
    """The article's URL when it is http(s), else ``fallback`` (the story page)."""
    return safe_url(article_url) or fallback


def _content(entry: FeedEntry) -> str:
    parts = [f"<blockquote>{html.escape(xml_text(fact))}</blockquote>" for fact in entry.facts]
    parts.append(f"<p>First reported by {html.escape(_line(entry.first_reported))}.</p>")
    if entry.also:
        also = ", ".join(html.escape(_line(a)) for a in entry.also)
        parts.append(f"<p>Also carried by: {also}.</p>")
    if entry.reason:
        parts.append(f"<p>Why: {html.escape(_line(entry.reason))}</p>")
    return "\n".join(parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def render_feed(feed: Feed) -> RenderedFeed:
    """The feed as UTF-8 XML, with the validators a conditional GET compares."""
    ET.register_namespace("", ATOM_NS)
    root = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(root, "id", feed.id)
    _sub(root, "title", _line(feed.title) or "news-monitor", type="text")
    _sub(root, "updated", _iso(feed.updated))
    _sub(root, "link", rel="self", type="application/atom+xml", href=xml_text(feed.self_link))
    _sub(root, "link", rel="alternate", type="text/html", href=xml_text(feed.alternate))
    _sub(root, "generator", "news-monitor")
    for entry in feed.entries:
        element = _sub(root, "entry")
        _sub(element, "id", entry.id)
        _sub(element, "title", _line(entry.title) or "(untitled)", type="text")
        _sub(element, "updated", _iso(entry.updated))
        author = _sub(element, "author")
        _sub(author, "name", _line(entry.author) or "unknown")
        _sub(element, "link", rel="alternate", type="text/html", href=xml_text(entry.link))
        _sub(element, "content", _content(entry), type="html")
    # Serialised as text and encoded once: ``encoding="utf-8"`` would pass every fragment through
    # an encoding stream. The declaration is the one ElementTree writes.
    body = (XML_DECLARATION + ET.tostring(root, encoding="unicode")).encode("utf-8")
    return RenderedFeed(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        last_modified=format_datetime(feed.updated.astimezone(UTC), usegmt=True),
        updated=feed.updated,
    )


def not_modified(
    rendered: RenderedFeed, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """Whether a conditional GET with these headers gets 304 (RFC 9110 §13.2.2: when
    If-None-Match is present, If-Modified-Since is ignored)."""
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or rendered.etag in tags
    if if_modified_since is None:
        return False
    from email.utils import parsedate_to_datetime

    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return rendered.updated.replace(microsecond=0) <= since


def feed_entries_sorted(entries: Sequence[FeedEntry]) -> tuple[FeedEntry, ...]:
    """Newest first, ties by id: the order readers show, the same on every fetch."""
    return tuple(sorted(entries, key=lambda e: (e.updated, e.id), reverse=True))
