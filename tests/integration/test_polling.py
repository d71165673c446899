"""When sources are polled, against a real HTTP server on 127.0.0.1, on SQLite and PostgreSQL,
with an injected clock: adaptive polling by each source's rhythm (and ``poll_all``), the feed's
Cache-Control max-age and RSS ``<ttl>``, back-off by failure class once a source is failing,
and a source that went quiet, then active again (see monitor.polling)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, SourceConfig
from monitor.demo.server import LocalServer, Route
from monitor.pipeline.collect import Fetcher, Poll, commit_validators, fetch_policy, poll_sources
from monitor.polling import PollingRules
from monitor.storage.tables import SourceRow
from monitor.timeutil import as_utc

RSS = "application/rss+xml; charset=utf-8"
T0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
ADAPTIVE = PollingRules(adaptive=True)


def _rss(server: LocalServer, items: Sequence[tuple[str, datetime]], extra: str = "") -> bytes:
    entries = "".join(
        f"<item><title>Story {path}</title><link>{server.base_url}{path}</link>"
        f"<guid>{path}</guid><pubDate>{format_datetime(when, usegmt=True)}</pubDate></item>"
        for path, when in items
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Feed</title>"
        f"<link>{server.base_url}/</link><description>x</description>{extra}{entries}"
        "</channel></rss>"
    ).encode()


def _history(
    name: str, every: timedelta, count: int, newest: datetime
) -> list[tuple[str, datetime]]:
    return [(f"/{name}/old-{i}.html", newest - every * i) for i in range(count)]


class Monitor:
    """Polls like a cycle does (validators kept once a poll is done) at the time it is given."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        sources: Sequence[SourceConfig],
        rules: PollingRules,
        failing_after: int = 4,
    ) -> None:
        self.sessions = sessions
        self.policy = fetch_policy(settings)
        self.sources = sources
        self.rules = rules
        self.failing_after = failing_after

    def poll(self, now: datetime, *, poll_all: bool = False) -> Poll:
        with Fetcher(self.policy) as fetcher:
            poll = poll_sources(
                self.sessions,
                fetcher,
                self.sources,
                now=now,
                failing_after=self.failing_after,
                rules=self.rules,
                poll_all=poll_all,
            )
        commit_validators(self.sessions, poll.polls, [])
        return poll

    def row(self, name: str) -> SourceRow:
        with self.sessions() as session:
            return session.scalars(select(SourceRow).where(SourceRow.name == name)).one()


def _polled(poll: Poll) -> set[str]:
    return {p.source.name for p in poll.polls}


