"""Deployments as users run them: a real ``prefect server start`` (services on, scheduler
included), real ``prefect worker start`` processes, the Prefect CLI on ``deploy/*.yaml``.

Every server gets its own ``PREFECT_HOME`` and database (a SQLite file, or a throw-away
PostgreSQL database) on a free port; every process started here is stopped by its fixture.
Scheduler and worker polling are sped up through Prefect's own settings so a scheduled run
happens within seconds; a run waiting for its deployment's concurrency slot asks again every
5 s, as on the README's server; nothing else is changed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.smtp import free_port

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "monitor-process"
CYCLE = "monitor-every-15-min"

# Settings every process here shares: no phoning home, no UI build.
QUIET = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, every: float = 1.0, info: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s. {info}")
        time.sleep(every)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (read from /proc; flow-run processes start their own
    sessions, so the worker's process group does not hold them)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)


@dataclass
class PrefectServer:
    """A ``prefect server start`` process; ``env`` is what a client of it needs."""

    home: Path
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MONITOR_"))}
        env.update(QUIET)
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.home / "client"),
            # never wait for an answer on stdin
            PREFECT_CLI_PROMPT="false",
            # a shell sets PWD to where it runs a command; the deployment's pull step reads it
            PWD=str(REPO),
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def start(self) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.env(
            PREFECT_HOME=str(self.home),
            # a scheduler pass every 2 s instead of every 60 s
            PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
            # as the README's server: a run waiting for its deployment's slot asks every 5 s
            PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="5",
        )
        if self.database_url:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.database_url
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"prefect server exited: {self.tail()}")
            try:
                return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("prefect server healthy", healthy, timeout=180, every=0.5)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def cli(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        """``prefect ARGS`` from the repository root, as the README runs it."""
        done = subprocess.run(
            [PREFECT, "--no-prompt", *args],
            env=env or self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"prefect {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout + done.stderr


@dataclass
class Worker:
    """A ``prefect worker start --pool POOL`` process."""

    server: PrefectServer
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        env = self.server.env(
            # poll for work every second instead of every 10 s
            PREFECT_WORKER_QUERY_SECONDS="1",
            **self.env,
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [PREFECT, "worker", "start", "--pool", POOL],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill9(self) -> None:
        """``kill -9`` of the worker and every process it started (its flow runs)."""
        assert self.proc is not None
        kill_tree(self.proc.pid)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            stragglers = descendants(self.proc.pid)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_tree(self.proc.pid)
                self.proc.wait()
            for pid in stragglers:
                kill_tree(pid)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def workers(directory: Path) -> Iterator[Callable[[PrefectServer, dict[str, str]], Worker]]:
    """``start(server, env)`` starts a worker; every one started is stopped on exit."""
    started: list[Worker] = []

    def start(server: PrefectServer, env: dict[str, str]) -> Worker:
        worker = Worker(server, directory / f"worker-{len(started)}.log", env).start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[PrefectServer, dict[str, str]], Worker]]:
    with workers(tmp_path) as start:
        yield start


def deployment_file(
    directory: Path,
    *,
    rename: dict[str, str] | None = None,
    interval: int | None = None,
    config_path: str | None = None,
    only: str | None = CYCLE,
) -> Path:
    """A copy of ``deploy/prefect.yaml`` in ``directory``: the same deployments with the
    schedule (an ``interval`` in seconds, or none) and the config parameter replaced, and
    deployments renamed as ``rename`` says. ``only`` keeps just that deployment."""
    spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = spec["deployments"]
    if only:
        deployments = [d for d in deployments if d["name"] == only]
        assert deployments, f"deploy/prefect.yaml has no deployment {only!r}"
    for deployment in deployments:
        if interval is None:
            deployment["schedules"] = []
        else:
            deployment["schedules"] = [{"interval": interval, "active": True}]
        if config_path is not None and "config_path" in deployment.get("parameters", {}):
            deployment["parameters"]["config_path"] = config_path
        deployment["name"] = (rename or {}).get(deployment["name"], deployment["name"])
    spec["deployments"] = deployments
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def monitor_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """What a worker's flow runs need: the monitor database, fetching from 127.0.0.1, no
    extraction processes (one machine, small pages)."""
    env = {
        "MONITOR_DATABASE_URL": database_url,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
        "MONITOR_EXTRACTION__WORKERS": "0",
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One Prefect server on SQLite, with its work pool, for a module's tests."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-server"))
    server.start()
    try:
        server.cli("work-pool", "create", POOL, "--type", "process")
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_postgres() -> Iterator[Callable[[str], str]]:
    with postgres_databases() as make:
        yield make


@contextmanager
def postgres_databases() -> Iterator[Callable[[str], str]]:
    """``make(driver)``: a throw-away database on the test PostgreSQL server, as a
    URL with that driver (``psycopg`` for the monitor, ``asyncpg`` for a Prefect server)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from tests.conftest import _pg_admin_url

    admin_url = make_url(_pg_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(driver: str) -> str:
        name = f"deploy_test_{uuid.uuid4().hex[:10]}"
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            reason = f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc!r}"
            if os.environ.get("MONITOR_REQUIRE_POSTGRES"):
                pytest.fail(reason + " (MONITOR_REQUIRE_POSTGRES is set)")
            pytest.skip(reason)
        made.append(name)
        url = admin_url.set(drivername=f"postgresql+{driver}", database=name)
        return url.render_as_string(hide_password=False)

    try:
        yield make
    finally:
        _drop(admin, made)


def _drop(admin: Any, made: list[str]) -> None:
    from tests.support.postgres import drop_database

    for name in made:
        drop_database(admin, name)
    admin.dispose()
