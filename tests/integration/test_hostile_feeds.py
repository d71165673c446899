"""Feeds written to break the monitor, run through a real cycle against a real HTTP server and
real databases: what they say must be stored in a form the rest of the pipeline can use, and a
healthy entry beside them must never be lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.inbound import MAX_SUMMARY_CHARS
from monitor.models import SourceErrorKind
from monitor.storage.tables import AlertRow, ArticleRow, SourceRow
from monitor.timeutil import as_utc
from tests.support.feeds import RSS, gazette_rss
from tests.support.pipeline import run_cycle
from tests.support.rawhttp import RawServer

LEAD = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built."
)
OTHER = (
    "The Kell Island school board approved a new science wing on Monday, funded by a regional "
    "grant of 2.4 million. Head teacher Oskar Lind said building work starts in the spring and "
    "that classes would move to the old library in the meantime."
)


def _page(title: str, body: str) -> bytes:
    return (
        f"<html lang='en'><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1><p>{body}</p><p>{body}</p></article></body></html>"
    ).encode()


def _config(server: LocalServer) -> Any:
    return parse_config(
        {
            "sources": [{"name": "gazette", "url": server.url("/rss.xml")}],
            "topics": [{"name": "Tarrow ferry", "query": "tarrow OR kell"}],
            "channels": [{"type": "webhook", "name": "hook", "url": server.url("/hook")}],
        }
    )


def _stored(sessions: sessionmaker[Session]) -> dict[str, ArticleRow]:
    with sessions() as s:
        return {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}


def test_entries_dated_before_1970_or_at_the_epoch_are_stored_dated_at_their_fetch(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    local_server.table.set("/year-one.html", Route(body=_page("Tarrow ferry closes", LEAD)))
    local_server.table.set("/iso-one.html", Route(body=_page("Kell school wing", OTHER)))
    local_server.table.set("/sixties.html", Route(body=_page("Tarrow quay", LEAD + " Again.")))
    local_server.table.set("/epoch.html", Route(body=_page("Kell gym", OTHER + " Again.")))
    items = [
        ("/year-one.html", "Tarrow ferry closes", "Mon, 01 Jan 0001 00:00:00 GMT"),
        ("/iso-one.html", "Kell school wing", "0001-01-01"),
        ("/sixties.html", "Tarrow quay", "Sat, 01 Jan 1966 00:00:00 GMT"),
        # the Unix epoch itself: a timestamp of 0, the placeholder of an unset date
        ("/epoch.html", "Kell gym", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ]
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=gazette_rss(base, items)))

    collection, report = run_cycle(sessions, settings, _config(local_server))

    assert not report.errors, report.errors
    assert not collection.errors, collection.errors
    stored = _stored(sessions)
    assert set(stored) == {"year-one.html", "iso-one.html", "sixties.html", "epoch.html"}
    for row in stored.values():
        assert row.published_at is None  # undated: placed at its fetch
        assert row.story_id is not None
    assert report.stored == 4
    assert all(as_utc(r.fetched_at).year >= 2024 for r in stored.values())


def test_a_feed_answering_304_unasked_is_a_recorded_transient_error(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    raw = RawServer().start()
    try:
        raw.set("/rss.xml", b"HTTP/1.1 304 Not Modified")
        config = parse_config(
            {
                "sources": [{"name": "liar", "url": raw.url("/rss.xml")}],
                "topics": [{"name": "Tarrow ferry", "query": "tarrow"}],
                "channels": [{"type": "webhook", "name": "hook", "url": raw.url("/hook")}],
            }
        )
        collection, _ = run_cycle(sessions, settings, config)
    finally:
        raw.stop()
    assert [(e.source, e.kind, e.error_type) for e in collection.errors] == [
        ("liar", SourceErrorKind.FETCH, "TransientFetchError")
    ]
    assert not [p for p in collection.polls if p.not_modified]
    with sessions() as s:
        row = s.scalar(select(SourceRow).where(SourceRow.name == "liar"))
    assert row is not None
    assert row.consecutive_failures == 1
    assert row.last_error_type == "TransientFetchError"


def _long_summary_feed(kind: str, base: str, summary: str) -> tuple[str, bytes]:
    """A feed of ``kind`` whose one entry (a page that is gone) carries ``summary``."""
    link, date = f"{base}/gone.html", "2025-03-04T08:00:00Z"
    if kind == "json":
        item = {"id": "1", "url": link, "title": "Tarrow ferry", "summary": summary}
        document = {"version": "https://jsonfeed.org/version/1.1", "title": "G", "items": [item]}
        return "application/feed+json", json.dumps({**document, "date_published": date}).encode()
    if kind == "atom":  # no <summary>: the entry's <content> stands in for one
        return "application/atom+xml", (
            "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>G</title>"
            f"<id>{base}/</id><updated>{date}</updated><entry><title>Tarrow ferry</title>"
            f"<id>{link}</id><link href='{link}'/><updated>{date}</updated>"
            f"<content type='html'>&lt;p&gt;{summary}&lt;/p&gt;</content></entry></feed>"
        ).encode()
    return RSS, (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>G</title>"
        f"<link>{base}/</link><description>x</description><item><title>Tarrow ferry</title>"
        f"<link>{link}</link><description>{summary}</description>"
        "<pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("kind", ["rss", "atom", "json"])
def test_summaries_are_cut_to_50000_characters_where_they_enter(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer, kind: str
) -> None:
    # The page is gone, so the article is stored with its feed's summary: a 1.4 MB one (the
    # test settings take bodies up to 2 MB).
    summary = "Tarrow ferry terminal closes " * 50_000
    assert len(summary) > 1_400_000
    local_server.table.set("/gone.html", Route(status=404, body=b"gone"))
    content_type, body = _long_summary_feed(kind, local_server.base_url, summary)
    local_server.table.set("/rss.xml", Route(content_type=content_type, body=body))

    _, report = run_cycle(sessions, settings, _config(local_server))

    assert report.stored == 1
    (row,) = _stored(sessions).values()
    assert row.summary_only
    assert len(row.text) <= MAX_SUMMARY_CHARS == 50_000
    assert len(row.text) > MAX_SUMMARY_CHARS - 100  # cut at a space near the end
    assert row.text.endswith("closes\u2026")
    assert summary.startswith(row.text[:-1])


def test_titles_are_cut_to_1000_characters_in_storage_and_alerts(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    base = local_server.base_url
    huge = "Tarrow ferry terminal closes " * 14_000  # 406 KB
    assert len(huge) > 400_000
    # The page's own title is as long; its text is a normal article.
    page = f"<html><head><title>{huge}</title></head><body><article><p>{LEAD}</p>"
    local_server.table.set("/page.html", Route(body=(page + f"<p>{OTHER}</p></article>").encode()))
    local_server.table.set("/gone.html", Route(status=404, body=b"gone"))
    items = [
        ("/page.html", huge, "Tue, 04 Mar 2025 08:00:00 GMT"),
        ("/gone.html", "Kell " + huge, "Tue, 04 Mar 2025 09:00:00 GMT"),
    ]
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=gazette_rss(base, items)))

    _, report = run_cycle(sessions, settings, _config(local_server))

    assert report.stored == 2
    assert report.alerts
    with sessions() as s:
        titles = [r.title for r in s.scalars(select(ArticleRow))]
        payloads = [json.dumps(r.payload) for r in s.scalars(select(AlertRow))]
    assert len(titles) == 2
    assert all(0 < len(t) <= 1000 for t in titles), [len(t) for t in titles]
    assert all(t.startswith("Tarrow ferry terminal closes") or t.startswith("Kell") for t in titles)
    assert payloads
    assert all(len(p) < 20_000 for p in payloads), [len(p) for p in payloads]
