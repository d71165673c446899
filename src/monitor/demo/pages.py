"""Render demo outlets as a real news site would: article pages with full chrome, and feeds.

Contract:

* :func:`render_article_page` returns UTF-8 HTML bytes of a complete article page: ``<head>`` with
  title, description, Open Graph tags, ``rel=canonical`` and a JSON-LD ``NewsArticle``; a cookie
  banner, header menus, breadcrumbs; the article itself (h1, byline, ``<time>``, paragraphs, a pull
  quote); "Most read", "Related stories", a newsletter box, a comments placeholder and a large
  footer. The article body is the page's main content: a main-text extractor (trafilatura) returns
  the paragraphs, not the chrome. ``pad_to_bytes`` adds more chrome of the kinds real pages carry
  (inline styles and scripts, application state, mega-menus, link directories) until the page is at
  least that large. Output is deterministic for a given input.
* :func:`render_rss` (RSS 2.0), :func:`render_atom` (Atom 1.0) and :func:`render_json_feed` (JSON
  Feed 1.1) list the given articles in the order given; :func:`render_feed` picks the outlet's
  format. Links are ``base_url + path + feed_query``; dates are the articles' publication times.
* :func:`synthetic_articles` makes ``n`` deterministic, varied articles of several hundred words
  each on :data:`SYNTHETIC_OUTLETS`, for benchmarks.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from xml.etree import ElementTree as ET

from monitor.demo.content import DemoArticle, Outlet

__all__ = [
    "FEED_CONTENT_TYPES",
    "article_url",
    "render_article_page",
    "render_atom",
    "render_feed",
    "render_json_feed",
    "render_rss",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CHROME_WORDS = _words(
    "weather travel property motoring puzzles crossword recipes gardening podcasts video "
    "obituaries letters books theatre music film television schools health science money "
    "jobs pensions energy transport courts councils farming fishing coast islands heritage"
)


def article_url(base_url: str, article: DemoArticle) -> str:
    """The article's canonical address (no tracking parameters)."""
    return base_url + article.path


def slugify(text: str) -> str:
    return "-".join("".join(c for c in w if c.isalnum()) for w in text.lower().split()).strip("-")


def _human_date(when: datetime) -> str:
    return f"{when.day} {when:%B %Y, %H:%M} UTC"


def _json_ld(outlet: Outlet, article: DemoArticle, url: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.summary,
        "datePublished": article.published.isoformat(),
        "dateModified": article.published.isoformat(),
        "inLanguage": article.language,
        "articleSection": article.section,
        "mainEntityOfPage": url,
        "author": [{"@type": "Person", "name": article.author}],
        "publisher": {"@type": "NewsMediaOrganization", "name": outlet.name},
        "wordCount": article.word_count,
    }
    # "</" must not appear inside a script element
    return json.dumps(data, ensure_ascii=False, indent=1).replace("</", "<\\/")


def _nav(outlet: Outlet) -> str:
    items = "".join(
        f'<li><a href="{outlet.home_path}{slugify(s)}/">{escape(s)}</a></li>'
        for s in outlet.sections
    )
    utility = "".join(
        f'<li><a href="{outlet.home_path}{slugify(s)}/">{s}</a></li>'
        for s in ("Subscribe", "Sign in", "Newsletters", "Podcasts", "Puzzles", "Archive")
    )
    return (
        f'<nav class="main-nav" role="navigation" aria-label="Sections"><ul>{items}</ul></nav>\n'
        f'<nav class="utility-nav" aria-label="Account"><ul>{utility}</ul></nav>'
    )


def _body(article: DemoArticle) -> str:
    parts: list[str] = []
    quote_after = min(2, len(article.paragraphs) - 1)
    for i, para in enumerate(article.paragraphs):
        parts.append(f"<p>{escape(para, quote=False)}</p>")
        if article.pull_quote is not None and i == quote_after:
            said, who = article.pull_quote
            parts.append(
                '<figure class="pull-quote"><blockquote>'
                f"<p>{escape(said, quote=False)}</p></blockquote>"
                f"<figcaption>{escape(who)}</figcaption></figure>"
            )
    return "\n".join(parts)


