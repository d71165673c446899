"""The cycle's stages chained without Prefect, against a real HTTP server and real databases.

What a user relies on: a broken source becomes a recorded error and the rest of the cycle
completes; pages that cannot be extracted keep the feed's summary; transient failures are tried
again next cycle; a second cycle over the same feeds stores and alerts nothing new; one article
that fails in detection is reported without losing the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import monitor.pipeline.collect as collect_module
from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.extract_pool import Extractor
from monitor.models import SourceErrorKind
from monitor.pipeline.collect import Fetcher, Poll, fetch_policy, poll_sources
from monitor.storage.tables import AlertRow, ArticleRow, DeliveryRow, SourceRow
from monitor.stories.ingest import IngestResult, ingest
from monitor.timeutil import as_utc
from tests.support.pipeline import die_before_storing, run_cycle

RSS = "application/rss+xml; charset=utf-8"

LEAD = (
    "The harbour council of Tarrow voted on Tuesday to close the old ferry terminal by June, "
    "after engineers found corrosion in 14 of its 22 steel piles. Council leader Ines Varga "
    "said the ferry to Kell Island would move to the north quay while a new terminal is built."
)


def _page(title: str, body: str) -> bytes:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    return (
        f"<html lang='en'><head><title>{title}</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Copyright Tarrow Gazette</footer></body></html>"
    ).encode()


def _rss(base: str, items: list[tuple[str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{base}{path}</link><guid>{path}</guid>"
        f"<description>{summary}</description>"
        f"<pubDate>Tue, 04 Mar 2025 0{i}:00:00 GMT</pubDate></item>"
        for i, (path, t, summary) in enumerate(items)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{base}/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


ALL_FEEDS = ("a", "broken", "html", "down", "slow", "loop", "big")


def _newsroom(server: LocalServer) -> None:
    base = server.base_url
    follow_up = (
        LEAD + "\nOn Thursday the ferry operator Kell Lines said it would add a second boat, "
        "the Marta, from 3 April, and that fares would rise by 8 percent."
    )
    server.table.set("/a/ferry.html", Route(body=_page("Tarrow to close ferry terminal", LEAD)))
    server.table.set("/a/ferry-2.html", Route(body=_page("Kell Lines adds boat", follow_up)))
    server.table.set("/a/gone.html", Route(status=404, body=b"<html>gone</html>"))
    server.table.set("/a/flaky.html", Route(status=503, body=b"busy"))
    server.table.set(
        "/a/rss.xml",
        Route(
            content_type=RSS,
            body=_rss(
                base,
                [
                    ("/a/ferry.html", "Tarrow to close ferry terminal", "Terminal closes."),
                    ("/a/ferry-2.html", "Kell Lines adds boat", "A second boat."),
                    ("/a/gone.html", "Tarrow ferry timetable", "The ferry timetable changes."),
                    ("/a/flaky.html", "Tarrow quay works", "Quay works begin."),
                ],
            ),
        ),
    )
    server.table.set("/broken/rss.xml", Route(content_type=RSS, body=b"<rss><channel><item>"))
    server.table.set("/html/rss.xml", Route(body=b"<html><body>Maintenance</body></html>"))
    server.table.set("/down/rss.xml", Route(status=500, body=b"oops"))
    server.table.set("/slow/rss.xml", Route(content_type=RSS, delay_s=4.0, body=b""))
    server.table.set("/loop/rss.xml", Route(redirect_to="/loop/rss.xml"))
    server.table.set("/big/rss.xml", Route(content_type=RSS, body=b"<rss>" + b" " * 3_000_000))


def _config(server: LocalServer, hook: str, names: Sequence[str] = ALL_FEEDS) -> Any:
    return parse_config(
        {
            "sources": [{"name": n, "url": server.url(f"/{n}/rss.xml")} for n in names],
            "topics": [{"name": "Tarrow ferry", "query": "tarrow AND ferry"}],
            "channels": [{"type": "webhook", "name": "hook", "url": hook}],
        }
    )


def test_broken_sources_are_recorded_and_the_cycle_completes(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    config = _config(local_server, local_server.url("/hook"))
    collection, report = run_cycle(sessions, settings, config)

    failed = {e.source: e for e in collection.errors}
    assert set(failed) >= {"broken", "html", "down", "slow", "loop", "big"}
    assert failed["broken"].kind == SourceErrorKind.PARSE
    assert failed["html"].kind == SourceErrorKind.PARSE
    assert failed["down"].error_type == "TransientFetchError"
    assert failed["slow"].error_type == "TransientFetchError"
    assert failed["big"].error_type == "ResponseTooLargeError"
    assert failed["loop"].kind == SourceErrorKind.FETCH

    with sessions() as s:
        rows = {r.name: r for r in s.scalars(select(SourceRow))}
        stored = {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}
        alerts = list(s.scalars(select(AlertRow)))
        deliveries = list(s.scalars(select(DeliveryRow)))
    assert rows["a"].consecutive_failures == 0
    assert rows["a"].last_success_at is not None
    assert rows["a"].etag is None  # flaky.html is left for later: read the whole feed next time
    assert rows["down"].consecutive_failures == 1
    assert rows["down"].last_error_type
    # Extracted pages, the 404 kept as summary-only, the 503 left for the next cycle.
    assert set(stored) == {"ferry.html", "ferry-2.html", "gone.html"}
    assert stored["gone.html"].summary_only
    assert stored["gone.html"].text == "The ferry timetable changes."
    assert not stored["ferry.html"].summary_only
    assert "corrosion" in stored["ferry.html"].text
    assert report.stored == 3
    # Alerts are committed with their outbox rows before any send.
    assert alerts
    assert len(deliveries) == len(alerts)
    assert all(d.state == "pending" for d in deliveries)


def test_second_cycle_stores_and_alerts_nothing_new_and_retries_transient_pages(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    config = _config(local_server, local_server.url("/hook"), ["a"])
    run_cycle(sessions, settings, config)
    with sessions() as s:
        alerts_before = s.scalar(select(func.count()).select_from(AlertRow))
        feed_a = s.scalar(select(SourceRow).where(SourceRow.name == "a"))
        assert feed_a is not None
        # Its page flaky.html was left for later: the feed's validators are not stored, or the
        # next poll would get a 304 and never list the entry again.
        assert feed_a.etag is None
        assert feed_a.last_modified is None

    local_server.table.set(
        "/a/flaky.html",
        Route(body=_page("Tarrow quay works", "Quay works on the Tarrow north quay begin. " * 8)),
    )
    fetched_before = len(local_server.table.requests_for("/a/ferry.html"))
    collection, report = run_cycle(sessions, settings, config)
    a_poll = next(p for p in collection.polls if p.source.name == "a")
    assert not a_poll.not_modified  # read whole again
    # Known entries are skipped before their pages are fetched; the page that failed
    # transiently is fetched now.
    assert len(local_server.table.requests_for("/a/ferry.html")) == fetched_before
    assert [p.job.canonical_url.rsplit("/", 1)[-1] for p in collection.pages] == ["flaky.html"]
    assert report.stored == 1

    # Every entry stored: now the validators are kept, and the next poll costs a 304.
    collection, report = run_cycle(sessions, settings, config)
    a_poll = next(p for p in collection.polls if p.source.name == "a")
    assert a_poll.not_modified  # conditional GET with the stored ETag
    assert report.stored == 0
    assert collection.pages == ()
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ArticleRow)) == 4
        alerts_after = s.scalar(select(func.count()).select_from(AlertRow))
    assert alerts_after == alerts_before  # quay works are not the ferry topic's; nothing again


def test_a_cycle_that_dies_before_storing_its_entries_reads_the_feed_again(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    local_server.table.set("/a/flaky.html", Route(body=_page("Tarrow quay works", LEAD)))
    config = _config(local_server, local_server.url("/hook"), ["a"])
    # Polled and fetched, then the process died: nothing stored, validators not committed.
    died = die_before_storing(sessions, settings, config)
    assert len(died.pages) == 4

    collection, report = run_cycle(sessions, settings, config)
    a_poll = next(p for p in collection.polls if p.source.name == "a")
    assert not a_poll.not_modified
    assert len(collection.pages) == 4
    assert report.stored == 4


def test_one_failing_article_is_reported_and_the_rest_are_kept(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    config = _config(local_server, local_server.url("/hook"))

    def flaky_ingest(session: Session, article: Any, **kw: Any) -> IngestResult:
        if "ferry-2" in article.url:
            raise ValueError("cannot place this article")
        return ingest(session, article, **kw)

    _, report = run_cycle(sessions, settings, config, ingest_fn=flaky_ingest)
    assert [e.error_type for e in report.errors] == ["ValueError"]
    assert report.errors[0].kind == SourceErrorKind.DETECT
    with sessions() as s:
        urls = {u.rsplit("/", 1)[-1] for u in s.scalars(select(ArticleRow.url))}
    assert urls == {"ferry.html", "gone.html"}  # nothing of the failed article remains


@pytest.mark.parametrize("allow", [False])
def test_private_addresses_refused_unless_allowed(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer, allow: bool
) -> None:
    _newsroom(local_server)
    config = _config(local_server, local_server.url("/hook"))
    strict = settings.model_copy(update={"allow_private_network": allow})
    collection, report = run_cycle(sessions, strict, config)
    assert {e.error_type for e in collection.errors} == {"BlockedAddressError"}
    assert report.stored == 0
    assert local_server.table.requests == []


def test_an_outlet_with_a_news_sitemap_instead_of_a_feed(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    base = local_server.base_url
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>{base}/a/ferry.html</loc><news:news>"
        "<news:publication><news:name>Tarrow Gazette</news:name>"
        "<news:language>en</news:language></news:publication>"
        "<news:publication_date>2025-03-04T08:00:00Z</news:publication_date>"
        "<news:title>Tarrow to close ferry terminal</news:title></news:news></url>"
        f"<url><loc>{base}/a/ferry-2.html</loc><lastmod>2025-03-06</lastmod></url>"
        "</urlset>"
    )
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/s/news.xml</loc></sitemap></sitemapindex>"
    )
    local_server.table.set("/s/news.xml", Route(body=sitemap.encode(), content_type="text/xml"))
    local_server.table.set("/s/index.xml", Route(body=index.encode(), content_type="text/xml"))
    config = parse_config(
        {
            "sources": [
                {"name": "gazette", "url": local_server.url("/s/news.xml")},
                {"name": "gazette-index", "url": local_server.url("/s/index.xml")},
            ],
            "topics": [{"name": "Tarrow ferry", "query": "tarrow AND ferry"}],
            "channels": [{"type": "webhook", "name": "hook", "url": local_server.url("/hook")}],
        }
    )

    collection, report = run_cycle(sessions, settings, config)

    assert collection.errors == ()
    # The index is read into the entries of the sitemap it lists: the same two URLs.
    by_source = {p.source.name: p.feed for p in collection.polls}
    index_feed, news_feed = by_source["gazette-index"], by_source["gazette"]
    assert index_feed is not None
    assert news_feed is not None
    assert index_feed.kind == "sitemapindex"
    assert {e.url for e in index_feed.entries} == {e.url for e in news_feed.entries}
    assert report.stored == 2
    with sessions() as s:
        stored = {r.url.rsplit("/", 1)[-1]: r for r in s.scalars(select(ArticleRow))}
        assert s.scalar(select(func.count()).select_from(AlertRow)) >= 1
    assert set(stored) == {"ferry.html", "ferry-2.html"}
    assert not stored["ferry.html"].summary_only
    assert stored["ferry-2.html"].title == "Kell Lines adds boat"  # from the page: no news title
    assert stored["ferry.html"].published_at.replace(tzinfo=UTC) == datetime(
        2025, 3, 4, 8, tzinfo=UTC
    )

    # The sitemap is read again next cycle; its URLs are known and nothing is fetched twice.
    fetched = len(local_server.table.requests_for("/a/ferry.html"))
    _, again = run_cycle(sessions, settings, config)
    assert again.stored == 0
    assert len(local_server.table.requests_for("/a/ferry.html")) == fetched


def test_feeds_parsed_in_the_extraction_workers_poll_as_parsed_here(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    # The flow's poll parses the feeds in the extraction processes: same entries, same errors.
    _newsroom(local_server)
    config = _config(local_server, local_server.url("/hook"), ["a", "broken", "html", "down"])
    policy = fetch_policy(settings)
    now = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)

    def poll(extractor: Extractor) -> Poll:
        with Fetcher(policy) as fetcher:
            return poll_sources(
                sessions, fetcher, config.sources, now=now, parse=extractor.parse_feeds
            )

    with Extractor(1) as workers:
        workers.extract_many([("https://up.example/", b"<html></html>")])  # the worker is up
        there = poll(workers)
    here = poll(Extractor(0))  # the same feeds again: no validators stored in between

    def outcome(result: Poll) -> dict[str, Any]:
        return {
            p.source.name: p.feed.entries if p.feed else (p.error.kind, p.error.message)
            for p in result.polls
            if p.feed or p.error
        }

    assert set(outcome(there)) == {"a", "broken", "html", "down"}
    assert outcome(there) == outcome(here)
    assert outcome(there)["broken"][0] == SourceErrorKind.PARSE
    assert len(outcome(there)["a"]) == 4
    assert [j.canonical_url for j in there.jobs] == [j.canonical_url for j in here.jobs]


def test_a_feed_that_asks_to_wait_is_not_polled_before_then(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    _newsroom(local_server)
    local_server.table.set(
        "/down/rss.xml", Route(status=429, headers=(("Retry-After", "600"),), body=b"slow down")
    )
    config = _config(local_server, local_server.url("/hook"), ["a", "down"])
    policy = fetch_policy(settings)
    t0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)

    def poll(minutes: int) -> Poll:
        with Fetcher(policy) as fetcher:
            return poll_sources(
                sessions, fetcher, config.sources, now=t0 + timedelta(minutes=minutes)
            )

    def asked() -> int:
        return len(local_server.table.requests_for("/down/rss.xml"))

    first = poll(0)
    down = next(p for p in first.polls if p.source.name == "down")
    assert down.error is not None
    assert down.retry_after_s == 600
    assert asked() == 1

    later = poll(5)  # within the ten minutes asked for
    assert asked() == 1
    assert [s.name for s in later.deferred] == ["down"]
    assert "down" not in {p.source.name for p in later.polls}
    assert "a" in {p.source.name for p in later.polls}  # the others are polled as usual
    assert "not polled until 2031-05-06 08:10 UTC" in later.deferred[0].describe_wait()

    after = poll(11)
    assert asked() == 2
    assert after.deferred == ()
    with sessions() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == "down")).one()
        assert row.consecutive_failures == 2  # a refusal counts as a failed poll; a wait not

    # A feed cannot silence itself for longer than MONITOR_HTTP__MAX_RETRY_AFTER_S.
    local_server.table.set(
        "/down/rss.xml", Route(status=503, headers=(("Retry-After", "864000"),), body=b"")
    )
    poll(30)
    with sessions() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == "down")).one()
        assert row.retry_at is not None
        waited = as_utc(row.retry_at) - (t0 + timedelta(minutes=30))
    assert waited == timedelta(seconds=settings.http.max_retry_after_s)

    # Once it answers again, it is polled every cycle.
    local_server.table.set(
        "/down/rss.xml", Route(content_type=RSS, body=_rss(local_server.base_url, []))
    )
    poll(30 + 61)
    assert poll(30 + 62).deferred == ()
    with sessions() as s:
        row = s.scalars(select(SourceRow).where(SourceRow.name == "down")).one()
        assert row.retry_at is None
        assert row.consecutive_failures == 0


def test_a_feed_held_back_by_its_hosts_429_is_neither_failed_nor_polled(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(collect_module.SOURCE_ORDER, "shuffle", lambda items: None)  # config order
    _newsroom(local_server)
    local_server.table.set("/down/rss.xml", Route(status=429, headers=(("Retry-After", "120"),)))
    # Both feeds are on one host, asked one at a time: "down" first, then "a".
    config = _config(local_server, local_server.url("/hook"), ["down", "a"])
    one_at_a_time = replace(fetch_policy(settings), max_per_host=1)
    now = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
    with Fetcher(one_at_a_time) as fetcher:
        poll = poll_sources(sessions, fetcher, config.sources, now=now)
    by_name = {p.source.name: p for p in poll.polls}
    assert not by_name["down"].held_back
    assert by_name["a"].held_back
    assert local_server.table.requests_for("/a/rss.xml") == []
    with sessions() as s:
        rows = {r.name: r for r in s.scalars(select(SourceRow))}
    assert rows["down"].consecutive_failures == 1
    assert rows["a"].consecutive_failures == 0  # it was never asked
    assert rows["a"].last_polled_at is None
    assert rows["a"].retry_at is not None  # but it waits for its host like "down"
    assert as_utc(rows["a"].retry_at) <= now + timedelta(seconds=120)
