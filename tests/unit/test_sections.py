"""The pure parts of section pages: which links on a page are its articles, the config's
``kind``, and the date an undated link's article takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError, ParseError
from monitor.models import ExtractedPage, FeedEntry, FetchResult
from monitor.pipeline.articles import build_article
from monitor.pipeline.collect import FetchedPage, PageJob
from monitor.sections import article_link, looks_like_article, read_section, same_site

PAGE = "https://www.gazette.example/world/"
NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        # a date in the path; tracking parameters and the fragment dropped
        (
            "/world/2031/05/06/harbour-vote?utm_source=home&utm_medium=web#comments",
            "https://www.gazette.example/world/2031/05/06/harbour-vote",
        ),
        ("/news/2031-05-06-flood", "https://www.gazette.example/news/2031-05-06-flood"),
        ("/news/20310506-flood", "https://www.gazette.example/news/20310506-flood"),
        # a numeric id
        ("/world/1234567", "https://www.gazette.example/world/1234567"),
        ("story-1234567.html", "https://www.gazette.example/world/story-1234567.html"),
        # a slug of several words, relative to the page
        (
            "ferry-terminal-to-close",
            "https://www.gazette.example/world/ferry-terminal-to-close",
        ),
        # query order is canonical, other parameters kept
        (
            "/world/1234567?b=2&a=1&fbclid=x",
            "https://www.gazette.example/world/1234567?a=1&b=2",
        ),
    ],
)
def test_article_links_are_kept_canonical(href: str, expected: str) -> None:
    assert article_link(href, PAGE) == expected


@pytest.mark.parametrize(
    "href",
    [
        # navigation
        "/tag/tarrow",
        "/author/ines-varga",
        "/category/world",
        "/world/page/2",
        "/world/",
        PAGE,
        "#top",
        "/about",
        "/contact",
        "/2031/",
        "/2031/05/",
        "/world/2031/05/06/",
        # not to be crawled
        "/login",
        "/register",
        # media and files
        "/media/harbour-vote-photo-gallery.jpg",
        "/files/council-budget-report-2031.pdf",
        "/video/harbour-vote-in-pictures.mp4",
        # another site, another scheme, nothing at all
        "https://elsewhere.example/2031/05/06/harbour-vote",
        "https://gazette.example.org/2031/05/06/harbour-vote",
        "mailto:desk@gazette.example",
        "javascript:void(0)",
        "ftp://www.gazette.example/2031/05/06/harbour-vote",
    ],
)
def test_links_other_than_articles_are_left_out(href: str) -> None:
    assert article_link(href, PAGE) is None


def test_a_site_is_its_host_or_registered_domain_and_an_ip_only_itself() -> None:
    assert same_site("https://news.gazette.co.uk/a", "https://www.gazette.co.uk/")
    assert not same_site("https://other.co.uk/a", "https://www.gazette.co.uk/")
    assert same_site("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/world/")
    assert not same_site("http://localhost:8000/a", "http://127.0.0.1:8000/world/")
    assert not same_site("not a url", PAGE)
    on_another_host = "https://news.gazette.co.uk/world/council-backs-new-quay"
    assert article_link(on_another_host, "https://www.gazette.co.uk/world/") == on_another_host


def test_an_article_path_has_a_date_an_id_or_a_slug_of_words() -> None:
    assert looks_like_article("https://x.example/2031/05/06/a")
    assert looks_like_article("https://x.example/a?id=1234567")
    assert looks_like_article("https://x.example/a/three-word-slug")
    assert not looks_like_article("https://x.example/a/two-words")
    assert not looks_like_article("https://x.example/world/1234")
    assert not looks_like_article("https://x.example/")


def _fetched(body: str, url: str = PAGE) -> FetchResult:
    return FetchResult(url, url, 200, body.encode())


def test_a_section_page_reads_as_a_feed_of_its_article_links_in_page_order() -> None:
    feed = read_section(
        _fetched(
            "<!doctype html><html><head><title>World | Gazette</title></head><body>"
            "<nav><a href='/tag/tarrow'>Tarrow</a><a href='/login'>Sign in</a></nav>"
            "<a href='/world/ferry-terminal-to-close'><img src='/m/f.jpg' alt='The ferry'></a>"
            "<h2><a href='/world/ferry-terminal-to-close?utm_campaign=x'>"
            "  Ferry terminal\n to close </a></h2>"
            "<a href='/world/ferry-terminal-to-close'>More</a>"
            "<a href='/world/2031/05/06/harbour-vote'>Harbour vote</a>"
            "<a href='https://elsewhere.example/world/some-other-story'>Elsewhere</a>"
            "</body></html>"
        )
    )
    assert feed.kind == "page"
    assert feed.title == "World | Gazette"
    assert [(e.url, e.title, e.published) for e in feed.entries] == [
        (
            "https://www.gazette.example/world/ferry-terminal-to-close",
            "Ferry terminal to close",
            None,
        ),
        ("https://www.gazette.example/world/2031/05/06/harbour-vote", "Harbour vote", None),
    ]


def test_links_resolve_against_the_page_base_but_stay_on_its_site() -> None:
    feed = read_section(
        _fetched(
            "<html><head><base href='https://cdn.elsewhere.example/'></head><body>"
            "<a href='/world/ferry-terminal-to-close'>Ferry</a>"
            "<a href='https://www.gazette.example/world/harbour-vote-today'>Vote</a>"
            "</body></html>"
        )
    )
    assert [e.url for e in feed.entries] == ["https://www.gazette.example/world/harbour-vote-today"]


def test_an_empty_page_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        read_section(_fetched("  "))


def test_the_kind_of_a_source_is_feed_by_default_or_page() -> None:
    assert parse_config({"sources": [{"name": "g", "url": PAGE}]}).sources[0].kind == "feed"
    page = parse_config({"sources": [{"name": "g", "url": PAGE, "kind": "page"}]})
    assert page.sources[0].kind == "page"


def test_an_unknown_kind_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": [{"name": "g", "url": PAGE, "kind": "section"}]})
    message = str(caught.value)
    assert "kind" in message
    assert "'feed'" in message
    assert "'page'" in message


def _built(published: datetime | None, page_date: datetime | None) -> datetime | None:
    url = "https://www.gazette.example/world/ferry-terminal-to-close"
    job = PageJob(1, "gazette", FeedEntry(url, title="Ferry", published=published), url)
    page = ExtractedPage(text="The ferry terminal closes in June.", published=page_date)
    return build_article(FetchedPage(job, b"<html></html>", url), page, NOW).published_at


def test_an_undated_link_takes_its_pages_date_never_later_than_its_fetch() -> None:
    earlier = NOW - timedelta(hours=3)
    assert _built(None, earlier) == earlier
    assert _built(None, NOW + timedelta(days=2)) == NOW
    assert _built(None, None) is None
    # A feed's own date is what the outlet publishes as the release time: kept.
    assert _built(earlier, NOW - timedelta(hours=1)) == earlier