def _link_list(outlet: Outlet, css: str, heading: str, titles: Sequence[str]) -> str:
    items = "".join(
        f'<li><a href="{outlet.home_path}{slugify(t)[:60]}">{escape(t)}</a></li>' for t in titles
    )
    return f'<section class="{css}"><h2>{heading}</h2><ol>{items}</ol></section>'


def _footer(outlet: Outlet) -> str:
    columns = {
        "Sections": outlet.sections,
        "Services": ("Subscribe", "Digital edition", "Archive", "Events", "Shop", "Announcements"),
        "About us": ("Contact", "Careers", "Corrections", "Editorial standards", "Ownership"),
        "Legal": ("Terms of use", "Privacy notice", "Cookie settings", "Accessibility"),
    }
    cols = "".join(
        f'<div class="footer-col"><h3>{name}</h3><ul>'
        + "".join(f'<li><a href="{outlet.home_path}{slugify(x)}/">{x}</a></li>' for x in links)
        + "</ul></div>"
        for name, links in columns.items()
    )
    return (
        f'<footer class="site-footer"><div class="footer-columns">{cols}</div>'
        f'<p class="footer-copy">© 2025 {escape(outlet.name)}, {escape(outlet.town)}. '
        "All rights reserved. Registered as a newspaper.</p></footer>"
    )


def _head_padding(rng: random.Random, n: int) -> str:
    if n % 2 == 0:
        rules = "\n".join(
            f".c-{rng.randrange(16**6):06x}{{margin:{rng.randrange(40)}px "
            f"{rng.randrange(40)}px;color:#{rng.randrange(16**6):06x};"
            f"font-size:{rng.randrange(10, 32)}px;line-height:{rng.randrange(100, 180) / 100}}}"
            for _ in range(60)
        )
        return f"<style>\n{rules}\n</style>"
    state = {
        "page": {"id": rng.randrange(10**9), "template": "article", "experiment": rng.random()},
        "ads": [
            {
                "slot": f"slot-{i}",
                "sizes": [[300, 250], [728, 90]],
                "key": f"{rng.getrandbits(64):x}",
            }
            for i in range(12)
        ],
        "tracking": {rng.choice(_CHROME_WORDS): rng.getrandbits(48) for _ in range(30)},
    }
    return (
        f'<script type="application/json" id="app-state-{n}">{json.dumps(state)}</script>\n'
        "<script>(function(w,d){var q=w.__q=w.__q||[];function t(e){q.push([e,Date.now()])}"
        f"d.addEventListener('scroll',function(){{t('scroll-{n}')}});t('view-{n}');}})"
        "(window,document);</script>"
    )


def _body_padding(outlet: Outlet, rng: random.Random, n: int) -> str:
    titles = [
        " ".join(rng.choice(_CHROME_WORDS) for _ in range(rng.randrange(3, 7))).capitalize()
        for _ in range(24)
    ]
    if n % 2 == 0:
        links = "".join(
            f'<li><a href="{outlet.home_path}{slugify(t)}">{t}</a></li>' for t in titles
        )
        return f'<nav class="mega-menu" role="navigation" aria-hidden="true"><ul>{links}</ul></nav>'
    return _link_list(outlet, "more-stories link-directory", f"More from {outlet.name}", titles)


