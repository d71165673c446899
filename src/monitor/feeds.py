"""Feed parsing: a fetched document in, a :class:`~monitor.models.ParsedFeed` out.

Contract:

* RSS 0.9x/1.0/2.0 and Atom are parsed by feedparser; JSON Feed 1.0/1.1 (which feedparser does not
  read) by :func:`_parse_json_feed` here. The kind is told apart by content, not only by the
  declared Content-Type, which servers often get wrong.
* XML sitemaps (``<urlset>``), for outlets that publish no feed, are read here too: each dated
  ``<url>`` is an entry, titled and dated by its Google News ``<news:news>`` element when it has
  one, otherwise dated by ``<lastmod>`` and untitled (the page supplies the title). Undated URLs
  are left out, and a sitemap with no dates at all is an error; only the newest
  :data:`MAX_SITEMAP_ENTRIES` are kept. A site's archive is never taken for news. A sitemap
  index is a feed of kind ``"sitemapindex"`` with no entries: its ``sitemaps`` list the
  sitemaps it names (at most :data:`MAX_INDEX_SITEMAPS`) with their ``<lastmod>``, newest
  first (:mod:`monitor.discovery` reads them). Entities are never expanded, nothing is loaded
  from the network.
* A gzip-compressed document (``sitemap.xml.gz`` is usually served as a file, not with
  ``Content-Encoding``) is decompressed first, up to :data:`MAX_DECOMPRESSED_BYTES`; past that
  it is a :class:`~monitor.errors.ParseError`, never a memory blow-up.
* Entry URLs are resolved against the URL the feed was finally fetched from; entries without an
  http(s) link are dropped, since there is no page to fetch for them.
* Dates become timezone-aware UTC datetimes (``None`` when absent, unparseable, out of
  range, or before 1970: see :func:`monitor.timeutil.publication_date`); titles (at most
  :data:`monitor.inbound.MAX_TITLE_CHARS` characters) and summaries (at most
  :data:`monitor.inbound.MAX_SUMMARY_CHARS`) are one line of plain text (markup loses its
  tags; what feedparser reads as plain text keeps every character);
  authors are a tuple of names without duplicates; ``guid`` is the feed's own identifier,
  verbatim. Every text passes :func:`monitor.inbound.clean_text` (no NUL, control characters
  or lone surrogates), so what a feed says can always be stored.
* A JSON document nested deeper than :data:`monitor.inbound.MAX_JSON_DEPTH` is a
  :class:`~monitor.errors.ParseError` (never a ``RecursionError``).
* A document that is not a feed raises :class:`~monitor.errors.ParseError` carrying the feed URL:
  an empty body, an HTML page, XML so broken it yields no entries, JSON that is invalid or not a
  JSON Feed. An HTML page raises :class:`~monitor.errors.NotAFeedError` naming the feeds the
  page advertises (``<link rel="alternate">``, also given by :func:`advertised_feeds`): a
  source set to a site's home or section page is then looked into by
  :mod:`monitor.discovery`, never here. A feed with recoverable errors ("bozo") that still
  yields entries is accepted, and so is a well-formed feed with no entries.
* An RSS ``<ttl>`` (minutes the feed may be cached) is kept as ``ttl_minutes``: adaptive
  polling never reads the feed again sooner (see :mod:`monitor.polling`).
* Pure: no I/O. feedparser is given the bytes as a stream, never a string it might treat as a
  URL or file path to open.
* :func:`parse_feeds` parses several documents and returns each one's error instead of raising
  it; it is what the extraction worker processes run when feeds are parsed there (see
  :meth:`monitor.extract_pool.Extractor.parse_feeds`).
"""

from __future__ import annotations

import html
import io
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from operator import itemgetter
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from lxml import etree

from monitor.errors import NotAFeedError, ParseError
from monitor.inbound import clean_line, clean_summary, clean_text, clean_title, load_json
from monitor.markup import tag_attributes
from monitor.models import FeedEntry, FetchResult, ParsedFeed, SitemapRef
from monitor.timeutil import from_timestamp, parse_iso, publication_date
from monitor.urls import host_of

