"""A cycle that fails exits: with its database gone while later pages are still being fetched,
``monitor run`` fails the flow run and its process ends, its fetches cancelled and its worker
processes gone, instead of waiting forever on requests nobody will read."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from monitor.demo.server import LocalServer, Route
from monitor.storage.db import make_engine, upgrade

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.postgres]

RSS = "application/rss+xml; charset=utf-8"
SLOW_PAGES = 8
# Far longer than the test waits: a page request still open when the cycle fails.
SLOW_S = 600.0


def _page(n: int) -> bytes:
    body = " ".join(
        f"The council of Tarrow met on day {n} and agreed measure {n}.{i} on the ferry."
        for i in range(12)
    )
    return f"<html><body><article><h1>Report {n}</h1><p>{body}</p></article></body></html>".encode()


def _feed(server: LocalServer) -> bytes:
    items = "".join(
        f"<item><title>Report {n}</title><link>{server.url(f'/p/{n}.html')}</link>"
        f"<pubDate>Tue, 04 Mar 2025 {n:02d}:00:00 GMT</pubDate></item>"
        for n in range(SLOW_PAGES + 1)
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>{server.base_url}/</link><description>x</description>{items}</channel></rss>"
    ).encode()


def _children(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            found |= {kid, *_children(kid)}
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def throwaway_db(postgres_url: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped at the end if still there."""
    admin = create_engine(make_url(postgres_url), isolation_level="AUTOCOMMIT")
    name = f"monitor_gone_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_cycle_whose_database_goes_away_mid_fetch_exits(
    tmp_path: Path, local_server: LocalServer, postgres_url: str, throwaway_db: str
) -> None:
    from prefect.settings import PREFECT_API_URL

    slow_asked = threading.Event()

    def slow() -> Route:
        slow_asked.set()
        return Route(body=_page(99), delay_s=SLOW_S)

    # The oldest entry is the first batch: detected while the others are still being fetched.
    # It answers after a moment, so that the database is gone by the time it is detected.
    local_server.table.set("/p/0.html", Route(body=_page(0), delay_s=3.0))
    for n in range(1, SLOW_PAGES + 1):
        local_server.table.set(f"/p/{n}.html", slow)
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=_feed(local_server)))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump({"sources": [{"name": "gazette", "url": local_server.url("/rss.xml")}]}),
        encoding="utf-8",
    )
    env = dict(os.environ)
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        MONITOR_DATABASE_URL=throwaway_db,
        MONITOR_DATA_DIR=str(tmp_path / "data"),
        MONITOR_ALLOW_PRIVATE_NETWORK="true",
        MONITOR_HTTP__TIMEOUT_S=str(SLOW_S),
        MONITOR_EXTRACTION__WORKERS="1",
        MONITOR_EXTRACTION__BATCH_SIZE="4",
    )
    monitor = Path(sys.executable).with_name("monitor")
    proc = subprocess.Popen(
        [str(monitor), "run", "--config", str(config)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while not slow_asked.wait(1):
            assert proc.poll() is None, proc.communicate()[0][-3000:]
        children = _children(proc.pid)
        assert children  # the extraction worker (and its fork server)

        # The database goes away: every connection ended, and no new one can be made.
        admin = create_engine(make_url(postgres_url), isolation_level="AUTOCOMMIT")
        name = make_url(throwaway_db).database
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

        try:
            output, _ = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"the failed cycle's process did not exit\n{output[-3000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, output[-3000:]
    assert "OperationalError" in output, output[-3000:]
    # Its worker processes went with it.
    deadline = threading.Event()
    for _ in range(20):
        if not any(_alive(pid) for pid in children):
            break
        deadline.wait(0.5)
    assert [pid for pid in children if _alive(pid)] == []


def test_a_cycle_rides_out_a_short_database_outage(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    local_server: LocalServer,
    postgres_url: str,
    throwaway_db: str,
) -> None:
    """The database refuses connections for a few seconds while the first batch is detected
    (a restart): the detect stage's retries wait it out and the cycle completes."""
    from flows.cycle import monitor_cycle

    name = make_url(throwaway_db).database
    admin = create_engine(make_url(postgres_url), isolation_level="AUTOCOMMIT")
    outage_began, outage_over = threading.Event(), threading.Event()

    def outage() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            outage_began.set()
            outage_over.wait(4.0)
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    down = threading.Thread(target=outage)
    once = threading.Lock()

    def later_page(n: int) -> Callable[[], Route]:
        def route() -> Route:
            with once:
                if down.ident is None:
                    down.start()  # the first batch is on its way to detection
            return Route(body=_page(n), delay_s=6.0)

        return route

    def first_page() -> Route:
        outage_began.wait(60)  # so the first batch is detected while the database is down
        return Route(body=_page(0))

    local_server.table.set("/p/0.html", first_page)
    for n in range(1, SLOW_PAGES + 1):
        local_server.table.set(f"/p/{n}.html", later_page(n))
    local_server.table.set("/rss.xml", Route(content_type=RSS, body=_feed(local_server)))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump({"sources": [{"name": "gazette", "url": local_server.url("/rss.xml")}]}),
        encoding="utf-8",
    )
    monkeypatch.setenv("MONITOR_DATABASE_URL", throwaway_db)
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_EXTRACTION__WORKERS", "0")
    monkeypatch.setenv("MONITOR_EXTRACTION__BATCH_SIZE", "4")
    try:
        report = monitor_cycle(config_path=str(config))
    finally:
        outage_over.set()
        if down.ident is not None:
            down.join(30)
        admin.dispose()
    assert down.ident is not None  # the outage happened during the cycle
    assert report["articles_stored"] == 1 + SLOW_PAGES
