"""``monitor check``: a config's sources tried against a real HTTP server, the database looked at
(SQLite and PostgreSQL), nothing stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.demo.server import LocalServer, Route
from monitor.storage.db import head_revisions, make_engine, upgrade
from monitor.storage.tables import ArticleRow, SourceRow

RSS = "application/rss+xml; charset=utf-8"


def _rss(items: list[tuple[str, datetime | None]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://gazette.test/{n}</link>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + "</item>"
        for n, (title, when) in enumerate(items)
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title>"
        f"<link>https://gazette.test/</link><description>x</description>{entries}</channel></rss>"
    ).encode()


def _newsroom(server: LocalServer, now: datetime) -> dict[str, str]:
    server.table.set(
        "/dated.xml",
        Route(
            content_type=RSS,
            body=_rss([("Ferry", now - timedelta(hours=30)), ("Quay", now - timedelta(hours=3))]),
        ),
    )
    server.table.set("/undated.xml", Route(content_type=RSS, body=_rss([("Ferry", None)])))
    updated = (now - timedelta(hours=1)).isoformat()
    server.table.set(
        "/atom.xml",
        Route(
            content_type="application/atom+xml",
            body=(
                "<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>G</title>"
                f"<id>urn:g</id><updated>{updated}</updated><entry><title>Ferry</title>"
                f"<id>urn:g:1</id><link href='https://gazette.test/1'/><updated>{updated}</updated>"
                "</entry></feed>"
            ).encode(),
        ),
    )
    server.table.set("/empty.xml", Route(content_type=RSS, body=_rss([])))
    server.table.set("/gone.xml", Route(status=404, body=b"<html>gone</html>"))
    return {
        "dated": server.url("/dated.xml"),
        "atom": server.url("/atom.xml"),
        "undated": server.url("/undated.xml"),
        "empty": server.url("/empty.xml"),
        "gone": server.url("/gone.xml"),
    }


def _config(tmp_path: Path, feeds: dict[str, str]) -> Path:
    path = tmp_path / "monitor.yaml"
    config = {
        "sources": [{"name": name, "url": url} for name, url in feeds.items()]
        + [{"name": "switched off", "url": "https://off.test/rss", "enabled": False}],
        "topics": [{"name": "ferry", "query": "ferry"}],
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("MONITOR_ALLOW_PRIVATE_NETWORK", "true")
    monkeypatch.setenv("MONITOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MONITOR_DATABASE_URL", raising=False)
    return tmp_path / "data" / "monitor.db"


def test_check_reports_every_source_and_stores_nothing(
    env: Path, tmp_path: Path, local_server: LocalServer
) -> None:
    feeds = _newsroom(local_server, datetime.now(UTC))
    result = CliRunner().invoke(app, ["check", "--config", str(_config(tmp_path, feeds))])
    assert result.exit_code == 1, result.output  # a source failed
    lines = {line.split()[1]: line for line in result.output.splitlines() if line[:6] == "source"}
    assert set(lines) == {"dated", "atom", "undated", "empty", "gone"}  # not the disabled one
    assert " ok " in lines["dated"]
    assert "rss, 2 entries, newest " in lines["dated"]
    assert "(3 h ago)" in lines["dated"]
    assert "with an updated time" not in lines["dated"]  # an RSS pubDate is not an update
    assert "atom, 1 entry, newest " in lines["atom"]
    assert lines["atom"].endswith(", 1 with an updated time")
    assert "WARNING" in lines["undated"]
    assert "no entry has a date" in lines["undated"]
    assert "WARNING" in lines["empty"]
    assert "no entries" in lines["empty"]
    assert "FAILED" in lines["gone"]
    assert "PermanentFetchError: HTTP 404" in lines["gone"]
    assert "not created yet" in result.output
    assert "the database and 5 sources: 1 failed, 2 with warnings" in result.output
    assert not env.exists()  # the check created no database
    # Each feed was asked once, without validators.
    asked = [r for r in local_server.table.requests if r.path.endswith(".xml")]
    assert len(asked) == 5
    assert not any("if-none-match" in {k.lower() for k in r.headers} for r in asked)


def test_check_passes_on_a_good_config_and_reads_the_database(
    env: Path,
    tmp_path: Path,
    local_server: LocalServer,
    db_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    feeds = _newsroom(local_server, datetime.now(UTC))
    config = _config(tmp_path, {"dated": feeds["dated"]})
    result = CliRunner().invoke(app, ["check", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.output)
    assert [(f["what"], f["name"], f["status"]) for f in findings] == [
        ("database", make_engine(db_url).url.get_backend_name(), "ok"),
        ("source", "dated", "ok"),
    ]
    assert "the latest" in findings[0]["detail"]
    with engine.connect() as conn:  # nothing stored
        assert conn.scalar(select(func.count()).select_from(SourceRow)) == 0
        assert conn.scalar(select(func.count()).select_from(ArticleRow)) == 0


def test_check_says_when_the_database_cannot_be_reached(
    env: Path, tmp_path: Path, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "MONITOR_DATABASE_URL", "postgresql+psycopg://monitor:hunter2@127.0.0.1:9/monitor"
    )
    feeds = _newsroom(local_server, datetime.now(UTC))
    config = _config(tmp_path, {"dated": feeds["dated"]})
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 1
    database = next(line for line in result.output.splitlines() if line.startswith("database"))
    assert "FAILED" in database
    assert "cannot connect" in database
    assert "hunter2" not in result.output  # the password is never printed


def test_check_of_an_older_schema_says_the_next_run_migrates_it(
    env: Path, tmp_path: Path, local_server: LocalServer
) -> None:
    engine = make_engine(f"sqlite:///{env}")
    upgrade(engine, "0002")
    engine.dispose()
    feeds = _newsroom(local_server, datetime.now(UTC))
    config = _config(tmp_path, {"dated": feeds["dated"]})
    result = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    latest = ", ".join(sorted(head_revisions()))
    assert f"schema at revision 0002, the next run migrates it to {latest}" in result.output
