"""``monitor serve``: the cycle (and, if asked, archive retention) served from this process.

Prefect's serving runner polls for runs of the served deployments and executes them here; no
work pool or worker is needed. Each deployment has a concurrency limit of 1, so cycles never
overlap.

Scheduled runs are created by a Prefect server's scheduler service. With ``PREFECT_API_URL``
set, that server is used. Without it, Prefect would fall back to a temporary in-process server
that runs no scheduler, so nothing would ever run: instead ``monitor serve`` starts a local
``prefect server start`` (SQLite under the data dir, scheduler on) as a child process, waits
until it answers, serves against it, and stops it when serving ends (Ctrl-C, SIGTERM, error).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import httpx
from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.cycle import monitor_cycle
from flows.maintenance import WEEKLY, prune_archive_flow
from monitor.errors import MonitorError

# A cold `prefect server start` takes seconds on an idle machine (migrations on first start);
# a busy one can take several times that.
SERVER_START_TIMEOUT_S = 180.0
SERVER_STOP_TIMEOUT_S = 20.0
# Runs are scheduled on the next pass of the server's scheduler (every 60 s by default): serve
# asks for a pass every few seconds so a short --interval is honoured from the first cycle.
SCHEDULER_LOOP_S = "5"


class PrefectServerError(MonitorError):
    """The Prefect server that schedules the served runs could not be reached or started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _answers(api_url: str) -> bool:
    """Whether anything answers at ``api_url`` (any HTTP status: Prefect Cloud's API wants a
    key for its endpoints; what matters here is that the address is not dead)."""
    try:
        httpx.get(f"{api_url}/health", timeout=10.0)
    except httpx.HTTPError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it started (its own process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def local_prefect_server(home: Path, port: int | None = None) -> Iterator[str]:
    """A ``prefect server start`` child process with its scheduler on, its SQLite database and
    log in ``home``; yields its API URL and stops it on exit."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="true",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS=SCHEDULER_LOOP_S,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    prefect = Path(sys.executable).with_name("prefect")
    command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - this environment's prefect, fixed arguments
            [*command, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: stopped by us, after the runs it serves, and with its
            # workers; a Ctrl-C in the terminal reaches only this process.
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _healthy(api_url):
            if proc.poll() is not None:
                raise PrefectServerError(
                    f"the local Prefect server exited with status {proc.returncode} before "
                    f"answering; see {log_path}"
                )
            if time.monotonic() > deadline:
                raise PrefectServerError(
                    f"the local Prefect server did not answer on {api_url} within "
                    f"{SERVER_START_TIMEOUT_S:.0f} s; see {log_path}"
                )
            time.sleep(0.5)
        yield api_url
    finally:
        _stop(proc)


def _deployments(
    config_path: Path,
    *,
    name: str,
    cron: str | None,
    interval: int | None,
    prune_days: int | None,
) -> list[RunnerDeployment]:
    # to_deployment() returns a coroutine only when called from async code; this is sync.
    deployments = [
        cast(
            RunnerDeployment,
            monitor_cycle.to_deployment(
                name=name,
                cron=cron,
                interval=interval,
                parameters={"config_path": str(config_path)},
                concurrency_limit=1,
            ),
        )
    ]
    if prune_days is not None:
        prune = prune_archive_flow.to_deployment(
            name=f"{name}-prune",
            cron=WEEKLY,
            parameters={"keep_days": prune_days},
            concurrency_limit=1,
        )
        deployments.append(cast(RunnerDeployment, prune))
    return deployments


def serve_flows(
    config_path: Path,
    *,
    name: str,
    cron: str | None,
    interval: int | None,
    prune_days: int | None = None,
    server_home: Path,
    server_port: int | None = None,
    on_server: Callable[[str, bool], None] | None = None,
) -> None:
    """Serve ``monitor-cycle/NAME`` on its schedule, and ``monitor-prune/NAME-prune`` weekly
    when ``prune_days`` is given. Blocks until interrupted.

    Uses the server ``PREFECT_API_URL`` names, which must answer; without one, a local server
    in ``server_home`` (see :func:`local_prefect_server`). ``on_server(api_url, started)`` is
    told which. Raises :class:`PrefectServerError` when no server can schedule the runs.
    """
    deployments = _deployments(
        config_path, name=name, cron=cron, interval=interval, prune_days=prune_days
    )
    configured = PREFECT_API_URL.value()
    if configured:
        if not _answers(configured):
            raise PrefectServerError(
                f"PREFECT_API_URL={configured} does not answer; no run can be scheduled"
            )
        if on_server:
            on_server(configured, False)
        serve(*deployments)
        return
    with local_prefect_server(server_home, server_port) as api_url:
        if on_server:
            on_server(api_url, True)
        # The served runs are started as subprocesses; they inherit this environment.
        os.environ["PREFECT_API_URL"] = api_url
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            serve(*deployments)
