"""The web view's feedback forms over HTTP (a real uvicorn on loopback), on SQLite and
PostgreSQL: CSRF and method checks change nothing; "not my topic" silences the story for the
topic at the next detect() and unmuting restores it; "not new" keeps a repeat of the facts
silent; the pages show the feedback and offer its undoing; the CLI counts it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from monitor.cli import app as cli_app
from monitor.config import MonitorConfig, get_settings
from monitor.models import Article
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow, ArticleRow, FeedbackRow, StoryRow
from monitor.web import create_app
from tests.integration.test_feedback import FILLER, QUOTED, REPEAT, SETTINGS, THIRD
from tests.integration.web_seed import T0, seed
from tests.support.articles import article
from tests.support.web import serve

NOW = T0 + timedelta(days=3)
TOPIC = "Tarrow ferry"
SLUG = "tarrow-ferry"
CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')
LATER = (
    "Demolition of the old Tarrow ferry terminal will begin on 5 May, the harbour council of "
    "Tarrow said. Contractor Brio Bygg will remove the 22 steel piles of the ferry terminal by "
    "August, site manager Ulla Berg said."
)


@dataclass(frozen=True)
class Site:
    base: str
    engine: Engine
    config: MonitorConfig
    db_url: str

    def session(self) -> Session:
        return session_factory(self.engine)()

    def detect(self, *articles: Article) -> None:
        detect(session_factory(self.engine), list(articles), {}, self.config, SETTINGS, now=NOW)


@pytest.fixture
def site(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Site]:
    config, _path = seed(engine, tmp_path)
    settings = get_settings(_env_file=None, database_url=db_url, web={"user": "ana"})
    app = create_app(settings, config, clock=lambda: NOW)
    with serve(app) as base:
        yield Site(base, engine, config, db_url)


def _ferry_story(site: Site) -> int:
    with site.session() as s:
        story = s.scalar(
            select(ArticleRow.story_id).where(ArticleRow.url == "https://gazette.example/1")
        )
    assert story is not None
    return int(story)


def _feedback_rows(site: Site) -> int:
    with site.session() as s:
        return int(s.scalar(select(func.count()).select_from(FeedbackRow)) or 0)


def _browser(site: Site, page: str) -> tuple[httpx.Client, str]:
    """A client that loaded ``page`` (and so holds the CSRF cookie), and the page's token."""
    client = httpx.Client(base_url=site.base, timeout=10)
    response = client.get(page)
    assert response.status_code == 200
    tokens = set(CSRF_INPUT.findall(response.text))
    assert len(tokens) == 1  # every form of the page carries the cookie's token
    token = tokens.pop()
    assert client.cookies.get("monitor_csrf") == token
    return client, token


def _alerts_on(site: Site, story: int) -> list[int]:
    with site.session() as s:
        return list(
            s.scalars(
                select(AlertRow.article_id)
                .where(AlertRow.topic == TOPIC, AlertRow.story_id == story)
                .order_by(AlertRow.id)
            )
        )


def _story_page(site: Site, client: httpx.Client, story: int) -> str:
    response = client.get(f"/stories/{story}")
    assert response.status_code == 200
    return response.text


def test_post_without_a_valid_csrf_token_is_refused(site: Site) -> None:
    story = _ferry_story(site)
    client, token = _browser(site, f"/stories/{story}")
    url = f"/stories/{story}/mute"
    assert client.post(url, data={"topic": SLUG}).status_code == 403  # no field
    assert client.post(url, data={"topic": SLUG, "csrf": "x" * 43}).status_code == 403
    # the right token without the cookie (another site's form cannot read nor set it)
    bare = httpx.post(site.base + url, data={"topic": SLUG, "csrf": token}, timeout=10)
    assert bare.status_code == 403
    assert _feedback_rows(site) == 0
    assert "muted for" not in _story_page(site, client, story)


def test_get_of_an_action_url_changes_nothing(site: Site) -> None:
    story = _ferry_story(site)
    client, token = _browser(site, f"/stories/{story}")
    for url in (
        f"/stories/{story}/mute?topic={SLUG}&csrf={token}",
        f"/stories/{story}/unmute?topic={SLUG}&csrf={token}",
        f"/developments/1/not-new?csrf={token}",
        f"/feedback/1/undo?csrf={token}",
    ):
        assert client.get(url).status_code == 405, url
    assert _feedback_rows(site) == 0


