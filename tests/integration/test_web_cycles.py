"""The web view over HTTP on a database filled by real cycles: the demo newsroom served on
loopback, read by production cycles (tests/support/pipeline), and the real app under uvicorn on
a loopback port. Each page is checked against the database, on SQLite and PostgreSQL: the Topics
page's counts, each topic timeline's developments, each story's SVG marks, the topic feed's
entries and their ids (stable across fetches and across a further cycle), and the Sources page.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import MonitorConfig, Settings, get_settings, parse_config
from monitor.demo.content import ARTICLES, OUTLETS
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer
from monitor.storage.db import session_factory
from monitor.storage.tables import AlertRow, ArticleRow, SourceRow
from monitor.web import create_app
from monitor.web.views import topic_slugs
from tests.support.pipeline import run_cycle
from tests.support.web import serve, tags

ATOM = "{http://www.w3.org/2005/Atom}"


def _get(base: str, path: str) -> str:
    response = httpx.get(base + path, timeout=30)
    assert response.status_code == 200, (path, response.status_code)
    return response.text


def _feed_ids(base: str, slug: str) -> list[str]:
    root = ET.fromstring(_get(base, f"/topics/{slug}/feed.atom"))
    return [e.findtext(f"{ATOM}id") or "" for e in root.iter(f"{ATOM}entry")]


def _check_pages(base: str, sessions: sessionmaker[Session], config: MonitorConfig) -> int:
    """Check the Topics page, each timeline, story and feed; the developments listed."""
    listed = 0
    topics_page = _get(base, "/")
    rows = re.findall(r'<tr class="topic">(.*?)</tr>', topics_page, re.S)
    assert len(rows) == len(config.topics)
    for row, (slug, topic) in zip(rows, topic_slugs(config.topics).items(), strict=True):
        with sessions() as s:
            mine = AlertRow.topic == topic.name
            alerts = s.execute(
                select(AlertRow.article_id, AlertRow.story_id, AlertRow.development_id).where(mine)
            ).all()
        assert f'href="/topics/{slug}"' in row
        stories = len({a.story_id for a in alerts})
        developments = len({a.development_id for a in alerts})
        assert f'<td class="stories">{stories}</td>' in row
        assert f'<td class="developments">{developments}</td>' in row
        timeline = _get(base, f"/topics/{slug}")
        entries = re.findall(r'<article class="entry">(.*?)</article>', timeline, re.S)
        why = [int(m) for e in entries for m in re.findall(r'href="/articles/(\d+)">why<', e)]
        assert sorted(why) == sorted(a.article_id for a in alerts)
        listed += len(why)
        linked = {int(m) for e in entries for m in re.findall(r'href="/stories/(\d+)">story<', e)}
        assert linked == {a.story_id for a in alerts if a.story_id is not None}
        for story in linked:
            page = _get(base, f"/stories/{story}")
            svg = page[page.index('<svg class="timeline"') : page.index("</svg>")]
            marks = [
                int(attrs["data-article"] or 0)
                for tag, attrs in tags(svg)
                if tag == "a" and "mark" in (attrs.get("class") or "").split()
            ]
            with sessions() as s:
                stored = s.scalars(select(ArticleRow.id).where(ArticleRow.story_id == story))
                assert sorted(marks) == sorted(stored)
            assert marks
        first = _feed_ids(base, slug)
        assert len(first) == len(set(first)) == developments
        assert _feed_ids(base, slug) == first
    return listed


def test_pages_over_http_match_a_database_filled_by_demo_cycles(
    db_url: str, engine: Engine, settings: Settings, local_server: LocalServer
) -> None:
    sessions = session_factory(engine)
    newsroom = Newsroom(local_server, OUTLETS, ARTICLES)
    config = parse_config(newsroom.config(channels=[]))
    for step in range(newsroom.steps - 1):
        newsroom.publish(step)
        run_cycle(sessions, settings, config)
    with sessions() as s:
        assert (s.scalar(select(func.count()).select_from(AlertRow)) or 0) > 0
    web = get_settings(_env_file=None, database_url=db_url, web={"user": "ana"})
    with serve(create_app(web, config)) as base:
        listed = _check_pages(base, sessions, config)
        assert listed > 0
        before = {slug: _feed_ids(base, slug) for slug in topic_slugs(config.topics)}

        newsroom.publish(newsroom.steps - 1)  # a further cycle
        run_cycle(sessions, settings, config)
        assert _check_pages(base, sessions, config) > listed  # it alerted a new development
        after = {slug: _feed_ids(base, slug) for slug in before}
        for slug, ids in before.items():
            assert set(ids) <= set(after[slug])
        assert sum(map(len, after.values())) > sum(map(len, before.values()))

        sources = _get(base, "/sources")
        rows = re.findall(r'<tr class="source">(.*?)</tr>', sources, re.S)
        with sessions() as s:
            failures = dict(
                s.execute(select(SourceRow.name, SourceRow.consecutive_failures)).tuples().all()
            )
            seen = dict(
                s.execute(
                    select(ArticleRow.source_name, func.count()).group_by(ArticleRow.source_name)
                )
                .tuples()
                .all()
            )
        names = sorted(failures)
        assert names == sorted(src.name for src in config.sources)
        assert any(failures.values())  # the demo's outage: one source failing at the last step
        assert len(rows) == len(names)
        for row, name in zip(rows, names, strict=True):
            assert f"<bdi>{name}</bdi>" in row
            assert f"<td>{seen.get(name, 0)}</td>" in row
            health = row[row.index('<td class="health">') :]
            if failures[name]:
                polls = "poll" if failures[name] == 1 else "polls"
                assert f"failing: {failures[name]} {polls} in a row" in health
            else:
                assert re.match(r'<td class="health">\s*ok', health), row
            assert f"{seen.get(name, 0) / 7:.1f}/day over 7 days" in row
