"""``monitor serve`` runs the cycle on its schedule (Prefect ``flow.serve``), as a real process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from monitor.demo.server import LocalServer

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def _deployment(name: str, flow: str = "monitor-cycle") -> object | None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            return await client.read_deployment_by_name(f"{flow}/{name}")
        except ObjectNotFound:
            return None


async def _start_run(deployment_id: object) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.create_flow_run_from_deployment(deployment_id)  # type: ignore[arg-type]
    return str(run.id)


async def _state(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)  # type: ignore[arg-type]
    return str(run.state_type.value if run.state_type else "")


def test_serve_registers_its_schedules_and_runs_the_cycle(
    tmp_path: Path, local_server: LocalServer
) -> None:
    from prefect.settings import PREFECT_API_URL

    from monitor.demo.content import ARTICLES, OUTLETS
    from monitor.demo.newsroom import Newsroom

    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(yaml.safe_dump(newsroom.config(channels=[])), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_HOME=str(tmp_path / "prefect"),
        MONITOR_DATA_DIR=str(tmp_path / "data"),
        MONITOR_ALLOW_PRIVATE_NETWORK="true",
        MONITOR_EXTRACTION__WORKERS="0",
    )
    env.pop("MONITOR_DATABASE_URL", None)
    name = f"serve-test-{os.getpid()}"
    monitor = Path(sys.executable).with_name("monitor")
    proc = subprocess.Popen(
        [
            *(str(monitor), "serve", "--config", str(config_path)),
            *("--interval", "5", "--name", name, "--prune-days", "90"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        deployment = prune = None
        # serve registers its deployments one after the other: wait for both.
        while (deployment is None or prune is None) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(1)
            deployment = asyncio.run(_deployment(name))
            prune = asyncio.run(_deployment(f"{name}-prune", flow="monitor-prune"))
        assert deployment is not None, "serve did not register its deployment"
        # What serve registers: the interval schedule, and cycles that never overlap.
        schedules = deployment.schedules  # type: ignore[attr-defined]
        assert schedules[0].schedule.interval.total_seconds() == 5
        assert deployment.global_concurrency_limit.limit == 1  # type: ignore[attr-defined]
        # --prune-days serves archive retention beside it, weekly.
        assert prune is not None, "serve did not register the retention deployment"
        assert prune.parameters == {"keep_days": 90}  # type: ignore[attr-defined]
        assert prune.schedules[0].schedule.cron == "30 3 * * 0"  # type: ignore[attr-defined]
        assert prune.global_concurrency_limit.limit == 1  # type: ignore[attr-defined]
        # The harness server has no scheduler service, so start a run of the served deployment
        # by hand: the serving process must pick it up and complete it.
        run_id = asyncio.run(_start_run(deployment.id))  # type: ignore[attr-defined]
        state = ""
        while state not in {"COMPLETED", "FAILED", "CRASHED"} and time.monotonic() < deadline:
            time.sleep(2)
            state = asyncio.run(_state(run_id))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert state == "COMPLETED", f"served run ended {state!r}\n{output[-3000:]}"
    # The run stored the newsroom's articles in the database the served process was given.
    with sqlite3.connect(tmp_path / "data" / "monitor.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM articles").fetchone()
    assert stored == len([a for a in ARTICLES if a.step == 0])
