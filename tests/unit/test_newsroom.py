"""The demo newsroom's content: pages, feeds, synthetic articles and the Marrowick timeline."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
import trafilatura

from monitor.config import load_config, parse_config
from monitor.demo.content import ARTICLES, DEMO_TOPIC, OUTAGES, OUTLETS, DemoArticle, Outlet
from monitor.demo.pages import (
    render_article_page,
    render_atom,
    render_feed,
    render_json_feed,
    render_rss,
)
from monitor.demo.synthetic import SYNTHETIC_OUTLETS, synthetic_articles
from monitor.errors import ParseError
from monitor.feeds import parse_feed
from monitor.models import FetchResult, ParsedFeed

BASE = "http://127.0.0.1:8123"
BY_ID = {a.id: a for a in ARTICLES}
OUTLET = {o.slug: o for o in OUTLETS}
CHROME_MARKERS = (
    "Most read",
    "cookies",
    "Accept all",
    "morning briefing",
    "Related stories",
    "Comments",
    "All rights reserved",
    "Sign up",
)


class _Head(HTMLParser):
    """Collects what a fetcher reads from <head>: links, metas, JSON-LD, title, html lang."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self.metas: dict[str, str] = {}
        self.json_ld: list[str] = []
        self.lang = ""
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag == "link" and "rel" in a:
            self.links[a["rel"]] = a.get("href", "")
        elif tag == "meta" and ("property" in a or "name" in a):
            self.metas[a.get("property") or a["name"]] = a.get("content", "")
        elif tag == "script" and a.get("type") == "application/ld+json":
            self._in = "ld"
        elif tag == "title":
            self._in = "title"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "ld":
            self.json_ld.append(data)
        elif self._in == "title":
            self.title += data


def _head(page: bytes) -> _Head:
    parser = _Head()
    parser.feed(page.decode("utf-8"))
    return parser


def _parse(body: bytes) -> ParsedFeed:
    return parse_feed(FetchResult(url=BASE + "/feed", final_url="", status=200, content=body))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _matches_demo_topic(article: DemoArticle) -> bool:
    """The demo query, evaluated by hand: marrowick AND (talks OR ... OR "pay offer")."""
    text = f"{article.title}\n{article.text}".lower()
    words = _words(text)
    either = {"talks", "negotiations", "mediator", "strike"} & words or "pay offer" in text
    return "marrowick" in words and bool(either)


# --- article pages -------------------------------------------------------------------------------


def test_page_head_has_canonical_og_and_json_ld() -> None:
    article = BY_ID["talks-open"]
    page = render_article_page(OUTLET["cpa"], article, base_url=BASE)
    head = _head(page)
    assert head.lang == "en"
    assert head.links["canonical"] == BASE + article.path
    assert head.title.startswith(article.title)
    assert head.metas["description"] == article.summary
    assert head.metas["og:title"] == article.title
    assert head.metas["og:url"] == BASE + article.path
    assert head.metas["og:site_name"] == "Calder Press Agency"
    assert head.metas["article:published_time"] == article.published.isoformat()
    (ld_text,) = head.json_ld
    ld = json.loads(ld_text)
    assert ld["@type"] == "NewsArticle"
    assert ld["headline"] == article.title
    assert datetime.fromisoformat(ld["datePublished"]) == article.published
    assert ld["author"][0]["name"] == "Hanna Sorvik"


def test_page_has_the_chrome_of_a_news_site() -> None:
    article = BY_ID["offer-raised"]
    related = [BY_ID["talks-open-reprint"]]
    page = render_article_page(OUTLET["courier"], article, related=related).decode()
    for marker in (*CHROME_MARKERS, 'class="breadcrumbs"', "<nav", "<h1", "<time", "<footer"):
        assert marker in page, marker
    assert "<blockquote>" in page
    assert related[0].title in page
    assert OUTLET["courier"].most_read[0] in page


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.id)
def test_trafilatura_extracts_the_article_not_the_chrome(article: DemoArticle) -> None:
    outlet = OUTLET[article.outlet]
    related = [a for a in ARTICLES if a.outlet == article.outlet and a is not article][:3]
    page = render_article_page(outlet, article, related=related, pad_to_bytes=60_000)
    assert len(page) >= 60_000
    text = trafilatura.extract(page)
    assert text is not None
    assert text.split("\n") == list(article.paragraphs)
    for marker in CHROME_MARKERS:
        assert marker not in text, marker
    for headline in outlet.most_read:
        assert headline not in text


def test_padding_reaches_the_size_and_is_deterministic() -> None:
    article = BY_ID["deal-accepted"]
    small = render_article_page(OUTLET["cpa"], article)
    big = render_article_page(OUTLET["cpa"], article, pad_to_bytes=80_000)
    assert len(small) < 20_000
    assert 80_000 <= len(big) < 90_000
    assert big == render_article_page(OUTLET["cpa"], article, pad_to_bytes=80_000)
    assert big.count(b"<script") > small.count(b"<script")
    assert big.count(b"<a href") > 3 * small.count(b"<a href")


