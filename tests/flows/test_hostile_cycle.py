"""A real cycle beside a hostile server: budgets bound the cycle, healthy alerts still arrive.

The hostile source's pages drip, hang, reset, promise terabytes, answer garbage, ask for a
strange wait or redirect in a loop; the healthy newsroom's alerts must still be delivered to a
real webhook receiver in that cycle, which must end within its budget (measured loosely: the
bound is a correctness bound, far below what the hostile pages would take without budgets).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from monitor.demo.server import LocalServer
from monitor.models import ExtractedPage
from tests.support.hostile import HostileServer

pytestmark = pytest.mark.usefixtures("prefect_harness")

# Small budgets, so the test is quick; the page deadline is far above them, so that it is the
# budgets, not the per-request deadline, that end the dripping pages.
CYCLE_S = 8.0
SOURCE_S = 3.0
PAGE_DEADLINE_S = 120.0


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_EXTRACTION__WORKERS", "1")
    monkeypatch.setenv("MONITOR_HTTP__TIMEOUT_S", "1")
    monkeypatch.setenv("MONITOR_HTTP__TOTAL_TIMEOUT_S", str(PAGE_DEADLINE_S))
    monkeypatch.setenv("MONITOR_HTTP__MAX_BYTES", "2000000")
    monkeypatch.setenv("MONITOR_BUDGETS__CYCLE_S", str(CYCLE_S))
    monkeypatch.setenv("MONITOR_BUDGETS__SOURCE_S", str(SOURCE_S))


def _config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_hostile_source_cannot_hold_back_a_healthy_sources_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import monitor_cycle

    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom
    from monitor.storage.db import make_engine
    from monitor.storage.tables import ArticleRow

    _env(monkeypatch, tmp_path)
    entries = [
        *(f"/drip/{i}" for i in range(6)),
        *(f"/headers/{i}" for i in range(2)),
        *(f"/hang/{i}" for i in range(2)),
        "/reset/1",
        "/huge/1",
        "/malformed/1",
        "/loop/a",
    ]
    hooks = LocalServer().start()
    try:
        # A second host (another loopback address) answers 429 with a Retry-After no one can
        # read, and the wait it gets holds back the rest of its pages.
        with (
            HostileServer(entries) as hostile,
            HostileServer(["/toomany/1", "/drip/9", "/hang/9"], address="127.0.0.2") as other,
        ):
            newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
            config = newsroom.config(
                channels=[{"type": "webhook", "name": "hook", "url": hooks.url("/hook")}]
            )
            config["sources"] += [
                {"name": "Hostile", "url": f"{hostile.base_url}/feed.xml"},
                {"name": "Hostile too", "url": f"{other.base_url}/feed.xml"},
            ]
            released = newsroom.publish(0)
            expected = sum(a.expect_alert for a in released)
            began = time.monotonic()
            report = monitor_cycle(config_path=str(_config(tmp_path, config)))
            took = time.monotonic() - began
            served = dict(hostile.served + other.served)
        posts = [r for r in hooks.table.requests if r.method == "POST"]
    finally:
        hooks.stop()

    assert expected >= 1
    # Every kind of bad answer was asked for during the cycle...
    assert set(served) >= {"drip", "hang", "reset", "huge", "malformed", "toomany", "loop"}
    # ...and the healthy source's alerts were delivered by that same cycle.
    assert report["alerts_created"] == expected
    assert sum(len(json.loads(p.body)["alerts"]) for p in posts) == expected
    # Without the budgets the dripping pages would each run to the page deadline; the cycle
    # ends within its budget plus a generous margin for Prefect and extraction.
    assert took < CYCLE_S + 60 < PAGE_DEADLINE_S
    held = [e for e in report["errors"] if e["source"] == "Hostile too"]
    assert {e["error"] for e in held} >= {"TransientFetchError"}  # the 429
    errors = [e for e in report["errors"] if e["source"] == "Hostile"]
    over = [e for e in errors if e["error"] == "OverBudgetError"]
    assert {e["url"].split("/")[3] for e in over} >= {"drip"}
    assert all("left for the next cycle" in e["message"] for e in over)
    assert any("source's budget of 3s" in e["message"] for e in over)
    # Each hostile page is its own error, and none of them is stored as seen: the pages left
    # for later (over budget, reset, hang) are not stored at all.
    assert {e["url"].split("/")[3] for e in errors} >= {"drip", "hang", "reset", "huge", "loop"}
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'monitor.db'}")
    with engine.connect() as conn:
        stored = set(conn.scalars(select(ArticleRow.canonical_url)))
    engine.dispose()
    assert not {u for u in stored if "/drip/" in u or "/hang/" in u or "/reset/" in u}
    assert any(u.startswith(local_server.base_url) for u in stored)


def hang_on_marker(html: bytes | str, url: str, *, min_text_chars: int) -> ExtractedPage | None:
    """An extraction that never returns for a page whose URL is marked ``hang``; the others
    extract as the cycle's own reader would, without the detection reading."""
    from monitor.extract import extract_page

    if "hang" in url:
        while True:
            time.sleep(3600)
    return extract_page(html, url, min_text_chars=min_text_chars)


