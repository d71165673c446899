"""The demo newsroom served on a real loopback server, fetched over HTTP as the steps advance."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from monitor.config import parse_config
from monitor.demo.newsroom import Newsroom
from monitor.demo.server import LocalServer
from monitor.demo.synthetic import SYNTHETIC_OUTLETS, synthetic_articles
from monitor.errors import ParseError
from monitor.feeds import parse_feed
from monitor.models import FetchResult, ParsedFeed


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def _feed(client: httpx.Client, url: str) -> tuple[httpx.Response, ParsedFeed]:
    response = client.get(url)
    result = FetchResult(
        url=url,
        final_url=str(response.url),
        status=response.status_code,
        content=response.content,
        headers={k.lower(): v for k, v in response.headers.items()},
    )
    return response, parse_feed(result)


def test_feeds_grow_step_by_step_and_unchanged_feeds_answer_304(
    local_server: LocalServer, client: httpx.Client
) -> None:
    newsroom = Newsroom(local_server)
    assert newsroom.steps == 4
    feeds = {o.slug: newsroom.feed_url(o) for o in newsroom.outlets}

    # before the first step: every feed exists and is empty, no article page is served
    for url in feeds.values():
        response, parsed = _feed(client, url)
        assert response.status_code == 200
        assert parsed.entries == ()
    first = newsroom.article("talks-open")
    assert client.get(newsroom.url(first)).status_code == 404

    etags: dict[str, str] = {}
    for step in range(newsroom.steps):
        released = newsroom.publish(step)
        assert [a.id for a in released] == [a.id for a in newsroom.articles if a.step == step]
        changed = {a.outlet for a in released}
        broken = {o.outlet for o in newsroom.outages_at(step)}
        for slug, url in feeds.items():
            if slug in broken:
                response = client.get(url)
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/html")
                with pytest.raises(ParseError):
                    _feed(client, url)
                continue
            conditional = client.get(url, headers={"If-None-Match": etags.get(slug, '"none"')})
            assert conditional.status_code == (200 if slug in changed or step == 0 else 304)
            response, parsed = _feed(client, url)
            etags[slug] = response.headers["etag"]
            expected = [a for a in newsroom.released if a.outlet == slug][::-1]
            assert [e.title for e in parsed.entries] == [a.title for a in expected]
            published = [e.published for e in parsed.entries if e.published is not None]
            assert len(published) == len(expected)
            assert published == sorted(published, reverse=True)  # newest first
        for article in released:
            page = client.get(newsroom.url(article))
            assert page.status_code == 200
            assert f'<link rel="canonical" href="{newsroom.url(article)}">' in page.text
            assert article.paragraphs[0] in page.text

    assert newsroom.publish(3) == []  # publishing again releases nothing
    assert len(newsroom.released) == len(newsroom.articles)


def test_feed_links_carry_tracking_parameters_to_the_same_page(
    local_server: LocalServer, client: httpx.Client
) -> None:
    newsroom = Newsroom(local_server)
    newsroom.publish(0)
    newsroom.publish(1)
    _, parsed = _feed(client, newsroom.feed_url(newsroom.outlet("courier")))
    (entry,) = parsed.entries
    reprint = newsroom.article("talks-open-reprint")
    assert entry.url == newsroom.url(reprint) + reprint.feed_query
    assert "utm_source=rss" in entry.url
    via_feed, direct = client.get(entry.url), client.get(newsroom.url(reprint))
    assert via_feed.status_code == direct.status_code == 200
    assert via_feed.content == direct.content


def test_sources_and_config_point_at_the_server(local_server: LocalServer) -> None:
    newsroom = Newsroom(local_server)
    channels = [{"type": "webhook", "name": "demo-hook", "url": local_server.url("/hook")}]
    config = parse_config(newsroom.config(channels=channels))
    assert [s.url for s in config.sources] == [s["url"] for s in newsroom.sources()]
    assert all(s.url.startswith(local_server.base_url + "/") for s in config.sources)
    assert [t.name for t in config.topics] == ["Marrowick port talks"]
    assert [c.name for c in config.channels] == ["demo-hook"]


def test_publish_rejects_a_step_outside_the_timeline(local_server: LocalServer) -> None:
    newsroom = Newsroom(local_server)
    with pytest.raises(ValueError, match="step must be between 0 and 3"):
        newsroom.publish(4)


def test_synthetic_newsroom_serves_large_pages_behind_its_feeds(
    local_server: LocalServer, client: httpx.Client
) -> None:
    articles = synthetic_articles(24, seed=3)
    newsroom = Newsroom(
        local_server, SYNTHETIC_OUTLETS, articles, topics=(), outages=(), page_bytes=50_000
    )
    assert newsroom.steps == 1
    assert len(newsroom.publish(0)) == 24
    urls: list[str] = []
    for source in newsroom.sources():
        _, parsed = _feed(client, source["url"])
        urls += [e.url for e in parsed.entries]
    assert sorted(urls) == sorted(newsroom.url(a) for a in articles)
    sizes = [len(client.get(url).content) for url in urls[:6]]
    assert min(sizes) >= 50_000