# --- feeds ---------------------------------------------------------------------------------------


def _outlet_articles(slug: str) -> list[DemoArticle]:
    return sorted((a for a in ARTICLES if a.outlet == slug), key=lambda a: a.published)[::-1]


def test_rss_feed_parses_with_guid_date_and_description() -> None:
    items = _outlet_articles("courier")
    parsed = feedparser.parse(render_rss(OUTLET["courier"], items, BASE))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "The Marrowick Courier"
    assert [e.title for e in parsed.entries] == [a.title for a in items]
    first = parsed.entries[0]
    assert first.id == BASE + items[0].path
    assert first.description == items[0].summary
    assert first.author == items[0].author
    assert datetime(*first.published_parsed[:6]) == items[0].published.replace(tzinfo=None)
    reprint = next(e for e in parsed.entries if "utm_source" in e.link)
    assert reprint.link.startswith(BASE + "/courier/")
    assert reprint.id == reprint.link.split("?")[0]


def test_atom_feed_parses() -> None:
    items = _outlet_articles("cpa")
    parsed = feedparser.parse(render_atom(OUTLET["cpa"], items, BASE))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert [e.link for e in parsed.entries] == [BASE + a.path for a in items]
    assert parsed.entries[0].summary == items[0].summary
    assert parsed.entries[0].author == "Hanna Sorvik"
    assert len({e.id for e in parsed.entries}) == len(items)


def test_json_feed_is_json_feed_1_1() -> None:
    items = _outlet_articles("ledger")
    raw = render_json_feed(OUTLET["ledger"], items, BASE)
    doc = json.loads(raw)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["feed_url"] == BASE + "/ledger/feed.json"
    assert [i["url"] for i in doc["items"]] == [BASE + a.path for a in items]
    assert all(datetime.fromisoformat(i["date_published"]).tzinfo for i in doc["items"])
    parsed = _parse(raw)
    assert parsed.kind == "json"
    assert [e.title for e in parsed.entries] == [a.title for a in items]
    assert parsed.entries[0].published == items[0].published


def test_feed_format_follows_the_outlet_and_escapes_markup() -> None:
    tricky = Outlet("amp", "Fish & Chips <Weekly>", "rss", "Salt & vinegar", "Brine")
    article = BY_ID["choir-title"]
    parsed = feedparser.parse(render_feed(tricky, [article], BASE))
    assert not parsed.bozo
    assert parsed.feed.title == "Fish & Chips <Weekly>"
    kinds = {o.slug: _parse(render_feed(o, [article], BASE)).kind for o in OUTLETS}
    assert kinds == {"cpa": "atom", "courier": "rss", "ledger": "json", "fenmoor-post": "rss"}


def test_the_outage_page_is_not_a_feed() -> None:
    (outage,) = OUTAGES
    with pytest.raises(ParseError):
        _parse(outage.body)


# --- the Marrowick timeline ----------------------------------------------------------------------


def test_timeline_has_the_outlets_and_steps_the_demo_promises() -> None:
    assert {o.feed_kind for o in OUTLETS} == {"rss", "atom", "json"}
    assert 10 <= len(ARTICLES) <= 14
    assert {a.step for a in ARTICLES} == {0, 1, 2, 3}
    kinds_by_step = {s: sorted(a.kind for a in ARTICLES if a.step == s) for s in range(4)}
    assert kinds_by_step == {
        0: ["original", "unrelated", "unrelated"],
        1: ["rewrite", "wire-copy"],
        2: ["follow-up", "unrelated"],
        3: ["follow-up", "rewrite", "unrelated", "wire-copy"],
    }
    assert [a.id for a in ARTICLES if a.expect_alert] == [
        "talks-open",
        "offer-raised",
        "deal-accepted",
    ]
    published = [a.published for a in ARTICLES]
    assert published == sorted(published)
    assert all(a.published.tzinfo is not None for a in ARTICLES)
    assert len({a.path for a in ARTICLES}) == len(ARTICLES)
    assert {(o.outlet, o.step) for o in OUTAGES} == {("fenmoor-post", 3)}
    assert not any(a.outlet == "fenmoor-post" and a.step >= 3 for a in ARTICLES)


def test_wire_copies_repeat_their_original_verbatim_elsewhere() -> None:
    copies = [a for a in ARTICLES if a.kind == "wire-copy"]
    assert len(copies) == 2
    for copy in copies:
        assert copy.repeats is not None
        original = BY_ID[copy.repeats]
        assert copy.text == original.text
        assert copy.title == original.title
        assert copy.outlet != original.outlet
        assert copy.path != original.path
        assert copy.published > original.published
        assert copy.feed_query.startswith("?utm_")


