"""The README's "Deploying" commands, run as written, on PostgreSQL for both Prefect's server and
the monitor.

The shell block is read from README.md and each line is run by a shell; only the addresses are
put in (the local PostgreSQL, a free port for the server, throw-away databases, a config
watching a local newsroom). Lines that start long-running processes (the server, the worker)
are run in the background and stopped at the end. The manual trigger's run must complete and
store the newsroom's articles in the monitor's PostgreSQL database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text
from tests.deploy.conftest import QUIET, REPO, descendants, kill_tree, wait_for
from tests.support.smtp import free_port

from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer

pytestmark = [pytest.mark.deploy, pytest.mark.slow, pytest.mark.postgres]

STEPS = [
    "prefect server start",
    "prefect work-pool create",
    "prefect deploy",
    "prefect automation create",
    "monitor db upgrade",
    "prefect worker start",
    "prefect deployment run",
]


def readme_commands() -> list[str]:
    """The shell lines of the README's Deploying section, continuations joined, comments cut."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "README's Deploying section has no shell block"
    joined = block.group(1).replace("\\\n", " ")
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            stragglers = descendants(proc.pid)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait()
            for pid in stragglers:
                kill_tree(pid)


def test_the_readme_deploying_steps_run_as_written(
    tmp_path: Path,
    local_server: LocalServer,
    fresh_postgres: Callable[[str], str],
    background: list[subprocess.Popen[bytes]],
) -> None:
    commands = readme_commands()
    bare = [re.sub(r"^(\w+=\S+\s+)*", "", c) for c in commands]  # without VAR=value
    heads = [next((s for s in STEPS if f"{c} ".startswith(f"{s} ")), None) for c in bare]
    assert [h for h in heads if h] == STEPS, commands

    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    newsroom.publish(0)
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml.safe_dump(newsroom.config(channels=[])), encoding="utf-8")
    prefect_db = fresh_postgres("asyncpg")
    monitor_db = fresh_postgres("psycopg")
    port = free_port()
    # Where the README names a machine, this machine's addresses.
    addresses = {
        "postgresql+asyncpg://prefect@db.internal/prefect": prefect_db,
        "postgresql+psycopg://monitor@db.internal/monitor": monitor_db,
        "--host 0.0.0.0": f"--host 127.0.0.1 --port {port}",
        "http://prefect.internal:4200/api": f"http://127.0.0.1:{port}/api",
        "/etc/news-monitor/monitor.yaml": str(config),
        "config_path=my-monitor.yaml": f"config_path={config}",
    }

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MONITOR_"))}
    env.update(QUIET)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_CLI_PROMPT="false",
        PWD=str(REPO),
        COLUMNS="200",
        MONITOR_DATA_DIR=str(tmp_path / "data"),
        MONITOR_ALLOW_PRIVATE_NETWORK="true",
        MONITOR_EXTRACTION__WORKERS="0",
        # The file's cron would start cycles of examples/real-feeds.yaml at every quarter hour
        # (real outlets, unreachable from CI): the manual trigger is the only run here.
        # tests/deploy/test_scheduled_runs.py covers the scheduler.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    outputs: dict[str, str] = {}
    for line in commands:
        for named, here in addresses.items():
            line = line.replace(named, here)
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
            continue
        if line.endswith("&") or " worker start " in f" {line} ":
            log = (tmp_path / f"bg-{len(background)}.log").open("wb")
            background.append(
                subprocess.Popen(
                    line.removesuffix("&"),
                    shell=True,
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            if "server start" in line:
                wait_for(
                    "the server answers",
                    lambda: _healthy(f"http://127.0.0.1:{port}/api"),
                    timeout=180,
                    info=(tmp_path / "bg-0.log").read_text(),
                )
            continue
        done = subprocess.run(
            line, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs[line] = done.stdout + done.stderr

    # The manual trigger created a run; the worker completes it.
    api = f"http://127.0.0.1:{port}/api"
    # The only run there is: the scheduler is off here (see `env` above).
    run = _only_run(api)
    assert run["parameters"] == {"config_path": str(config)}
    assert str(run["id"]) in outputs[next(c for c in outputs if "deployment run" in c)]
    run_id = run["id"]

    def finished() -> str | None:
        state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).json()["state_type"]
        return state if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} else None

    worker_log = tmp_path / f"bg-{len(background) - 1}.log"
    state = wait_for(
        "the triggered run finished", finished, timeout=180, every=2, info=worker_log.read_text()
    )
    assert state == "COMPLETED", worker_log.read_text()[-3000:]
    engine = create_engine(monitor_db)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM articles")).scalar_one()
    engine.dispose()
    assert stored == len([a for a in ARTICLES if a.step == 0])


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _only_run(api: str) -> Any:
    (run,) = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).json()
    return run
