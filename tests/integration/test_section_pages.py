"""Sources read as section pages (``kind: page``), against a real HTTP server and real databases.

What an operator relies on for an outlet without a feed: the section page's article links (and
only those: no navigation, no other site, no pictures or files) become articles under their
canonical URLs, dated by their own pages; the first reading is a baseline that alerts on
nothing; a later poll fetches only the links that are new, and an unchanged page (304) fetches
nothing; the page is never looked into for a feed; ``monitor sources`` says what the source is.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.check import check_sources
from monitor.cli import app
from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.pipeline.collect import Fetcher, fetch_policy, poll_sources
from monitor.storage.tables import AlertRow, ArticleRow, SourceRow
from monitor.timeutil import as_utc
from tests.support.pipeline import run_cycle

NOW = datetime.now(UTC)

# Distinct stories, none a copy of another: each one alerts when it may.
STORIES = {
    "/world/2031/05/06/harbour-council-votes": (
        "Tarrow harbour council votes to close ferry terminal",
        "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by "
        "June, after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines "
        "Varga said the ferry to Kell Island would move to the north quay while a new terminal "
        "is built.",
    ),
    "/world/tarrow-library-reopens-after-renovation": (
        "Tarrow library reopens",
        "The public library of Tarrow reopened its doors on Saturday after a renovation that "
        "lasted two years and cost 3.4 million euros. Librarian Oskar Brandt said the reading "
        "room now holds 40,000 books and a children's wing named after the poet Hella Moor.",
    ),
    "/world/7654321": (
        "Tarrow marathon moves to autumn",
        "Organisers of the Tarrow marathon announced that the race will move from April to "
        "October because of heat records set last spring. Race director Pia Lund expects "
        "6,500 runners and a new route along the river Senn past the old brewery.",
    ),
    "/world/tarrow-school-gets-solar-roof": (
        "Tarrow school gets solar roof",
        "Pupils at the Tarrow grammar school will learn under a solar roof from next term: the "
        "district approved 220 panels worth 180,000 euros. Headteacher Mira Falk said the "
        "savings would pay for a chemistry laboratory and two extra teachers.",
    ),
}
FIRST = [
    "/world/2031/05/06/harbour-council-votes",
    "/world/tarrow-library-reopens-after-renovation",
    "/world/7654321",
]
NEW = "/world/tarrow-school-gets-solar-roof"
# Links on the page that are not its articles; each is served, so a request would show.
NOT_ARTICLES = [
    "/tag/tarrow",
    "/author/ines-varga",
    "/world/page/2",
    "/login",
    "/about",
    "/media/harbour-council-votes-photo.jpg",
    "/files/council-budget-report-2031.pdf",
    "/world/rss.xml",
]
OFF_SITE = "/elsewhere/2031/05/06/another-outlets-story"


def _article(title: str, body: str, published: datetime) -> bytes:
    return (
        f"<html lang='en'><head><title>{title}</title>"
        f"<meta property='article:published_time' content='{published.isoformat()}'>"
        f"</head><body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    ).encode()


def _section(server: LocalServer, articles: list[str]) -> bytes:
    # The page advertises a feed: a source of kind page must not go looking for it.
    links = "".join(
        f"<li><a href='{path}?utm_source=section&utm_medium=web'>{STORIES[path][0]}</a></li>"
        for path in articles
    )
    others = "".join(f"<a href='{path}'>{path}</a>" for path in NOT_ARTICLES)
    off_site = f"http://localhost:{server.port}{OFF_SITE}"
    return (
        "<!doctype html><html><head><title>World | Gazette</title>"
        "<link rel='alternate' type='application/rss+xml' href='/world/rss.xml'></head><body>"
        f"<nav>{others}</nav><ul>{links}</ul>"
        f"<aside><a href='{off_site}'>Elsewhere</a><a href='/world/'>World</a></aside>"
        "</body></html>"
    ).encode()


def _serve(server: LocalServer, articles: list[str]) -> None:
    server.table.set("/world/", Route(body=_section(server, articles)))


@pytest.fixture
def site(local_server: LocalServer) -> LocalServer:
    for n, (path, (title, body)) in enumerate(STORIES.items()):
        when = NOW - timedelta(hours=n + 1)
        local_server.table.set(path, Route(body=_article(title, body, when)))
    for path in [*NOT_ARTICLES, OFF_SITE]:
        local_server.table.set(path, Route(body=b"<html><body><p>not an article</p></body></html>"))
    _serve(local_server, FIRST)
    return local_server


def _config(server: LocalServer, kind: str | None = "page") -> Any:
    source = {"name": "gazette", "url": server.url("/world/")}
    return parse_config(
        {
            "sources": [{**source, "kind": kind} if kind else source],
            "topics": [{"name": "Tarrow", "query": "tarrow"}],
            "channels": [{"type": "webhook", "name": "hook", "url": server.url("/hook")}],
        }
    )


def _articles(sessions: sessionmaker[Session]) -> dict[str, ArticleRow]:
    with sessions() as s:
        return {r.canonical_url: r for r in s.scalars(select(ArticleRow))}


def _alerted(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as s:
        rows = s.execute(
            select(ArticleRow.canonical_url).join(AlertRow, AlertRow.article_id == ArticleRow.id)
        ).scalars()
        return set(rows)


def _requests(server: LocalServer, paths: list[str]) -> dict[str, int]:
    return {p: len(server.table.requests_for(p)) for p in paths}


def test_a_section_page_becomes_its_article_links_and_later_polls_fetch_only_new_ones(
    sessions: sessionmaker[Session], settings: Settings, site: LocalServer
) -> None:
    server = site
    config = _config(server)

    collection, _ = run_cycle(sessions, settings, config)

    assert [p.error for p in collection.polls] == [None]
    stored = _articles(sessions)
    # Canonical: the tracking parameters the page's links carry are gone.
    assert set(stored) == {server.url(p) for p in FIRST}
    assert _requests(server, [*NOT_ARTICLES, OFF_SITE]) == dict.fromkeys(
        [*NOT_ARTICLES, OFF_SITE], 0
    )
    # Dated by the article's own page; the page's first reading is a baseline: no alerts.
    harbour = stored[server.url(FIRST[0])]
    assert harbour.published_at is not None
    assert abs(as_utc(harbour.published_at) - (NOW - timedelta(hours=1))) < timedelta(seconds=2)
    assert {r.alert_hold for r in stored.values()} == {
        "link on a section page at its first reading (archive dump)"
    }
    assert _alerted(sessions) == set()
    with sessions() as s:
        row = s.scalars(select(SourceRow)).one()
    assert row.kind == "page"
    assert row.feed_url is None  # never looked into for a feed

    # One new link on the page: only that one is fetched, and it alerts.
    _serve(server, [NEW, *FIRST])
    run_cycle(sessions, settings, config)

    assert set(_articles(sessions)) == {server.url(p) for p in [*FIRST, NEW]}
    assert _requests(server, [*FIRST, NEW]) == {**dict.fromkeys(FIRST, 1), NEW: 1}
    assert _articles(sessions)[server.url(NEW)].alert_hold is None
    assert _alerted(sessions) == {server.url(NEW)}

    # The page unchanged: a 304, and nothing fetched.
    run_cycle(sessions, settings, config)

    last = server.table.requests_for("/world/")[-1]
    assert last.headers.get("if-none-match")
    assert _requests(server, [*FIRST, NEW]) == dict.fromkeys([*FIRST, NEW], 1)
    assert len(server.table.requests_for("/world/")) == 3
    assert server.table.requests_for("/world/rss.xml") == []


def test_a_source_without_kind_still_looks_for_the_pages_feed(
    sessions: sessionmaker[Session], settings: Settings, site: LocalServer
) -> None:
    server = site
    server.table.set("/world/rss.xml", Route(body=b"<html><body>gone</body></html>", status=404))

    collection, _ = run_cycle(sessions, settings, _config(server, kind=None))

    assert server.table.requests_for("/world/rss.xml")  # the advertised feed was tried
    assert _articles(sessions) == {}
    assert collection.polls[0].error is not None


def test_the_links_taken_per_poll_are_capped_and_the_rest_come_next_poll(
    sessions: sessionmaker[Session], settings: Settings, site: LocalServer
) -> None:
    config = _config(site)
    policy = fetch_policy(settings)
    with Fetcher(policy) as fetcher:
        first = poll_sources(sessions, fetcher, config.sources, now=NOW, max_entries=2)
        assert [j.canonical_url for j in first.jobs] == [site.url(p) for p in FIRST[:2]]
        assert first.capped == {first.polls[0].source.id}


def _cli(args: list[str], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return CliRunner().invoke(app, args)


def test_monitor_sources_shows_the_kind(
    sessions: sessionmaker[Session],
    settings: Settings,
    site: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    run_cycle(sessions, settings, _config(site))

    text = _cli(["sources"], db_url, monkeypatch, tmp_path)
    shown = _cli(["sources", "--json"], db_url, monkeypatch, tmp_path)

    assert text.exit_code == 0, text.output
    assert "section page: its article links are read (kind: page)" in text.output
    [listed] = json.loads(shown.output)
    assert listed["kind"] == "page"


def test_monitor_check_counts_a_section_pages_article_links(
    settings: Settings, site: LocalServer
) -> None:
    [finding] = asyncio.run(check_sources(_config(site), fetch_policy(settings), now=NOW))

    assert finding.status == "ok", finding
    assert finding.detail == "section page, 3 article links (dated by their pages)"
    assert site.table.requests_for("/world/rss.xml") == []
