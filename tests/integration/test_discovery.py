"""Sources set to a home or section page, and sitemap indexes, against a real HTTP server and
real databases.

What an operator relies on: a source given as a site's page polls the feed the page advertises
(or a common feed path, or a sitemap its robots.txt names), says which and why in
``monitor check`` and ``monitor sources``, and goes straight to it on later polls, looking again
only when it is gone; ``monitor sources discover`` shows the candidates and stores nothing; a
sitemap index is read newest sitemaps first, gzipped ones too, within its bounds, whatever the
index says.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.check import check_sources
from monitor.cli import app
from monitor.config import Settings, SitemapSettings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.discovery import IndexRules
from monitor.pipeline.collect import (
    Fetcher,
    fetch_policy,
    poll_sources,
)
from monitor.storage.tables import ArticleRow, SourceRow
from tests.support.pipeline import Collection, run_cycle

RSS = "application/rss+xml; charset=utf-8"
XML = "application/xml"
TEXT = "text/plain; charset=utf-8"
NOW = datetime.now(UTC)
BODY = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built."
)


def _rss(server: LocalServer, paths: list[str], hours_ago: float) -> Route:
    when = format_datetime(datetime.now(UTC) - timedelta(hours=hours_ago))
    items = "".join(
        f"<item><title>Tarrow news {p}</title><link>{server.url(p)}</link><guid>{p}</guid>"
        f"<pubDate>{when}</pubDate><description>Summary of {p}.</description></item>"
        for p in paths
    )
    body = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{server.base_url}/</link><description>x</description>{items}</channel></rss>"
    )
    return Route(content_type=RSS, body=body.encode())


def _home(links: list[str]) -> Route:
    head = "".join(
        f'<link rel="alternate" type="application/rss+xml" title="News" href="{href}">'
        for href in links
    )
    return Route(
        body=(
            f"<!doctype html><html><head><title>Gazette</title>{head}</head>"
            "<body><h1>Gazette</h1><p>Front page.</p></body></html>"
        ).encode()
    )


def _pages(server: LocalServer, paths: list[str]) -> None:
    for path in paths:
        server.table.set(
            path,
            Route(
                body=(
                    f"<html lang='en'><head><title>Tarrow news {path}</title></head><body>"
                    f"<article><h1>Tarrow news {path}</h1><p>{BODY}</p></article></body></html>"
                ).encode()
            ),
        )


def _urlset(server: LocalServer, paths: list[str], hours_ago: float = 1.0) -> bytes:
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    urls = "".join(f"<url><loc>{server.url(p)}</loc><lastmod>{when}</lastmod></url>" for p in paths)
    return (
        f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"{urls}</urlset>"
    ).encode()


def _index(children: list[tuple[str, datetime | None]]) -> bytes:
    listed = "".join(
        f"<sitemap><loc>{loc}</loc>"
        + (f"<lastmod>{when.isoformat()}</lastmod>" if when else "")
        + "</sitemap>"
        for loc, when in children
    )
    return (
        "<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"{listed}</sitemapindex>"
    ).encode()


def _config(server: LocalServer, path: str) -> Any:
    return parse_config(
        {
            "sources": [{"name": "gazette", "url": server.url(path)}],
            "topics": [{"name": "Tarrow", "query": "tarrow"}],
        }
    )


def _source(sessions: sessionmaker[Session]) -> SourceRow:
    with sessions() as session:
        return session.scalars(select(SourceRow)).one()


def _stored_urls(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(ArticleRow.url)))


def _cli(args: list[str], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner().invoke(app, args)


def test_a_home_page_source_polls_the_advertised_feed_and_goes_straight_to_it_later(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = local_server
    server.table.set("/", _home(["/old/rss.xml", "/news/rss.xml"]))
    server.table.set("/old/rss.xml", _rss(server, ["/old/a.html"], hours_ago=500))
    server.table.set("/news/rss.xml", _rss(server, ["/news/a.html", "/news/b.html"], 2))
    _pages(server, ["/news/a.html", "/news/b.html", "/old/a.html"])

    collection, _ = run_cycle(sessions, settings, _config(server, "/"))

    assert [p.error for p in collection.polls] == [None]
    assert _stored_urls(sessions) == {server.url("/news/a.html"), server.url("/news/b.html")}
    row = _source(sessions)
    assert row.feed_url == server.url("/news/rss.xml")
    assert row.feed_choice is not None
    assert "rss found by page link" in row.feed_choice
    assert "1 other readable candidate" in row.feed_choice
    assert row.consecutive_failures == 0

    run_cycle(sessions, settings, _config(server, "/"))

    # The page: polled and looked into by the first cycle only; the second polls the feed.
    assert len(server.table.requests_for("/")) == 1
    later = server.table.requests_for("/news/rss.xml")
    assert len(later) == 2
    assert later[-1].headers.get("if-none-match")  # with the validators of the first reading

    text = _cli(["sources"], db_url, monkeypatch, tmp_path)
    shown = _cli(["sources", "--json"], db_url, monkeypatch, tmp_path)
    assert text.exit_code == 0, text.output
    assert f"polls {server.url('/news/rss.xml')}, found on its page" in text.output
    [listed] = json.loads(shown.output)
    assert listed["feed_url"] == server.url("/news/rss.xml")
    assert "found by page link" in listed["feed_choice"]
    assert listed["discovered_at"] is not None


def test_a_section_page_without_links_finds_a_common_path_under_its_own_path_first(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    server.table.set("/world/", _home([]))
    server.table.set("/feed", _rss(server, ["/home/a.html"], hours_ago=1))
    server.table.set("/world/rss.xml", _rss(server, ["/world/a.html"], hours_ago=20))
    _pages(server, ["/home/a.html", "/world/a.html"])

    run_cycle(sessions, settings, _config(server, "/world/"))

    row = _source(sessions)
    assert row.feed_url == server.url("/world/rss.xml")
    assert "found by common path" in str(row.feed_choice)
    assert "under the section's path /world/" in str(row.feed_choice)
    assert _stored_urls(sessions) == {server.url("/world/a.html")}


def test_a_page_without_feeds_uses_the_sitemap_its_robots_txt_names_and_check_says_so(
    settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    server.table.set("/", _home([]))
    server.table.set(
        "/robots.txt",
        Route(
            content_type=TEXT, body=f"User-agent: *\nSitemap: {server.url('/news.xml')}\n".encode()
        ),
    )
    server.table.set("/news.xml", Route(content_type=XML, body=_urlset(server, ["/n/1.html"])))

    [finding] = asyncio.run(
        check_sources(_config(server, "/"), fetch_policy(settings), now=datetime.now(UTC))
    )

    assert finding.status == "ok", finding
    assert finding.detail.startswith("sitemap, 1 entry")
    assert f"the page's feed: {server.url('/news.xml')}" in finding.detail
    assert "sitemap found by robots.txt" in finding.detail


def test_a_page_with_nothing_to_poll_fails_its_check_saying_what_was_tried(
    settings: Settings, local_server: LocalServer
) -> None:
    local_server.table.set("/", _home([]))

    [finding] = asyncio.run(
        check_sources(_config(local_server, "/"), fetch_policy(settings), now=datetime.now(UTC))
    )

    assert finding.status == "failed"
    assert "NotAFeedError" in finding.detail
    assert "no feed or sitemap found (6 candidates tried, none readable)" in finding.detail


def test_a_chosen_feed_that_answers_404_is_looked_for_again(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    server.table.set("/", _home(["/a.xml"]))
    server.table.set("/a.xml", _rss(server, ["/p/1.html"], hours_ago=1))
    _pages(server, ["/p/1.html", "/p/2.html"])
    run_cycle(sessions, settings, _config(server, "/"))
    assert _source(sessions).feed_url == server.url("/a.xml")

    server.table.set("/a.xml", Route(status=404, body=b"<html>gone</html>"))
    server.table.set("/", _home(["/b.xml"]))
    server.table.set("/b.xml", _rss(server, ["/p/2.html"], hours_ago=1))
    collection, _ = run_cycle(sessions, settings, _config(server, "/"))

    assert [p.error for p in collection.polls] == [None]
    row = _source(sessions)
    assert row.feed_url == server.url("/b.xml")
    assert row.consecutive_failures == 0
    assert server.url("/p/2.html") in _stored_urls(sessions)


def test_sources_discover_lists_candidates_and_stores_nothing(
    sessions: sessionmaker[Session],
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = local_server
    server.table.set("/", _home(["/news/rss.xml", "/missing.xml"]))
    server.table.set("/news/rss.xml", _rss(server, ["/news/a.html"], hours_ago=3))
    url = server.url("/")

    text = _cli(["sources", "discover", url], db_url, monkeypatch, tmp_path)
    shown = _cli(["sources", "discover", url, "--json"], db_url, monkeypatch, tmp_path)

    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert lines[0].split() == ["CHOSEN", "rss", server.url("/news/rss.xml")]
    assert "found by page link; 1 entry, newest" in lines[1]
    assert "(3 h ago)" in lines[1]
    assert lines[2].split()[:2] == ["-", server.url("/missing.xml")]
    assert "failed: PermanentFetchError: HTTP 404" in lines[3]
    assert lines[-1].startswith(f"chosen {server.url('/news/rss.xml')}: rss found by page link")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["chosen"] == server.url("/news/rss.xml")
    assert [(c["kind"], c["chosen"], c["dated"], c["entries"]) for c in report["candidates"]] == [
        ("rss", True, True, 1),
        ("-", False, False, 0),
    ]
    assert report["candidates"][0]["newest_age_h"] == pytest.approx(3.0, abs=0.1)
    assert "HTTP 404" in report["candidates"][1]["error"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SourceRow)) == 0

    server.table.set("/", _home([]))
    nothing = _cli(["sources", "discover", url, "--json"], db_url, monkeypatch, tmp_path)
    assert nothing.exit_code == 1
    assert json.loads(nothing.output)["chosen"] is None

    feed = server.url("/news/rss.xml")
    itself = _cli(["sources", "discover", feed, "--json"], db_url, monkeypatch, tmp_path)
    assert itself.exit_code == 0, itself.output
    [only] = json.loads(itself.output)["candidates"]
    assert (only["url"], only["found_by"], only["chosen"]) == (feed, "the URL itself", True)


def _poll(
    sessions: sessionmaker[Session],
    settings: Settings,
    config: Any,
    rules: IndexRules,
    *,
    skip_old: bool = False,
    margin_s: float = 3600.0,
) -> Collection:
    """One cycle with ``rules``; by default reading every sitemap whatever its ``<lastmod>``
    (the count and depth bounds are tested alone; skipping the old has tests of its own)."""
    sitemaps = SitemapSettings(
        index_depth=rules.depth,
        children=rules.children,
        skip_old=skip_old,
        lastmod_margin_s=margin_s,
    )
    collection, _ = run_cycle(sessions, settings.model_copy(update={"sitemaps": sitemaps}), config)
    return collection


def _index_site(server: LocalServer) -> None:
    """An index: a gzipped news sitemap (newest), an older sitemap, a nested index (listing a
    sitemap of its own, itself and its parent) and the index itself."""
    server.table.set(
        "/news.xml.gz",
        Route(
            content_type="application/x-gzip",
            body=gzip.compress(_urlset(server, ["/n/1.html", "/n/2.html"])),
        ),
    )
    server.table.set(
        "/2025.xml", Route(content_type=XML, body=_urlset(server, ["/old/1.html"], 900))
    )
    server.table.set(
        "/more.xml", Route(content_type=XML, body=_urlset(server, ["/more/1.html"], 5))
    )
    server.table.set(
        "/nested.xml",
        Route(
            content_type=XML,
            body=_index(
                [
                    (server.url("/more.xml"), NOW - timedelta(hours=5)),
                    (server.url("/nested.xml"), NOW),
                    (server.url("/index.xml"), NOW),
                ]
            ),
        ),
    )
    server.table.set(
        "/index.xml",
        Route(
            content_type=XML,
            body=_index(
                [
                    (server.url("/2025.xml"), NOW - timedelta(days=300)),
                    (server.url("/index.xml"), None),
                    (server.url("/news.xml.gz"), NOW - timedelta(hours=1)),
                    (server.url("/nested.xml"), NOW - timedelta(hours=4)),
                ]
            ),
        ),
    )
    _pages(server, ["/n/1.html", "/n/2.html", "/old/1.html", "/more/1.html"])


def test_a_sitemap_index_is_read_recursively_with_its_gzipped_sitemap(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    _index_site(server)
    config = _config(server, "/index.xml")

    with Fetcher(fetch_policy(settings), index_rules=IndexRules(depth=2, children=5)) as fetcher:
        poll = poll_sources(sessions, fetcher, config.sources, now=datetime.now(UTC))

    [feed_poll] = poll.polls
    assert feed_poll.error is None
    assert feed_poll.feed is not None
    assert feed_poll.feed.kind == "sitemapindex"
    assert [e.url for e in feed_poll.feed.entries] == [
        server.url("/n/1.html"),
        server.url("/n/2.html"),
        server.url("/more/1.html"),
        server.url("/old/1.html"),
    ]
    assert {j.canonical_url for j in poll.jobs} == {e.url for e in feed_poll.feed.entries}
    for path in ("/index.xml", "/news.xml.gz", "/2025.xml", "/nested.xml", "/more.xml"):
        assert len(server.table.requests_for(path)) == 1, path  # loops are not followed


def test_an_index_reads_its_newest_sitemaps_first_within_count_and_depth(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    _index_site(server)
    config = _config(server, "/index.xml")

    first = _poll(sessions, settings, config, IndexRules(depth=2, children=1))

    assert [p.error for p in first.polls] == [None]
    assert len(server.table.requests_for("/news.xml.gz")) == 1  # the newest
    assert server.table.requests_for("/nested.xml") == []
    assert server.table.requests_for("/2025.xml") == []
    assert {p.job.canonical_url for p in first.pages} == {
        server.url("/n/1.html"),
        server.url("/n/2.html"),
    }

    server.table.set(
        "/index.xml",
        Route(
            content_type=XML,
            body=_index(
                [
                    (server.url("/nested.xml"), NOW - timedelta(hours=4)),
                    (server.url("/news.xml.gz"), NOW - timedelta(hours=1)),
                ]
            ),
        ),
    )
    second = _poll(sessions, settings, config, IndexRules(depth=1, children=5))

    [feed_poll] = second.polls
    assert feed_poll.error is None
    assert len(server.table.requests_for("/nested.xml")) == 1
    assert server.table.requests_for("/more.xml") == []  # below the depth
    assert any("nested deeper than 1 levels" in e.message for e in feed_poll.entry_errors)
    # The gzipped sitemap, read whole by the first poll, is asked for conditionally: 304.
    again = server.table.requests_for("/news.xml.gz")
    assert len(again) == 2
    assert again[-1].headers.get("if-none-match")


def test_a_hostile_index_is_bounded_without_error(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    listed = [(server.url("/index.xml"), NOW)] + [
        (server.url(f"/s/{n}.xml"), NOW - timedelta(minutes=n)) for n in reversed(range(12_000))
    ]
    server.table.set("/index.xml", Route(content_type=XML, body=_index(listed)))

    collection = _poll(sessions, settings, _config(server, "/index.xml"), IndexRules(2, 5))

    [feed_poll] = collection.polls
    assert feed_poll.error is None
    assert len(server.table.requests_for("/index.xml")) == 1
    children = [r.path for r in server.table.requests if r.path.startswith("/s/")]
    assert sorted(children) == [f"/s/{n}.xml" for n in range(5)]  # the five newest
    assert _source(sessions).consecutive_failures == 0


def _dated_urlset(server: LocalServer, urls: list[tuple[str, datetime]]) -> bytes:
    listed = "".join(
        f"<url><loc>{server.url(p)}</loc><lastmod>{when.isoformat()}</lastmod></url>"
        for p, when in urls
    )
    return (
        "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
        f"{listed}</urlset>"
    ).encode()


def _requests(server: LocalServer, prefix: str) -> int:
    return sum(r.path.startswith(prefix) for r in server.table.requests)


def test_a_large_index_is_read_again_only_for_what_changed_since_the_last_poll(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    now = datetime.now(UTC)
    archive = [(server.url(f"/archive/{n}.xml"), now - timedelta(days=2 + n)) for n in range(30)]
    for n in range(30):
        when = now - timedelta(days=2 + n)
        server.table.set(
            f"/archive/{n}.xml",
            Route(content_type=XML, body=_dated_urlset(server, [(f"/a/{n}.html", when)])),
        )

    def publish(today: list[tuple[str, datetime]]) -> None:
        """The index with today's sitemap (modified at its newest URL) and an undated one."""
        server.table.set("/today.xml", Route(content_type=XML, body=_dated_urlset(server, today)))
        modified = max(when for _, when in today)
        children = [(server.url("/today.xml"), modified), (server.url("/misc.xml"), None)]
        server.table.set("/index.xml", Route(content_type=XML, body=_index(children + archive)))

    server.table.set(
        "/misc.xml",
        Route(content_type=XML, body=_dated_urlset(server, [("/m/1.html", now - timedelta(3))])),
    )
    publish([("/t/1.html", now - timedelta(minutes=20))])
    _pages(server, ["/t/1.html", "/t/2.html", "/t/3.html", "/m/1.html"])
    _pages(server, [f"/a/{n}.html" for n in range(30)])
    config = _config(server, "/index.xml")
    rules = IndexRules(depth=1, children=40)

    # The first poll reads the whole index (nothing read before): 32 sitemaps.
    first = _poll(sessions, settings, config, rules, skip_old=True)
    assert [p.error for p in first.polls] == [None]
    assert _requests(server, "/archive/") == 30
    assert _requests(server, "/today.xml") == _requests(server, "/misc.xml") == 1

    # Two URLs more in today's sitemap, one of them modified long ago (an old page the
    # publisher added late): the next poll fetches today's sitemap and the undated one only,
    # and considers the recent URL only.
    publish(
        [
            ("/t/1.html", now - timedelta(minutes=20)),
            ("/t/2.html", datetime.now(UTC)),
            ("/t/3.html", now - timedelta(days=9)),
        ]
    )
    second = _poll(sessions, settings, config, rules, skip_old=True)
    [feed_poll] = second.polls
    assert feed_poll.error is None
    assert _requests(server, "/archive/") == 30  # not one more
    assert _requests(server, "/today.xml") == 2
    assert _requests(server, "/misc.xml") == 2  # undated: always read
    assert feed_poll.feed is not None
    assert [e.url for e in feed_poll.feed.entries] == [
        server.url("/t/2.html"),
        server.url("/t/1.html"),  # inside the hour's margin; known already, not fetched again
    ]
    assert {p.job.canonical_url for p in second.pages} == {server.url("/t/2.html")}

    # Without the filter, the same poll reads every sitemap again.
    publish([("/t/1.html", now - timedelta(minutes=20)), ("/t/2.html", datetime.now(UTC))])
    _poll(sessions, settings, config, rules, skip_old=False)
    assert _requests(server, "/archive/") == 60


