"""The freshness guard over whole cycles, against a real HTTP server and real databases.

What an operator relies on when a monitor runs for months: an entry dated ahead of the fetch is
dated at the fetch (and says so in ``monitor explain``); an entry older than the freshness
window at first sight, an undated entry of an archive dump, and an entry that resurfaces
(re-dated, re-ordered, or copied under a new URL) are stored without alerting, while a fresh
entry of the same poll still alerts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.cli.stories import register as register_stories
from monitor.config import FreshnessSettings, Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.storage.tables import AlertRow, ArticleRow
from monitor.timeutil import as_utc
from tests.support.cli import stage_app
from tests.support.pipeline import run_cycle

RSS = "application/rss+xml; charset=utf-8"

# Distinct stories, none a copy of another: each one alerts when it may.
TEXTS = {
    "ferry": (
        "Tarrow ferry terminal to close",
        "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by "
        "June, after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines "
        "Varga said the ferry to Kell Island would move to the north quay while a new terminal "
        "is built.",
    ),
    "library": (
        "Tarrow library reopens",
        "The public library of Tarrow reopened its doors on Saturday after a renovation that "
        "lasted two years and cost 3.4 million euros. Librarian Oskar Brandt said the reading "
        "room now holds 40,000 books and a children's wing named after the poet Hella Moor.",
    ),
    "marathon": (
        "Tarrow marathon moves to autumn",
        "Organisers of the Tarrow marathon announced that the race will move from April to "
        "October because of heat records set last spring. Race director Pia Lund expects "
        "6,500 runners and a new route along the river Senn past the old brewery.",
    ),
    "school": (
        "Tarrow school gets solar roof",
        "Pupils at the Tarrow grammar school will learn under a solar roof from next term: the "
        "district approved 220 panels worth 180,000 euros. Headteacher Mira Falk said the "
        "savings would pay for a chemistry laboratory and two extra teachers.",
    ),
}


def _page(title: str, body: str) -> bytes:
    return (
        f"<html lang='en'><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1><p>{body}</p></article></body></html>"
    ).encode()


def _rss(base: str, items: list[tuple[str, datetime | None]]) -> bytes:
    """A feed listing ``(path, date)``; an entry dated ``None`` has no pubDate."""
    entries = "".join(
        f"<item><title>{path}</title><link>{base}{path}</link><guid>{path}</guid>"
        + (f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>" if when else "")
        + "</item>"
        for path, when in items
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{base}/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


def _serve(server: LocalServer, items: list[tuple[str, datetime | None]]) -> None:
    server.table.set("/rss.xml", Route(content_type=RSS, body=_rss(server.base_url, items)))


def _story(server: LocalServer, path: str, key: str) -> None:
    title, body = TEXTS[key]
    server.table.set(path, Route(body=_page(title, body)))


def _config(server: LocalServer) -> Any:
    return parse_config(
        {
            "sources": [{"name": "gazette", "url": server.url("/rss.xml")}],
            "topics": [{"name": "Tarrow", "query": "tarrow"}],
            "channels": [{"type": "webhook", "name": "hook", "url": server.url("/hook")}],
        }
    )


def _guarded(settings: Settings, **values: Any) -> Settings:
    rules = FreshnessSettings(**{"max_entry_age_days": 7.0, **values})
    return settings.model_copy(update={"freshness": rules})


def _articles(sessions: sessionmaker[Session]) -> dict[str, ArticleRow]:
    with sessions() as s:
        return {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}


def _alerted(sessions: sessionmaker[Session]) -> set[str]:
    """The pages (last path segment) that alerts were raised on."""
    with sessions() as s:
        rows = s.execute(
            select(ArticleRow.url).join(AlertRow, AlertRow.article_id == ArticleRow.id)
        ).scalars()
        return {url.rsplit("/", 1)[-1] for url in rows}


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


def test_stale_entries_are_stored_silently_and_a_fresh_one_still_alerts(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    now: datetime,
) -> None:
    _story(local_server, "/n/ferry.html", "ferry")
    _story(local_server, "/n/library.html", "library")
    _story(local_server, "/n/marathon.html", "marathon")
    _story(local_server, "/n/school.html", "school")
    _serve(
        local_server,
        [
            ("/n/ferry.html", now - timedelta(hours=2)),  # fresh
            ("/n/library.html", now - timedelta(days=30)),  # older than the window
            ("/n/marathon.html", now + timedelta(days=3)),  # dated ahead of the fetch
            ("/n/school.html", None),  # undated, in a first poll: an archive dump
        ],
    )
    _, report = run_cycle(sessions, _guarded(settings), _config(local_server))

    stored = _articles(sessions)
    assert set(stored) == {"ferry.html", "library.html", "marathon.html", "school.html"}
    assert _alerted(sessions) == {"ferry.html", "marathon.html"}
    assert stored["ferry.html"].alert_hold is None
    assert "more than 7 days" in (stored["library.html"].alert_hold or "")
    assert stored["school.html"].alert_hold == "undated entry in an archive dump"
    # Held articles still join stories: placed like any other.
    assert stored["library.html"].story_id is not None
    assert any("stale, no alert" in line for line in report.lines)


def test_a_future_date_is_clamped_to_the_fetch_and_shown_by_explain(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    now: datetime,
) -> None:
    ahead = (now + timedelta(days=3)).replace(microsecond=0)
    _story(local_server, "/n/marathon.html", "marathon")
    _serve(local_server, [("/n/marathon.html", ahead)])
    # The guard's age rule is off (the default): the clamp applies regardless.
    run_cycle(sessions, settings, _config(local_server))

    row = _articles(sessions)["marathon.html"]
    assert row.published_at is not None
    assert as_utc(row.published_at) <= datetime.now(UTC)
    assert as_utc(row.published_at) == as_utc(row.fetched_at)
    assert row.feed_date is not None
    assert as_utc(row.feed_date) == ahead
    assert _alerted(sessions) == {"marathon.html"}

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    runner = CliRunner()
    text = runner.invoke(stage_app(register_stories), ["explain", str(row.id)])
    assert text.exit_code == 0, text.output
    assert f"its feed dated it {ahead:%Y-%m-%d %H:%M} UTC" in text.output
    shown = runner.invoke(stage_app(register_stories), ["explain", str(row.id), "--json"])
    assert json.loads(shown.output)["feed_date"] == ahead.isoformat()


def test_a_resurfaced_entry_never_alerts_again(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    now: datetime,
) -> None:
    _story(local_server, "/n/ferry.html", "ferry")
    _story(local_server, "/n/library.html", "library")
    _serve(
        local_server,
        [
            ("/n/ferry.html", now - timedelta(hours=3)),
            ("/n/library.html", now - timedelta(hours=2)),
        ],
    )
    guarded = _guarded(settings)
    config = _config(local_server)
    run_cycle(sessions, guarded, config)
    assert _alerted(sessions) == {"ferry.html", "library.html"}
    with sessions() as s:
        alerts_before = len(s.scalars(select(AlertRow)).all())

    # The feed re-dates its old entries to now, lists them in another order, and re-publishes
    # one of them under a new URL; one new story comes with them.
    _story(local_server, "/n/ferry-again.html", "ferry")
    _story(local_server, "/n/school.html", "school")
    _serve(
        local_server,
        [
            ("/n/school.html", now),
            ("/n/library.html", now),
            ("/n/ferry-again.html", now),
            ("/n/ferry.html", now),
        ],
    )
    run_cycle(sessions, guarded, config)

    stored = _articles(sessions)
    assert stored["ferry-again.html"].duplicate_of_id == stored["ferry.html"].id
    assert _alerted(sessions) == {"ferry.html", "library.html", "school.html"}
    with sessions() as s:
        assert len(s.scalars(select(AlertRow)).all()) == alerts_before + 1


def test_an_archive_dump_alerts_only_inside_the_freshness_window(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    now: datetime,
) -> None:
    _story(local_server, "/n/ferry.html", "ferry")
    _serve(local_server, [("/n/ferry.html", now - timedelta(hours=5))])
    guarded = _guarded(settings, archive_entries=4)
    config = _config(local_server)
    run_cycle(sessions, guarded, config)  # the source's first poll: its feed is known now
    assert _alerted(sessions) == {"ferry.html"}

    # Later the feed dumps its archive: more new entries than archive_entries at once, old and
    # undated, and one story inside the window among them.
    _story(local_server, "/n/library.html", "library")
    _story(local_server, "/n/school.html", "school")
    _story(local_server, "/n/marathon.html", "marathon")
    items: list[tuple[str, datetime | None]] = [
        ("/n/ferry.html", now - timedelta(hours=5)),
        ("/n/marathon.html", now - timedelta(hours=1)),
        ("/n/library.html", now - timedelta(days=400)),
        ("/n/school.html", None),
    ]
    for n in range(3):
        path = f"/n/archive-{n}.html"
        local_server.table.set(path, Route(body=_page(*TEXTS["library"])))
        items.append((path, now - timedelta(days=200 + n)))
    _serve(local_server, items)
    run_cycle(sessions, guarded, config)

    stored = _articles(sessions)
    assert len(stored) == 7
    assert _alerted(sessions) == {"ferry.html", "marathon.html"}
    assert stored["school.html"].alert_hold == "undated entry in an archive dump"
    assert stored["library.html"].alert_hold is not None