_JSON_FEED_VERSION = "https://jsonfeed.org/version/1"
# Google News sitemaps hold at most 1,000 URLs; an ordinary sitemap can list 50,000, most of
# them old pages.
MAX_SITEMAP_ENTRIES = 1000
# The sitemap protocol's ceiling for the sitemaps one index lists.
MAX_INDEX_SITEMAPS = 50_000
# The sitemap protocol's own ceiling for an uncompressed file.
MAX_DECOMPRESSED_BYTES = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# What precedes the root element: XML declaration, processing instructions, comments, doctype.
# HTML5 pages mostly write the doctype in lower case.
_PROLOG = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!(?i:DOCTYPE)[^>\[]*(?:\[.*?\])?\s*>)", re.DOTALL
)
_ROOT = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")
_SITEMAP_ROOTS = frozenset({b"urlset", b"sitemapindex"})
# Feeds a web page advertises in its head: <link rel="alternate" type="..." href="...">.
_PAGE_HEAD_BYTES = 262_144
_LINK_TAG = re.compile(rb"<link\b([^>]{0,2000})>", re.IGNORECASE)
_FEED_TYPES = frozenset(
    {
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
        "application/json",
        "application/rdf+xml",
    }
)
_RSS_AUTHOR = re.compile(r"^\s*\S+@\S+\s*\((?P<name>[^)]+)\)\s*$")


FeedsParser = Callable[[Sequence[FetchResult]], list[ParsedFeed | ParseError]]
"""The shape of :func:`parse_feeds`: documents in, one parsed feed or error per document out."""


def parse_feeds(results: Sequence[FetchResult]) -> list[ParsedFeed | ParseError]:
    """:func:`parse_feed` of each result, in order; a document that is not a feed gives its
    :class:`~monitor.errors.ParseError` in its place."""
    parsed: list[ParsedFeed | ParseError] = []
    for result in results:
        try:
            parsed.append(parse_feed(result))
        except ParseError as exc:
            parsed.append(exc)
        except Exception as exc:  # noqa: BLE001 - a parser bug must stay this document's error
            parsed.append(
                ParseError(f"unreadable feed ({type(exc).__name__}: {exc})", url=result.url)
            )
    return parsed


def parse_feed(result: FetchResult) -> ParsedFeed:
    """Parse the body of ``result`` as RSS, Atom or JSON Feed."""
    base = result.final_url or result.url
    body = result.content
    if not body.strip():
        raise ParseError(f"empty response body (HTTP {result.status})", url=result.url)
    if body.startswith(_GZIP_MAGIC):
        body = _gunzip(body, url=result.url)
    if _looks_like_json(body, result.content_type):
        return _parse_json_feed(body, url=result.url, base=base)
    root = _root_name(body)
    if root in _SITEMAP_ROOTS:
        return _parse_sitemap(body, url=result.url, base=base)
    return _parse_xml_feed(
        body, root=root, content_type=result.content_type, url=result.url, base=base
    )


def _gunzip(body: bytes, *, url: str) -> bytes:
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        plain = inflate.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise ParseError(f"broken gzip data: {exc}", url=url) from exc
    if inflate.unconsumed_tail:
        raise ParseError(
            f"gzip data expands past {MAX_DECOMPRESSED_BYTES // (1024 * 1024)} MB", url=url
        )
    if not inflate.eof:
        raise ParseError("truncated gzip data", url=url)
    return plain


def _looks_like_json(body: bytes, content_type: str) -> bool:
    # The first significant byte decides; servers mislabel feeds in both directions.
    first = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if first in (b"{", b"<"):
        return first == b"{"
    return "json" in content_type.lower()