def test_a_sitemap_that_failed_is_read_again_from_the_same_point(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    start = datetime.now(UTC)
    server.table.set(
        "/index.xml",
        Route(content_type=XML, body=_index([(server.url("/a.xml"), start - timedelta(days=1))])),
    )
    server.table.set(
        "/a.xml",
        Route(content_type=XML, body=_dated_urlset(server, [("/a/1.html", start)])),
    )
    _pages(server, ["/a/1.html", "/b/1.html"])
    config = _config(server, "/index.xml")
    rules = IndexRules(depth=1, children=5)
    _poll(sessions, settings, config, rules, skip_old=True, margin_s=0)

    # A sitemap modified after that poll is listed, and fails for a moment.
    modified = datetime.now(UTC)
    listed = [(server.url("/b.xml"), modified), (server.url("/a.xml"), start - timedelta(days=1))]
    server.table.set("/index.xml", Route(content_type=XML, body=_index(listed)))
    server.table.set("/b.xml", Route(status=503, body=b"busy"))
    failed = _poll(sessions, settings, config, rules, skip_old=True, margin_s=0)
    assert any("/b.xml" in e.message for e in failed.polls[0].entry_errors)
    assert server.table.requests_for("/a.xml")[1:] == []  # older than the first poll

    # The next poll starts from the first one's time, not the failed one's: /b.xml is read.
    server.table.set(
        "/b.xml",
        Route(content_type=XML, body=_dated_urlset(server, [("/b/1.html", modified)])),
    )
    again = _poll(sessions, settings, config, rules, skip_old=True, margin_s=0)
    assert [p.error for p in again.polls] == [None]
    assert {p.job.canonical_url for p in again.pages} == {server.url("/b/1.html")}


def test_a_plain_sitemap_lists_only_the_urls_modified_since_the_last_poll(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    server = local_server
    start = datetime.now(UTC)
    server.table.set(
        "/sitemap.xml",
        Route(content_type=XML, body=_dated_urlset(server, [("/s/1.html", start)])),
    )
    _pages(server, ["/s/1.html", "/s/2.html", "/s/3.html"])
    config = _config(server, "/sitemap.xml")
    rules = IndexRules(depth=1, children=5)
    _poll(sessions, settings, config, rules, skip_old=True)

    listed = [
        ("/s/1.html", start),
        ("/s/2.html", datetime.now(UTC)),
        ("/s/3.html", start - timedelta(days=30)),
    ]
    server.table.set("/sitemap.xml", Route(content_type=XML, body=_dated_urlset(server, listed)))
    second = _poll(sessions, settings, config, rules, skip_old=True)
    [feed_poll] = second.polls
    assert feed_poll.feed is not None
    assert {e.url for e in feed_poll.feed.entries} == {
        server.url("/s/1.html"),
        server.url("/s/2.html"),
    }
    assert {p.job.canonical_url for p in second.pages} == {server.url("/s/2.html")}