def test_rewrites_restate_without_copying_or_adding_facts() -> None:
    rewrites = [a for a in ARTICLES if a.kind == "rewrite"]
    assert len(rewrites) == 2
    for rewrite in rewrites:
        assert rewrite.repeats is not None
        original = BY_ID[rewrite.repeats]
        assert rewrite.outlet != original.outlet
        assert rewrite.published > original.published
        shared = _shingles(rewrite.text) & _shingles(original.text)
        assert len(shared) / len(_shingles(rewrite.text)) < 0.25  # other words, not a copy
        # nothing new: every number and capitalised name of the rewrite was already reported
        numbers = set(re.findall(r"\d[\d,.]*", rewrite.text))
        assert numbers <= set(re.findall(r"\d[\d,.]*", original.text))
        # names: capitalised words inside a sentence (sentence-initial words are not names)
        names = set(re.findall(r"(?<=[a-z,;:] )[A-Z][a-z']+", rewrite.text))
        assert len(names) >= 8
        assert names <= set(re.findall(r"[A-Z][a-z']+", original.text))


def test_follow_ups_bring_facts_the_story_did_not_have() -> None:
    seen = ""
    for article in ARTICLES:
        if not _matches_demo_topic(article):
            continue
        numbers = set(re.findall(r"\d[\d,.]*\d|\d", article.text))
        new_numbers = {n for n in numbers if n not in seen}
        if article.kind in {"original", "follow-up"}:
            assert len(new_numbers) >= 3, (article.id, new_numbers)
        else:
            assert not new_numbers, (article.id, new_numbers)
        seen += article.text


def test_only_story_articles_match_the_demo_topic() -> None:
    assert DEMO_TOPIC.query.startswith("marrowick AND (")
    matching = {a.id for a in ARTICLES if _matches_demo_topic(a)}
    assert matching == {a.id for a in ARTICLES if a.kind != "unrelated"}
    lighthouse = BY_ID["lighthouse-lens"]
    assert "marrowick" in _words(lighthouse.text)  # the negative control names the town


def test_every_article_is_long_enough_to_extract() -> None:
    for article in ARTICLES:
        assert article.word_count >= 120, article.id
        assert article.pull_quote is not None


def test_demo_config_validates() -> None:
    config = parse_config(
        {
            "sources": [{"name": o.name, "url": BASE + o.feed_path} for o in OUTLETS],
            "topics": [{"name": DEMO_TOPIC.name, "query": DEMO_TOPIC.query}],
            "channels": [{"type": "webhook", "name": "hook", "url": BASE + "/hook"}],
        }
    )
    assert [t.name for t in config.topics] == ["Marrowick port talks"]


def test_real_feeds_example_is_a_valid_config() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "real-feeds.yaml"
    config = load_config(path)
    assert len(config.sources) >= 5
    assert all(s.url.startswith("https://") for s in config.sources)
    (topic,) = config.topics
    assert topic.name == "Istanbul talks"
    assert topic.query == "istanbul AND (talks OR negotiations OR meeting OR ceasefire)"
    assert {c.type for c in config.channels} == {"email", "webhook"}


# --- synthetic articles --------------------------------------------------------------------------


def test_synthetic_articles_are_deterministic_long_and_varied() -> None:
    articles = synthetic_articles(40, seed=7)
    assert articles == synthetic_articles(40, seed=7)
    assert articles != synthetic_articles(40, seed=8)
    assert len({a.id for a in articles}) == len({a.path for a in articles}) == 40
    assert all(300 <= a.word_count <= 900 for a in articles)
    assert {a.outlet for a in articles} == {o.slug for o in SYNTHETIC_OUTLETS}
    assert len({a.title for a in articles}) == 40
    shingles = [_shingles(a.text) for a in articles]
    worst = max(len(x & y) / len(x | y) for x, y in itertools.combinations(shingles, 2))
    assert worst < 0.15  # no two synthetic articles look like near-duplicates
    vocabulary = set().union(*(_words(a.text) for a in articles))
    assert len(vocabulary) > 600  # articles of one story share its names


def test_synthetic_articles_come_in_stories_that_share_names() -> None:
    articles = synthetic_articles(60, seed=11)
    stories: dict[str, list[str]] = {}
    for article in articles:
        stories.setdefault(article.note.rsplit(" ", 1)[-1], []).append(article.text)
    assert 12 <= len(stories) <= 60
    assert max(len(texts) for texts in stories.values()) <= 5

    def names(text: str) -> set[str]:
        return set(re.findall(r"\b[A-Z][a-z]{3,}\b", text))

    for texts in stories.values():
        shared = set.intersection(*(names(t) for t in texts))
        assert len(shared) >= 3  # people, towns and the story's own coined names


def test_synthetic_pages_are_large_and_extract_cleanly() -> None:
    outlets = {o.slug: o for o in SYNTHETIC_OUTLETS}
    for article in synthetic_articles(5, seed=1):
        page = render_article_page(outlets[article.outlet], article, pad_to_bytes=50_000)
        assert len(page) >= 50_000
        text = trafilatura.extract(page)
        assert text is not None
        assert text.split("\n") == list(article.paragraphs)