def _parse_xml_feed(
    body: bytes, *, root: bytes, content_type: str, url: str, base: str
) -> ParsedFeed:
    # No Content-Location is passed: feedparser would then also rewrite relative <guid>s into
    # URLs, and a guid must stay exactly as the publisher wrote it. Links are resolved below.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    version = str(parsed.get("version") or "")
    entries = parsed.get("entries") or []
    if not version:
        if root == b"html":
            raise NotAFeedError(_html_page_problem(body, base), url=url)
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        raise ParseError(f"not an RSS or Atom feed{detail}", url=url)
    kind = "atom" if version.startswith("atom") else "rss"
    rejected: list[str] = []
    usable = tuple(_xml_entries(entries, base, kind, rejected))
    # A malformed document counts as a feed only if it still yields entries we can follow
    # (a truncated feed whose only item lost its link is broken, not empty).
    if parsed.get("bozo") and not usable:
        raise ParseError(
            f"malformed {version} feed with no usable entries: {parsed.get('bozo_exception')}",
            url=url,
        )
    feed_info: Mapping[str, Any] = parsed.get("feed") or {}
    return ParsedFeed(
        url=url,
        kind=kind,
        title=_plain(str(feed_info.get("title") or "")),
        entries=usable,
        rejected=tuple(rejected),
        ttl_minutes=_ttl(feed_info.get("ttl")) if kind == "rss" else None,
    )


def _ttl(value: object) -> int | None:
    """An RSS ``<ttl>`` (whole minutes), or None when absent or not a positive number."""
    try:
        minutes = int(str(value).strip())
    except ValueError:
        return None
    return minutes if minutes > 0 else None


def _html_page_problem(body: bytes, base: str) -> str:
    """What to say of an HTML page given as a feed: the feeds it advertises, if any."""
    found = advertised_feeds(body, base)
    if not found:
        return "an HTML page, not a feed (it advertises none)"
    return "an HTML page, not a feed; it advertises: " + ", ".join(found[:5])


def is_html_page(body: bytes) -> bool:
    """Whether ``body`` is an HTML document (its root element is ``<html>``)."""
    if body.startswith(_GZIP_MAGIC):
        return False
    return _root_name(body) == b"html"


def advertised_feeds(body: bytes, base: str) -> list[str]:
    """The feeds an HTML page advertises in its head (``<link rel="alternate">`` with an RSS,
    Atom or JSON Feed type), absolute, in page order, without duplicates."""
    found: list[str] = []
    for tag in _LINK_TAG.finditer(body[:_PAGE_HEAD_BYTES]):
        attrs = {
            name: value.decode("utf-8", "replace").strip()
            for name, value in tag_attributes(tag.group(1)).items()
        }
        if "alternate" not in attrs.get(b"rel", "").lower().split():
            continue
        if attrs.get(b"type", "").lower().split(";")[0] not in _FEED_TYPES:
            continue
        link = _resolve(html.unescape(attrs.get(b"href", "")), base)
        if link is not None and link not in found:
            found.append(link)
    return found


def _xml_entries(
    entries: Iterable[Mapping[str, Any]], base: str, kind: str, rejected: list[str]
) -> Iterable[FeedEntry]:
    for entry in entries:
        link = _entry_link(str(entry.get("link") or ""), base, rejected)
        if link is None:
            continue
        summary = _entry_text(entry.get("summary"), entry.get("summary_detail"))
        if not summary and entry.get("content"):
            first = entry["content"][0]
            summary = _entry_text(first.get("value"), first)
        yield FeedEntry(
            url=link,
            title=clean_title(_entry_text(entry.get("title"), entry.get("title_detail"))),
            summary=clean_summary(summary),
            guid=_guid(entry.get("id")),
            published=_from_struct(
                _own(entry, "published_parsed") or _own(entry, "updated_parsed")
            ),
            authors=_xml_authors(entry, kind),
            # feedparser fills updated_parsed from the publication date when there is no
            # <updated>; only an element of its own says the item changed.
            updated=_from_struct(_own(entry, "updated_parsed")) if "updated" in entry else None,
        )