# Long by design: an outlet's article page written out as HTML, in page order.
def render_article_page(
    outlet: Outlet,
    article: DemoArticle,
    *,
    related: Sequence[DemoArticle] = (),
    pad_to_bytes: int = 0,
    base_url: str = "",
) -> bytes:
    """Render an article page; see the module docstring for what it contains."""
    url = article_url(base_url, article)
    title, summary = escape(article.title), escape(article.summary)
    published = article.published.isoformat()
    feed_type = {"rss": "rss+xml", "atom": "atom+xml", "json": "feed+json"}[outlet.feed_kind]
    author_path = f"{outlet.home_path}authors/{slugify(article.author)}"
    related_html = (
        _link_list(outlet, "related-stories", "Related stories", [a.title for a in related])
        if related
        else ""
    )
    head = f"""<!DOCTYPE html>
<html lang="{article.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {escape(outlet.name)}</title>
<meta name="description" content="{summary}">
<meta name="author" content="{escape(article.author)}">
<link rel="canonical" href="{escape(url)}">
<link rel="alternate" type="application/{feed_type}" href="{base_url}{outlet.feed_path}">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{summary}">
<meta property="og:url" content="{escape(url)}">
<meta property="og:site_name" content="{escape(outlet.name)}">
<meta property="og:locale" content="en_GB">
<meta property="article:published_time" content="{published}">
<meta property="article:section" content="{escape(article.section)}">
<style>body{{font-family:Georgia,serif;margin:0}}.site-header{{border-bottom:1px solid #ddd}}
.story{{max-width:42rem}}.pull-quote{{font-size:1.4rem;font-style:italic}}</style>
<script type="application/ld+json">{_json_ld(outlet, article, url)}</script>
<!--HEAD-PADDING-->
</head>
"""
    body = f"""<body class="article-page section-{slugify(article.section)}">
<div id="cookie-banner" class="cookie-consent" role="dialog" aria-label="Cookie consent">
<p>We and our partners use cookies to personalise content and measure our audience.
You can accept all cookies or choose which ones we may use.</p>
<button type="button">Accept all</button> <button type="button">Manage choices</button></div>
<header class="site-header">
<a class="logo" href="{outlet.home_path}">{escape(outlet.name)}</a>
<p class="tagline">{escape(outlet.tagline)}</p>
{_nav(outlet)}
</header>
<nav class="breadcrumbs" aria-label="Breadcrumb"><ol>
<li><a href="{outlet.home_path}">Home</a></li>
<li><a href="{outlet.home_path}{slugify(article.section)}/">{escape(article.section)}</a></li>
</ol></nav>
<div class="page">
<main id="main-content">
<article class="story" itemscope itemtype="https://schema.org/NewsArticle">
<h1 itemprop="headline">{title}</h1>
<p class="standfirst">{summary}</p>
<div class="story-meta">
<p class="byline">By <a rel="author" href="{author_path}">{escape(article.author)}</a></p>
<time class="published" datetime="{published}">{_human_date(article.published)}</time>
</div>
<div class="story-body" itemprop="articleBody">
{_body(article)}
</div>
</article>
<div class="share-tools"><a href="#share-mail">Email</a> <a href="#share-copy">Copy link</a>
<a href="#share-print">Print</a></div>
{related_html}
<section id="reader-comments" class="reader-discussion">
<h2>Comments</h2>
<p>Comments are open for 48 hours and are moderated. Read our community guidelines.</p>
<button type="button" class="load-comments">Show comments</button>
</section>
</main>
<aside class="sidebar">
{_link_list(outlet, "most-read", "Most read", outlet.most_read)}
<div class="newsletter-box">
<h2>The morning briefing</h2>
<form action="{outlet.home_path}newsletters/subscribe" method="post">
<label>Email address <input type="email" name="email"></label>
<button type="submit">Sign up</button></form>
<p>Every weekday at 7am. Unsubscribe at any time.</p>
</div>
</aside>
</div>
{_footer(outlet)}
<!--BODY-PADDING-->
</body>
</html>
"""
    page = head + body
    # The two placeholders disappear when the padding goes in: count them as missing bytes.
    placeholders = len("<!--HEAD-PADDING-->") + len("<!--BODY-PADDING-->")
    deficit = pad_to_bytes - len(page.encode("utf-8")) + placeholders
    head_pad: list[str] = []
    body_pad: list[str] = []
    seed = zlib.crc32(f"{outlet.slug}/{article.id}".encode())
    rng = random.Random(seed)  # noqa: S311 - reproducible page chrome, not security
    n = 0
    while deficit > 0:
        chunk = _head_padding(rng, n) if n % 3 == 0 else _body_padding(outlet, rng, n)
        (head_pad if n % 3 == 0 else body_pad).append(chunk)
        deficit -= len(chunk.encode("utf-8")) + 1
        n += 1
    page = page.replace("<!--HEAD-PADDING-->", "\n".join(head_pad))
    page = page.replace("<!--BODY-PADDING-->", "\n".join(body_pad))
    return page.encode("utf-8")


