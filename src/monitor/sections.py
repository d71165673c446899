"""Section pages: an outlet's section page read as a list of article links, like a feed.

A source configured with ``kind: page`` is not looked into for a feed
(:mod:`monitor.discovery`): its page is fetched like a feed (conditional GET, robots.txt, the
size cap) and :func:`read_section` turns the links on it into a
:class:`~monitor.models.ParsedFeed` of kind ``"page"``: one
:class:`~monitor.models.FeedEntry` per article link, in page order, with the link's text as
its title and no date (the article's date comes from its own page when it is extracted).

Contract of :func:`article_link` (the filter, pure):

* the link is resolved against the page and canonicalised (:func:`monitor.urls.canonicalize`,
  courlan's normalisation: tracking parameters, fragment and default port dropped); a link
  that is not http(s) (``mailto:``, ``javascript:``) or not requestable is left out;
* it is on the same site as the page: the same host, or the same registered domain
  (``www.example.com`` and ``news.example.com``); an IP address only matches itself;
* it is not the page itself, not a navigation page (tags, categories, authors, archives,
  pagination: courlan's ``is_navigation_page``), not a page no crawler should follow (login,
  sign-up, cart: courlan's ``is_not_crawlable``), and not a file other than a web page (images,
  video, PDF: courlan's extension filter);
* it looks like an article: its path carries a date (``/2031/05/06/…``, ``2031-05-06``), a
  numeric id of five digits or more (``/world/123456``, ``story-1234567.html``), or its last
  segment is a slug of at least :data:`SLUG_WORDS` words (``ministers-agree-on-budget``).
  ``/about``, ``/contact``, ``/world/`` or a day's archive (``/2031/05/06/``) are not.

At most :data:`MAX_LINKS` links are read from one page; the per-poll cap of new entries
applies after that, like for any feed (:func:`monitor.pipeline.collect.newest_per_source`).
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit

import lxml.html
from courlan import extract_domain, is_navigation_page, is_not_crawlable
from courlan.filters import extension_filter
from lxml import etree

from monitor.errors import ParseError
from monitor.inbound import clean_line
from monitor.models import FeedEntry, FetchResult, ParsedFeed
from monitor.urls import canonicalize, host_of

# Links read from one page, at most: a section page lists tens of articles, not thousands.
MAX_LINKS = 500
# A last path segment of this many words or more is an article's slug.
SLUG_WORDS = 3
# Longest title kept from a link's text (a link around a whole teaser block).
_MAX_TITLE = 300

_DATE_IN_PATH = re.compile(
    r"(?:^|[/_-])(?:19|20)\d{2}(?:/(?:0?[1-9]|1[0-2])(?:/|$)|-(?:0[1-9]|1[0-2])-\d{2}"
    r"|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?:\D|$))"
)
_NUMERIC_ID = re.compile(r"(?<!\d)\d{5,}(?!\d)")
_WORD = re.compile(r"[^\W\d_]{2,}|\d+")
_SLUG_SEPARATOR = re.compile(r"[-_+]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
# Files a link may lead to that are not articles (courlan's filter misses the video ones).
_FILE = re.compile(
    r"\.(?:jpe?g|png|gif|webp|avif|svg|bmp|ico|tiff?|heic|mp3|m4a|aac|wav|flac|og[agv]|opus|mp4"
    r"|m4v|mov|avi|wmv|mkv|webm|mpe?g|flv|3gp|pdf|docx?|xlsx?|pptx?|od[tsp]|rtf|epub|zip|t?gz|rar"
    r"|7z|exe|dmg|apk|csv|json|xml|rss|atom|ics|js|css|woff2?|ttf)$",
    re.IGNORECASE,
)


def _site(host: str) -> str:
    """The registered domain of ``host`` (``news.example.co.uk`` → ``example.co.uk``), or the
    host itself when it has none (an IP address, ``localhost``)."""
    return extract_domain(f"http://{host}/") or host


def same_site(url: str, page_url: str) -> bool:
    """Whether ``url`` is on the site of ``page_url``: the same host or registered domain."""
    try:
        host, page_host = host_of(url), host_of(page_url)
    except ParseError:
        return False
    return host == page_host or _site(host) == _site(page_host)


def looks_like_article(url: str) -> bool:
    """Whether the path (and query) of ``url`` is an article's: a date, a numeric id, or a slug
    of several words (see the module docstring)."""
    parts = urlsplit(url)
    path = parts.path
    if _NUMERIC_ID.search(path) or _NUMERIC_ID.search(parts.query):
        return True
    last = next((s for s in reversed(path.split("/")) if s), "")
    # A date followed by more than a day's number: /2031/05/06/ alone is a day's archive.
    if _DATE_IN_PATH.search(path) and not last.isdigit():
        return True
    words = [w for w in _SLUG_SEPARATOR.split(_EXTENSION.sub("", last)) if _WORD.fullmatch(w)]
    return len(words) >= SLUG_WORDS


def article_link(href: str, page_url: str, base: str | None = None) -> str | None:
    """The canonical URL of the link ``href`` found on the page at ``page_url`` (resolved
    against ``base``, the page's ``<base href>``, when it has one), if it is one of the page's
    articles (see the module docstring); ``None`` if it is not."""
    try:
        url = canonicalize(href.strip(), base=base or page_url)
        page = canonicalize(page_url)
    except ParseError:
        return None
    if url == page or not same_site(url, page_url):
        return None
    path = urlsplit(url).path
    if is_navigation_page(url) or is_not_crawlable(url) or _is_file(path):
        return None
    return url if looks_like_article(url) else None


def _is_file(path: str) -> bool:
    """A path to a file other than a web page: a picture, a sound, a video, a document."""
    return not extension_filter(path) or _FILE.search(path) is not None


def _text(element: lxml.html.HtmlElement) -> str:
    text = clean_line(" ".join(element.itertext()))
    if not text:  # an image link: its picture's description
        text = clean_line(" ".join(str(a) for a in element.xpath(".//img/@alt")))
    return text[:_MAX_TITLE]


def _document(body: bytes, page_url: str) -> lxml.html.HtmlElement:
    try:
        return lxml.html.document_fromstring(body)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"not an HTML page: {exc}", url=page_url) from exc


def section_links(body: bytes, page_url: str) -> list[tuple[str, str]]:
    """The article links of an HTML page as (canonical URL, link text), in page order, each
    URL once (with the longest text any of its links has), at most :data:`MAX_LINKS`.
    Raises :class:`~monitor.errors.ParseError` when the body is not an HTML document."""
    return _links(_document(body, page_url), page_url)


def _links(root: lxml.html.HtmlElement, page_url: str) -> list[tuple[str, str]]:
    base: str | None = None
    for href in root.xpath("//base/@href")[:1]:
        with contextlib.suppress(ParseError):
            base = canonicalize(str(href), base=page_url)
    found: dict[str, str] = {}
    for anchor in root.iter("a"):
        href = anchor.get("href")
        if not href:
            continue
        url = article_link(href, page_url, base)
        if url is None:
            continue
        if url not in found and len(found) >= MAX_LINKS:
            break
        text = _text(anchor)
        if len(text) > len(found.get(url, "")):  # a headline rather than "more" or a picture
            found[url] = text
        else:
            found.setdefault(url, text)
    return list(found.items())


def read_section(result: FetchResult) -> ParsedFeed:
    """The section page fetched as ``result``, as a feed of kind ``"page"`` listing its article
    links (:func:`section_links`); its title is the page's ``<title>``. Raises
    :class:`~monitor.errors.ParseError` when it is empty or not an HTML document."""
    if not result.content.strip():
        raise ParseError("empty page", url=result.url)
    root = _document(result.content, result.final_url)
    titles = root.xpath("//title/text()")
    title = clean_line(str(titles[0]))[:_MAX_TITLE] if titles else ""
    entries = tuple(FeedEntry(url, title=text) for url, text in _links(root, result.final_url))
    return ParsedFeed(result.final_url, "page", title, entries)