def _own(entry: Mapping[str, Any], key: str) -> Any:
    """``entry[key]`` as parsed, or ``None``: feedparser's own ``get`` maps a missing date key
    to the other one, with a deprecation warning."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _entry_text(value: object, detail: object) -> str:
    """A title or summary as one line of plain text.

    feedparser tells markup from text: an escaped ``&lt;`` in a plain-text title ("How <urlset>
    works") is a character of the headline, and only markup has its tags removed.
    """
    text = str(value or "")
    if isinstance(detail, Mapping) and detail.get("type") == "text/plain":
        return _one_line(text)
    return _plain(text)


def _xml_authors(entry: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    details = [a for a in entry.get("authors") or () if isinstance(a, dict)]
    if kind == "atom":
        return _unique(str(a.get("name") or "") for a in details)
    # RSS <author> is "email (Name)". feedparser splits that itself but truncates addresses with
    # long top-level domains and shifts the cut into the name, so its split entries are replaced by
    # the raw value (which feedparser keeps for the last author) and re-split here.
    raw = [str(a.get("name") or "") for a in details if not a.get("email")]
    if entry.get("author"):
        raw.append(str(entry["author"]))
    names = []
    for value in raw:
        match = _RSS_AUTHOR.match(value)
        names.append(match["name"] if match else value)
    return _unique(names)


def _root_name(body: bytes) -> bytes:
    """Local name of the document's root element, lower case (empty when there is none)."""
    head = body[:65_536].lstrip(b"\xef\xbb\xbf")
    pos = 0
    while (prolog := _PROLOG.match(head, pos)) is not None and prolog.end() > pos:
        pos = prolog.end()
    root = _ROOT.match(head, pos)
    return root.group(1).lower() if root else b""


def _parse_sitemap(body: bytes, *, url: str, base: str) -> ParsedFeed:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"malformed sitemap: {exc}", url=url) from exc
    # Publishers are loose with the sitemap namespaces: elements are known by local name.
    if _local(root) == "sitemapindex":
        return _sitemap_index(root, url=url, base=base)
    entries = []
    rejected: list[str] = []
    for node in root:
        if _local(node) != "url":
            continue
        link = _entry_link(_child_text(node, "loc"), base, rejected)
        if link is None:
            continue
        news = next((child for child in node if _local(child) == "news"), None)
        title = _child_text(news, "title") if news is not None else ""
        published = _from_iso(_child_text(news, "publication_date")) if news is not None else None
        entries.append(
            FeedEntry(
                url=link,
                title=clean_title(_plain(title)),
                published=published or _from_iso(_child_text(node, "lastmod")),
            )
        )
    # Without a date a URL cannot be told from the archive: on a first poll every one of them
    # would be fetched, stored and matched as news. Undated URLs in a dated sitemap are the
    # site's fixed pages.
    dated = [(e.published, e) for e in entries if e.published is not None]
    if entries and not dated:
        raise ParseError(
            f"a sitemap without dates (no <lastmod> or <news:publication_date> on any of its "
            f"{len(entries)} URLs): new pages cannot be told from old ones; use the site's "
            "news sitemap or feed",
            url=url,
        )
    dated.sort(key=itemgetter(0), reverse=True)  # newest first; document order among equals
    newest = tuple(entry for _, entry in dated[:MAX_SITEMAP_ENTRIES])
    return ParsedFeed(url=url, kind="sitemap", title="", entries=newest, rejected=tuple(rejected))


def _sitemap_index(root: Any, *, url: str, base: str) -> ParsedFeed:
    refs: list[SitemapRef] = []
    seen: set[str] = set()
    for node in root:
        if len(refs) >= MAX_INDEX_SITEMAPS:
            break
        if _local(node) != "sitemap":
            continue
        link = _resolve(_child_text(node, "loc"), base)
        if link is None or link in seen:
            continue
        seen.add(link)
        refs.append(SitemapRef(link, _from_iso(_child_text(node, "lastmod"))))
    return ParsedFeed(
        url=url, kind="sitemapindex", title="", entries=(), sitemaps=newest_sitemaps(refs)
    )


