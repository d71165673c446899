"""The Prefect flow end to end: demo newsroom over HTTP, SQLite (and PostgreSQL), real SMTP and
webhook receiver.

Runs under one session-scoped ``prefect_test_harness``. The newsroom releases its timeline step
by step; after each step one real cycle runs. Checks what users rely on: alerts arrive for new
developments only, reprints and rewrites stay silent, a broken feed is reported without failing
the cycle, and a second cycle with nothing new sends nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from flows.demo import Mailbox, smtp_server
from sqlalchemy import Engine, func, select

from monitor.demo.server import LocalServer
from monitor.storage.tables import AlertRow

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_port: int) -> None:
    # The flow builds its settings from the environment, as a deployed worker does.
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_SMTP__HOST", "127.0.0.1")
    monkeypatch.setenv("MONITOR_SMTP__PORT", str(smtp_port))
    monkeypatch.setenv("MONITOR_SMTP__SECURITY", "none")
    # The webhook key lives in a Prefect Secret block, as it would on a shared server.
    from prefect.blocks.system import Secret

    Secret(value="s3cret").save("monitor-test-webhook-key", overwrite=True)
    monkeypatch.setenv("MONITOR_WEBHOOK_SECRET", "prefect-secret:monitor-test-webhook-key")
    monkeypatch.setenv("MONITOR_EXTRACTION__WORKERS", "1")
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)


def _config_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    """The config written where ``monitor run --config`` and the flow read it."""
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_demo_timeline_alerts_once_per_development(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],
    local_server: LocalServer,
    engine: Engine,
) -> None:
    """On the SQLite file of the embedded default and on PostgreSQL, the production store."""
    from flows.cycle import monitor_cycle

    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    box, smtp_port = mailbox
    _env(monkeypatch, tmp_path, smtp_port)
    monkeypatch.setenv("MONITOR_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    hooks = LocalServer().start()
    try:
        newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
        config = newsroom.config(
            channels=[
                {"type": "email", "name": "desk", "to": ["desk@example.org"]},
                {"type": "webhook", "name": "hook", "url": hooks.url("/hook")},
            ]
        )
        config_path = _config_file(tmp_path, config)

        reports: list[dict[str, Any]] = []
        expected = 0
        for step in range(newsroom.steps):
            released = newsroom.publish(step)
            expected += sum(a.expect_alert for a in released)
            reports.append(monitor_cycle(config_path=str(config_path)))
        # Nothing new published: a further cycle stores and sends nothing.
        again = monitor_cycle(config_path=str(config_path))
        posts = [r for r in hooks.table.requests if r.method == "POST"]
    finally:
        hooks.stop()

    alerts = sum(r["alerts_created"] for r in reports)
    assert alerts == expected
    with engine.connect() as conn:  # the cycles wrote to the database they were given
        stored = conn.execute(select(func.count()).select_from(AlertRow)).scalar_one()
    assert stored == expected
    assert sum(r["exact_duplicates"] + r["near_duplicates"] for r in reports) >= 1
    assert any(r["sources_failed"] for r in reports), "the broken feed must be reported"
    assert len(box.messages) == expected
    assert len(posts) == expected
    assert again["articles_stored"] == 0
    assert again["alerts_created"] == 0
    assert again["deliveries_sent"] == 0

    silent_paths = {a.path for a in ARTICLES if not a.expect_alert}
    for msg in box.messages:
        body = msg.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "“" in text or '"' in text  # the new facts are quoted
    for post in posts:
        payload = json.loads(post.body)
        assert payload["schema"] == "news-monitor/alert"
        for alert in payload["alerts"]:
            assert urlsplit(alert["article"]["url"]).path not in silent_paths
            assert alert["facts"], "an alert quotes the new facts"
        timestamp = post.headers["x-monitor-timestamp"]
        expected_sig = hmac.new(
            b"s3cret", timestamp.encode() + b"." + post.body, hashlib.sha256
        ).hexdigest()
        assert post.headers["x-monitor-signature"] == f"sha256={expected_sig}"


def test_monitor_run_command_exits_zero_with_a_failing_source_and_publishes_a_summary(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],
    local_server: LocalServer,
) -> None:
    from prefect.artifacts import Artifact
    from typer.testing import CliRunner

    from monitor.cli import app
    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    _env(monkeypatch, tmp_path, mailbox[1])
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    config = newsroom.config(channels=[])
    config["sources"].append({"name": "gone", "url": local_server.url("/gone/rss.xml")})
    config_path = _config_file(tmp_path, config)
    newsroom.publish(0)

    result = CliRunner().invoke(app, ["run", "--config", str(config_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["articles_stored"] >= 1
    assert [e["source"] for e in report["errors"]] == ["gone"]

    # The flow stored every feed's validators once its entries were stored: the next cycle
    # costs a 304 per working feed and fetches no page.
    from flows.cycle import monitor_cycle

    again = monitor_cycle(config_path=str(config_path))
    assert again["sources_polled"] == report["sources_polled"]
    assert again["sources_not_modified"] == again["sources_polled"] - again["sources_failed"]
    assert again["pages_fetched"] == 0

    # Run by hand, the summary's key names the config file (a deployment's names the deployment).
    artifact = Artifact.get("monitor-cycle-monitor")
    assert artifact is not None
    assert "| sources failed | 1 |" in str(artifact.data)
    assert "gone" in str(artifact.data)

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [{name: x, url: 'ftp://nope'}]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(bad)])
    assert result.exit_code == 2
    assert "sources.0.url" in result.output


def test_a_cycle_runs_stage_and_batch_tasks_never_one_per_article(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],
    local_server: LocalServer,
) -> None:
    from flows.cycle import monitor_cycle
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    _env(monkeypatch, tmp_path, mailbox[1])
    monkeypatch.setenv("MONITOR_EXTRACTION__BATCH_SIZE", "4")
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    config_path = _config_file(tmp_path, newsroom.config(channels=[]))
    for step in range(newsroom.steps):
        newsroom.publish(step)  # everything at once: one cycle with many new entries

    state = monitor_cycle(config_path=str(config_path), return_state=True)
    report = state.result()
    flow_run_id = state.state_details.flow_run_id
    # Task runs reach the API as events that the server records in the background: the last
    # ones may land a moment after the flow returns. Read until the last stage's run is there
    # and every run is final (or give up after a while and let the assertions say what is
    # missing).
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            settled = all(r.state is not None and r.state.is_final() for r in runs)
            if (settled and any(r.name.startswith("deliver-") for r in runs)) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.2)
    names = sorted(r.name.rsplit("-", 1)[0] for r in runs)
    batches = names.count("fetch-extract-batch")
    assert report["articles_stored"] > 8
    # Batches of at most 4 (1, 2, 4, 4, ...): several, and far fewer tasks than articles.
    assert 3 <= batches < report["articles_stored"]
    assert names.count("detect-batch") == batches
    assert names.count("poll-feeds") == 1
    assert names.count("deliver") == 1
    assert len(names) == 2 * batches + 2
    assert all(r.state is not None and r.state.is_completed() for r in runs)


@pytest.mark.parametrize(("fallbacks", "whole_body"), [("as_needed", False), ("always", True)])
def test_the_extraction_fallbacks_setting_reaches_the_extraction_processes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],
    local_server: LocalServer,
    fallbacks: str,
    whole_body: bool,
) -> None:
    from flows.cycle import monitor_cycle

    from monitor.config import get_settings
    from monitor.demo.server import Route
    from monitor.storage.db import make_engine
    from monitor.storage.tables import ArticleRow
    from tests.unit.test_extract import TEASER_PAGE

    _env(monkeypatch, tmp_path, mailbox[1])
    monkeypatch.setenv("MONITOR_EXTRACTION__FALLBACKS", fallbacks)
    page = local_server.url("/news/ferry-timetable")
    feed = f"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Skellhaven Courier</title><link>{local_server.url("/")}</link>
<item><title>Ferry timetable approved</title><link>{page}</link>
<pubDate>Tue, 03 Jun 2031 18:00:00 +0000</pubDate></item></channel></rss>"""
    rss = Route(body=feed.encode(), content_type="application/rss+xml")
    local_server.table.set("/rss.xml", rss)
    local_server.table.set("/news/ferry-timetable", Route(body=TEASER_PAGE.encode()))
    config = {
        "sources": [{"name": "courier", "url": local_server.url("/rss.xml")}],
        "topics": [{"name": "ferry", "query": "ferry"}],
    }
    report = monitor_cycle(config_path=str(_config_file(tmp_path, config)))

    assert (report["articles_stored"], report["summary_only"]) == (1, 0)
    engine = make_engine(get_settings().resolved_database_url())
    try:
        with engine.connect() as conn:
            text = conn.execute(select(ArticleRow.text)).scalar_one()
    finally:
        engine.dispose()
    assert "Velden" in text
    assert ("Norrvik" in text) is whole_body