def _newest(articles: Sequence[DemoArticle]) -> datetime:
    return max((a.published for a in articles), default=datetime(2025, 1, 1, tzinfo=UTC))


def render_rss(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str) -> bytes:
    """An RSS 2.0 document listing ``articles`` in the order given."""
    atom_ns = "http://www.w3.org/2005/Atom"
    dc_ns = "http://purl.org/dc/elements/1.1/"
    ET.register_namespace("atom", atom_ns)
    ET.register_namespace("dc", dc_ns)
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    for tag, value in (
        ("title", outlet.name),
        ("link", base_url + outlet.home_path),
        ("description", outlet.tagline),
        ("language", outlet.language),
        ("lastBuildDate", format_datetime(_newest(articles), usegmt=True)),
    ):
        ET.SubElement(channel, tag).text = value
    ET.SubElement(
        channel,
        f"{{{atom_ns}}}link",
        {"href": base_url + outlet.feed_path, "rel": "self", "type": "application/rss+xml"},
    )
    for article in articles:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = article.title
        ET.SubElement(item, "link").text = article_url(base_url, article) + article.feed_query
        guid = ET.SubElement(item, "guid", {"isPermaLink": "true"})
        guid.text = article_url(base_url, article)
        ET.SubElement(item, "pubDate").text = format_datetime(article.published, usegmt=True)
        ET.SubElement(item, "description").text = article.summary
        ET.SubElement(item, f"{{{dc_ns}}}creator").text = article.author
        ET.SubElement(item, "category").text = article.section
    data: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return data


def render_atom(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str) -> bytes:
    """An Atom 1.0 document listing ``articles`` in the order given."""
    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
        el.text = text
        return el

    feed = ET.Element(f"{{{ns}}}feed", {"xml:lang": outlet.language})
    sub(feed, "id", f"tag:{outlet.slug}.example,2025:feed")
    sub(feed, "title", outlet.name)
    sub(feed, "subtitle", outlet.tagline)
    sub(feed, "updated", _newest(articles).isoformat())
    sub(feed, "link", href=base_url + outlet.feed_path, rel="self", type="application/atom+xml")
    sub(feed, "link", href=base_url + outlet.home_path, rel="alternate", type="text/html")
    for article in articles:
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:{outlet.slug}.example,2025:{article.id}")
        sub(entry, "title", article.title)
        sub(
            entry, "link", href=article_url(base_url, article) + article.feed_query, rel="alternate"
        )
        sub(entry, "published", article.published.isoformat())
        sub(entry, "updated", article.published.isoformat())
        sub(sub(entry, "author"), "name", article.author)
        sub(entry, "summary", article.summary, type="text")
        sub(entry, "category", term=article.section)
    data: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return data


def render_json_feed(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str) -> bytes:
    """A JSON Feed 1.1 document listing ``articles`` in the order given."""
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": outlet.name,
        "description": outlet.tagline,
        "home_page_url": base_url + outlet.home_path,
        "feed_url": base_url + outlet.feed_path,
        "language": outlet.language,
        "items": [
            {
                "id": f"{outlet.slug}-{article.id}",
                "url": article_url(base_url, article) + article.feed_query,
                "title": article.title,
                "summary": article.summary,
                "date_published": article.published.isoformat(),
                "authors": [{"name": article.author}],
                "tags": [article.section],
                "language": article.language,
            }
            for article in articles
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def render_feed(outlet: Outlet, articles: Sequence[DemoArticle], base_url: str) -> bytes:
    """The outlet's feed in its own format."""
    render = {"rss": render_rss, "atom": render_atom, "json": render_json_feed}[outlet.feed_kind]
    return render(outlet, articles, base_url)


FEED_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
