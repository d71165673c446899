from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import NotAFeedError, ParseError
from monitor.feeds import MAX_SITEMAP_ENTRIES, parse_feed, parse_feeds
from monitor.models import FetchResult

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"


def result(
    name: str | None = None,
    *,
    content: bytes | None = None,
    content_type: str = "application/xml",
    url: str = "https://feeds.example/feed",
    final_url: str | None = None,
) -> FetchResult:
    body = content if content is not None else (FEEDS / str(name)).read_bytes()
    return FetchResult(
        url=url,
        final_url=final_url or url,
        status=200,
        content=body,
        headers={"content-type": content_type} if content_type else {},
    )


def test_parse_feeds_gives_each_documents_error_in_its_place() -> None:
    docs = [
        result("rss2.xml", content_type="application/rss+xml"),
        result("invalid.xml", url="https://feeds.example/broken"),
        result("atom.xml", content_type="application/atom+xml"),
        result("error-page.html", content_type="text/html", url="https://feeds.example/page"),
    ]
    parsed = parse_feeds(docs)
    assert len(parsed) == len(docs)
    assert parsed[0] == parse_feed(docs[0])
    assert parsed[2] == parse_feed(docs[2])
    for index in (1, 3):
        error = parsed[index]
        assert isinstance(error, ParseError)
        assert error.url == docs[index].url
        with pytest.raises(ParseError) as raised:
            parse_feed(docs[index])
        assert str(error) == str(raised.value)
    assert parse_feeds([]) == []


def test_rss2_entries_titles_and_kind() -> None:
    feed = parse_feed(result("rss2.xml", content_type="application/rss+xml"))
    assert feed.kind == "rss"
    assert feed.url == "https://feeds.example/feed"
    assert feed.title == "The Harbour Gazette & Almanac"
    assert [e.title for e in feed.entries] == [
        "Ferry timetable changes after storm week",
        "Lighthouse keeper retires after forty winters",
    ]


def test_rss2_relative_link_resolves_against_final_url() -> None:
    feed = parse_feed(
        result(
            "rss2.xml",
            url="https://feeds.example/old-feed",
            final_url="https://gazette.example/feeds/all.xml",
        )
    )
    assert feed.entries[0].url == (
        "https://gazette.example/2025/03/ferry-timetable?utm_source=rss&utm_medium=feed"
    )
    assert feed.url == "https://feeds.example/old-feed"


def test_rss2_dates_are_aware_utc() -> None:
    first, second = parse_feed(result("rss2.xml")).entries
    assert first.published == datetime(2025, 3, 4, 8, 30, tzinfo=UTC)
    assert second.published == datetime(2025, 3, 3, 18, 0, tzinfo=UTC)
    assert first.published is not None
    assert first.published.utcoffset() is not None
    assert first.published.tzinfo == UTC


def test_rss2_guid_is_verbatim_and_summary_is_plain_text() -> None:
    first, second = parse_feed(result("rss2.xml")).entries
    assert first.guid == "gazette-4711"
    assert second.guid == "https://gazette.example/2025/03/lighthouse"
    assert first.summary == "The harbour office announced new crossings. Details inside."
    assert second.summary == "Plain text summary with extra spaces."


def test_rss2_authors_from_email_form_and_dc_creator() -> None:
    first, second = parse_feed(result("rss2.xml")).entries
    assert first.authors == ("Mira Okonkwo-Lind",)
    assert second.authors == ("Tomas Verhoeven",)


def test_rss2_entry_without_link_is_dropped() -> None:
    feed = parse_feed(result("rss2.xml"))
    assert "Notice without a link" not in [e.title for e in feed.entries]


def test_rss1_rdf() -> None:
    feed = parse_feed(result("rss1.rdf", content_type="application/rdf+xml"))
    assert feed.kind == "rss"
    assert feed.title == "Valley Herald"
    (entry,) = feed.entries
    assert entry.url == "https://valleyherald.example/news/orchard-cooperative"
    assert entry.published == datetime(2025, 9, 20, 7, 15, tzinfo=UTC)
    assert entry.authors == ("Ines Halvorsen",)
    assert entry.summary == "Visitors may press their own apples on Saturdays."


