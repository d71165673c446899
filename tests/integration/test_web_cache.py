"""The web view keeps rendered timelines, story pages and feeds while the database is unchanged
(over HTTP, a real uvicorn on loopback, SQLite and PostgreSQL): a second request is served kept;
a write by another connection, or by the page's own feedback form, makes the next one fresh; each
visitor still gets their own CSRF token; a mute that ends is not shown past its end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select, update

from monitor.config import MonitorConfig, get_settings
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.storage.tables import ArticleRow, SourceRow
from monitor.web import create_app
from monitor.web.cache import PageCache
from tests.integration.test_feedback import SETTINGS
from tests.integration.test_web_feedback import CSRF_INPUT, LATER, NOW, SLUG
from tests.integration.web_seed import seed
from tests.support.articles import article
from tests.support.web import Clock, serve

KEPT = 'page;desc="kept"'
BUILT = 'page;desc="built"'


@dataclass
class Site:
    base: str
    engine: Engine
    config: MonitorConfig
    clock: Clock

    def story(self) -> int:
        with session_factory(self.engine)() as s:
            found = s.scalar(
                select(ArticleRow.story_id).where(ArticleRow.url == "https://gazette.example/1")
            )
        assert found is not None
        return int(found)


@pytest.fixture
def site(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Site]:
    config, _path = seed(engine, tmp_path)
    clock = Clock(NOW)
    settings = get_settings(_env_file=None, database_url=db_url, web={"user": "ana"})
    with serve(create_app(settings, config, clock=clock)) as base:
        yield Site(base, engine, config, clock)


def _get(client: httpx.Client, path: str) -> httpx.Response:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return response


def test_pages_are_kept_until_another_connection_writes(site: Site) -> None:
    story = site.story()
    paths = [f"/topics/{SLUG}", f"/stories/{story}", f"/topics/{SLUG}/feed.atom"]
    paths.append(f"/stories/{story}/feed.atom")
    with httpx.Client(base_url=site.base, timeout=10) as client:
        first = {p: _get(client, p) for p in paths}
        again = {p: _get(client, p) for p in paths}
        for path in paths:
            assert first[path].headers["server-timing"] == BUILT, path
            assert again[path].headers["server-timing"] == KEPT, path
            assert again[path].text == first[path].text
        # a cycle (another connection: the test's own engine) stores a follow-up
        headline = "Tarrow ferry terminal demolition to start in May"
        detect(
            session_factory(site.engine),
            [article("herald", "https://herald.example/9", headline, LATER, NOW)],
            {},
            site.config,
            SETTINGS,
            now=NOW,
        )
        after = {p: _get(client, p) for p in paths}
        for path in paths:
            assert after[path].headers["server-timing"] == BUILT, path
            assert headline in after[path].text, path
        assert _get(client, paths[0]).headers["server-timing"] == KEPT


def test_a_write_to_a_table_no_page_shows_still_renews_them(site: Site) -> None:
    """The mark is the database's, not a guess at which rows a page reads."""
    path = f"/topics/{SLUG}"
    with httpx.Client(base_url=site.base, timeout=10) as client:
        _get(client, path)
        assert _get(client, path).headers["server-timing"] == KEPT
        with site.engine.begin() as conn:
            changed = conn.execute(
                update(SourceRow).values(consecutive_failures=SourceRow.consecutive_failures + 1)
            )
            assert changed.rowcount > 0
        assert _get(client, path).headers["server-timing"] == BUILT


def test_every_visitor_gets_their_own_csrf_token_from_a_kept_page(site: Site) -> None:
    path = f"/stories/{site.story()}"
    tokens = []
    for _ in range(3):
        with httpx.Client(base_url=site.base, timeout=10) as client:
            response = _get(client, path)
            found = set(CSRF_INPUT.findall(response.text))
            assert found == {client.cookies.get("monitor_csrf")}
            tokens.append(found.pop())
            last = response.headers["server-timing"]
    assert last == KEPT
    assert len(set(tokens)) == 3


def test_the_pages_own_feedback_form_renews_them(site: Site) -> None:
    story = site.story()
    with httpx.Client(base_url=site.base, timeout=10) as client:
        page = _get(client, f"/stories/{story}")
        assert _get(client, f"/stories/{story}").headers["server-timing"] == KEPT
        token = CSRF_INPUT.findall(page.text)[0]
        posted = client.post(f"/stories/{story}/mute", data={"topic": SLUG, "csrf": token})
        assert posted.status_code == 303
        after = _get(client, f"/stories/{story}")
        assert after.headers["server-timing"] == BUILT
        assert "muted for <bdi>Tarrow ferry</bdi>" in after.text


def test_a_mute_is_not_shown_past_its_end(site: Site) -> None:
    story = site.story()
    path = f"/stories/{story}"
    with httpx.Client(base_url=site.base, timeout=10) as client:
        token = CSRF_INPUT.findall(_get(client, path).text)[0]
        posted = client.post(f"{path}/mute", data={"topic": SLUG, "csrf": token, "days": "2"})
        assert posted.status_code == 303
        assert "until 2025-03-09 08:00 UTC" in _get(client, path).text
        site.clock.at = NOW + timedelta(days=1)
        assert _get(client, path).headers["server-timing"] == KEPT  # no change, still muted
        site.clock.at = NOW + timedelta(days=2, seconds=1)
        ended = _get(client, path)  # the database did not change: only the time did
        assert ended.headers["server-timing"] == BUILT
        assert "muted for" not in ended.text


def test_no_mark_means_nothing_is_kept(tmp_path: Path) -> None:
    memory = create_engine("sqlite://")
    cache = PageCache(memory)
    assert cache.mark() is None
    built = []

    def build() -> tuple[str, None]:
        built.append(1)
        return "page", None

    assert not cache.serve("k", NOW, build).hit
    assert not cache.serve("k", NOW, build).hit
    assert len(built) == 2
    on_file = create_engine(f"sqlite:///{tmp_path / 'kept.db'}")
    kept = PageCache(on_file)
    assert kept.mark() is not None
    assert not kept.serve("k", NOW, build).hit
    assert kept.serve("k", NOW, build).hit
    assert len(built) == 3
    kept.close()
    on_file.dispose()
