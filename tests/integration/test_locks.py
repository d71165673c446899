"""Locks between processes sharing a database: one cycle of a config at a time, and schema
migrations that two processes can start at once on an empty PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from monitor.errors import CycleRunningError
from monitor.storage.cycle_lock import cycle_lock
from monitor.storage.db import head_revisions, make_engine
from tests.support.postgres import drop_database

HOLDER = textwrap.dedent(
    """
    import sys
    from monitor.storage.cycle_lock import cycle_lock
    from monitor.storage.db import make_engine

    engine = make_engine(sys.argv[1])
    with cycle_lock(engine, sys.argv[2], "the scheduled run on worker-1"):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes stdin, or kills this process
    """
)


@pytest.fixture
def holder(engine: Engine) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the cycle lock of config /etc/monitor/a.yaml."""
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, "/etc/monitor/a.yaml"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


def test_a_second_cycle_of_a_config_is_refused_while_another_process_runs_one(
    engine: Engine, holder: subprocess.Popen[str]
) -> None:
    with (
        pytest.raises(CycleRunningError) as refused,
        cycle_lock(engine, "/etc/monitor/a.yaml", "monitor run"),
    ):
        pass
    message = str(refused.value)
    assert "another cycle of config /etc/monitor/a.yaml is running since " in message
    assert "started by the scheduled run on worker-1" in message

    # Another config is not held up.
    with cycle_lock(engine, "/etc/monitor/b.yaml", "monitor run"):
        pass

    # A holder that dies (kill -9, a lost worker) leaves nothing behind.
    holder.kill()
    holder.wait(30)
    with cycle_lock(engine, "/etc/monitor/a.yaml", "monitor run"):
        pass


@pytest.mark.postgres
def test_two_processes_migrate_an_empty_postgres_database_at_once(postgres_url: str) -> None:
    admin_url = make_url(postgres_url)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"monitor_migrate_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    # Each process imports what it needs, then starts migrating at the same moment.
    start_at = time.time() + 4
    script = textwrap.dedent(
        f"""
        import sys, time
        from monitor.storage.db import make_engine, upgrade
        engine = make_engine(sys.argv[1])
        time.sleep(max(0.0, {start_at} - time.time()))
        upgrade(engine)
        """
    )
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        outcomes = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
        engine = make_engine(url)
        with engine.connect() as conn:
            versions = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        engine.dispose()
        assert versions == head_revisions()
    finally:
        drop_database(admin, name)
        admin.dispose()
