"""The web view over HTTP: a real uvicorn on a loopback port serving the app over a database
filled by detect(), on SQLite and PostgreSQL. Pages, escaping of hostile stored content,
security headers, the access token and the ``monitor web`` command itself."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from monitor.cli import app as cli_app
from monitor.config import MonitorConfig, Settings, get_settings
from monitor.errors import ConfigError
from monitor.storage.db import make_engine
from monitor.storage.tables import ArticleRow, DevelopmentRow
from monitor.web import create_app
from monitor.web.app import SECURITY_HEADERS, read_only_engine
from tests.integration.web_seed import HOSTILE_URL, RLO, T0, seed
from tests.support.web import serve
from tests.support.web import tags as _tags

NOW = T0 + timedelta(days=3)


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine
    config: MonitorConfig
    config_path: Path
    db_url: str


def _settings(db_url: str, **overrides: object) -> Settings:
    return get_settings(_env_file=None, database_url=db_url, **overrides)


@pytest.fixture
def site(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Site]:
    config, path = seed(engine, tmp_path)
    app = create_app(_settings(db_url), config, clock=lambda: NOW)
    with serve(app) as base:
        yield Site(base, engine, config, path, db_url)


def _get(site: Site, path: str) -> httpx.Response:
    response = httpx.get(site.base + path, timeout=10)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response


def test_topics_page_lists_each_topic_with_counts(site: Site) -> None:
    page = _get(site, "/").text
    rows = re.findall(r'<tr class="topic">(.*?)</tr>', page, re.S)
    assert len(rows) == 3
    ferry, choir, quiet = rows
    assert 'href="/topics/tarrow-ferry"' in ferry
    assert "tarrow AND ferry" in ferry
    # three alerts (developments 1, 2 and the hostile one) on two stories, all within the week
    assert '<td class="stories">2</td>' in ferry
    assert '<td class="developments">3</td>' in ferry
    assert '<td class="week">3</td>' in ferry
    assert "pending 3" in ferry  # one webhook delivery per alert, not sent yet
    assert "dead 0" in ferry
    assert 'href="/topics/choir-fenwick"' in choir
    assert "Fenwick choir wins" in choir
    assert "none yet" in quiet


def test_topic_timeline_newest_first_with_facts_carriers_and_reason(site: Site) -> None:
    page = _get(site, "/topics/tarrow-ferry").text
    entries = re.findall(r'<article class="entry">(.*?)</article>', page, re.S)
    assert len(entries) == 3
    # the hostile article (newest), the follow-up, then the first report
    assert "onerror" in entries[0]
    assert "Kell Lines adds a second ferry" in entries[1]
    # nobody else reported the follow-up: the story's other outlets are not "carriers" of it
    assert "Also carried by" not in entries[1]
    assert "Other outlets on the story:" in entries[1]
    first = entries[2]
    assert "<blockquote><bdi>The harbour council of Tarrow voted" in first
    assert "Reported by <strong><bdi>gazette</bdi></strong> at 2025-03-04 08:00 UTC" in first
    assert 'href="https://herald.example/3"' in first  # also carried by, linked
    assert 'href="https://post.example/2"' in first
    assert "Why it matched:" in first
    assert "tarrow" in first.split("Why it matched:")[1].lower()
    assert 'href="https://gazette.example/1"' in first
    assert httpx.get(site.base + "/topics/no-such-topic").status_code == 404


def test_story_page_draws_one_mark_per_article(site: Site) -> None:
    page = _get(site, "/stories/1").text
    svg = page[page.index("<svg") : page.index("</svg>")]
    marks = [attrs for tag, attrs in _tags(svg) if tag == "a" and attrs.get("class") == "mark"]
    with site.engine.connect() as conn:
        articles = conn.scalar(
            select(func.count()).select_from(ArticleRow).where(ArticleRow.story_id == 1)
        )
        developments = conn.scalar(
            select(func.count()).select_from(DevelopmentRow).where(DevelopmentRow.story_id == 1)
        )
    assert len(marks) == articles == 4
    roles = sorted(str(m["data-role"]) for m in marks)
    assert roles == ["development", "development", "duplicate", "report"]
    assert roles.count("development") == developments
    assert svg.count("<circle") == 2
    assert svg.count("<rect") == 1
    assert svg.count("<path") == 1
    assert "src=" not in svg
    assert "<image" not in svg
    assert "<script" not in svg.lower()
    # one row per outlet
    assert list(re.findall(r"<text x=\"4\"[^>]*>([^<]*)</text>", svg)) == [
        "gazette",
        "post",
        "herald",
    ]
    devs = re.findall(r'<article class="entry development">(.*?)</article>', page, re.S)
    assert len(devs) == 2
    assert "Kell Lines said on Thursday" in devs[1]
    assert "Also carried by:" in devs[0]
    assert "herald" in devs[0]
    assert httpx.get(site.base + "/stories/999").status_code == 404


def test_article_page_says_what_explain_says(site: Site) -> None:
    page = _get(site, "/articles/4").text
    assert "Outcome: <strong>development</strong>" in page
    assert 'href="/topics/tarrow-ferry"' in page
    assert "alert 2" in page
    assert "joined story 1" in page
    assert "[NEW ] Kell Lines said on Thursday" in page
    assert "Tarrow ferry</bdi> (prominent): matches" in page
    copy = _get(site, "/articles/2").text
    assert 'Duplicate of <a href="/articles/1">article 1</a>' in copy
    assert "Alerted: none" in copy


def test_hostile_stored_content_is_escaped_and_never_linked(site: Site) -> None:
    for path in ("/", "/topics/tarrow-ferry", "/stories/3", "/articles/6"):
        page = _get(site, path).text
        assert "<script" not in page.lower(), path
        assert "<img" not in page, path
        assert "<b " not in page, path
        assert "&lt;script&gt;" in page, path
        assert RLO not in page, path  # the override is shown, not obeyed
        assert "\\u202e" in page, path
        assert "\x07" not in page, path
        for tag, attrs in _tags(page):
            for name, value in attrs.items():
                assert not name.startswith("on"), (path, tag, name)
                if name in {"href", "src"}:
                    assert value is not None
                    assert value.startswith(("/", "http://", "https://")), (path, value)
        assert HOSTILE_URL not in page, path


def test_security_headers_on_every_response(site: Site) -> None:
    for path in (
        "/",
        "/topics/tarrow-ferry",
        "/stories/1",
        "/articles/1",
        "/style.css",
        "/topics/tarrow-ferry/feed.atom",
        "/nowhere",
        "/stories/999",
        "/sources",
        "/deliveries",
    ):
        response = httpx.get(site.base + path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    css = httpx.get(site.base + "/style.css")
    assert css.headers["content-type"].startswith("text/css")


def test_pages_have_no_inline_script_or_style(site: Site) -> None:
    for path in ("/", "/topics/tarrow-ferry", "/stories/1", "/articles/1"):
        tags = _tags(_get(site, path).text)
        assert not [t for t, _ in tags if t in {"script", "style", "iframe"}], path
        assert not [a for _, a in tags if "style" in a], path


def test_the_web_view_never_writes(site: Site) -> None:
    """Its connections refuse writes (SQLite query_only, PostgreSQL read-only sessions)."""
    engine = read_only_engine(site.db_url)
    try:
        refused = pytest.raises(DBAPIError, match=r"(?i)read.?only|attempt to write")
        with refused, engine.begin() as conn:
            conn.execute(text("UPDATE stories SET headline = 'x'"))
    finally:
        engine.dispose()
    # and while it serves, a writer commits without waiting for it
    with site.engine.begin() as conn:
        conn.execute(text("UPDATE stories SET headline = 'Renamed' WHERE id = 2"))
    assert "Renamed" in _get(site, "/stories/2").text


def test_token_is_required_when_set(db_url: str, engine: Engine, tmp_path: Path) -> None:
    config, _ = seed(engine, tmp_path)
    app = create_app(_settings(db_url, web={"token": "s3cret-token"}), config)
    with serve(app) as base:
        denied = httpx.get(base + "/")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert "s3cret" not in denied.text
        assert httpx.get(base + "/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(
            base + "/topics/tarrow-ferry", headers={"Authorization": "Bearer s3cret-token"}
        )
        assert ok.status_code == 200
        assert httpx.get(base + "/?token=wrong").status_code == 401
        with httpx.Client(base_url=base) as browser:
            first = browser.get("/stories/1?token=s3cret-token&x=1")
            assert first.status_code == 303
            assert first.headers["location"] == "/stories/1?x=1"
            cookie = first.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
            assert "s3cret-token" not in cookie
            assert browser.get("/stories/1").status_code == 200  # the cookie now
            assert browser.get("/topics/tarrow-ferry/feed.atom").status_code == 200


def test_schema_not_at_head_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_engine(url).dispose()
    with pytest.raises(ConfigError, match="monitor db upgrade"):
        create_app(_settings(url), MonitorConfig())


def test_web_command_refuses_a_public_address_without_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_WEB__TOKEN", raising=False)
    config = tmp_path / "monitor.yaml"
    config.write_text("topics: []\n", encoding="utf-8")
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        result = CliRunner().invoke(cli_app, ["web", "--config", str(config), "--host", host])
        assert result.exit_code == 2, result.output
        assert "MONITOR_WEB__TOKEN" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_web_command_serves_the_pages(site: Site, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "MONITOR_DATABASE_URL": site.db_url,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("MONITOR_WEB__TOKEN", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from monitor.cli import main; main()",
            "web",
            "--config",
            str(site.config_path),
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/topics/tarrow-ferry", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "monitor web did not answer"
                time.sleep(0.2)
        assert response.status_code == 200
        assert "Kell Lines adds a second ferry" in response.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sources_page_shows_health_with_secrets_masked(site: Site) -> None:
    page = _get(site, "/sources").text
    rows = re.findall(r'<tr class="source">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    gazette, post = rows
    assert "ok" in gazette
    assert "failing: 5 polls in a row" in post
    assert "TransientFetchError" in post
    assert "not polled until" in post  # asked to wait (Retry-After)
    assert "SECRET123" not in page
    assert "&lt;script&gt;alert(7)" in page
    assert "<script" not in page.lower()


def test_sources_page_shows_rhythm_schedule_class_quiet_and_found_feed(site: Site) -> None:
    later = NOW + timedelta(days=400)  # after the server's own clock, whenever the test runs
    with site.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE sources SET new_per_day = 3, next_poll_at = :later, robots = 'ignore', "
                "feed_url = 'https://gazette.example/rss?apikey=FEEDSECRET', "
                "feed_choice = 'rss found by its page link' WHERE name = 'gazette'"
            ),
            {"later": later},
        )
        conn.execute(text("UPDATE sources SET failure_class = 'hard' WHERE name != 'gazette'"))
    page = _get(site, "/sources").text
    gazette, post = re.findall(r'<tr class="source">(.*?)</tr>', page, re.S)
    assert "~3 new/day" in gazette
    assert "next poll" in gazette
    assert "found on its page (rss found by its page link)" in gazette
    assert "robots.txt ignored (config)" in gazette
    assert "FEEDSECRET" not in page
    assert "(hard failure)" in post
    with site.engine.begin() as conn:
        conn.execute(
            text("UPDATE sources SET quiet = :q, last_new_entry_at = :t WHERE name = 'gazette'"),
            {"q": True, "t": NOW},
        )
    gazette, _ = re.findall(r'<tr class="source">(.*?)</tr>', _get(site, "/sources").text, re.S)
    assert "quiet: nothing new since" in gazette


def test_deliveries_page_lists_failed_and_dead(site: Site) -> None:
    assert "None: every delivery went out" in _get(site, "/deliveries").text
    error = "HTTP 410 from https://hooks.example/monitor?token=TOPSECRET <script>alert(8)</script>"
    later = NOW + timedelta(minutes=5)
    with site.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE deliveries SET state = 'dead', attempts = 8, last_error = :e WHERE id = 1"
            ),
            {"e": error},
        )
        conn.execute(
            text(
                "UPDATE deliveries SET state = 'failed', attempts = 2, last_error = 'timeout', "
                "next_attempt_at = :t WHERE id = 2"
            ),
            {"t": later},
        )
    page = _get(site, "/deliveries").text
    rows = re.findall(r'<tr class="delivery">(.*?)</tr>', page, re.S)
    assert len(rows) == 2
    states = sorted(re.findall(r'<td class="state-(\w+)">', page))
    assert states == ["dead", "failed"]
    assert "TOPSECRET" not in page
    assert "&lt;script&gt;alert(8)" in page
    assert "<script" not in page.lower()
    assert later.strftime("%Y-%m-%d %H:%M UTC") in page
    topics = _get(site, "/").text
    assert "failed 1" in topics
    assert "dead 1" in topics
    assert "pending 1" in topics


def test_app_from_env_serves_the_same_pages(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from monitor.web import app_from_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONITOR_DATABASE_URL", site.db_url)
    monkeypatch.setenv("MONITOR_CONFIG_FILE", str(site.config_path))
    with serve(app_from_env()) as base:
        response = httpx.get(base + "/topics/tarrow-ferry")
    assert response.status_code == 200
    assert "Kell Lines adds a second ferry" in response.text
