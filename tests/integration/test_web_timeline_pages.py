"""The topic timeline in pages, over HTTP (uvicorn on a loopback port), on SQLite and PostgreSQL:
the first page shows the newest developments, its "Older" link the next ones, and walking the
links shows every alert once, in order, alerts raised in the same instant included."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, insert

from monitor.alerts.model import AlertContent, payload_from_content
from monitor.config import get_settings, parse_config
from monitor.storage.tables import AlertRow, ArticleRow, DevelopmentRow, StoryRow
from monitor.web import create_app
from tests.support.web import serve
from tests.support.web import tags as _tags

TOPIC = "Harbour works"
SLUG = "harbour-works"
PAGE = 3
T0 = datetime(2025, 5, 6, 9, 0, 0, 123456, tzinfo=UTC)
# Alert times by alert id: three alerts share one instant, and the first page ends among them.
TIMES = {
    1: T0,
    2: T0 + timedelta(minutes=5),
    3: T0 + timedelta(minutes=9),
    4: T0 + timedelta(minutes=9),
    5: T0 + timedelta(minutes=9),
    6: T0 + timedelta(minutes=20),
    7: T0 + timedelta(minutes=30),
}
# Newest first, ties by id, highest first.
EXPECTED = [7, 6, 5, 4, 3, 2, 1]


@dataclass(frozen=True)
class Site:
    base: str


def _fill(engine: Engine) -> None:
    """One story per alert, each with one article, one development and one alert of the topic."""
    stories, articles, developments, alerts = [], [], [], []
    for n, at in TIMES.items():
        url = f"https://quay.example/{n}"
        stories.append(
            {
                "id": n,
                "headline": f"Quay {n} rebuilt",
                "first_seen_at": at,
                "last_seen_at": at,
                "article_count": 1,
                "outlets": ["quay"],
                "state": {},
                "memory": {},
            }
        )
        articles.append(
            {
                "id": n,
                "source_name": "quay",
                "url": url,
                "canonical_url": url,
                "title": f"Harbour quay {n} rebuilt",
                "text": f"The harbour rebuilt quay {n}.",
                "fetched_at": at,
                "published_at": at,
                "content_hash": f"{n:064x}",
                "story_id": n,
                "is_development": True,
                "development_id": n,
                "authors": [],
                "decision": {},
            }
        )
        developments.append(
            {
                "id": n,
                "story_id": n,
                "article_id": n,
                "facts": [f"Quay {n} was rebuilt."],
                "created_at": at,
            }
        )
        content = AlertContent(
            alert_id=n,
            idempotency_key=f"{TOPIC}:{n}",
            topic=TOPIC,
            story_id=n,
            story_headline=f"Quay {n} rebuilt",
            article_id=n,
            title=f"Harbour quay {n} rebuilt",
            url=url,
            source="quay",
            facts=(f"Quay {n} was rebuilt.",),
            reason="harbour (title)",
            first_reported_at=at,
            published_at=at,
            outlets=("quay",),
            created_at=at,
        )
        alerts.append(
            {
                "id": n,
                "idempotency_key": content.idempotency_key,
                "topic": TOPIC,
                "article_id": n,
                "story_id": n,
                "development_id": n,
                "reason": content.reason,
                "payload": payload_from_content(content),
                "created_at": at,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(StoryRow), stories)
        conn.execute(insert(ArticleRow), articles)
        conn.execute(insert(DevelopmentRow), developments)
        conn.execute(insert(AlertRow), alerts)


@pytest.fixture
def site(db_url: str, engine: Engine) -> Iterator[Site]:
    _fill(engine)
    config = parse_config({"topics": [{"name": TOPIC, "query": "harbour"}]})
    settings = get_settings(_env_file=None, database_url=db_url)
    with serve(create_app(settings, config, page_size=PAGE)) as base:
        yield Site(base)


def _page(site: Site, path: str) -> tuple[list[int], str | None, str]:
    """The article ids the page shows, in order, its "Older" link and the page."""
    response = httpx.get(site.base + path, timeout=10)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    page = response.text
    entries = re.findall(r'<article class="entry">(.*?)</article>', page, re.S)
    shown = [int(m) for e in entries for m in re.findall(r'href="/articles/(\d+)"', e)]
    older = [a["href"] for t, a in _tags(page) if t == "a" and a.get("class") == "older"]
    assert len(older) <= 1
    return shown, (str(older[0]) if older else None), page


def test_first_page_shows_the_newest_and_older_links_show_the_rest_once(site: Site) -> None:
    shown, older, page = _page(site, f"/topics/{SLUG}")
    assert shown == EXPECTED[:PAGE]  # 7, 6, then 5 of the three alerts of one instant
    assert older is not None
    assert older.startswith(f"/topics/{SLUG}?before=")
    assert ">Newest</a>" not in page

    seen = list(shown)
    pages = 1
    while older is not None:
        shown, older, page = _page(site, older)
        pages += 1
        assert shown, "an Older link led to an empty page"
        assert ">Newest</a>" in page
        seen.extend(shown)
    assert seen == EXPECTED  # nothing lost or repeated at a boundary, ties included
    assert pages == 3


def test_a_later_page_keeps_its_place_for_feedback_and_rejects_bad_cursors(site: Site) -> None:
    _, older, _ = _page(site, f"/topics/{SLUG}")
    assert older is not None
    _, _, page = _page(site, older)
    backs = {str(a["value"]) for t, a in _tags(page) if t == "input" and a.get("name") == "back"}
    assert backs == {older}  # a feedback form returns to the page it was sent from

    for bad in ("x", "20250506T090000.123456Z", "20250506T090000Z-3", "-3", "2025-05-06-3"):
        response = httpx.get(f"{site.base}/topics/{SLUG}?before={bad}", timeout=10)
        assert response.status_code == 400, bad

    shown, older, page = _page(site, f"/topics/{SLUG}?before=20000101T000000.000000Z-1")
    assert shown == []
    assert older is None
    assert "No older alerts." in page
