"""Property-based fuzzing of fetching against a real server: whatever a server answers (status,
validators, Retry-After, Location, Content-Length, stacked content encodings, body), ``fetch``
returns a result whose validators can be sent again, or raises a ``FetchError``.

The server is a raw socket (tests/support/rawhttp.py), so header bytes that http.server would
refuse to write reach the client as a hostile server would send them. Bounded by the "ci"
Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.errors import FetchError
from monitor.fetch import (
    MAX_ETAG_CHARS,
    MAX_LAST_MODIFIED_CHARS,
    FetchPolicy,
    fetch,
    make_client,
)
from monitor.inbound import validator
from monitor.models import FetchResult
from tests.support.rawhttp import RawServer

# Hypothesis warns when the global `random` state moves while it draws an example; here the raw
# server and the client's event loop run in threads of their own, and any thread of the session
# may use `random` meanwhile (it failed a run once as "flaky strategy"). These strategies draw no
# randomness of their own, so that warning says nothing about them.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

POLICY = FetchPolicy(
    timeout_s=2.0,
    connect_timeout_s=2.0,
    total_timeout_s=5.0,
    max_bytes=200_000,
    allow_private_network=True,
    retries=0,
)

# Header value bytes, without the CR and LF that would end the line.
header_bytes = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.text(max_size=30).map(
        lambda t: t.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b"")
    ),
    st.sampled_from(
        [b"\xc2\xb2", b'"caf\xc3\xa9"', b"9" * 400, b"Fri, 31 Dec 9999 23:59:59 -2359", b"x" * 700]
    ),
)
codings = st.lists(
    st.sampled_from(["gzip", "deflate", "x-gzip", "identity", "br", "zz"]), max_size=4
)


def _encode(body: bytes, layers: list[str], *, corrupt: bool) -> bytes:
    for coding in layers:
        if coding in ("gzip", "x-gzip"):
            body = gzip.compress(body)
        elif coding == "deflate":
            body = zlib.compress(body)
    return body[: len(body) // 2] if corrupt else body


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    raw = RawServer().start()
    yield raw
    raw.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]:
    """One event loop and one client for every example (building a client costs ~50 ms)."""
    loop = asyncio.new_event_loop()
    client = make_client(POLICY)
    yield loop, client
    loop.run_until_complete(client.aclose())
    loop.close()


async def _fetch_twice(client: httpx.AsyncClient, url: str) -> None:
    try:
        first = await fetch(client, url, POLICY)
    except FetchError:
        return
    assert isinstance(first, FetchResult)
    assert first.etag == validator(first.etag, max_chars=MAX_ETAG_CHARS)
    assert first.last_modified == validator(first.last_modified, max_chars=MAX_LAST_MODIFIED_CHARS)
    # What was kept can be sent back on the next poll.
    try:
        await fetch(client, url, POLICY, etag=first.etag, last_modified=first.last_modified)
    except FetchError:
        return


@given(
    status=st.sampled_from([200, 301, 302, 304, 404, 429, 500, 503]),
    headers=st.dictionaries(
        st.sampled_from(["ETag", "Last-Modified", "Retry-After", "Location", "Content-Type"]),
        header_bytes,
        max_size=4,
    ),
    layers=codings,
    body=st.binary(max_size=300) | st.just(b"\x00" * 400_000),
    corrupt=st.booleans(),
)
@example(status=429, headers={"Retry-After": b"\xc2\xb2"}, layers=[], body=b"", corrupt=False)
@example(
    status=302,
    headers={"Location": b"http://xn--zz--.example/"},
    layers=[],
    body=b"",
    corrupt=False,
)
@example(
    status=200,
    headers={"ETag": b'"caf\xc3\xa9"'},
    layers=["gzip", "gzip", "deflate"],
    body=b"\x00" * 400_000,
    corrupt=False,
)
def test_any_answer_is_a_result_or_a_fetch_error(
    server: RawServer,
    http: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient],
    status: int,
    headers: dict[str, bytes],
    layers: list[str],
    body: bytes,
    corrupt: bool,
) -> None:
    encoded = _encode(body, layers, corrupt=corrupt)
    head = [f"HTTP/1.1 {status} Whatever".encode()]
    head += [name.encode() + b": " + value for name, value in headers.items()]
    if layers:
        head.append(b"Content-Encoding: " + ", ".join(layers).encode())  # order applied
    server.set("/fuzz", b"\r\n".join(head), encoded)
    loop, client = http
    loop.run_until_complete(_fetch_twice(client, server.url("/fuzz")))


@given(etag=st.text(max_size=40), last_modified=st.text(max_size=40))
@example(etag='"café"', last_modified="Tue²")
@example(etag="a\r\nX-Injected: 1", last_modified="\x00")
def test_any_stored_validator_is_sent_or_dropped(
    server: RawServer,
    http: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient],
    etag: str,
    last_modified: str,
) -> None:
    server.set("/stored", b"HTTP/1.1 200 OK\r\nContent-Type: text/plain", b"ok")

    loop, client = http
    result = loop.run_until_complete(
        fetch(client, server.url("/stored"), POLICY, etag=etag, last_modified=last_modified)
    )
    assert result.content == b"ok"
    sent = server.asked("/stored")[-1]
    assert "x-injected" not in sent