def newest_sitemaps(refs: Iterable[SitemapRef]) -> tuple[SitemapRef, ...]:
    """``refs`` newest first by ``<lastmod>``; undated ones after, in document order."""
    listed = list(refs)
    dated = sorted((r for r in listed if r.lastmod), key=lambda r: r.lastmod or _EPOCH)
    return tuple(reversed(dated)) + tuple(r for r in listed if r.lastmod is None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _local(node: Any) -> str:
    tag = node.tag
    if not isinstance(tag, str):  # processing instructions and the like
        return ""
    return tag.rpartition("}")[2].lower()


def _child_text(node: Any, name: str) -> str:
    for child in node:
        if _local(child) == name:
            return (child.text or "").strip()
    return ""


def _parse_json_feed(body: bytes, *, url: str, base: str) -> ParsedFeed:
    # JSON is UTF-8 by definition (RFC 8259); a byte order mark is tolerated, depth bounded.
    document = load_json(body, url=url)
    if not isinstance(document, dict):
        raise ParseError("JSON document is not an object", url=url)
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(_JSON_FEED_VERSION):
        raise ParseError(f"not a JSON Feed (version {version!r})", url=url)
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed has no 'items' list", url=url)
    feed_authors = _json_authors(document)
    entries = []
    rejected: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _entry_link(
            _text(item.get("url")) or _text(item.get("external_url")), base, rejected
        )
        if link is None:
            continue
        summary = (
            _text(item.get("summary"))
            or _text(item.get("content_text"))
            or _text(item.get("content_html"))
        )
        item_id = item.get("id")
        entries.append(
            FeedEntry(
                url=link,
                title=clean_title(_plain(_text(item.get("title")))),
                summary=clean_summary(_plain(summary)),
                # Version 1 allowed numeric ids; the spec says to treat them as strings.
                guid=_guid(item_id) if isinstance(item_id, str | int) else None,
                published=_from_iso(_text(item.get("date_published") or item.get("date_modified"))),
                authors=_json_authors(item) or feed_authors,
                updated=_from_iso(_text(item.get("date_modified"))),
            )
        )
    return ParsedFeed(
        url=url,
        kind="json",
        title=_plain(_text(document.get("title"))),
        entries=tuple(entries),
        rejected=tuple(rejected),
    )


def _json_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    # 1.1 has an "authors" list; 1.0 had a single "author" object.
    raw = obj.get("authors")
    candidates = raw if isinstance(raw, list) else [obj.get("author")]
    return _unique(_text(a.get("name")) for a in candidates if isinstance(a, dict))


def _text(value: object) -> str:
    return clean_text(value) if isinstance(value, str) else ""


def _guid(value: object) -> str | None:
    """The feed's identifier of an entry, verbatim but for characters storage refuses."""
    if value is None or isinstance(value, bool):
        return None
    guid = clean_text(str(value)).strip()
    return guid or None


def _resolve(link: str, base: str) -> str | None:
    link = link.strip()
    if not link:
        return None
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return absolute


def _entry_link(link: str, base: str, rejected: list[str]) -> str | None:
    """An entry's http(s) link, absolute; ``None`` for an entry without one. A link that is
    http(s) but cannot be requested (see :mod:`monitor.urls`) leaves the entry out with its
    reason in ``rejected``, so that one bad link is that entry's problem alone."""
    resolved = _resolve(link, base)
    if resolved is None:
        return None
    try:
        host_of(resolved)
    except ParseError as exc:
        rejected.append(str(exc))
        return None
    return resolved


def _from_struct(value: object) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    return publication_date(from_timestamp(value))


def _from_iso(value: str) -> datetime | None:
    # RFC 3339 requires an offset; a feed that omits it is most likely stating UTC.
    parsed = publication_date(parse_iso(value))
    return parsed.astimezone(UTC) if parsed is not None else None


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for name in names:
        cleaned = _one_line(name)
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


class _TextCollector(HTMLParser):
    _SKIP = frozenset({"script", "style", "template"})
    _INLINE = frozenset(
        {"a", "abbr", "b", "cite", "code", "em", "font", "i", "mark", "q", "s", "small", "span"}
        | {"strong", "sub", "sup", "time", "u"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        self._separate(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        self._separate(tag)

    def _separate(self, tag: str) -> None:
        # Block-level tags separate words ("<p>a</p><p>b</p>" is "a b"), inline ones do not.
        if tag not in self._INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _plain(markup: str) -> str:
    """Text of an HTML fragment (or of plain text), on one line."""
    if "<" not in markup and "&" not in markup:
        return _one_line(markup)
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    return _one_line("".join(collector.parts))


def _one_line(text: str) -> str:
    """``text`` cleaned, with every run of whitespace one space, and none at either end."""
    return clean_line(text)