def test_a_page_that_hangs_its_extraction_worker_fails_alone_and_the_cycle_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import PrefectRunner
    from prefect import flow

    from monitor.config import get_settings, load_config
    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom
    from monitor.demo.server import Route
    from monitor.pipeline.cycle import compose
    from monitor.storage.db import migrated_engine, session_factory
    from monitor.storage.tables import ArticleRow

    _env(monkeypatch, tmp_path)
    monkeypatch.setenv("MONITOR_EXTRACTION__PAGE_WALL_TIMEOUT_S", "3")
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    config = newsroom.config(channels=[])
    newsroom.publish(0)
    page = (
        b"<html><head><title>Stuck page</title></head><body><article><p>"
        + b"This page makes the extractor loop for ever. " * 20
        + b"</p></article></body></html>"
    )
    local_server.table.set("/hang/page.html", Route(body=page))
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Stuck</title>'
        f"<item><title>Stuck page</title><link>{local_server.url('/hang/page.html')}</link>"
        "<description>The feed's summary of the stuck page.</description></item>"
        "</channel></rss>"
    ).encode()
    local_server.table.set("/stuck.xml", Route(body=feed, content_type="application/rss+xml"))
    config["sources"].append({"name": "Stuck", "url": local_server.url("/stuck.xml")})
    settings = get_settings()
    parsed = load_config(_config(tmp_path, config))

    @flow(name="cycle-with-a-hanging-page")
    def cycle() -> dict[str, Any]:
        with migrated_engine(settings.resolved_database_url()) as engine:
            report = compose(
                session_factory(engine),
                settings,
                parsed,
                PrefectRunner(),
                page_extractor=hang_on_marker,
            )
            with engine.connect() as conn:
                rows = conn.execute(select(ArticleRow.canonical_url, ArticleRow.summary_only))
                stored = {row.canonical_url: row.summary_only for row in rows}
        return {"report": report.as_dict(), "stored": stored}

    out = cycle()
    report, stored = out["report"], out["stored"]
    (failed,) = [e for e in report["errors"] if e["source"] == "Stuck"]
    assert failed["kind"] == "extract"
    assert failed["error"] == "ExtractionTimeoutError"
    assert "ran over 3s (wall clock)" in failed["message"]
    # The stuck page is kept with its feed summary; the newsroom's pages, extracted after the
    # hung worker was replaced, are stored with their text.
    assert stored[local_server.url("/hang/page.html")] is True
    others = {url: summary for url, summary in stored.items() if "/hang/" not in url}
    assert others
    assert not any(others.values())


