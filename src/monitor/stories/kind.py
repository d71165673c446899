"""What kind of piece an article is: news, or commentary that adds no news by itself (pure).

Outlets mark their commentary in ways a reader also sees: the page's schema.org type
(``OpinionNewsArticle``, ``AnalysisNewsArticle``, ``ReviewNewsArticle``,
``BackgroundNewsArticle``, ``LiveBlogPosting``), the section the page declares
(``article:section`` or JSON-LD ``articleSection`` "Opinion", "Comment is free", "Reviews"),
a URL section of the feed's link or of the page's ``rel=canonical`` (``/opinion/``,
``/commentisfree/``, ``/analysis/``, ``/explainer/``, ``/review/``, ``/live/``), a slug ending
in ``-review`` or ``-explained``, or a headline label ("Analysis:", "Opinion |", "... explained",
"... reviewed", "what we know", "live updates"). :func:`classify` reads those marks and says
which it found, so ``monitor explain`` can show why.

The kind changes one thing: a piece that is not ``news`` becomes a development of its story only
when its lead carries new facts (see :mod:`monitor.stories.salience`); its headline, which an
opinion or review words its own way, never makes it one alone. The first article of a story is
its first report whatever its kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

NEWS = "news"
KINDS = (NEWS, "analysis", "opinion", "review", "explainer", "live")

# schema.org types (JSON-LD ``@type``, Open Graph ``og:type``) -> kind.
_PAGE_TYPES = {
    "opinionnewsarticle": "opinion",
    "analysisnewsarticle": "analysis",
    "reviewnewsarticle": "review",
    "review": "review",
    "criticreview": "review",
    "backgroundnewsarticle": "explainer",
    "liveblogposting": "live",
}

# URL path segments naming a section of commentary.
_SECTIONS = {
    "opinion": "opinion",
    "opinions": "opinion",
    "commentisfree": "opinion",
    "comment": "opinion",
    "editorial": "opinion",
    "editorials": "opinion",
    "columnists": "opinion",
    "columns": "opinion",
    "op-ed": "opinion",
    "oped": "opinion",
    "analysis": "analysis",
    "news-analysis": "analysis",
    "explainer": "explainer",
    "explainers": "explainer",
    "explained": "explainer",
    "review": "review",
    "reviews": "review",
    "live": "live",
    "liveblog": "live",
    "live-news": "live",
}

_SLUG_SUFFIX = re.compile(
    r"-(review|reviewed|explained|explainer|analysis|live-updates)(?:\.\w+)?$"
)
_SLUG_KIND = {
    "review": "review",
    "reviewed": "review",
    "explained": "explainer",
    "explainer": "explainer",
    "analysis": "analysis",
    "live-updates": "live",
}

_TITLE_LABEL = re.compile(
    r"^\s*(analysis|opinion|comment|editorial|explainer|review|perspective|live)\s*[:|\u2014\u2013]",
    re.IGNORECASE,
)
_LABEL_KIND = {
    "analysis": "analysis",
    "opinion": "opinion",
    "comment": "opinion",
    "editorial": "opinion",
    "perspective": "opinion",
    "explainer": "explainer",
    "review": "review",
    "live": "live",
}
_TITLE_PHRASES = (
    (re.compile(r"\b(explained|explainer)\b", re.IGNORECASE), "explainer"),
    (re.compile(r"\bwhat we know\b|\bwhat you need to know\b", re.IGNORECASE), "explainer"),
    (re.compile(r",?\s+reviewed\s*$", re.IGNORECASE), "review"),
    (re.compile(r"\blive (updates|blog)\b", re.IGNORECASE), "live"),
)


# The words of a declared section ("Comment is free", "Opinion | Columnists").
_SECTION_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


@dataclass(frozen=True, slots=True)
class ArticleKind:
    """The kind of an article and the marks it was recognised by (none for plain news)."""

    kind: str = NEWS
    marks: tuple[str, ...] = ()

    @property
    def is_news(self) -> bool:
        return self.kind == NEWS


def classify(
    url: str,
    title: str,
    page_types: Iterable[str] = (),
    *,
    section: str | None = None,
    other_urls: Iterable[str | None] = (),
) -> ArticleKind:
    """The article's kind: the page's declared type first, then its declared ``section``, then
    its URL (and ``other_urls``, such as the page's ``rel=canonical``), then its headline."""
    for declared in page_types:
        kind = _PAGE_TYPES.get(declared.strip().lower())
        if kind is not None:
            return ArticleKind(kind, (f"page type {declared}",))
    if section:
        for word in _SECTION_WORD.findall(section.lower()):
            kind = _SECTIONS.get(word)
            if kind is not None and kind != "live":
                return ArticleKind(kind, (f"page section {section!r}",))
    for address in (url, *other_urls):
        if address:
            marked = _url_kind(address)
            if marked is not None:
                return marked
    label = _TITLE_LABEL.match(title)
    if label is not None:
        word = label.group(1).lower()
        return ArticleKind(_LABEL_KIND[word], (f"headline label {label.group(1)!r}",))
    for pattern, kind in _TITLE_PHRASES:
        found = pattern.search(title)
        if found is not None:
            return ArticleKind(kind, (f"headline says {found.group(0).strip(' ,')!r}",))
    return ArticleKind()


def _url_kind(url: str) -> ArticleKind | None:
    """The kind a URL's section or slug marks, if any."""
    path = urlsplit(url).path.lower()
    segments = [s for s in path.split("/") if s]
    for segment in segments[:-1] if len(segments) > 1 else ():
        kind = _SECTIONS.get(segment)
        if kind is not None:
            return ArticleKind(kind, (f"URL section /{segment}/",))
    if segments:
        slug = _SLUG_SUFFIX.search(segments[-1])
        if slug is not None:
            return ArticleKind(_SLUG_KIND[slug.group(1)], (f"URL slug ends -{slug.group(1)}",))
    return None