def test_not_my_topic_silences_the_story_until_unmuted(site: Site) -> None:
    story = _ferry_story(site)
    before = _alerts_on(site, story)
    client, token = _browser(site, f"/topics/{SLUG}")
    response = client.post(
        f"/stories/{story}/mute", data={"topic": SLUG, "csrf": token, "back": f"/topics/{SLUG}"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/topics/{SLUG}"
    page = client.get(f"/topics/{SLUG}").text
    assert "muted for <bdi>Tarrow ferry</bdi>: not my topic" in page
    assert "by <bdi>ana</bdi> at 2025-03-07 08:00 UTC" in page
    assert f'action="/stories/{story}/unmute"' in page

    site.detect(article("post", "https://post.example/9", "Tarrow ferry works", THIRD, NOW))
    with site.session() as s:
        third = s.scalars(select(ArticleRow).where(ArticleRow.url == "https://post.example/9"))
        row = third.one()
        assert row.story_id == story
        assert row.is_development
    assert _alerts_on(site, story) == before  # detected, not alerted

    response = client.post(f"/stories/{story}/unmute", data={"topic": SLUG, "csrf": token})
    assert response.status_code == 303
    page = _story_page(site, client, story)
    assert "muted for" not in page
    assert f'action="/stories/{story}/mute"' in page
    site.detect(
        article(
            "herald",
            "https://herald.example/9",
            "Tarrow ferry terminal demolition to start in May",
            LATER,
            NOW,
        )
    )
    with site.session() as s:
        later = s.scalars(
            select(ArticleRow.id).where(ArticleRow.url == "https://herald.example/9")
        ).one()
    assert _alerts_on(site, story) == [*before, later]


def test_mute_for_days_shows_its_end(site: Site) -> None:
    story = _ferry_story(site)
    client, token = _browser(site, f"/stories/{story}")
    response = client.post(
        f"/stories/{story}/mute", data={"topic": SLUG, "csrf": token, "days": "2"}
    )
    assert response.status_code == 303
    assert "until 2025-03-09 08:00 UTC" in _story_page(site, client, story)
    bad = client.post(f"/stories/{story}/mute", data={"topic": SLUG, "csrf": token, "days": "0"})
    assert bad.status_code == 400
    assert _feedback_rows(site) == 1


def test_not_new_keeps_a_repeat_silent_and_can_be_undone(site: Site) -> None:
    story = _ferry_story(site)
    quoted = article(
        "gazette",
        "https://gazette.example/20",
        "Islanders promised uninterrupted crossings",
        QUOTED,
        NOW,
    )
    site.detect(quoted)
    with site.session() as s:
        row = s.scalars(select(ArticleRow).where(ArticleRow.url == quoted.url)).one()
        assert row.story_id == story
        assert row.is_development
        development = row.development_id
    assert development is not None
    client, token = _browser(site, f"/stories/{story}")
    response = client.post(f"/developments/{development}/not-new", data={"csrf": token})
    assert response.status_code == 303
    page = _story_page(site, client, story)
    assert "marked not new by <bdi>ana</bdi> at 2025-03-07 08:00 UTC" in page
    undo = re.search(r'action="(/feedback/\d+/undo)"', page)
    assert undo is not None

    site.detect(
        article("herald", "https://herald.example/21", "Queues at quay", FILLER, NOW),
        article(
            "post",
            "https://post.example/22",
            "Operator pledges no disruption during Tarrow ferry move",
            REPEAT,
            NOW,
        ),
    )
    with site.session() as s:
        repeat = s.scalars(select(ArticleRow).where(ArticleRow.url == "https://post.example/22"))
        row = repeat.one()
        assert not row.is_development
        assert row.development_id == development
    assert row.id not in _alerts_on(site, story)

    result = CliRunner().invoke(
        cli_app, ["feedback", "list", "--json"], env={"MONITOR_DATABASE_URL": site.db_url}
    )
    assert result.exit_code == 0, result.output
    counts = {c["topic"]: c for c in json.loads(result.output)["topics"]}
    assert counts[TOPIC]["not_new"] == 1
    assert counts[TOPIC]["not_my_topic"] == 0
    evaluated = CliRunner().invoke(
        cli_app, ["eval", "feedback", "--json"], env={"MONITOR_DATABASE_URL": site.db_url}
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["topics"] == json.loads(result.output)["topics"]

    assert client.post(undo.group(1), data={"csrf": token}).status_code == 303
    page = _story_page(site, client, story)
    assert "marked not new" not in page
    assert f'action="/developments/{development}/not-new"' in page
    with site.session() as s:
        story_row = s.get(StoryRow, story)
        assert story_row is not None
        assert "known" not in story_row.memory


def test_command_line_feedback_and_counts(db_url: str, engine: Engine, tmp_path: Path) -> None:
    seed(engine, tmp_path)
    with session_factory(engine)() as s:
        story = s.scalar(
            select(ArticleRow.story_id).where(ArticleRow.url == "https://gazette.example/1")
        )
        on_story = s.scalar(
            select(func.count())
            .select_from(AlertRow)
            .where(AlertRow.topic == TOPIC, AlertRow.story_id == story)
        )
        alerts = s.scalar(select(func.count()).select_from(AlertRow).where(AlertRow.topic == TOPIC))
    env = {"MONITOR_DATABASE_URL": db_url, "MONITOR_WEB__USER": "cleo"}

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli_app, ["feedback", *args], env=env)
        return result.exit_code, result.output

    code, out = run("mute", TOPIC, str(story))
    assert code == 0, out
    assert f"story {story} muted for {TOPIC}" in out
    code, out = run("list")
    assert code == 0, out
    assert f"{TOPIC}: {alerts} alerts, 0 not new, {on_story} not my topic" in out
    evaluated = CliRunner().invoke(cli_app, ["eval", "feedback"], env=env)
    assert evaluated.exit_code == 0, evaluated.output
    kept = f"{(alerts - on_story) / alerts:.0%} kept"
    assert f"{TOPIC}: {alerts} alerts, 0 not new, {on_story} not my topic ({kept})" in (
        evaluated.output
    )
    assert f"cleo: story {story} not my topic for {TOPIC}" in out
    assert run("unmute", TOPIC, str(story))[0] == 0
    code, out = run("unmute", TOPIC, str(story))
    assert code == 2
    assert "is not muted" in out
    assert run("mute", "No such topic", str(story))[0] == 2
    assert run("not-new", "999999")[0] == 2
    code, out = run("list", "--json")
    counts = {c["topic"]: c for c in json.loads(out)["topics"]}
    assert counts[TOPIC]["not_my_topic"] == 0  # undone
    assert json.loads(out)["feedback"][0]["undone_by"] == "cleo"