def test_atom_entries() -> None:
    feed = parse_feed(result("atom.xml", content_type="application/atom+xml"))
    assert feed.kind == "atom"
    assert feed.title == "Northwind Dispatch — World"
    treaty, grain = feed.entries
    # xml:base applies, and the rel="related" link is not the entry's URL
    assert treaty.url == "https://northwind.example/world/2025/05/river-treaty#top"
    assert treaty.title == "Summit delegates agree on river treaty"
    assert treaty.guid == "urn:uuid:9e2d0c7a-5d41-4a0c-8d0e-6a1e3c2b7f10"
    assert treaty.authors == ("Amara Castellanos", "Jun Ishikawa")
    assert treaty.summary == "Negotiators from three fictional states signed the accord."
    assert "track()" not in treaty.summary
    assert treaty.published == datetime(2025, 5, 12, 10, 45, tzinfo=UTC)
    # <published> wins over <updated>
    assert grain.published == datetime(2025, 5, 11, 11, 0, tzinfo=UTC)
    assert grain.authors == ()
    # <updated> is kept apart: when the entry last changed
    assert grain.updated == datetime(2025, 5, 11, 13, 0, tzinfo=UTC)
    assert treaty.updated == treaty.published  # only <updated>: both are that time


def test_json_feed_1_1() -> None:
    feed = parse_feed(
        result(
            "feed.json",
            content_type="application/feed+json",
            final_url="https://ledger.example/feed.json",
        )
    )
    assert feed.kind == "json"
    assert feed.title == "Meadowbrook Ledger"
    bridge, market = feed.entries
    assert bridge.url == "https://ledger.example/2025/bridge-reopens?fbclid=abc"
    assert bridge.guid == "ledger-2025-0042"
    assert bridge.summary == "After two years of repairs, the bridge is open."
    assert bridge.authors == ("Priya Raman", "Olle Berg")
    assert bridge.published == datetime(2025, 7, 1, 6, 0, tzinfo=UTC)
    # external_url stands in for url; the feed-level author is inherited
    assert market.url == "https://ledger.example/2025/market-day"
    assert market.summary == "Rain forecast for the whole weekend."
    assert market.authors == ("Ledger Staff",)
    assert len(feed.entries) == 2  # the item without any URL is dropped


def test_json_feed_1_0_numeric_id_author_object_naive_date() -> None:
    feed = parse_feed(result("feed-v1.json", content_type="application/json"))
    (entry,) = feed.entries
    assert entry.guid == "1017"
    assert entry.authors == ("Rosa Lindqvist",)
    assert entry.published == datetime(2025, 2, 14, 16, 20, tzinfo=UTC)
    assert entry.title == ""
    assert entry.summary == "Town council approves new library hours."


def test_updated_is_the_feeds_own_word_only() -> None:
    rss = parse_feed(result("rss2.xml"))
    assert all(e.updated is None for e in rss.entries)  # a pubDate is not an update
    item = {"id": "1", "url": "https://l.example/a", "date_published": "2025-07-01T08:00:00Z"}
    changed = {
        **item,
        "id": "2",
        "url": "https://l.example/b",
        "date_modified": "2025-07-01T09:30:00Z",
    }
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "L", "items": [item, changed]}
    plain, modified = parse_feed(
        result(content=json.dumps(doc).encode(), content_type="application/feed+json")
    ).entries
    assert plain.updated is None
    assert modified.updated == datetime(2025, 7, 1, 9, 30, tzinfo=UTC)


def test_json_feed_is_detected_without_a_json_content_type() -> None:
    feed = parse_feed(result("feed.json", content_type="text/plain"))
    assert feed.kind == "json"


def test_rss_mislabelled_as_json_is_still_parsed_as_rss() -> None:
    feed = parse_feed(result("rss2.xml", content_type="application/json"))
    assert feed.kind == "rss"
    assert len(feed.entries) == 2


def test_rss_served_as_text_html_is_still_a_feed() -> None:
    feed = parse_feed(result("rss2.xml", content_type="text/html; charset=utf-8"))
    assert feed.kind == "rss"
    assert len(feed.entries) == 2


