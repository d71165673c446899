"""Fixtures shared by every test layer.

``db_url`` runs a test on SQLite and on the real PostgreSQL named by ``MONITOR_TEST_POSTGRES_URL``
(default: the local trust-auth server). Where no PostgreSQL answers, PostgreSQL cases are skipped
with the reason, unless ``MONITOR_REQUIRE_POSTGRES=1`` (set by CI), where they fail instead.
Each PostgreSQL test session gets its own throw-away database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings, get_settings
from monitor.demo.server import LocalServer
from monitor.storage.db import make_engine, session_factory, upgrade
from monitor.storage.tables import Base
from tests.support.postgres import drop_database
from tests.support.webhook import WebhookReceiver

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

# The property-based fuzz suites (test_*_fuzz.py). "ci" (the default) is bounded and
# reproducible: the same examples every run, about half a minute in all; "fuzz" searches for
# new failures: HYPOTHESIS_PROFILE=fuzz python3 dev.py test -k fuzz
hypothesis_settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hypothesis_settings.register_profile(
    "fuzz",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _pg_admin_url() -> str:
    return os.environ.get("MONITOR_TEST_POSTGRES_URL") or DEFAULT_PG


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    admin_url = make_url(_pg_admin_url())
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"monitor_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        reason = (
            f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc.__class__.__name__}"
        )
        if os.environ.get("MONITOR_REQUIRE_POSTGRES"):
            pytest.fail(reason + " (MONITOR_REQUIRE_POSTGRES is set)")
        pytest.skip(reason + "; set MONITOR_TEST_POSTGRES_URL to run these cases")
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    drop_database(admin, name)
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: a SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _migrated(url: str) -> Iterator[Engine]:
    """An engine on ``url``, migrated; a PostgreSQL database (shared by the session) is emptied
    afterwards."""
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    if eng.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with eng.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    eng.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    yield from _migrated(db_url)


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """The real PostgreSQL only, for cases that cannot arise on SQLite (one writer at a time)."""
    yield from _migrated(postgres_url)


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A real webhook receiver on 127.0.0.1, recording what it is sent."""
    r = WebhookReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 with an empty route table."""
    server = LocalServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests: a temp data dir, loopback fetching allowed, short timeouts."""
    return get_settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        allow_private_network=True,
        http={"timeout_s": 2.0, "connect_timeout_s": 2.0, "max_bytes": 2_000_000},
        extraction={"workers": 0},
    )
