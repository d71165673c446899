"""Fixture feeds served by the real loopback server, fetched and parsed end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.demo.server import LocalServer, Route
from monitor.errors import ParseError, TransientFetchError
from monitor.feeds import parse_feed
from monitor.fetch import FetchPolicy, FetchRequest, fetch, fetch_all
from monitor.models import FetchResult
from monitor.urls import canonicalize

FEEDS = Path(__file__).parents[1] / "fixtures" / "feeds"


def serve(server: LocalServer, path: str, name: str, content_type: str, status: int = 200) -> str:
    server.table.set(
        path, Route(body=(FEEDS / name).read_bytes(), content_type=content_type, status=status)
    )
    return server.url(path)


async def test_rss_feed_over_http_resolves_links_against_the_server(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/gazette/rss.xml", "rss2.xml", "application/rss+xml")
    feed = parse_feed(await fetch(client, url, policy))
    assert feed.kind == "rss"
    first = feed.entries[0]
    assert first.url == local_server.url("/2025/03/ferry-timetable?utm_source=rss&utm_medium=feed")
    assert canonicalize(first.url) == local_server.url("/2025/03/ferry-timetable")
    assert first.guid == "gazette-4711"


async def test_feed_behind_a_redirect_resolves_against_the_final_url(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    serve(local_server, "/new/feeds/rss.xml", "rss2.xml", "application/rss+xml")
    local_server.table.set("/rss", Route(redirect_to="/new/feeds/rss.xml", status=301))
    result = await fetch(client, local_server.url("/rss"), policy)
    feed = parse_feed(result)
    assert feed.url == local_server.url("/rss")
    assert feed.entries[0].url.startswith(local_server.url("/2025/03/ferry-timetable"))


async def test_atom_feed_over_http(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/world.atom", "atom.xml", "application/atom+xml")
    feed = parse_feed(await fetch(client, url, policy))
    assert feed.kind == "atom"
    assert [e.guid for e in feed.entries] == [
        "urn:uuid:9e2d0c7a-5d41-4a0c-8d0e-6a1e3c2b7f10",
        "tag:northwind.example,2025:grain-0511",
    ]
    assert feed.entries[0].published == datetime(2025, 5, 12, 10, 45, tzinfo=UTC)


async def test_json_feed_over_http(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/feed.json", "feed.json", "application/feed+json")
    feed = parse_feed(await fetch(client, url, policy))
    assert feed.kind == "json"
    assert [e.title for e in feed.entries] == [
        "Old stone bridge reopens to cyclists",
        "Market day moves indoors",
    ]
    assert feed.entries[0].url == local_server.url("/2025/bridge-reopens?fbclid=abc")


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("latin1-undeclared.xml", "application/rss+xml; charset=utf-8"),
        ("latin1-undeclared.xml", "application/rss+xml"),
        ("latin1-declared-utf8.xml", "text/xml; charset=utf-8"),
    ],
)
async def test_wrong_or_missing_charset_still_parses(
    local_server: LocalServer,
    client: httpx.AsyncClient,
    policy: FetchPolicy,
    name: str,
    content_type: str,
) -> None:
    url = serve(local_server, "/port.xml", name, content_type)
    feed = parse_feed(await fetch(client, url, policy))
    assert feed.title == "Le Café du Port"
    assert feed.entries[0].title == "Señora Núñez ouvre une crêperie à l'écluse"


async def test_invalid_xml_over_http_is_a_parse_error(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/broken.xml", "invalid.xml", "application/rss+xml")
    result = await fetch(client, url, policy)
    with pytest.raises(ParseError) as info:
        parse_feed(result)
    assert info.value.url == url


async def test_html_page_with_200_instead_of_feed_is_a_parse_error(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/feed", "error-page.html", "text/html; charset=utf-8")
    result = await fetch(client, url, policy)
    assert result.status == 200
    with pytest.raises(ParseError, match="an HTML page, not a feed"):
        parse_feed(result)


async def test_html_error_page_with_503_is_a_transient_fetch_error(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    url = serve(local_server, "/feed", "error-page.html", "text/html", status=503)
    with pytest.raises(TransientFetchError):
        await fetch(client, url, policy)


async def test_a_cycle_of_good_and_broken_feeds(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    urls = [
        serve(local_server, "/a.xml", "rss2.xml", "application/rss+xml"),
        serve(local_server, "/b.xml", "invalid.xml", "application/xml"),
        serve(local_server, "/c.json", "feed.json", "application/feed+json"),
        serve(local_server, "/d.xml", "atom.xml", "application/atom+xml", status=500),
    ]
    outcomes = await fetch_all(client, [FetchRequest(u) for u in urls], policy)
    parsed: list[str] = []
    failed: list[str] = []
    for url, outcome in zip(urls, outcomes, strict=True):
        if not isinstance(outcome, FetchResult):
            failed.append(url)
            continue
        try:
            parsed.append(parse_feed(outcome).kind)
        except ParseError:
            failed.append(url)
    assert parsed == ["rss", "json"]
    assert failed == [urls[1], urls[3]]
