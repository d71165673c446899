"""The pure parts of discovery: which URLs are tried for a page, and which candidate is chosen."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.discovery import (
    Candidate,
    Reading,
    choose,
    common_feed_urls,
    merged_entries,
    section_prefix,
)
from monitor.models import FeedEntry, ParsedFeed

OLD = datetime(2026, 1, 1, tzinfo=UTC)
NEW = datetime(2026, 6, 1, tzinfo=UTC)


def candidate(
    url: str,
    kind: str = "rss",
    dates: tuple[datetime | None, ...] = (OLD,),
    found_by: str = "page link",
) -> Candidate:
    entries = tuple(
        FeedEntry(url=f"{url}/e{n}", title="t", published=d) for n, d in enumerate(dates)
    )
    return Candidate(url, found_by, Reading(ParsedFeed(url, kind, "", entries)))


def failed(url: str) -> Candidate:
    return Candidate(url, "common path", error="PermanentFetchError: HTTP 404")


def test_section_prefix_of_home_and_section_pages() -> None:
    assert section_prefix("https://x.example/") is None
    assert section_prefix("https://x.example") is None
    assert section_prefix("https://x.example/index.html") is None
    assert section_prefix("https://x.example/world/") == "/world/"
    assert section_prefix("https://x.example/world/index.html") == "/world/"


def test_common_feed_urls_try_the_section_first_then_the_root() -> None:
    urls = common_feed_urls("https://x.example/world/")
    assert urls[:2] == ["https://x.example/world/feed", "https://x.example/world/rss"]
    assert urls[6:8] == ["https://x.example/feed", "https://x.example/rss"]
    assert "https://x.example/index.xml" in urls
    assert common_feed_urls("https://x.example/")[0] == "https://x.example/feed"
    assert len(common_feed_urls("https://x.example/")) == 6


def test_a_feed_is_preferred_to_a_newer_sitemap() -> None:
    found = [
        candidate("https://x.example/sitemap.xml", "sitemap", (NEW,)),
        candidate("https://x.example/feed"),
    ]
    chosen, reason = choose("https://x.example/", found)
    assert chosen == 1
    assert "a feed is preferred to a sitemap" in reason


def test_dated_entries_beat_undated_and_newest_beats_older() -> None:
    found = [
        candidate("https://x.example/a", dates=(None,)),
        candidate("https://x.example/b", dates=(OLD,)),
        candidate("https://x.example/c", dates=(NEW, OLD)),
    ]
    chosen, reason = choose("https://x.example/", found)
    assert chosen == 2
    assert "newest 2026-06-01 00:00 UTC" in reason
    assert "2 other readable candidates" in reason


def test_a_section_page_prefers_a_feed_under_its_path_even_if_older() -> None:
    found = [
        candidate("https://x.example/feed", dates=(NEW,)),
        candidate("https://x.example/world/feed", dates=(OLD,)),
        candidate("https://other.example/world/feed", dates=(NEW,)),
    ]
    chosen, reason = choose("https://x.example/world/", found)
    assert chosen == 1
    assert "under the section's path /world/" in reason


def test_a_home_page_has_no_section_preference() -> None:
    found = [
        candidate("https://x.example/world/feed", dates=(OLD,)),
        candidate("https://x.example/feed", dates=(NEW,)),
    ]
    assert choose("https://x.example/", found)[0] == 1


def test_no_readable_candidate_is_no_choice_with_a_reason() -> None:
    chosen, reason = choose("https://x.example/", [failed("https://x.example/feed")])
    assert chosen is None
    assert "1 candidate tried, none readable" in reason
    assert choose("https://x.example/", [])[0] is None


def test_an_empty_feed_loses_to_one_with_entries_and_ties_go_to_the_first_found() -> None:
    found = [
        candidate("https://x.example/empty", dates=()),
        candidate("https://x.example/one", dates=(OLD,)),
        candidate("https://x.example/two", dates=(OLD,)),
    ]
    assert choose("https://x.example/", found)[0] == 1


def test_merged_entries_are_unique_newest_first() -> None:
    a = candidate("https://x.example/a", dates=(OLD,)).reading
    b = candidate("https://x.example/b", dates=(NEW, None)).reading
    assert a is not None
    assert b is not None
    twice = ParsedFeed("u", "sitemap", "", a.feed.entries)
    merged = merged_entries([a.feed, b.feed, twice])
    assert [e.published for e in merged] == [NEW, OLD, None]