def test_adaptive_polling_follows_each_sources_rhythm(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    # "wire" has published every four hours and now publishes every hour; "daily" published
    # twice a day, and then no more.
    wire = _history("wire", timedelta(hours=4), 8, T0)
    daily = _history("daily", timedelta(hours=12), 5, T0 - timedelta(hours=12))
    local_server.table.set("/wire/rss.xml", Route(content_type=RSS, body=_rss(local_server, wire)))
    local_server.table.set(
        "/daily/rss.xml", Route(content_type=RSS, body=_rss(local_server, daily))
    )
    sources = [
        SourceConfig(name=n, url=local_server.url(f"/{n}/rss.xml")) for n in ("wire", "daily")
    ]
    monitor = Monitor(sessions, settings, sources, ADAPTIVE)

    polled: dict[str, list[datetime]] = {"wire": [], "daily": []}
    waits: dict[str, list[timedelta]] = {"wire": [], "daily": []}
    for step in range(72):  # every hour for three days
        now = T0 + timedelta(hours=step)
        if step:  # a new entry every hour; those read before are known (listed no more)
            since = (polled["wire"][-1] - T0) // timedelta(hours=1)
            fresh = [
                (f"/wire/{i}.html", T0 + timedelta(hours=i, minutes=-1))
                for i in range(since + 1, step + 1)
            ]
            local_server.table.set(
                "/wire/rss.xml", Route(content_type=RSS, body=_rss(local_server, fresh))
            )
        poll = monitor.poll(now)
        for name in _polled(poll):
            polled[name].append(now)
            row = monitor.row(name)
            assert row.next_poll_at is not None
            waits[name].append(as_utc(row.next_poll_at) - now)
        resting = [s.name for s in poll.deferred]
        assert sorted(resting + sorted(_polled(poll))) == ["daily", "wire"]
        if resting:
            assert poll.waits == (
                f"{len(resting)} source{'' if len(resting) == 1 else 's'} not due yet by their "
                "rhythm (adaptive polling; "
                "`monitor run --all` polls every source)",
            )

    # The busier feed is polled more and more often.
    assert waits["wire"] == sorted(waits["wire"], reverse=True)
    assert waits["wire"][0] == timedelta(hours=2)  # six a day: every other hour
    assert waits["wire"][-1] < timedelta(hours=1, minutes=15)
    assert 30 <= len(polled["wire"]) < 72
    assert 11 < (monitor.row("wire").new_per_day or 0) < 14
    # The one gone quiet is polled seldom, and less and less often.
    assert 3 <= len(polled["daily"]) <= 12
    assert waits["daily"] == sorted(waits["daily"])
    assert waits["daily"][-1] > waits["daily"][0] * 1.2

    # poll_all (monitor run --all) polls it anyway.
    due = as_utc(monitor.row("daily").next_poll_at)
    assert "daily" not in _polled(monitor.poll(due - timedelta(minutes=2)))
    assert "daily" in _polled(monitor.poll(due - timedelta(minutes=1), poll_all=True))


def test_without_adaptive_polling_every_source_is_polled_every_cycle(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    local_server.table.set(
        "/weekly/rss.xml",
        Route(
            content_type=RSS, body=_rss(local_server, _history("weekly", timedelta(days=3), 3, T0))
        ),
    )
    sources = [SourceConfig(name="weekly", url=local_server.url("/weekly/rss.xml"))]
    monitor = Monitor(sessions, settings, sources, PollingRules())
    for step in range(3):
        assert _polled(monitor.poll(T0 + timedelta(minutes=step))) == {"weekly"}
    row = monitor.row("weekly")
    assert row.next_poll_at is None
    assert row.new_per_day is not None  # the rhythm is kept all the same


def test_the_feeds_cache_lifetime_is_honoured(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    busy = _history("busy", timedelta(minutes=5), 10, T0)
    local_server.table.set(
        "/max-age/rss.xml",
        Route(
            content_type=RSS,
            body=_rss(local_server, busy),
            headers=(("Cache-Control", "public, max-age=7200"),),
        ),
    )
    local_server.table.set(
        "/ttl/rss.xml",
        Route(content_type=RSS, body=_rss(local_server, busy, extra="<ttl>180</ttl>")),
    )
    local_server.table.set("/plain/rss.xml", Route(content_type=RSS, body=_rss(local_server, busy)))
    sources = [
        SourceConfig(name=n, url=local_server.url(f"/{n}/rss.xml"))
        for n in ("max-age", "ttl", "plain")
    ]
    monitor = Monitor(sessions, settings, sources, ADAPTIVE)
    poll = monitor.poll(T0)
    by_name = {p.source.name: p for p in poll.polls}
    assert by_name["max-age"].cache_for == timedelta(hours=2)
    assert by_name["ttl"].cache_for == timedelta(hours=3)
    assert by_name["plain"].cache_for is None

    def wait(name: str) -> timedelta:
        return as_utc(monitor.row(name).next_poll_at) - T0

    assert wait("plain") == ADAPTIVE.min_interval  # a busy feed: as often as allowed
    assert wait("max-age") == timedelta(hours=2)
    assert wait("ttl") == timedelta(hours=3)
    later = monitor.poll(T0 + timedelta(hours=1))
    assert _polled(later) == {"plain"}
    # The 304 of an unchanged feed carries its lifetime too.
    again = monitor.poll(T0 + timedelta(hours=2, minutes=1))
    assert _polled(again) == {"plain", "max-age"}
    assert next(p for p in again.polls if p.source.name == "max-age").not_modified


def test_a_failing_source_backs_off_by_the_class_of_its_failure(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    good = Route(
        content_type=RSS, body=_rss(local_server, _history("x", timedelta(hours=1), 3, T0))
    )
    local_server.table.set("/busy/rss.xml", Route(status=503, body=b"busy"))
    local_server.table.set("/html/rss.xml", Route(body=b"<html><body>Our news</body></html>"))
    local_server.table.set("/gone/rss.xml", Route(status=410, body=b"gone"))
    local_server.table.set("/fine/rss.xml", good)
    names = ("busy", "html", "gone", "fine")
    sources = [SourceConfig(name=n, url=local_server.url(f"/{n}/rss.xml")) for n in names]
    # TLS asked of a server that speaks plain HTTP: the handshake fails.
    tls_url = local_server.url("/fine/rss.xml").replace("http://", "https://")
    sources.append(SourceConfig(name="tls", url=tls_url))
    monitor = Monitor(sessions, settings, sources, PollingRules(), failing_after=2)

    # Below the threshold a failing source is polled every cycle, as today.
    first = monitor.poll(T0)
    assert _polled(first) == {*names, "tls"}
    assert monitor.row("gone").next_poll_at is None
    classes = {n: monitor.row(n).failure_class for n in (*names, "tls")}
    assert classes == {
        "busy": "temporary",
        "html": "soft",
        "gone": "hard",
        "fine": None,
        "tls": "hard",
    }
    second = monitor.poll(T0 + timedelta(minutes=1))
    assert {c.source for c in second.health if c.status == "failing"} == {
        "busy",
        "html",
        "gone",
        "tls",
    }
    failing_at = T0 + timedelta(minutes=1)
    base = {"busy": 15, "html": 30, "gone": 60, "tls": 60}
    for name, minutes in base.items():
        waited = as_utc(monitor.row(name).next_poll_at) - failing_at
        assert timedelta(minutes=minutes * 0.8) <= waited <= timedelta(minutes=minutes * 1.2)

    # Meanwhile, they are not polled; the summary says why.
    third = monitor.poll(T0 + timedelta(minutes=5))
    assert _polled(third) == {"fine"}
    assert any("backing off after 2 failed polls in a row (hard)" in w for w in third.waits)
    assert len(local_server.table.requests_for("/gone/rss.xml")) == 2

    # Once due, a further failure doubles the wait.
    at = T0 + timedelta(hours=2)
    monitor.poll(at)
    waited = as_utc(monitor.row("gone").next_poll_at) - at
    assert timedelta(minutes=96) <= waited <= timedelta(minutes=144)
    assert monitor.row("gone").consecutive_failures == 3

    # Recovery resets it: polled every cycle again.
    local_server.table.set("/gone/rss.xml", good)
    at = at + timedelta(hours=3)
    recovered = monitor.poll(at)
    assert ("gone", "recovered") in {(c.source, c.status) for c in recovered.health}
    row = monitor.row("gone")
    assert (row.next_poll_at, row.failure_class, row.consecutive_failures) == (None, None, 0)
    assert "gone" in _polled(monitor.poll(at + timedelta(minutes=1)))


def test_a_source_that_went_quiet_is_reported_once_and_active_again_once(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    history = _history("desk", timedelta(hours=6), 8, T0)  # four a day
    local_server.table.set(
        "/desk/rss.xml", Route(content_type=RSS, body=_rss(local_server, history))
    )
    sources = [SourceConfig(name="desk", url=local_server.url("/desk/rss.xml"))]
    monitor = Monitor(sessions, settings, sources, PollingRules())

    changes = []
    for hours in range(0, 96, 4):  # four days, polled every four hours, nothing new
        poll = monitor.poll(T0 + timedelta(hours=hours))
        changes.append([(c.status, hours) for c in poll.health])
    reported = [c for cycle in changes for c in cycle]
    assert reported == [("quiet", 52)]  # past eight intervals (48 h) and the 48-hour floor
    assert monitor.row("desk").quiet

    # New entries again: active again, once.
    fresh = [("/desk/back.html", T0 + timedelta(hours=99)), *history]
    local_server.table.set("/desk/rss.xml", Route(content_type=RSS, body=_rss(local_server, fresh)))
    back = monitor.poll(T0 + timedelta(hours=100))
    assert [(c.status, c.describe()) for c in back.health] == [
        ("active", "source desk is active again: it lists new entries")
    ]
    assert monitor.row("desk").quiet is False
    later = monitor.poll(T0 + timedelta(hours=101))
    assert later.health == ()


def test_the_quiet_change_says_when_and_what_was_usual(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    history = _history("desk", timedelta(hours=6), 8, T0)
    local_server.table.set(
        "/desk/rss.xml", Route(content_type=RSS, body=_rss(local_server, history))
    )
    sources = [SourceConfig(name="desk", url=local_server.url("/desk/rss.xml"))]
    monitor = Monitor(sessions, settings, sources, replace(PollingRules(), quiet_min=timedelta(0)))
    monitor.poll(T0)
    poll = monitor.poll(T0 + timedelta(hours=49))
    (quiet,) = poll.health
    assert quiet.status == "quiet"
    assert quiet.last_new_entry_at == T0
    assert quiet.new_per_day == pytest.approx(4.0, rel=0.01)
    assert quiet.describe() == (
        "source desk went quiet: nothing new since 2031-05-06 08:00 UTC, "
        "though it used to publish ~4 new/day"
    )
