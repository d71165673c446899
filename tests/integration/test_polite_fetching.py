"""Polite fetching against a real local server that times the arrivals: requests to one host
start at least the host delay apart (shared by every source on it), a robots.txt Crawl-delay
paces its host slower, another host is not held up, and sources take turns at being first."""

from __future__ import annotations

import itertools
from dataclasses import replace

from monitor.config import Settings
from monitor.demo.server import LocalServer, Route
from monitor.fetch import FetchLimits, FetchRequest, fetch_all, make_client
from monitor.pipeline.collect import fetch_feeds, fetch_policy
from monitor.pipeline.sources import SourceState
from monitor.robots import RobotsRules

TEXT = "text/plain; charset=utf-8"


def _arrivals(server: LocalServer, paths: list[str]) -> list[float]:
    times = sorted(r.at for r in server.table.requests if r.path in paths)
    assert len(times) == len(paths)
    return times


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_requests_to_one_host_start_the_host_delay_apart(
    local_server: LocalServer, settings: Settings
) -> None:
    paths = [f"/page-{i}" for i in range(4)]
    for path in paths:
        local_server.table.set(path, Route(body=b"<html>ok</html>"))
    policy = replace(fetch_policy(settings), host_delay_s=0.3, max_per_host=4)
    async with make_client(policy) as client:
        results = await fetch_all(
            client, [FetchRequest(local_server.url(p)) for p in paths], policy
        )
    assert all(r.status == 200 for r in results)  # type: ignore[union-attr]
    # up to four at once were allowed: only the pacing spaces them
    assert min(_gaps(_arrivals(local_server, paths))) >= 0.29


async def test_pacing_is_per_host(local_server: LocalServer, settings: Settings) -> None:
    for path in ("/a-0", "/a-1", "/a-2", "/b-0"):
        local_server.table.set(path, Route(body=b"<html>ok</html>"))
    # one request at a time overall: a request waiting for its host's turn must not hold it
    policy = replace(fetch_policy(settings), host_delay_s=0.0, max_connections=1)
    limits = FetchLimits(policy)
    limits.pace("127.0.0.1", 2.0)  # a slow host
    other = local_server.url("/b-0").replace("127.0.0.1", "localhost")
    requests = [FetchRequest(local_server.url(f"/a-{i}")) for i in range(3)]
    async with make_client(policy) as client:
        await fetch_all(client, [*requests, FetchRequest(other)], policy, limits)
    slow = _arrivals(local_server, ["/a-0", "/a-1", "/a-2"])
    assert min(_gaps(slow)) >= 1.99
    (fast,) = _arrivals(local_server, ["/b-0"])
    assert fast < slow[1]  # the other host did not wait behind the slow one


async def test_a_robots_crawl_delay_paces_its_host(
    local_server: LocalServer, settings: Settings
) -> None:
    robots = "User-agent: *\nCrawl-delay: 1\nDisallow: /private/\n"
    local_server.table.set("/robots.txt", Route(content_type=TEXT, body=robots.encode()))
    paths = [f"/story-{i}" for i in range(3)]
    for path in paths:
        local_server.table.set(path, Route(body=b"<html>story</html>"))
    policy = fetch_policy(settings)
    rules = RobotsRules(policy)
    async with make_client(policy) as client:
        feeds = [
            SourceState(id=i, name=f"s{i}", url=local_server.url(p)) for i, p in enumerate(paths)
        ]
        results = await fetch_feeds(client, policy, feeds, rules)
    assert all(getattr(r, "status", None) == 200 for r in results)
    assert rules.crawl_delay(local_server.url("/")) == 1.0
    assert min(_gaps(_arrivals(local_server, paths))) >= 0.99


async def test_a_crawl_delay_past_the_cap_is_capped(settings: Settings) -> None:
    policy = replace(fetch_policy(settings), host_delay_s=0.5, max_crawl_delay_s=5.0)
    limits = FetchLimits(policy)
    limits.pace("slow.example", 3600)
    limits.pace("quick.example", 0.1)
    assert limits.delay_of("slow.example") == 5.0
    assert limits.delay_of("quick.example") == 0.5  # never below the policy's own delay
    assert limits.delay_of("other.example") == 0.5


async def test_sources_take_turns_at_being_polled_first(
    local_server: LocalServer, settings: Settings
) -> None:
    paths = [f"/feed-{i}.xml" for i in range(5)]
    for path in paths:
        local_server.table.set(path, Route(body=b"<rss/>", content_type=TEXT, etag=False))
    policy = replace(fetch_policy(settings), max_per_host=1)
    feeds = [SourceState(id=i, name=f"s{i}", url=local_server.url(p)) for i, p in enumerate(paths)]
    orders = set()
    async with make_client(policy) as client:
        for _ in range(8):
            local_server.table.requests.clear()
            results = await fetch_feeds(client, policy, feeds)
            # results still answer the sources in their order, whatever order they were fetched in
            assert [getattr(r, "url", None) for r in results] == [f.url for f in feeds]
            orders.add(tuple(r.path for r in local_server.table.requests))
    assert len(orders) > 1
