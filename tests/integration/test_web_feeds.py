"""Atom feeds over HTTP (a real uvicorn) and from ``monitor export-feed``, on SQLite and
PostgreSQL: parsed by feedparser and checked against the RFC 4287 rules readers depend on,
with hostile stored titles; stable entry ids and conditional GET."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import feedparser
import httpx
import pytest
from lxml import etree
from sqlalchemy import Engine
from typer.testing import CliRunner

from monitor.cli import app as cli_app
from monitor.config import MonitorConfig, get_settings
from monitor.detection_settings import DetectionSettings
from monitor.pipeline.detect import detect
from monitor.storage.db import session_factory
from monitor.web import create_app
from tests.integration.web_seed import FERRY, RLO, T0, seed
from tests.support.articles import article
from tests.support.web import serve

A = "{http://www.w3.org/2005/Atom}"
BASE = "https://monitor.example"
TOPIC_FEED = "/topics/tarrow-ferry/feed.atom"


@dataclass(frozen=True)
class FeedSite:
    base: str
    engine: Engine
    config: MonitorConfig
    config_path: Path
    db_url: str


@pytest.fixture
def feeds(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[FeedSite]:
    config, path = seed(engine, tmp_path)
    settings = get_settings(_env_file=None, database_url=db_url, web={"base_url": BASE + "/"})
    with serve(create_app(settings, config)) as base:
        yield FeedSite(base, engine, config, path, db_url)


def _fetch(site: FeedSite, path: str, **headers: str) -> httpx.Response:
    return httpx.get(site.base + path, headers=headers, timeout=10)


def _check_rfc4287(body: bytes) -> ET.Element:
    """The rules of RFC 4287 readers depend on; returns the parsed feed."""
    etree.fromstring(body, etree.XMLParser(recover=False, resolve_entities=False))  # strict
    root = ET.fromstring(body)
    assert root.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{A}{name}")) == 1, name
    assert root.findtext(f"{A}id", "").startswith("tag:")
    datetime.fromisoformat(root.findtext(f"{A}updated", "").replace("Z", "+00:00"))
    selfs = [link for link in root.findall(f"{A}link") if link.get("rel") == "self"]
    assert len(selfs) == 1
    ids = []
    for entry in root.findall(f"{A}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{name}")) == 1, name
            assert (entry.findtext(f"{A}{name}") or "").strip(), name
        ids.append(entry.findtext(f"{A}id"))
        assert ids[-1] is not None
        assert ids[-1].startswith("tag:")
        updated = entry.findtext(f"{A}updated", "").replace("Z", "+00:00")
        assert datetime.fromisoformat(updated).tzinfo is not None
        alternates = [
            link
            for link in entry.findall(f"{A}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        assert len(alternates) == 1
        assert str(alternates[0].get("href")).startswith(("https://", "http://"))
        # no entry without content or alternate link; an author (the feed has none of its own)
        assert entry.find(f"{A}content") is not None
        assert entry.find(f"{A}author/{A}name") is not None
    assert len(ids) == len(set(ids))
    return root


def test_topic_feed_is_valid_atom(feeds: FeedSite) -> None:
    response = _fetch(feeds, TOPIC_FEED)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = _check_rfc4287(response.content)
    self_link = root.find(f"{A}link[@rel='self']")
    assert self_link is not None
    assert self_link.get("href") == BASE + TOPIC_FEED
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "Tarrow ferry: new developments"
    assert parsed.feed.id == "tag:news-monitor,2025:topic/tarrow-ferry"
    assert len(parsed.entries) == 3
    newest, follow_up, first = parsed.entries
    assert first.id == "tag:news-monitor,2025:alert/topic%3ATarrow%20ferry%3Adevelopment%3A1"
    assert first.link == "https://gazette.example/1"
    assert first.title == "Tarrow to close ferry terminal"
    assert "The harbour council of Tarrow voted" in first.content[0].value
    assert "herald" in first.content[0].value  # also carried by
    assert follow_up.title == "Kell Lines adds a second ferry"
    assert newest.updated_parsed >= follow_up.updated_parsed >= first.updated_parsed


def test_hostile_titles_stay_text_in_the_feed(feeds: FeedSite) -> None:
    body = _fetch(feeds, TOPIC_FEED).content
    _check_rfc4287(body)
    assert b"<script" not in body
    assert b"<img" not in body
    assert b"\x07" not in body
    assert b"javascript:" not in body
    hostile = next(
        e
        for e in ET.fromstring(body).findall(f"{A}entry")
        if "onerror" in (e.findtext(f"{A}title") or "")
    )
    title = hostile.findtext(f"{A}title") or ""
    assert title.startswith("<script>alert(1)</script> Tarrow ferry <img src=x onerror=")
    assert "]]>" in title
    assert RLO in title
    # a javascript: article link is not the entry's link: the story page is
    link = hostile.find(f"{A}link")
    assert link is not None
    assert link.get("href") == f"{BASE}/stories/3"
    # the html content is escaped once more: the markup a reader renders quotes the script
    content = hostile.findtext(f"{A}content") or ""
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in content
    assert "<script>" not in content
    parsed = feedparser.parse(body)
    assert not parsed.bozo
    assert "<script>" not in parsed.entries[0].content[0].value


def test_entry_ids_are_stable_and_a_new_development_adds_one(feeds: FeedSite) -> None:
    one, two = _fetch(feeds, TOPIC_FEED), _fetch(feeds, TOPIC_FEED)
    assert one.content == two.content
    assert one.headers["etag"] == two.headers["etag"]
    before = [e.id for e in feedparser.parse(one.content).entries]
    later = T0 + timedelta(days=2)
    more = article(
        "herald",
        "https://herald.example/9",
        "Tarrow ferry terminal demolition starts",
        "Demolition crews from Askel Works began tearing down the Tarrow ferry terminal on "
        "Monday, two weeks early. The ferry now sails from the north quay at 7:15 each morning. "
        + FERRY,
        later,
    )
    detect(session_factory(feeds.engine), [more], {}, feeds.config, DetectionSettings(), now=later)
    three = _fetch(feeds, TOPIC_FEED)
    after = [e.id for e in feedparser.parse(three.content).entries]
    assert three.headers["etag"] != one.headers["etag"]
    assert len(after) == len(before) + 1
    assert after[1:] == before  # the old entries keep their ids: a reader shows one new entry
    stale = _fetch(feeds, TOPIC_FEED, **{"If-None-Match": one.headers["etag"]})
    assert stale.status_code == 200


def test_conditional_get_answers_304(feeds: FeedSite) -> None:
    first = _fetch(feeds, TOPIC_FEED)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    by_etag = _fetch(feeds, TOPIC_FEED, **{"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.content == b""
    assert by_etag.headers["etag"] == etag
    assert _fetch(feeds, TOPIC_FEED, **{"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert _fetch(feeds, TOPIC_FEED, **{"If-Modified-Since": modified}).status_code == 304
    older = format_datetime(T0 - timedelta(days=1), usegmt=True)
    assert _fetch(feeds, TOPIC_FEED, **{"If-Modified-Since": older}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110)
    both = _fetch(feeds, TOPIC_FEED, **{"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert both.status_code == 200
    story = _fetch(feeds, "/stories/1/feed.atom")
    again = _fetch(feeds, "/stories/1/feed.atom", **{"If-None-Match": story.headers["etag"]})
    assert again.status_code == 304


def test_story_feed_has_one_entry_per_development(feeds: FeedSite) -> None:
    response = _fetch(feeds, "/stories/1/feed.atom")
    assert response.status_code == 200
    _check_rfc4287(response.content)
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo
    assert parsed.feed.id == "tag:news-monitor,2025:story/1"
    assert [e.id for e in parsed.entries] == [
        "tag:news-monitor,2025:development/2",
        "tag:news-monitor,2025:development/1",
    ]
    assert parsed.entries[0].link == "https://gazette.example/4"
    assert "Kell Lines said on Thursday" in parsed.entries[0].content[0].value
    assert _fetch(feeds, "/stories/999/feed.atom").status_code == 404
    empty = _fetch(feeds, "/topics/quiet/feed.atom")
    assert empty.status_code == 200
    _check_rfc4287(empty.content)
    assert feedparser.parse(empty.content).entries == []


def test_export_feed_writes_what_the_server_answers(
    feeds: FeedSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONITOR_DATABASE_URL", feeds.db_url)
    monkeypatch.setenv("MONITOR_WEB__BASE_URL", BASE)
    served = _fetch(feeds, TOPIC_FEED).content
    runner = CliRunner()
    for name in ("Tarrow ferry", "tarrow-ferry"):
        result = runner.invoke(cli_app, ["export-feed", name, "--config", str(feeds.config_path)])
        assert result.exit_code == 0, result.output
        assert result.stdout_bytes == served
    missing = runner.invoke(cli_app, ["export-feed", "nope", "--config", str(feeds.config_path)])
    assert missing.exit_code == 2
    assert "no topic 'nope'" in missing.output