def test_bozo_feed_with_entries_is_accepted() -> None:
    feed = parse_feed(result("bozo.xml"))
    assert feed.entries[0].url == "https://courier.example/bakery-prize"
    assert feed.entries[0].title == "Bakery wins regional prize & celebrates"


def test_well_formed_feed_without_entries_is_not_an_error() -> None:
    feed = parse_feed(result("empty-channel.xml"))
    assert feed.title == "Quiet Week Weekly"
    assert feed.entries == ()


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("latin1-undeclared.xml", "application/rss+xml; charset=utf-8"),
        ("latin1-undeclared.xml", "text/xml"),
        ("latin1-undeclared.xml", ""),
        ("latin1-declared-utf8.xml", "application/xml"),
    ],
)
def test_latin1_bytes_under_wrong_or_missing_charset(name: str, content_type: str) -> None:
    feed = parse_feed(result(name, content_type=content_type))
    assert feed.title == "Le Café du Port"
    assert feed.entries[0].title == "Señora Núñez ouvre une crêperie à l'écluse"
    assert "\ufffd" not in feed.entries[0].summary


def test_invalid_xml_without_entries_raises_with_url() -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(result("invalid.xml", url="https://broken.example/rss"))
    assert info.value.url == "https://broken.example/rss"


def test_html_page_instead_of_feed_raises() -> None:
    with pytest.raises(ParseError, match=r"an HTML page, not a feed \(it advertises none\)"):
        parse_feed(result("error-page.html", content_type="text/html; charset=utf-8"))


