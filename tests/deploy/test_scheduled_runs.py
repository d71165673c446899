"""``deploy/prefect.yaml`` on a real Prefect server with its scheduler, and real process workers.

The deployment is the file's own, deployed with ``prefect deploy``; only its schedule (an
interval of seconds instead of every 15 minutes) and its config parameter differ. Runs are
created by the server's scheduler, picked up by ``prefect worker start`` and store the local
newsroom's articles in the monitor database the worker was given.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.deploy.conftest import (
    CYCLE,
    REPO,
    PrefectServer,
    Worker,
    deployment_file,
    monitor_env,
    wait_for,
)

from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer, Route

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def api(server: PrefectServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{server.api_url}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def deployment_id(server: PrefectServer, name: str) -> str:
    return str(api(server, "GET", f"/deployments/name/monitor-cycle/{name}")["id"])


def flow_runs(server: PrefectServer, deployment: str) -> list[dict[str, Any]]:
    body = {"deployments": {"id": {"any_": [deployment]}}, "sort": "EXPECTED_START_TIME_ASC"}
    return list(api(server, "POST", "/flow_runs/filter", body))


def flow_run(server: PrefectServer, run_id: str) -> dict[str, Any]:
    return dict(api(server, "GET", f"/flow_runs/{run_id}"))


def write_config(path: Path, newsroom: Newsroom) -> Path:
    path.write_text(yaml.safe_dump(newsroom.config(channels=[])), encoding="utf-8")
    return path


def stored_articles(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM articles").fetchone()
    return int(count)


def test_the_scheduler_creates_runs_that_a_worker_completes(
    sqlite_server: PrefectServer,
    start_worker: Callable[..., Worker],
    local_server: LocalServer,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    config = write_config(tmp_path / "monitor.yaml", newsroom)
    db = tmp_path / "monitor.db"
    name = "scheduled-every-10-s"
    prefect_file = deployment_file(
        tmp_path / "deploy", rename={CYCLE: name}, interval=10, config_path=str(config)
    )
    sqlite_server.cli("deploy", "--prefect-file", str(prefect_file), "--all")
    deployment = deployment_id(sqlite_server, name)
    # The server is the module's: its scheduler must not go on feeding this deployment's runs
    # to the next test's workers (the pool is shared).
    request.addfinalizer(lambda: sqlite_server.cli("deployment", "delete", f"monitor-cycle/{name}"))
    worker = start_worker(sqlite_server, monitor_env(tmp_path, f"sqlite:///{db}"))

    def completed_scheduled_run() -> dict[str, Any] | None:
        runs = flow_runs(sqlite_server, deployment)
        return next(
            (r for r in runs if r["auto_scheduled"] and r["state_type"] == "COMPLETED"), None
        )

    run = wait_for(
        "a scheduled run completed",
        completed_scheduled_run,
        timeout=150,
        every=2,
        info=f"\nworker:\n{worker.tail()}\nserver:\n{sqlite_server.tail()}",
    )
    # The scheduler made it (not `prefect deployment run`), from the file's definition.
    assert run["auto_scheduled"] is True
    assert run["parameters"] == {"config_path": str(config)}
    assert run["work_pool_name"] == "monitor-process"
    # The worker ran the flow against the database it was given.
    assert stored_articles(db) == len([a for a in ARTICLES if a.step == 0])


def test_a_killed_workers_run_is_marked_crashed_and_frees_the_slot(
    sqlite_server: PrefectServer,
    start_worker: Callable[..., Worker],
    local_server: LocalServer,
    tmp_path: Path,
) -> None:
    """``kill -9`` of a worker and its flow run mid-cycle: the crash-detection automation of
    ``deploy/crashed-runs.yaml`` marks the run Crashed once its heartbeats stop, and the
    deployment's next run (concurrency limit 1) completes on another worker."""
    # The shipped automation as it is (the deployment beats every 30 s, Prefect's minimum).
    automation_file = REPO / "deploy" / "crashed-runs.yaml"
    sqlite_server.cli("automation", "create", "--from-file", str(automation_file))

    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    first = next(a for a in ARTICLES if a.step == 0)
    page = first.path
    original = local_server.table.get(page)
    assert original is not None
    # One article page hangs: the first run is mid-cycle for as long as the test wants.
    local_server.table.set(page, Route(body=original.body, delay_s=600))
    config = write_config(tmp_path / "monitor.yaml", newsroom)
    db = tmp_path / "monitor.db"
    name = "crash-test"
    prefect_file = deployment_file(tmp_path / "deploy", rename={CYCLE: name}, interval=None)
    sqlite_server.cli("deploy", "--prefect-file", str(prefect_file), "--all")
    deployment = deployment_id(sqlite_server, name)
    env = monitor_env(tmp_path, f"sqlite:///{db}", MONITOR_HTTP__TIMEOUT_S="600")

    def trigger() -> str:
        out = sqlite_server.cli(
            "deployment", "run", f"monitor-cycle/{name}", "--param", f"config_path={config}"
        )
        runs = [r for r in flow_runs(sqlite_server, deployment) if r["id"] in out]
        assert len(runs) == 1, out
        return str(runs[0]["id"])

    doomed = start_worker(sqlite_server, env)
    first_run = trigger()
    wait_for(
        "the first run requested the hanging page",
        lambda: local_server.table.requests_for(page),
        timeout=150,
        info=doomed.tail(),
    )
    assert flow_run(sqlite_server, first_run)["state_type"] == "RUNNING"
    doomed.kill9()
    killed_at = time.monotonic()
    local_server.table.set(page, original)

    second_run = trigger()
    rescuer = start_worker(sqlite_server, env)
    state = wait_for(
        "the killed run marked crashed",
        lambda: (s := flow_run(sqlite_server, first_run)["state_type"]) != "RUNNING" and s,
        timeout=150,
        every=2,
        info=sqlite_server.tail(),
    )
    crashed_after = time.monotonic() - killed_at
    assert state == "CRASHED"
    # Its slot is free: the next run starts and completes, well before the slot's lease (5
    # minutes) would have run out.
    final = wait_for(
        "the next run finished",
        lambda: (s := flow_run(sqlite_server, second_run)["state_type"]) in FINAL and s,
        timeout=120,
        every=2,
        info=rescuer.tail(),
    )
    assert final == "COMPLETED", rescuer.tail()
    assert stored_articles(db) == len([a for a in ARTICLES if a.step == 0])
    print(f"killed run marked crashed {crashed_after:.0f} s after kill -9")