def test_batches_start_and_end_small_and_cover_everything_in_order() -> None:
    from flows.cycle import _batches

    sizes = [len(b) for b in _batches(list(range(300)), 64)]
    assert sizes == [16, 32, 64, 64, 64, 12, 32, 16]
    assert [x for b in _batches(list(range(300)), 64) for x in b] == list(range(300))
    assert [len(b) for b in _batches(list(range(40)), 64)] == [16, 24]
    assert _batches([], 64) == []
    assert [len(b) for b in _batches(list(range(5)), 1)] == [1, 1, 1, 1, 1]
    for total in range(0, 400, 7):
        assert sum(len(b) for b in _batches(list(range(total)), 64)) == total


def test_an_updated_entry_is_read_again_and_alerts_once_through_the_flow(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox: tuple[Mailbox, int],
    local_server: LocalServer,
) -> None:
    """follow_updates through the deployed path: Prefect flow, extraction processes, SQLite."""
    from flows.cycle import monitor_cycle

    from tests.support.updates import BACKGROUND, LEAD, UPDATE, UpdatingNewsroom

    _env(monkeypatch, tmp_path, mailbox[1])
    room = UpdatingNewsroom(local_server)
    config = {
        "sources": [
            {"name": "gazette", "url": local_server.url("/atom.xml"), "follow_updates": True}
        ],
        "topics": [{"name": "Tarrow ferry", "query": "tarrow AND ferry"}],
    }
    config_path = _config_file(tmp_path, config)

    room.publish(0, LEAD, *BACKGROUND)
    first = monitor_cycle(config_path=str(config_path))
    room.publish(1, LEAD, *BACKGROUND, UPDATE)
    second = monitor_cycle(config_path=str(config_path))
    third = monitor_cycle(config_path=str(config_path))  # nothing changed since

    assert (first["articles_stored"], first["alerts_created"]) == (1, 1)
    assert (second["pages_fetched"], second["articles_stored"]) == (1, 1)
    assert (second["developments"], second["alerts_created"]) == (1, 1)
    assert (third["pages_fetched"], third["alerts_created"]) == (0, 0)
    assert room.fetched() == 2
