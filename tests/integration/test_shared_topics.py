"""Two configs (deployments) on one database: each config's topics alert on every article, whoever
stored it, exactly once per (topic, development), whatever the order the two poll in; a feed's
validators are shared by every config polling its URL.

A real HTTP newsroom publishes a ferry story and a strike story over three steps, with
follow-ups and exact copies of each other's articles across feeds; config A and config B poll
overlapping sources (one feed under two names) and have different topics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.storage.tables import AlertRow, ArticleRow, DevelopmentRow, FeedValidatorRow
from tests.support.pipeline import run_cycle

RSS = "application/rss+xml; charset=utf-8"

FERRY_1 = (
    "Ferry terminal to close",
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built.",
)
FERRY_2 = (
    "Kell Lines adds a second ferry",
    FERRY_1[1] + "\nOn Thursday the ferry operator Kell Lines said it would add a second boat, "
    "the Marta, from 3 April, and that fares would rise by 8 percent.",
)
STRIKE_1 = (
    "Dockworkers strike in Ostravel",
    "Dockworkers in the northern port of Ostravel walked out on Monday in a strike over pay, "
    "leaving 31 container ships waiting offshore. The Ostravel Port Workers Union said the "
    "stoppage would last until the port authority reopened wage talks.",
)
STRIKE_2 = (
    "Ostravel strike talks set for Friday",
    STRIKE_1[1] + "\nOn Wednesday mediator Oskar Lind said both sides had agreed to meet on "
    "Friday 14 March, and that the union had cut its demand to a raise of 6 percent.",
)

# What each feed carries after each step (cumulative): (path, piece). A copy is the same page
# at another outlet's URL.
FEEDS: dict[str, list[list[tuple[str, tuple[str, str]]]]] = {
    "a": [
        [],
        [("/a/ferry.html", FERRY_1)],
        [("/a/ferry.html", FERRY_1), ("/a/strike-copy.html", STRIKE_1)],
        [("/a/ferry.html", FERRY_1), ("/a/strike-copy.html", STRIKE_1)],
    ],
    "b": [
        [],
        [("/b/strike.html", STRIKE_1)],
        [("/b/strike.html", STRIKE_1), ("/b/ferry-copy.html", FERRY_1)],
        [
            ("/b/strike.html", STRIKE_1),
            ("/b/ferry-copy.html", FERRY_1),
            ("/b/strike-2.html", STRIKE_2),
        ],
    ],
    "wire": [[], [], [("/wire/ferry-2.html", FERRY_2)], [("/wire/ferry-2.html", FERRY_2)]],
}

# Every (topic, development) each config's topics must hear of, by the development's title.
EXPECTED = {
    "A ferry": {FERRY_1[0], FERRY_2[0]},
    "B strike": {STRIKE_1[0], STRIKE_2[0]},
    "B ferry": {FERRY_1[0], FERRY_2[0]},
}


def _page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    return (
        f"<html lang='en'><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraphs}</article></body></html>"
    ).encode()


def _rss(base: str, items: Sequence[tuple[str, tuple[str, str]]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link><guid>{path}</guid>"
        f"<description>{title}.</description>"
        f"<pubDate>Tue, 04 Mar 2025 0{i}:00:00 GMT</pubDate></item>"
        for i, (path, (title, _)) in enumerate(items)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>News</title>"
        f"<link>{base}/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


def _publish(server: LocalServer, step: int) -> None:
    for feed, steps in FEEDS.items():
        for path, (title, body) in steps[step]:
            server.table.set(path, Route(body=_page(title, body)))
        server.table.set(
            f"/{feed}/rss.xml", Route(content_type=RSS, body=_rss(server.base_url, steps[step]))
        )


def _configs(server: LocalServer) -> dict[str, Any]:
    hook = server.url("/hook")
    channels = [{"type": "webhook", "name": "hook", "url": hook}]
    return {
        "A": parse_config(
            {
                "sources": [
                    {"name": "a-news", "url": server.url("/a/rss.xml")},
                    {"name": "wire", "url": server.url("/wire/rss.xml")},
                ],
                "topics": [{"name": "A ferry", "query": "ferry"}],
                "channels": channels,
            }
        ),
        "B": parse_config(
            {
                "sources": [
                    {"name": "b-news", "url": server.url("/b/rss.xml")},
                    # The same feed as A's "wire", under another name.
                    {"name": "newswire", "url": server.url("/wire/rss.xml")},
                ],
                "topics": [
                    {"name": "B strike", "query": "strike"},
                    {"name": "B ferry", "query": "ferry OR kell"},
                ],
                "channels": channels,
            }
        ),
    }


# (config, newsroom step) in the order the cycles run. Both deployments start before the news.
ORDERS = {
    "A then B": [("A", 0), ("B", 0), ("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3), ("B", 3)],
    "B then A": [("B", 0), ("A", 0), ("B", 1), ("A", 1), ("B", 2), ("A", 2), ("B", 3), ("A", 3)],
    "interleaved": [("A", 0), ("B", 0), ("A", 1), ("A", 2), ("B", 2), ("B", 3), ("A", 3)],
}


@pytest.mark.parametrize("order", list(ORDERS))
def test_each_config_hears_every_development_once_whoever_stored_it(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer, order: str
) -> None:
    configs = _configs(local_server)
    wire_polls: list[tuple[str, int, bool]] = []
    published = -1
    for name, step in ORDERS[order]:
        if step != published:
            _publish(local_server, step)
            published = step
        collection, report = run_cycle(sessions, settings, configs[name])
        assert report.errors == []
        wire_polls += [
            (name, step, p.not_modified)
            for p in collection.polls
            if p.source.url.endswith("/wire/rss.xml")
        ]

    with sessions() as session:
        rows = session.execute(
            select(AlertRow.topic, AlertRow.development_id, ArticleRow.title)
            .join(DevelopmentRow, DevelopmentRow.id == AlertRow.development_id)
            .join(ArticleRow, ArticleRow.id == DevelopmentRow.article_id)
        ).all()
        validators = session.scalars(select(FeedValidatorRow.url)).all()
    per_key = Counter((topic, dev) for topic, dev, _ in rows)
    assert [key for key, n in per_key.items() if n > 1] == []  # exactly once
    heard = {topic: {title for t, _, title in rows if t == topic} for topic in EXPECTED}
    assert heard == EXPECTED
    assert len(rows) == sum(len(titles) for titles in EXPECTED.values())

    # One set of validators per feed URL, whatever each config calls the feed: a config polling
    # the wire after the other one saw its change gets a 304.
    assert validators.count(local_server.url("/wire/rss.xml")) == 1
    after_the_other = [
        (second, step, not_modified)
        for (first, step, _), (second, same_step, not_modified) in pairwise(wire_polls)
        if first != second and step == same_step and step > 0
    ]
    assert after_the_other
    assert all(not_modified for _, _, not_modified in after_the_other), after_the_other


def test_a_topic_added_later_starts_at_the_newest_article(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    """A new topic is not flooded with the archive: it hears of developments stored after its
    first cycle only."""
    configs = _configs(local_server)
    _publish(local_server, 2)
    run_cycle(sessions, settings, configs["A"])
    later = parse_config(
        {
            "sources": [{"name": "b-news", "url": local_server.url("/b/rss.xml")}],
            "topics": [{"name": "late strike", "query": "strike"}],
        }
    )
    run_cycle(sessions, settings, later)  # stores nothing new: STRIKE_1 is A's copy
    _publish(local_server, 3)
    run_cycle(sessions, settings, later)
    with sessions() as session:
        titles = session.scalars(
            select(ArticleRow.title)
            .join(AlertRow, AlertRow.article_id == ArticleRow.id)
            .where(AlertRow.topic == "late strike")
        ).all()
    assert titles == [STRIKE_2[0]]


def test_a_renamed_source_keeps_its_feed_validators(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _publish(local_server, 1)
    url = local_server.url("/a/rss.xml")
    run_cycle(sessions, settings, parse_config({"sources": [{"name": "gazette", "url": url}]}))
    renamed = parse_config({"sources": [{"name": "tarrow-gazette", "url": url}]})
    collection, _ = run_cycle(sessions, settings, renamed)
    assert [p.not_modified for p in collection.polls] == [True]
    assert local_server.table.requests_for("/a/rss.xml")[-1].headers.get("if-none-match")