def test_a_feed_listing_more_new_entries_than_the_cap_is_read_over_several_polls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import monitor_cycle

    from monitor.demo.server import Route
    from monitor.storage.db import make_engine
    from monitor.storage.tables import ArticleRow

    _env(monkeypatch, tmp_path)
    monkeypatch.setenv("MONITOR_BUDGETS__ENTRIES_PER_POLL", "2")
    items = []
    for i in range(5):
        path = f"/wide/{i}.html"
        body = f"<p>Report number {i} from the wide outlet, about harbour works. </p>" * 12
        local_server.table.set(
            path, Route(body=f"<html><body><article>{body}</article></body></html>".encode())
        )
        items.append(
            f"<item><title>Report {i}</title><link>{local_server.url(path)}</link>"
            f"<pubDate>Tue, 04 Mar 2031 0{i}:00:00 GMT</pubDate></item>"
        )
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wide</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()
    local_server.table.set("/wide.xml", Route(body=feed, content_type="application/rss+xml"))
    config = _config(
        tmp_path, {"sources": [{"name": "Wide", "url": local_server.url("/wide.xml")}]}
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'monitor.db'}")

    def stored() -> set[str]:
        with engine.connect() as conn:
            return {u.rsplit("/", 1)[1] for u in conn.scalars(select(ArticleRow.canonical_url))}

    try:
        first = monitor_cycle(config_path=str(config))
        # the newest two first
        assert stored() == {"3.html", "4.html"}
        second = monitor_cycle(config_path=str(config))
        third = monitor_cycle(config_path=str(config))
        assert stored() == {f"{i}.html" for i in range(5)}
        # only now are the feed's validators kept: the next poll is a 304
        fourth = monitor_cycle(config_path=str(config))
    finally:
        engine.dispose()
    assert [r["pages_fetched"] for r in (first, second, third)] == [2, 2, 1]
    assert "source Wide lists more than 2 new entries" in " ".join(first["source_health"])
    assert not [line for line in third["source_health"] if "new entries" in line]
    assert [r["sources_not_modified"] for r in (first, second, third, fourth)] == [0, 0, 0, 1]


def test_a_page_failing_every_cycle_is_parked_after_its_attempts_and_not_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import monitor_cycle
    from typer.testing import CliRunner

    from monitor.cli import app
    from monitor.demo.server import Route

    _env(monkeypatch, tmp_path)
    monkeypatch.setenv("MONITOR_BUDGETS__PAGE_ATTEMPTS", "2")
    body = "<p>The quay works at Tarrow begin on Monday, the harbour office said. </p>" * 10
    local_server.table.set("/p/ok.html", Route(body=f"<article>{body}</article>".encode()))
    local_server.table.set("/p/busy.html", Route(status=503, body=b"busy"))
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Flaky</title>'
        f"<item><title>Works</title><link>{local_server.url('/p/ok.html')}</link></item>"
        f"<item><title>Busy</title><link>{local_server.url('/p/busy.html')}</link></item>"
        "</channel></rss>"
    ).encode()
    local_server.table.set("/flaky.xml", Route(body=feed, content_type="application/rss+xml"))
    config = _config(
        tmp_path, {"sources": [{"name": "Flaky", "url": local_server.url("/flaky.xml")}]}
    )
    first = monitor_cycle(config_path=str(config))
    second = monitor_cycle(config_path=str(config))
    third = monitor_cycle(config_path=str(config))
    fourth = monitor_cycle(config_path=str(config))

    assert len(local_server.table.requests_for("/p/busy.html")) == 2  # then parked
    assert not any("parked" in line for line in first["source_health"])
    (line,) = [line for line in second["source_health"] if "parked" in line]
    assert "/p/busy.html" in line
    assert "parked after 2 failed cycles" in line
    assert "HTTP 503" in line
    assert third["pages_fetched"] == 0
    assert not [e for e in third["errors"] if "/p/busy.html" in e["url"]]
    # nothing is left for later any more: the feed's validators are kept, the next poll a 304
    assert fourth["sources_not_modified"] == 1

    runner = CliRunner()
    failed = runner.invoke(app, ["articles", "--failed", "--json"])
    assert failed.exit_code == 0, failed.output
    (row,) = json.loads(failed.output)
    assert row["url"] == local_server.url("/p/busy.html")
    assert row["attempts"] == 2
    assert row["parked_at"] is not None
    assert row["source"] == "Flaky"
    sources = runner.invoke(app, ["sources"])
    assert "1 page parked" in sources.output
