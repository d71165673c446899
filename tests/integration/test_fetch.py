"""fetch / fetch_all against the real loopback server, through a real httpx client."""

from __future__ import annotations

import asyncio
import gzip
import random
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import trustme

from monitor.demo.server import LocalServer, Route
from monitor.errors import (
    BlockedAddressError,
    FetcherClosedError,
    FetchError,
    PermanentFetchError,
    ResponseTooLargeError,
    TransientFetchError,
    UnreachableHostError,
)
from monitor.fetch import (
    FetchBudget,
    FetchLimits,
    FetchPolicy,
    FetchRequest,
    fetch,
    fetch_all,
    is_public_address,
    make_client,
    make_transport,
    resolve_host,
)
from monitor.models import FeedEntry, FetchResult
from monitor.pipeline.collect import Fetcher, PageJob
from tests.support.hostile import HostileServer
from tests.support.rawhttp import RawServer
from tests.support.tls import server_tls_context, trust_ca, trust_default_bundle

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, owner: CountingTransport) -> None:
        self._inner = inner
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._owner.body_bytes += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting the body bytes the client pulled off the connection."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.body_bytes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CountingStream(response.stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class ConcurrencyProbe:
    """A callable route that records how many requests the server is answering at once.

    Each request waits (briefly) for ``expect`` requests to be in flight together, so a client
    that does allow that many overlaps reliably reaches it.
    """

    def __init__(self, expect: int) -> None:
        self._expect = expect
        self._cond = threading.Condition()
        self._active = 0
        self.peak = 0
        self.served = 0

    def __call__(self) -> Route:
        with self._cond:
            self._active += 1
            self.served += 1
            self.peak = max(self.peak, self._active)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._active >= self._expect, timeout=1.0)
        # Hold the slot a little longer so an excess request would overlap with this one.
        threading.Event().wait(0.05)
        with self._cond:
            self._active -= 1
        return Route(body=FEED, content_type="application/rss+xml")


