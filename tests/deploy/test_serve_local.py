"""``monitor serve`` on a machine with no Prefect server: it starts a local one with its
scheduler, cycles run on the schedule, and the server goes when serve is stopped."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from tests.deploy.conftest import QUIET, descendants, kill_tree, wait_for

from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

MONITOR = str(Path(sys.executable).with_name("monitor"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MONITOR_"))}
    env.update(QUIET)
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        MONITOR_DATA_DIR=str(tmp_path / "data"),
        MONITOR_ALLOW_PRIVATE_NETWORK="true",
        MONITOR_EXTRACTION__WORKERS="0",
    )
    return env


def _finished_cycles(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM cycles WHERE finished_at IS NOT NULL"
            ).fetchone()
    except sqlite3.OperationalError:  # not migrated yet
        return 0
    return int(count)


def test_serve_without_a_server_runs_scheduled_cycles_and_stops_its_server(
    tmp_path: Path, local_server: LocalServer
) -> None:
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(newsroom.config(channels=[])), encoding="utf-8")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [MONITOR, "serve", "--config", str(config), "--interval", "5"],
            env=_env(tmp_path),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    db = tmp_path / "data" / "monitor.db"
    try:
        announced = wait_for(
            "serve names its local server",
            lambda: re.search(r"local Prefect server at (http://\S+/api)", log.read_text()),
            timeout=180,
            info=log.read_text()[-3000:],
        )
        api_url = announced.group(1)

        # Two cycles, each created by the local server's scheduler (nothing here asks for one).
        def completed() -> list[dict[str, object]]:
            if proc.poll() is not None:
                pytest.fail(f"serve exited:\n{log.read_text()[-3000:]}")
            runs = httpx.post(f"{api_url}/flow_runs/filter", json={}, timeout=30).json()
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            return done if len(done) >= 2 else []

        runs = wait_for(
            "two scheduled cycles", completed, timeout=150, info=log.read_text()[-3000:]
        )
        assert all(r["auto_scheduled"] for r in runs)
        assert _finished_cycles(db) >= 2
        children = descendants(proc.pid)
        assert children, "serve started no server process"
    except BaseException:
        kill_tree(proc.pid)
        raise
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        pytest.fail(f"serve did not stop on SIGTERM:\n{log.read_text()[-3000:]}")
    # The server (and anything else serve started) is gone, and its port no longer answers.
    deadline = time.monotonic() + 10
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    kill_tree(proc.pid)
    for pid in alive:
        kill_tree(pid)
    assert not alive, f"left running after serve stopped: {alive}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api_url}/health", timeout=5)
    assert _finished_cycles(db) >= 2


def test_serve_with_an_unreachable_server_says_so_and_fails(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump({"sources": [], "topics": []}), encoding="utf-8")
    env = _env(tmp_path)
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # discard port: nothing listens
    done = subprocess.run(
        [MONITOR, "serve", "--config", str(config), "--interval", "5"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:9/api does not answer" in done.stderr