def test_home_page_instead_of_feed_names_the_feeds_it_advertises() -> None:
    page = b"""<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8"><title>The Harbour Gazette</title>
<link rel="stylesheet" href="/site.css">
<link rel="alternate" type="application/rss+xml" title="All news" href="/feeds/all.xml">
<link type='application/atom+xml; charset=utf-8' href='https://cdn.gazette.example/world.atom'
      rel='alternate'>
<link rel="alternate" type="application/rss+xml" href="/feeds/all.xml">
<link rel="alternate" hreflang="de" href="/de/">
<link rel="alternate" type="application/feed+json" href="/feed.json?lang=en&amp;v=1">
</head><body><h1>Today</h1></body></html>"""
    with pytest.raises(ParseError) as info:
        parse_feed(
            result(
                content=page,
                content_type="text/html",
                url="https://gazette.example",
                final_url="https://www.gazette.example/",
            )
        )
    assert str(info.value) == (
        "an HTML page, not a feed; it advertises: "
        "https://www.gazette.example/feeds/all.xml, https://cdn.gazette.example/world.atom, "
        "https://www.gazette.example/feed.json?lang=en&v=1"
    )
    assert info.value.url == "https://gazette.example"


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_raises(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_feed(result(content=body))


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        b'{"name": "not a feed", "items": []}',
        b'["https://jsonfeed.org/version/1"]',
        json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": "x"}).encode(),
        b"\xff\xfe{not utf-8",
    ],
)
def test_bad_json_raises(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(result(content=body, content_type="application/feed+json"))
    assert info.value.url == "https://feeds.example/feed"


def test_plain_text_body_raises() -> None:
    with pytest.raises(ParseError):
        parse_feed(result(content=b"Service temporarily unavailable", content_type="text/plain"))


# -- sitemaps ---------------------------------------------------------------------------------


def test_news_sitemap_entries_newest_first_with_news_titles_and_dates() -> None:
    feed = parse_feed(
        result(
            "news-sitemap.xml",
            url="https://gazette.example/news-sitemap.xml",
            final_url="https://www.gazette.example/sitemaps/news.xml",
        )
    )
    assert feed.kind == "sitemap"
    assert feed.url == "https://gazette.example/news-sitemap.xml"
    assert [(e.url, e.title, e.published) for e in feed.entries] == [
        (
            # a relative <loc> resolves against the URL the sitemap was fetched from
            "https://www.gazette.example/2025/03/lighthouse-keeper",
            "Lighthouse keeper retires after forty winters",
            datetime(2025, 3, 5, tzinfo=UTC),
        ),
        (
            "https://gazette.example/2025/03/ferry-timetable?utm_source=sitemap",
            "Ferry timetable changes after & because of storm week",
            # the news publication date, in UTC, wins over <lastmod>
            datetime(2025, 3, 4, 7, 30, tzinfo=UTC),
        ),
        # the undated /about page and the mailto: entry are left out
    ]
    assert all(e.guid is None and e.summary == "" for e in feed.entries)


def urlset(urls: str) -> bytes:
    """A sitemap document holding the ``<url>`` elements ``urls``."""
    return f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


def test_plain_sitemap_is_dated_by_lastmod_and_keeps_only_the_newest() -> None:
    urls = "".join(
        f"<url><loc>https://archive.example/{day:04d}</loc>"
        f"<lastmod>{datetime.fromordinal(730_000 + day).date().isoformat()}</lastmod></url>"
        for day in range(1500)
    )
    feed = parse_feed(result(content=urlset(urls), content_type="text/xml"))
    assert len(feed.entries) == MAX_SITEMAP_ENTRIES == 1000
    assert feed.entries[0].url == "https://archive.example/1499"
    assert feed.entries[-1].url == "https://archive.example/0500"
    assert feed.entries[0].published == datetime.combine(
        datetime.fromordinal(730_000 + 1499).date(), datetime.min.time(), tzinfo=UTC
    )


def test_sitemap_without_any_date_is_an_error() -> None:
    urls = "".join(f"<url><loc>https://archive.example/{n}</loc></url>" for n in range(30))
    with pytest.raises(ParseError, match=r"sitemap without dates .* 30 URLs"):
        parse_feed(result(content=urlset(urls)))


def test_empty_sitemap_is_an_empty_feed() -> None:
    feed = parse_feed(result(content=urlset("")))
    assert (feed.kind, feed.entries) == ("sitemap", ())


def test_sitemap_index_lists_its_sitemaps_newest_first_undated_last() -> None:
    feed = parse_feed(result("sitemap-index.xml"))
    assert (feed.kind, feed.entries, feed.url) == ("sitemapindex", (), "https://feeds.example/feed")
    assert [(s.url, s.lastmod) for s in feed.sitemaps] == [
        ("https://gazette.example/sitemaps/news-sitemap.xml", datetime(2025, 3, 5, tzinfo=UTC)),
        ("https://gazette.example/sitemaps/pages.xml", None),
        ("https://gazette.example/sitemaps/2024.xml", None),
    ]


def test_sitemap_index_orders_by_lastmod_resolves_and_lists_each_sitemap_once() -> None:
    body = (
        b"<sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        b"<sitemap><loc>/s/old.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>"
        b"<sitemap><loc>/s/new.xml</loc><lastmod>2026-01-01T10:00:00+02:00</lastmod></sitemap>"
        b"<sitemap><loc>/s/new.xml</loc><lastmod>2026-01-02</lastmod></sitemap>"
        b"<sitemap><loc>javascript:alert(1)</loc></sitemap>"
        b"</sitemapindex>"
    )
    feed = parse_feed(result(content=body))
    assert [s.url for s in feed.sitemaps] == [
        "https://feeds.example/s/new.xml",
        "https://feeds.example/s/old.xml.gz",
    ]


def test_sitemap_index_keeps_at_most_the_protocol_s_count() -> None:
    many = "".join(
        f"<sitemap><loc>https://x.example/{n}.xml</loc></sitemap>" for n in range(50_010)
    )
    body = f"<sitemapindex>{many}</sitemapindex>".encode()
    assert len(parse_feed(result(content=body)).sitemaps) == 50_000


def test_html_page_is_a_not_a_feed_error() -> None:
    with pytest.raises(NotAFeedError):
        parse_feed(result(content=b"<!doctype html><html><head></head><body>x</body></html>"))


def test_sitemap_entities_are_not_expanded() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [
  <!ENTITY host SYSTEM "file:///etc/hostname">
  <!ENTITY lol "lollollollollollollollollollol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://x.example/a</loc><lastmod>2025-03-01</lastmod></url>
  <url><loc>https://x.example/&host;</loc><lastmod>2025-03-01</lastmod></url>
  <url><loc>https://x.example/&lol3;</loc><lastmod>2025-03-01</lastmod></url>
</urlset>"""
    feed = parse_feed(result(content=body))
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    assert feed.entries[0].url == "https://x.example/a"
    assert len(feed.entries) == 3  # the entity references are dropped, not expanded
    for entry in feed.entries:
        assert "lol" not in entry.url
        assert not hostname or hostname not in entry.url


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://x.example/a</loc>",
        b"<urlset><url><loc>https://x.example/a</loc></url></urlset><extra/>",
    ],
    ids=["truncated", "two-roots"],
)
def test_malformed_sitemap_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="malformed sitemap"):
        parse_feed(result(content=body))


def test_rss_whose_text_mentions_urlset_is_still_rss() -> None:
    body = b"""<?xml version="1.0"?>
<!-- <urlset> in a comment before the root -->
<rss version="2.0"><channel><title>T</title>
<item><title>How &lt;urlset&gt; sitemaps work</title><link>https://x.example/s</link></item>
</channel></rss>"""
    feed = parse_feed(result(content=body))
    assert feed.kind == "rss"
    assert [e.url for e in feed.entries] == ["https://x.example/s"]
    # An escaped "<" in a plain-text title is part of the headline, not a tag to remove.
    assert feed.entries[0].title == "How <urlset> sitemaps work"


@pytest.mark.parametrize(
    ("title", "summary", "want_title", "want_summary"),
    [
        # an RSS description is HTML by convention: entities decode, tags go
        (
            "Profit &lt; 5% as costs rise",
            "Costs &amp;amp; prices",
            "Profit < 5% as costs rise",
            "Costs & prices",
        ),
        (
            "The &lt;i&gt;Guardian&lt;/i&gt; view",
            "&lt;p&gt;First.&lt;/p&gt;&lt;p&gt;Second.&lt;/p&gt;",
            "The Guardian view",
            "First. Second.",
        ),
        # escaped twice, as some publishing systems do: still decoded to the characters
        ("Trump&amp;#8217;s plan", "Q&amp;amp;A", "Trump\u2019s plan", "Q&A"),
    ],
    ids=["plain-text", "escaped-html", "escaped-twice"],
)
def test_rss_text_keeps_characters_and_drops_only_markup(
    title: str, summary: str, want_title: str, want_summary: str
) -> None:
    body = (
        '<rss version="2.0"><channel><title>T</title><item>'
        f"<title>{title}</title><description>{summary}</description>"
        "<link>https://x.example/s</link></item></channel></rss>"
    ).encode()
    (entry,) = parse_feed(result(content=body)).entries
    assert (entry.title, entry.summary) == (want_title, want_summary)


@pytest.mark.parametrize("name", ["news-sitemap.xml", "rss2.xml"])
def test_gzipped_document_is_read_like_the_plain_one(name: str) -> None:
    plain = parse_feed(result(name))
    packed = gzip.compress((FEEDS / name).read_bytes())
    assert parse_feed(result(content=packed, content_type="application/gzip")) == plain


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        # 60 MB of zeros compress to about 60 KB
        (gzip.compress(b"<urlset>" + b"\0" * 60 * 1024 * 1024), "expands past 50 MB"),
        (gzip.compress((FEEDS / "news-sitemap.xml").read_bytes())[:-40], "truncated gzip"),
        (b"\x1f\x8b" + b"not really gzip" * 10, "broken gzip"),
    ],
    ids=["bomb", "truncated", "garbage"],
)
def test_gzip_that_cannot_be_read_is_a_parse_error(content: bytes, problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        parse_feed(result(content=content))


@pytest.mark.parametrize(
    ("ttl", "minutes"),
    [
        ("<ttl>60</ttl>", 60),
        ("<ttl> 15 </ttl>", 15),
        ("<ttl>0</ttl>", None),
        ("<ttl>soon</ttl>", None),
        ("", None),
    ],
)
def test_an_rss_ttl_is_kept_in_minutes(ttl: str, minutes: int | None) -> None:
    body = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        f"<link>https://feeds.example/</link>{ttl}<item><title>A</title>"
        "<link>https://feeds.example/a</link></item></channel></rss>"
    ).encode()
    feed = parse_feed(result(content=body, content_type="application/rss+xml"))
    assert feed.ttl_minutes == minutes
