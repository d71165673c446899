from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import ParseError
from monitor.feeds import parse_feed
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
    with pytest.raises(ParseError, match="not an RSS or Atom feed"):
        parse_feed(result("error-page.html", content_type="text/html; charset=utf-8"))


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
