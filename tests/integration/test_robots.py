"""robots.txt over whole cycles, against a real HTTP server serving it, and real databases.

What an outlet and an operator rely on: a feed its host disallows is not requested and its
source says so in ``monitor sources``; a page it disallows is not requested and its entry keeps
the feed's summary, with the reason in the cycle's errors; a source set to ``robots: ignore``
is fetched as if there were no robots.txt; the rules are read once per host, kept between cycles,
and read again a day later.
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

from monitor.cli import app
from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.errors import RobotsDisallowedError
from monitor.fetch import make_client
from monitor.pipeline.collect import fetch_policy
from monitor.robots import RobotsRules
from monitor.storage.tables import ArticleRow, RobotsTxtRow, SourceRow
from tests.support.pipeline import run_cycle

RSS = "application/rss+xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
BODY = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built."
)


def _rss(base: str, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Tarrow news {path}</title><link>{base}{path}</link><guid>{path}</guid>"
        f"<description>Summary of {path}.</description></item>"
        for path in paths
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{base}/</link><description>x</description>{items}</channel></rss>"
    ).encode()


def _page(path: str) -> bytes:
    return (
        f"<html lang='en'><head><title>Tarrow news {path}</title></head><body>"
        f"<article><h1>Tarrow news {path}</h1><p>{BODY}</p></article></body></html>"
    ).encode()


def _newsroom(server: LocalServer, robots: str, feed: str, pages: list[str]) -> None:
    server.table.set("/robots.txt", Route(content_type=TEXT, body=robots.encode()))
    server.table.set(feed, Route(content_type=RSS, body=_rss(server.base_url, pages)))
    for path in pages:
        server.table.set(path, Route(body=_page(path)))


def _config(server: LocalServer, feed: str, **source: Any) -> Any:
    return parse_config(
        {
            "sources": [{"name": "gazette", "url": server.url(feed), **source}],
            "topics": [{"name": "Tarrow", "query": "tarrow"}],
        }
    )


def _sources(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[str, str]:
    """``monitor sources``, as text and as JSON."""
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    text = CliRunner().invoke(app, ["sources"])
    shown = CliRunner().invoke(app, ["sources", "--json"])
    assert text.exit_code == 0, text.output
    assert shown.exit_code == 0, shown.output
    return text.output, shown.output


PRIVATE = "User-agent: *\nDisallow: /private/\n"


def test_a_disallowed_feed_is_not_requested_and_its_source_says_so(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _newsroom(local_server, PRIVATE, "/private/rss.xml", ["/news/a.html"])
    collection, _ = run_cycle(sessions, settings, _config(local_server, "/private/rss.xml"))

    assert local_server.table.requests_for("/private/rss.xml") == []
    [error] = collection.errors
    assert error.source == "gazette"
    assert error.error_type == RobotsDisallowedError.__name__
    assert "robots.txt disallows" in error.message
    with sessions() as s:
        row = s.scalars(select(SourceRow)).one()
        assert row.last_error_type == RobotsDisallowedError.__name__
        assert row.consecutive_failures == 1
    text, _ = _sources(db_url, monkeypatch, tmp_path)
    assert "DISALLOWED by robots.txt" in text


def test_a_source_set_to_ignore_robots_is_fetched_and_listed_as_such(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _newsroom(local_server, PRIVATE, "/private/rss.xml", ["/private/a.html"])
    config = _config(local_server, "/private/rss.xml", robots="ignore")
    collection, report = run_cycle(sessions, settings, config)

    assert collection.errors == ()
    assert len(local_server.table.requests_for("/private/a.html")) == 1
    assert local_server.table.requests_for("/robots.txt") == []
    assert report.stored == 1
    text, shown = _sources(db_url, monkeypatch, tmp_path)
    assert "robots.txt ignored (config)" in text
    assert json.loads(shown)[0]["robots"] == "ignore"


def test_a_disallowed_page_is_skipped_with_its_reason_and_keeps_the_feed_summary(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    pages = ["/private/a.html", "/news/b.html", "/news/c.html"]
    _newsroom(local_server, PRIVATE, "/rss.xml", pages)
    collection, _ = run_cycle(sessions, settings, _config(local_server, "/rss.xml"))

    assert local_server.table.requests_for("/private/a.html") == []
    assert len(local_server.table.requests_for("/news/b.html")) == 1
    assert len(local_server.table.requests_for("/robots.txt")) == 1  # one host, read once
    [error] = collection.errors
    assert error.error_type == RobotsDisallowedError.__name__
    assert error.url.endswith("/private/a.html")
    with sessions() as s:
        stored = {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}
    assert stored["a.html"].summary_only
    assert stored["a.html"].text == "Summary of /private/a.html."
    assert not stored["b.html"].summary_only


def test_the_rules_of_the_configured_user_agent_apply(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    robots = "User-agent: news-monitor\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    _newsroom(local_server, robots, "/rss.xml", ["/news/a.html"])
    config = _config(local_server, "/rss.xml")

    other = settings.model_copy(update={"user_agent": "otherbot/2.0"})
    collection, report = run_cycle(sessions, other, config)
    assert collection.errors == ()
    assert report.stored == 1

    local_server.table.set("/news/d.html", Route(body=_page("/news/d.html")))
    local_server.table.set(
        "/rss.xml", Route(content_type=RSS, body=_rss(local_server.base_url, ["/news/d.html"]))
    )
    assert settings.user_agent.startswith("news-monitor/")
    collection, _ = run_cycle(sessions, settings, config)
    assert [e.error_type for e in collection.errors] == [RobotsDisallowedError.__name__]
    assert local_server.table.requests_for("/news/d.html") == []


def test_the_rules_are_kept_between_cycles_until_they_expire(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server, PRIVATE, "/rss.xml", ["/private/a.html"])
    config = _config(local_server, "/rss.xml")
    run_cycle(sessions, settings, config)
    with sessions() as s:
        kept = s.scalars(select(RobotsTxtRow)).one()
    assert kept.origin == local_server.base_url
    assert kept.body == PRIVATE

    # The next cycle goes by the rules kept: robots.txt is not asked for again.
    local_server.table.set("/robots.txt", Route(content_type=TEXT, body=b"User-agent: *\n"))
    local_server.table.set(
        "/rss.xml", Route(content_type=RSS, body=_rss(local_server.base_url, ["/private/b.html"]))
    )
    local_server.table.set("/private/b.html", Route(body=_page("/private/b.html")))
    collection, _ = run_cycle(sessions, settings, config)
    assert len(local_server.table.requests_for("/robots.txt")) == 1
    assert [e.error_type for e in collection.errors] == [RobotsDisallowedError.__name__]

    # Once they expire, the next cycle reads robots.txt again.
    with sessions.begin() as s:
        s.scalars(select(RobotsTxtRow)).one().expires_at = datetime.now(UTC) - timedelta(hours=1)
    local_server.table.set(
        "/rss.xml", Route(content_type=RSS, body=_rss(local_server.base_url, ["/private/c.html"]))
    )
    local_server.table.set("/private/c.html", Route(body=_page("/private/c.html")))
    collection, _ = run_cycle(sessions, settings, config)
    assert len(local_server.table.requests_for("/robots.txt")) == 2
    assert collection.errors == ()
    assert len(local_server.table.requests_for("/private/c.html")) == 1


def test_the_rules_are_kept_for_a_day_then_read_again(
    settings: Settings, local_server: LocalServer
) -> None:
    local_server.table.set("/robots.txt", Route(content_type=TEXT, body=PRIVATE.encode()))
    policy = fetch_policy(settings)
    now = [datetime(2031, 5, 6, 12, 0, tzinfo=UTC)]
    rules = RobotsRules(policy, clock=lambda: now[0])
    page = local_server.url("/private/a.html")

    async def check() -> bool:
        async with make_client(policy) as client:
            return await rules.check(client, page) is None

    assert not asyncio.run(check())
    local_server.table.set("/robots.txt", Route(content_type=TEXT, body=b"User-agent: *\n"))
    now[0] += timedelta(hours=23)
    assert not asyncio.run(check())  # still the rules read first
    assert len(local_server.table.requests_for("/robots.txt")) == 1
    now[0] += timedelta(hours=2)
    assert asyncio.run(check())  # a day later: read again
    assert len(local_server.table.requests_for("/robots.txt")) == 2
