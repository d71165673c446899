"""The web view's search page over HTTP: a real uvicorn on a loopback port, a database filled
by detect() (SQLite and PostgreSQL). What a topic query would have alerted on, malformed and
hostile queries, and the parameters it refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from monitor.config import get_settings
from monitor.web import create_app
from monitor.web.search import MAX_QUERY
from tests.integration.web_seed import RLO, T0, seed
from tests.support.web import serve
from tests.support.web import tags as _tags

NOW = T0 + timedelta(days=3)


@pytest.fixture
def base(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[str]:
    config, _ = seed(engine, tmp_path)
    settings = get_settings(_env_file=None, database_url=db_url)
    with serve(create_app(settings, config, clock=lambda: NOW)) as url:
        yield url


def _search(base: str, **params: str) -> httpx.Response:
    return httpx.get(f"{base}/search", params=params, timeout=30)


def _stories(page: str) -> list[str]:
    return re.findall(r'<section class="story-hits">(.*?)</section>', page, re.S)


def test_topics_page_has_the_search_form(base: str) -> None:
    tags = _tags(httpx.get(base + "/", timeout=10).text)
    forms = [a for t, a in tags if t == "form" and a.get("action") == "/search"]
    assert forms == [{"class": "search", "method": "get", "action": "/search"}]
    names = {a.get("name") for t, a in tags if t in {"input", "select"}}
    assert {"q", "relevance", "since"} <= names


def test_search_finds_the_seeded_story_grouped_with_links(base: str) -> None:
    response = _search(base, q="tarrow AND ferry")
    assert response.status_code == 200
    page = response.text
    assert "3 alerts it would have raised" in page
    stories = _stories(page)
    # the hostile article's story (newest alert) first, then the ferry story with two alerts
    assert len(stories) == 2
    assert 'href="/stories/1"' in stories[1]
    ferry = re.findall(r'<li class="hit">(.*?)</li>', stories[1], re.S)
    assert len(ferry) == 2
    assert 'href="/articles/1"' in ferry[0]
    assert "Tarrow to close ferry terminal" in ferry[0]
    assert 'href="https://gazette.example/1"' in ferry[0]
    assert "Kell Lines adds a second ferry" in ferry[1]
    assert "Why: " in ferry[0]
    assert "tarrow" in ferry[0].split("Why: ")[1].lower()
    # the copy (article 2) never alerts, and the choir story does not match
    assert 'href="/articles/2"' not in page
    assert "Fenwick" not in page
    assert "Borderline: 0" in page


def test_search_with_no_match_and_since(base: str) -> None:
    assert "No stored article would have alerted" in _search(base, q="zeppelin").text
    choir = _search(base, q="fenwick AND choir", since="7d").text
    assert "1 alert it would have raised" in choir
    assert "Fenwick choir wins" in choir
    # the clock is three days after the articles: a day back finds none of them
    recent = _search(base, q="fenwick AND choir", since="1d")
    assert recent.status_code == 200
    assert "0 alerts it would have raised" in recent.text
    assert _search(base, q="choir", since="2025-03-05").text.count('<li class="hit">') == 1
    refused = _search(base, q="choir", since="yesterday")
    assert refused.status_code == 400
    assert "since must be" in refused.text


def test_malformed_query_is_400_with_the_position(base: str) -> None:
    response = _search(base, q="tarrow AND (ferry")
    assert response.status_code == 400
    page = response.text
    assert "unbalanced &#39;(&#39; (missing &#39;)&#39;) at position 11" in page
    assert '<p class="query">tarrow AND <mark>(</mark>ferry</p>' in page
    assert '<h2 id="alerts">' not in page
    # the form keeps the query, to correct it
    assert 'value="tarrow AND (ferry"' in page


def test_hostile_query_is_echoed_escaped(base: str) -> None:
    hostile = f"<script>alert(1)</script> <img/src=x/onerror=alert> {RLO}gnp.exe\x07"
    for query, status in ((hostile, 200), (hostile + ' "><b onclick=x>', 400)):
        response = _search(base, q=query)
        assert response.status_code == status, response.text[:300]
        page = response.text
        assert "<script" not in page.lower()
        assert "<img" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert RLO not in page
        assert "\\u202e" in page
        assert "\x07" not in page
        for tag, attrs in _tags(page):
            for name in attrs:
                assert not name.startswith("on"), (tag, name)


def test_relevance_is_validated(base: str) -> None:
    refused = _search(base, q="tarrow", relevance="<b>loose</b>")
    assert refused.status_code == 400
    assert "relevance must be one of anywhere, prominent, strict" in refused.text
    assert "<b>" not in refused.text
    anywhere = _search(base, q="tarrow AND ferry", relevance="anywhere")
    assert anywhere.status_code == 200
    assert "Borderline" not in anywhere.text  # every mention counts: nothing is borderline
    selected = [
        a.get("value") for t, a in _tags(anywhere.text) if t == "option" and "selected" in a
    ]
    assert selected == ["anywhere"]
    assert _search(base, q="tarrow AND ferry", relevance="strict").status_code == 200


def test_query_length_is_bounded(base: str) -> None:
    longest = " OR ".join(["ferry"] * 200)[:MAX_QUERY].rsplit(" OR", 1)[0]
    assert _search(base, q=longest).status_code == 200
    response = _search(base, q="ferry " * 100)
    assert response.status_code == 400
    assert f"at most {MAX_QUERY}" in response.text


def test_empty_search_shows_the_form_only(base: str) -> None:
    response = _search(base, q="   ")
    assert response.status_code == 200
    assert '<h2 id="alerts">' not in response.text
    assert 'action="/search"' in response.text
