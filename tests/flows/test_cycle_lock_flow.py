"""``monitor run`` while a cycle of the same config runs: refused with a clear message and exit
code 3, instead of repeating the running cycle's fetching and extraction; a cycle of another
config, and the same config once the first is done, run as usual."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from monitor.demo.server import LocalServer, Route
from monitor.errors import CycleRunningError

pytestmark = pytest.mark.usefixtures("prefect_harness")

RSS = "application/rss+xml; charset=utf-8"
PAGE = (
    b"<html><body><article><h1>Tarrow ferry</h1><p>"
    + b"The council of Tarrow voted to close the ferry terminal by June. " * 8
    + b"</p></article></body></html>"
)


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_second_run_of_a_running_config_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_server: LocalServer
) -> None:
    from flows.cycle import monitor_cycle

    from monitor.cli import app

    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_EXTRACTION__WORKERS", "0")
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    asked, release = threading.Event(), threading.Event()

    def slow_page() -> Route:
        asked.set()
        release.wait(120)  # the first cycle is fetching until the test lets it go on
        return Route(body=PAGE)

    local_server.table.set("/slow.html", slow_page)
    feed = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>G</title><link>x</link>"
        "<description>x</description><item><title>Tarrow ferry</title>"
        f"<link>{local_server.url('/slow.html')}</link>"
        "<pubDate>Tue, 04 Mar 2025 08:00:00 GMT</pubDate></item></channel></rss>"
    )
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=feed.encode()))
    local_server.table.set("/other.xml", Route(content_type=RSS, body=b"<rss><channel/></rss>"))
    config = _write(
        tmp_path / "desk.yaml", {"sources": [{"name": "g", "url": local_server.url("/rss.xml")}]}
    )
    other = _write(
        tmp_path / "other.yaml",
        {"sources": [{"name": "o", "url": local_server.url("/other.xml")}]},
    )

    first: dict[str, Any] = {}

    def run_first() -> None:
        try:
            first["report"] = monitor_cycle(config_path=str(config))
        except BaseException as exc:  # reported by the assertions below
            first["error"] = exc

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert asked.wait(120), first
        refused = CliRunner().invoke(app, ["run", "--config", str(config)])
        # Another config is not held up by this one's lock.
        another = CliRunner().invoke(app, ["run", "--config", str(other)])
    finally:
        release.set()
        thread.join(120)

    assert refused.exit_code == CycleRunningError.EXIT_CODE == 3, refused.output
    assert f"another cycle of config {config.resolve()} is running since " in refused.output
    assert "started by flow run " in refused.output
    assert another.exit_code == 0, another.output
    assert "error" not in first, first
    assert first["report"]["articles_stored"] == 1

    # Once the first cycle is done, the config runs again.
    again = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert again.exit_code == 0, again.output