async def test_fetch_returns_body_status_and_validators(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set(
        "/feed.xml",
        Route(
            body=FEED,
            content_type="application/rss+xml",
            headers=(("Last-Modified", "Tue, 04 Mar 2025 08:30:00 GMT"),),
        ),
    )
    url = local_server.url("/feed.xml")
    result = await fetch(client, url, policy)
    assert result.status == 200
    assert result.content == FEED
    assert result.url == url
    assert result.final_url == url
    assert result.content_type == "application/rss+xml"
    assert result.etag is not None
    assert result.etag.startswith('"')
    assert result.last_modified == "Tue, 04 Mar 2025 08:30:00 GMT"
    (seen,) = local_server.table.requests_for("/feed.xml")
    assert seen.headers["user-agent"] == policy.user_agent
    assert "if-none-match" not in seen.headers


async def test_http2_client_falls_back_to_http11_on_plain_http(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    h2 = replace(policy, http2=True)
    async with make_client(h2) as client:
        result = await fetch(client, local_server.url("/feed.xml"), h2)
    assert result.content == FEED


async def test_conditional_get_sends_validators_and_gets_304(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED, content_type="application/rss+xml"))
    url = local_server.url("/feed.xml")
    first = await fetch(client, url, policy)
    assert first.status == 200
    second = await fetch(
        client, url, policy, etag=first.etag, last_modified="Tue, 04 Mar 2025 08:30:00 GMT"
    )
    assert second.status == 304
    assert second.not_modified
    assert second.content == b""
    assert second.etag == first.etag
    # the server does not repeat Last-Modified on 304; the one sent stays valid
    assert second.last_modified == "Tue, 04 Mar 2025 08:30:00 GMT"
    requests = local_server.table.requests_for("/feed.xml")
    assert len(requests) == 2
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == first.etag
    assert requests[1].headers["if-modified-since"] == "Tue, 04 Mar 2025 08:30:00 GMT"


async def test_changed_resource_answers_200_despite_old_etag(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    url = local_server.url("/feed.xml")
    first = await fetch(client, url, policy)
    local_server.table.set("/feed.xml", Route(body=FEED + b"<!-- changed -->"))
    second = await fetch(client, url, policy, etag=first.etag)
    assert second.status == 200
    assert second.content.endswith(b"<!-- changed -->")
    assert second.etag != first.etag


async def test_server_errors_and_throttling_are_transient(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    # One server for all statuses: each test's server costs a shutdown poll interval.
    for status in (500, 502, 503, 429, 408):
        local_server.table.set("/feed.xml", Route(body=b"<h1>oops</h1>", status=status))
        url = local_server.url("/feed.xml")
        with pytest.raises(TransientFetchError) as info:
            await fetch(client, url, policy)
        assert info.value.retryable
        assert info.value.url == url
        assert f"HTTP {status}" in str(info.value)


async def test_client_errors_are_permanent(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    for status in (400, 401, 403, 404, 410):
        local_server.table.set("/feed.xml", Route(body=b"<h1>no</h1>", status=status))
        with pytest.raises(PermanentFetchError) as info:
            await fetch(client, local_server.url("/feed.xml"), policy)
        assert not info.value.retryable
        assert f"HTTP {status}" in str(info.value)


async def test_hang_longer_than_timeout_is_transient(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/slow.xml", Route(body=FEED, delay_s=1.5))
    quick = replace(policy, timeout_s=0.3)
    async with make_client(quick) as client:
        with pytest.raises(TransientFetchError, match="timed out"):
            await fetch(client, local_server.url("/slow.xml"), quick)


async def test_overall_deadline_bounds_the_whole_fetch(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/slow.xml", Route(body=FEED, delay_s=1.5))
    # The per-read timeout alone would wait; the total deadline gives up first.
    bounded = replace(policy, timeout_s=5.0, total_timeout_s=0.3)
    async with make_client(bounded) as client:
        with pytest.raises(TransientFetchError, match="in total"):
            await fetch(client, local_server.url("/slow.xml"), bounded)


async def test_body_shorter_than_declared_length_is_transient(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    # The server promises more bytes than it sends and keeps the connection open.
    local_server.table.set("/short.xml", Route(body=FEED, declared_length=len(FEED) + 500))
    quick = replace(policy, timeout_s=0.3)
    async with make_client(quick) as client:
        with pytest.raises(TransientFetchError):
            await fetch(client, local_server.url("/short.xml"), quick)


async def test_oversized_body_with_honest_length_is_refused_unread(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    body = b"<rss>" + b"x" * 3_000_000 + b"</rss>"
    local_server.table.set("/big.xml", Route(body=body, content_type="application/rss+xml"))
    capped = replace(policy, max_bytes=64 * 1024)
    transport = CountingTransport(make_transport(capped))
    async with make_client(capped, transport=transport) as client:
        with pytest.raises(ResponseTooLargeError) as info:
            await fetch(client, local_server.url("/big.xml"), capped)
    assert isinstance(info.value, PermanentFetchError)
    assert transport.body_bytes == 0


async def test_oversized_body_is_cut_off_while_streaming(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    # Compressed, the body is under the cap, so only counting while streaming can catch that it
    # decodes to more than the cap. Hex text compresses about 2:1, so the transfer is large too.
    decoded = random.Random(7).randbytes(1_500_000).hex().encode()  # 3 MB
    compressed = gzip.compress(decoded, compresslevel=1)
    cap = 2_000_000
    assert len(compressed) < cap < len(decoded)
    local_server.table.set(
        "/bomb.xml",
        Route(body=compressed, content_type="text/xml", headers=(("Content-Encoding", "gzip"),)),
    )
    capped = replace(policy, max_bytes=cap)
    transport = CountingTransport(make_transport(capped))
    async with make_client(capped, transport=transport) as client:
        with pytest.raises(ResponseTooLargeError, match="stopped reading"):
            await fetch(client, local_server.url("/bomb.xml"), capped)
    assert 0 < transport.body_bytes < len(compressed)


async def test_body_at_the_cap_is_accepted(local_server: LocalServer, policy: FetchPolicy) -> None:
    body = b"y" * 4096
    local_server.table.set("/exact.txt", Route(body=body, content_type="text/plain"))
    capped = replace(policy, max_bytes=len(body))
    async with make_client(capped) as client:
        result = await fetch(client, local_server.url("/exact.txt"), capped)
    assert result.content == body


async def test_redirects_are_followed_to_the_final_url(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/old", Route(redirect_to="/older", status=301))
    local_server.table.set("/older", Route(redirect_to=local_server.url("/feed.xml")))
    local_server.table.set("/feed.xml", Route(body=FEED))
    result = await fetch(client, local_server.url("/old"), policy)
    assert result.status == 200
    assert result.content == FEED
    assert result.url == local_server.url("/old")
    assert result.final_url == local_server.url("/feed.xml")


async def test_redirect_loop_is_permanent(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/a", Route(redirect_to="/b"))
    local_server.table.set("/b", Route(redirect_to="/a"))
    with pytest.raises(PermanentFetchError, match="loop"):
        await fetch(client, local_server.url("/a"), policy)
    assert len(local_server.table.requests_for("/a")) == 1
    assert len(local_server.table.requests_for("/b")) == 1


async def test_too_many_redirects_is_permanent(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    for hop in range(6):
        local_server.table.set(f"/hop{hop}", Route(redirect_to=f"/hop{hop + 1}", status=307))
    local_server.table.set("/hop6", Route(body=FEED))
    two = replace(policy, max_redirects=2)
    with pytest.raises(PermanentFetchError, match="more than 2 redirects"):
        await fetch(client, local_server.url("/hop0"), two)
    asked = [p for p in (f"/hop{i}" for i in range(7)) if local_server.table.requests_for(p)]
    assert asked == ["/hop0", "/hop1", "/hop2"]
    # the same chain within the limit succeeds
    result = await fetch(client, local_server.url("/hop0"), replace(policy, max_redirects=6))
    assert result.final_url == local_server.url("/hop6")


async def test_redirect_to_non_http_scheme_is_permanent(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/sneaky", Route(redirect_to="file:///etc/passwd"))
    with pytest.raises(PermanentFetchError, match="unsupported"):
        await fetch(client, local_server.url("/sneaky"), policy)


async def test_loopback_refused_unless_private_network_allowed(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    strict = replace(policy, allow_private_network=False)
    async with make_client(strict) as client:
        for url in (
            local_server.url("/feed.xml"),
            f"http://localhost:{local_server.port}/feed.xml",
        ):
            with pytest.raises(BlockedAddressError) as info:
                await fetch(client, url, strict)
            assert info.value.url == url
            assert not info.value.retryable
    assert local_server.table.requests_for("/feed.xml") == []


class ScriptedResolver:
    """Answers each lookup with the next list of addresses, recording what was asked.

    Names under ``.invalid`` never resolve in real DNS (RFC 6761), so a request that reaches
    the server for such a name was connected to an address this resolver gave.
    """

    def __init__(self, *answers: Sequence[str]) -> None:
        self._answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        return self._answers[min(len(self.asked), len(self._answers)) - 1]


async def test_connection_goes_to_the_resolved_address_with_the_name_as_host(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    # A second lookup would answer an address nothing listens on.
    resolver = ScriptedResolver(["127.0.0.1"], ["127.0.0.2"])
    url = f"http://feeds.invalid:{local_server.port}/feed.xml"
    async with make_client(policy, transport=make_transport(policy, resolver=resolver)) as client:
        result = await fetch(client, url, policy)
    assert result.content == FEED
    assert resolver.asked == [("feeds.invalid", local_server.port)]
    (seen,) = local_server.table.requests_for("/feed.xml")
    assert seen.headers["host"] == f"feeds.invalid:{local_server.port}"


@pytest.fixture
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_ca: trustme.CA) -> Iterator[tuple[LocalServer, list[str | None]]]:
    """An HTTPS server whose certificate, from ``tls_ca``, names only ``news.invalid``; it
    records the server name each client asked for in its handshake (SNI)."""
    context = server_tls_context(tls_ca.issue_cert("news.invalid"))
    asked: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: asked.append(name)
    server = LocalServer(tls=context).start()
    server.table.set("/feed.xml", Route(body=FEED, content_type="application/rss+xml"))
    yield server, asked
    server.stop()


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2-offered"])
async def test_https_through_the_checked_transport_verifies_the_url_name(
    tls_server: tuple[LocalServer, list[str | None]],
    tls_ca: trustme.CA,
    policy: FetchPolicy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    http2: bool,
) -> None:
    # With HTTP/2 on, the client offers h2 in the handshake (ALPN); this server only speaks
    # HTTP/1.1, and the client settles for it.
    policy = replace(policy, http2=http2)
    server, asked = tls_server
    trust_ca(tls_ca, tmp_path, monkeypatch)
    resolver = ScriptedResolver(["127.0.0.1"])
    url = f"https://news.invalid:{server.port}/feed.xml"
    async with make_client(policy, transport=make_transport(policy, resolver=resolver)) as client:
        result = await fetch(client, url, policy)
    assert result.status == 200
    assert result.content == FEED
    # Connected to the checked address, but the handshake named the URL's host, and the
    # certificate was verified against that name.
    assert resolver.asked == [("news.invalid", server.port)]
    assert asked == ["news.invalid"]
    (seen,) = server.table.requests_for("/feed.xml")
    assert seen.headers["host"] == f"news.invalid:{server.port}"


@pytest.mark.parametrize(
    ("host", "trusted", "reason"),
    [
        ("other.invalid", True, "hostname mismatch|doesn't match"),
        ("news.invalid", False, "unable to get local issuer certificate|self.signed"),
    ],
    ids=["certificate-for-another-name", "untrusted-issuer"],
)
async def test_https_certificate_that_does_not_verify_is_a_fetch_error(
    tls_server: tuple[LocalServer, list[str | None]],
    tls_ca: trustme.CA,
    policy: FetchPolicy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    trusted: bool,
    reason: str,
) -> None:
    server, _ = tls_server
    if trusted:
        trust_ca(tls_ca, tmp_path, monkeypatch)
    else:
        trust_default_bundle(monkeypatch)
    quick = replace(policy, retries=0)
    url = f"https://{host}:{server.port}/feed.xml"
    transport = make_transport(quick, resolver=ScriptedResolver(["127.0.0.1"]))
    async with make_client(quick, transport=transport) as client:
        with pytest.raises(UnreachableHostError, match="CERTIFICATE_VERIFY_FAILED") as info:
            await fetch(client, url, quick)
    assert re.search(reason, str(info.value), re.IGNORECASE)
    assert info.value.url == url
    # Nothing was sent over a connection that failed verification.
    assert server.table.requests_for("/feed.xml") == []


async def test_every_resolved_address_is_checked_before_connecting(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    strict = replace(policy, allow_private_network=False, retries=0)
    # A public first answer does not let the loopback one through.
    resolver = ScriptedResolver(["93.184.215.14", "127.0.0.1"])
    url = f"http://rebind.invalid:{local_server.port}/feed.xml"
    async with make_client(strict, transport=make_transport(strict, resolver=resolver)) as client:
        with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1") as info:
            await fetch(client, url, strict)
    assert info.value.url == url
    # The error says how to allow it, for a feed on one's own network.
    assert "(refused unless MONITOR_ALLOW_PRIVATE_NETWORK=true)" in str(info.value)
    assert resolver.asked == [("rebind.invalid", local_server.port)]
    assert local_server.table.requests_for("/feed.xml") == []


async def test_localhost_is_refused_by_the_transport_itself(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    # Sent straight through the client, past fetch's own URL handling.
    local_server.table.set("/feed.xml", Route(body=FEED))
    strict = replace(policy, allow_private_network=False)
    async with make_client(strict) as client:
        with pytest.raises(BlockedAddressError, match="localhost"):
            await client.get(f"http://localhost:{local_server.port}/feed.xml")
    assert local_server.table.requests_for("/feed.xml") == []


async def test_next_address_is_tried_when_the_first_refuses(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    # The server listens on 127.0.0.1 only; 127.0.0.2 refuses the connection.
    resolver = ScriptedResolver(["127.0.0.2", "127.0.0.1"])
    url = f"http://feeds.invalid:{local_server.port}/feed.xml"
    async with make_client(policy, transport=make_transport(policy, resolver=resolver)) as client:
        result = await fetch(client, url, policy)
    assert result.content == FEED


async def test_name_that_does_not_resolve_is_transient(policy: FetchPolicy) -> None:
    async def fails(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    quick = replace(policy, retries=0)
    async with make_client(quick, transport=make_transport(quick, resolver=fails)) as client:
        with pytest.raises(UnreachableHostError, match=r"cannot resolve gone\.invalid") as info:
            await fetch(client, "http://gone.invalid/feed.xml", quick)
    assert isinstance(info.value, TransientFetchError)  # a page is tried again


async def test_resolver_slower_than_connect_timeout_is_transient(policy: FetchPolicy) -> None:
    async def hangs(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(30)
        return ["127.0.0.1"]

    quick = replace(policy, connect_timeout_s=0.2, retries=0)
    async with make_client(quick, transport=make_transport(quick, resolver=hangs)) as client:
        with pytest.raises(TransientFetchError) as info:
            await fetch(client, "http://slow.invalid/feed.xml", quick)
    assert not isinstance(info.value, UnreachableHostError)


async def test_system_resolver_answers_loopback_for_localhost() -> None:
    addresses = await resolve_host("localhost", 80)
    assert "127.0.0.1" in addresses or "::1" in addresses
    assert len(addresses) == len(set(addresses))


async def test_invalid_or_unsupported_url_is_permanent(
    client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    for url in ("ftp://files.example/feed.xml", "not a url", "http://:80/x"):
        with pytest.raises(PermanentFetchError):
            await fetch(client, url, policy)


async def test_connection_refused_is_transient(policy: FetchPolicy) -> None:
    # A port that was just free: nothing listens there.
    server = LocalServer().start()
    port = server.port
    server.stop()
    async with make_client(policy) as client:
        with pytest.raises(TransientFetchError) as info:
            await fetch(client, f"http://127.0.0.1:{port}/feed.xml", policy)
    assert not isinstance(info.value, UnreachableHostError)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


async def test_fetch_all_keeps_order_and_returns_errors_in_place(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/one.xml", Route(body=b"one"))
    local_server.table.set("/down.xml", Route(body=b"down", status=503))
    local_server.table.set("/two.xml", Route(body=b"two"))
    requests = [
        FetchRequest(local_server.url("/one.xml")),
        FetchRequest(local_server.url("/missing.xml")),
        FetchRequest(local_server.url("/down.xml")),
        FetchRequest("gopher://old.example/feed"),
        FetchRequest(local_server.url("/two.xml")),
    ]
    results = await fetch_all(client, requests, policy)
    assert len(results) == len(requests)
    one, missing, down, gopher, two = results
    assert isinstance(one, FetchResult)
    assert one.content == b"one"
    assert isinstance(missing, PermanentFetchError)
    assert isinstance(down, TransientFetchError)
    assert isinstance(gopher, PermanentFetchError)
    assert isinstance(two, FetchResult)
    assert two.content == b"two"
    for request, outcome in zip(requests, results, strict=True):
        assert outcome.url == request.url


async def test_fetch_all_passes_validators(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    local_server.table.set("/feed.xml", Route(body=FEED))
    url = local_server.url("/feed.xml")
    first = await fetch(client, url, policy)
    (again,) = await fetch_all(client, [FetchRequest(url, etag=first.etag)], policy)
    assert isinstance(again, FetchResult)
    assert again.status == 304


async def test_fetch_all_of_nothing(client: httpx.AsyncClient, policy: FetchPolicy) -> None:
    assert await fetch_all(client, [], policy) == []


async def test_fetch_all_respects_the_per_host_bound(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    bounded = replace(policy, max_per_host=2, max_connections=8)
    probe = ConcurrencyProbe(expect=2)
    local_server.table.set("/probe.xml", probe)
    requests = [FetchRequest(local_server.url(f"/probe.xml?n={i}")) for i in range(6)]
    async with make_client(bounded) as client:
        results = await fetch_all(client, requests, bounded)
    assert all(isinstance(r, FetchResult) for r in results)
    assert probe.served == 6
    assert probe.peak == 2


async def test_fetch_all_respects_the_overall_bound(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    bounded = replace(policy, max_per_host=10, max_connections=3)
    probe = ConcurrencyProbe(expect=3)
    local_server.table.set("/probe.xml", probe)
    requests = [FetchRequest(local_server.url(f"/probe.xml?n={i}")) for i in range(6)]
    async with make_client(bounded) as client:
        results = await fetch_all(client, requests, bounded)
    assert not [r for r in results if isinstance(r, FetchError)]
    assert probe.served == 6
    assert probe.peak == 3


def _jobs(server: LocalServer, paths: Sequence[str]) -> list[PageJob]:
    return [PageJob(1, "src", FeedEntry(server.url(p)), server.url(p)) for p in paths]


def test_fetcher_threads_share_one_per_host_bound(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    probe = ConcurrencyProbe(expect=2)
    local_server.table.set("/probe.xml", probe)
    results: list[list[bytes | None]] = []

    with Fetcher(replace(policy, max_per_host=2, max_connections=8)) as fetcher:

        def batch(first: int) -> None:
            jobs = _jobs(local_server, [f"/probe.xml?n={first + i}" for i in range(3)])
            results.append([p.html for p in fetcher.fetch_pages(jobs)])

        threads = [threading.Thread(target=batch, args=(n * 10,)) for n in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert probe.served == 9
    assert probe.peak == 2  # three threads, three requests each, never more than two at once
    assert results == [[FEED] * 3] * 3


def test_fetcher_answers_in_job_order_and_records_failures(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/ok.html", Route(body=b"<html>ok</html>"))
    local_server.table.set("/busy.html", Route(status=503, body=b"busy"))
    local_server.table.set("/gone.html", Route(status=404, body=b"gone"))
    with Fetcher(policy) as fetcher:
        ok, busy, gone = fetcher.fetch_pages(
            _jobs(local_server, ["/ok.html", "/busy.html", "/gone.html"])
        )
    assert ok.html == b"<html>ok</html>"
    assert ok.error is None
    assert busy.html is None
    assert busy.retry_later  # transient: fetched again next cycle
    assert busy.error is not None
    assert gone.html is None
    assert not gone.retry_later
    assert gone.error is not None


def test_a_closed_fetcher_refuses_work(local_server: LocalServer, policy: FetchPolicy) -> None:
    fetcher = Fetcher(policy)
    fetcher.close()
    fetcher.close()  # closing twice is harmless
    with pytest.raises(FetcherClosedError, match="closed"):
        fetcher.fetch_pages(_jobs(local_server, ["/ok.html"]))


async def test_retry_after_is_read_from_429_and_503(
    local_server: LocalServer, client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    cases = [
        (429, (("Retry-After", "120"),), 120.0),
        (503, (("Retry-After", "Fri, 01 Jan 2100 00:00:00 GMT"),), None),  # a date: far ahead
        (429, (), 60.0),  # a bare 429 still means "slow down"
        (503, (), None),  # a 503 without it is just an error
        (503, (("Retry-After", "soon"),), None),  # unreadable: ignored
        (500, (("Retry-After", "30"),), None),  # only 429 and 503 carry it
    ]
    for status, headers, expected in cases:
        local_server.table.set("/feed.xml", Route(status=status, headers=headers))
        with pytest.raises(TransientFetchError) as info:
            await fetch(client, local_server.url("/feed.xml"), policy)
        wait = info.value.retry_after_s
        if headers and headers[0][1].startswith("Fri"):
            assert wait is not None
            assert wait > 365 * 86400
        else:
            assert wait == expected, (status, headers)


async def test_a_host_that_says_429_is_left_alone_for_the_wait_it_asks(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    one_at_a_time = replace(policy, max_per_host=1, max_connections=4)
    local_server.table.set("/p0.html", Route(status=429, headers=(("Retry-After", "30"),)))
    for i in range(1, 4):
        local_server.table.set(f"/p{i}.html", Route(body=b"<html>page</html>"))
    here = [FetchRequest(local_server.url(f"/p{i}.html")) for i in range(4)]
    # The same server under another name is another host, which asked for nothing.
    there = [FetchRequest(r.url.replace("127.0.0.1", "localhost")) for r in here[1:]]
    async with make_client(one_at_a_time) as client:
        results = await fetch_all(client, here + there, one_at_a_time)
    refused, *held_back = results[:4]
    assert isinstance(refused, TransientFetchError)
    assert refused.retry_after_s == 30
    for result in held_back:
        assert isinstance(result, TransientFetchError)
        assert result.retryable  # fetched again next cycle
        assert "not requested" in str(result)
        assert result.retry_after_s is not None
        assert 0 < result.retry_after_s <= 30
    assert all(isinstance(r, FetchResult) for r in results[4:])
    # 127.0.0.1 got the first request only; localhost got its three.
    hosts = [r.headers.get("host", "") for r in local_server.table.requests]
    assert sum(h.startswith("127.0.0.1") for h in hosts) == 1
    assert sum(h.startswith("localhost") for h in hosts) == 3


async def test_a_long_retry_after_is_capped(local_server: LocalServer, policy: FetchPolicy) -> None:
    capped = replace(policy, max_per_host=1, max_retry_after_s=0.2)
    local_server.table.set("/p0.html", Route(status=503, headers=(("Retry-After", "86400"),)))
    local_server.table.set("/p1.html", Route(body=b"<html>page</html>"))
    page = [FetchRequest(local_server.url("/p1.html"))]
    limits = FetchLimits(capped)  # shared, as by the batches of one cycle
    async with make_client(capped) as client:
        first = await fetch_all(
            client, [FetchRequest(local_server.url("/p0.html"))], capped, limits
        )
        assert isinstance(first[0], TransientFetchError)
        at_once = await fetch_all(client, page, capped, limits)
        await asyncio.sleep(0.3)  # past the cap, far short of the day asked for
        later = await fetch_all(client, page, capped, limits)
    assert isinstance(at_once[0], TransientFetchError)
    assert "not requested" in str(at_once[0])
    assert isinstance(later[0], FetchResult)


# -- budgets over many requests --------------------------------------------------------------


def _source_jobs(source_id: int, urls: Sequence[str]) -> list[PageJob]:
    return [PageJob(source_id, f"source-{source_id}", FeedEntry(u), u) for u in urls]


def test_a_sources_budget_ends_its_slow_pages_and_leaves_them_for_later(
    local_server: LocalServer, policy: FetchPolicy
) -> None:
    local_server.table.set("/ok.html", Route(body=b"<html>ok</html>"))
    # A page deadline far above the budget: only the budget can end the drips this soon.
    slow = replace(policy, timeout_s=5.0, total_timeout_s=120.0, max_per_host=2)
    with HostileServer([]) as hostile, Fetcher(slow, FetchBudget(group_s=1.0)) as fetcher:
        drips = _source_jobs(1, [f"{hostile.base_url}/drip/{i}" for i in range(4)])
        healthy = _source_jobs(2, [local_server.url("/ok.html")])
        pages = fetcher.fetch_pages([*drips, *healthy])
    *dripped, ok = pages
    assert ok.html == b"<html>ok</html>"
    assert ok.error is None
    for page in dripped:
        assert page.html is None
        assert page.retry_later  # not lost: fetched again by a later cycle
        assert page.error is not None
        assert page.error.error_type == "OverBudgetError"
        assert "the source's budget of 1s ran out; left for the next cycle" in page.error.message
    # Two at a time (per host): the first two were cut off, the others never started.
    assert sorted(p.error.message.split(":")[0] for p in dripped if p.error) == [
        "cut off",
        "cut off",
        "not fetched",
        "not fetched",
    ]


def test_the_cycles_budget_ends_every_request_still_running(policy: FetchPolicy) -> None:
    slow = replace(policy, timeout_s=5.0, total_timeout_s=120.0)
    with HostileServer([]) as hostile, Fetcher(slow, FetchBudget(total_s=0.5)) as fetcher:
        pages = fetcher.fetch_pages(
            _source_jobs(1, [f"{hostile.base_url}/drip/1", f"{hostile.base_url}/headers/1"])
        )
        late = fetcher.fetch_pages(_source_jobs(2, [f"{hostile.base_url}/drip/2"]))
    for page in pages:
        assert page.error is not None
        assert page.error.message == (
            "cut off: the cycle's budget of 0.5s for pages ran out; left for the next cycle"
        )
        assert page.retry_later
    (never,) = late
    assert never.error is not None
    assert never.error.message.startswith("not fetched: the cycle's budget of 0.5s")


async def test_a_304_to_a_request_without_validators_is_a_transient_error(
    client: httpx.AsyncClient, policy: FetchPolicy
) -> None:
    server = RawServer().start()
    try:
        server.set("/feed.xml", b'HTTP/1.1 304 Not Modified\r\nETag: "unasked"')
        with pytest.raises(TransientFetchError) as caught:
            await fetch(client, server.url("/feed.xml"), policy)
        asked = server.asked("/feed.xml")
    finally:
        server.stop()
    assert caught.value.status == 304
    assert "304" in str(caught.value)
    assert "if-none-match" not in asked[0]
    assert "if-modified-since" not in asked[0]
