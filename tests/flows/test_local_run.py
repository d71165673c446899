"""``monitor run``: a flow run where a Prefect server is configured, the same cycle without
Prefect where none is; Prefect settings for flow runs started in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from flows.cycle import local_run_settings
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)

from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer, Route


def _heartbeat() -> int | None:
    return get_current_settings().flows.heartbeat_frequency


def test_serverless_runs_send_no_heartbeats_and_the_setting_comes_back_after() -> None:
    serverless = {PREFECT_API_URL: None, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}
    with temporary_settings(updates=serverless):
        with local_run_settings():
            assert _heartbeat() is None
        assert _heartbeat() == 60


def test_runs_reporting_to_a_prefect_server_keep_their_heartbeats() -> None:
    served = {PREFECT_API_URL: "http://127.0.0.1:4200/api", PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}
    with temporary_settings(updates=served), local_run_settings():
        assert _heartbeat() == 60


# `monitor run` as a user runs it: a real subprocess, the newsroom on a local server, SQLite.


def _monitor_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine with no Prefect server configured (nothing inherited)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONITOR_", "PREFECT_"))
    }
    env.update(
        MONITOR_DATA_DIR=str(tmp_path / "data"),
        MONITOR_ALLOW_PRIVATE_NETWORK="true",
        MONITOR_EXTRACTION__WORKERS="1",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def _monitor(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("monitor")
    return subprocess.run(
        [str(command), *args],
        env=env,
        cwd=tmp_path,  # no .env or prefect.toml of the repository's
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _newsroom_config(tmp_path: Path, server: LocalServer) -> Path:
    newsroom = Newsroom(server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(newsroom.config(channels=[])), encoding="utf-8")
    return path


def _stored_cycles(tmp_path: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    listed = _monitor(tmp_path, env, "cycles", "--json")
    assert listed.returncode == 0, listed.stderr
    cycles: list[dict[str, Any]] = json.loads(listed.stdout)
    return cycles


def test_monitor_run_without_a_prefect_server_stores_articles_and_its_report(
    tmp_path: Path, local_server: LocalServer
) -> None:
    env = _monitor_env(tmp_path)
    config = _newsroom_config(tmp_path, local_server)

    first = _monitor(tmp_path, env, "run", "--config", str(config), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["articles_stored"] > 0
    assert report["sources_failed"] == 0
    again = _monitor(tmp_path, env, "run", "--config", str(config), "--json")
    assert again.returncode == 0, again.stderr
    quiet = json.loads(again.stdout)
    assert quiet["sources_not_modified"] == quiet["sources_polled"] == report["sources_polled"]
    assert quiet["articles_stored"] == 0

    cycles = _stored_cycles(tmp_path, env)  # newest first
    assert [c["started_at"] for c in cycles] == [quiet["started_at"], report["started_at"]]
    assert cycles[1]["articles_stored"] == report["articles_stored"]
    # No Prefect server was started: the temporary one creates its database in PREFECT_HOME.
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()


def test_monitor_run_without_a_server_logs_a_failing_source(
    tmp_path: Path, local_server: LocalServer
) -> None:
    env = _monitor_env(tmp_path) | {"MONITOR_SOURCE_FAILING_AFTER": "1"}
    config = _newsroom_config(tmp_path, local_server)
    outlet = OUTLETS[0]
    local_server.table.set(outlet.feed_path, Route(status=503))

    result = _monitor(tmp_path, env, "run", "--config", str(config), "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources_failed"] == 1
    assert f"source {outlet.name} is failing: 1 poll in a row" in result.stderr


@pytest.mark.usefixtures("prefect_harness")
def test_monitor_run_with_a_prefect_server_is_a_flow_run_there(
    tmp_path: Path, local_server: LocalServer
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    env = _monitor_env(tmp_path) | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    config = _newsroom_config(tmp_path, local_server)

    result = _monitor(tmp_path, env, "run", "--config", str(config), "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["articles_stored"] > 0
    assert _stored_cycles(tmp_path, env)[0]["started_at"] == report["started_at"]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["monitor-cycle"]))
        )
    ours = [r for r in runs if r.parameters.get("config_path") == str(config)]
    assert len(ours) == 1
    assert ours[0].state is not None
    assert ours[0].state.is_completed()
