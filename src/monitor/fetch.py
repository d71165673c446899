"""Fetching: one HTTP GET per URL, bounded in time, size, redirects and destination.

Contract:

* :func:`fetch` takes an injected :class:`httpx.AsyncClient` (build it with :func:`make_client`) and
  returns a :class:`~monitor.models.FetchResult`, or raises a
  :class:`~monitor.errors.FetchError` subclass; httpx errors never escape.
* Conditional GET: a stored ETag / Last-Modified is sent as ``If-None-Match`` /
  ``If-Modified-Since``; a 304 answer is a normal result (``status=304``, empty content) that keeps
  the validators, so the caller can store them again.
* The body is streamed and abandoned as soon as it passes ``max_bytes``
  (:class:`~monitor.errors.ResponseTooLargeError`); it is never loaded whole first.
* Redirects are followed here, not by httpx, so that every hop's address is checked; a loop or more
  than ``max_redirects`` hops is a :class:`~monitor.errors.PermanentFetchError`.
* Unless ``allow_private_network`` is set, a host that resolves to a loopback, private, link-local,
  reserved, multicast or unspecified address is refused with
  :class:`~monitor.errors.BlockedAddressError`.
* Timeouts, connection failures, 5xx, 408 and 429 raise
  :class:`~monitor.errors.TransientFetchError` (retry next cycle); other 4xx and anything retrying
  cannot fix raise :class:`~monitor.errors.PermanentFetchError`.
* :func:`fetch_all` fetches many URLs concurrently, at most ``max_connections`` at once and at most
  ``max_per_host`` per host, and returns results and errors in request order; it never raises for
  one URL's failure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.config import DEFAULT_USER_AGENT, Settings
from monitor.errors import (
    BlockedAddressError,
    ConfigError,
    FetchError,
    ParseError,
    PermanentFetchError,
    ResponseTooLargeError,
    TransientFetchError,
)
from monitor.models import FetchResult
from monitor.urls import host_of

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits applied to every request. Build it from settings with :meth:`from_settings`."""

    timeout_s: float = 20.0
    connect_timeout_s: float = 10.0
    # A server that trickles a byte per second never trips the read timeout; this caps the whole
    # fetch (all redirect hops and the body) so it cannot hold a connection slot for ever.
    total_timeout_s: float | None = 60.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    max_connections: int = 16
    max_per_host: int = 4
    allow_private_network: bool = False
    user_agent: str = DEFAULT_USER_AGENT
    http2: bool = False
    retries: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        http = settings.http
        return cls(
            timeout_s=http.timeout_s,
            connect_timeout_s=http.connect_timeout_s,
            total_timeout_s=3 * http.timeout_s + http.connect_timeout_s,
            max_bytes=http.max_bytes,
            max_redirects=http.max_redirects,
            max_connections=http.max_connections,
            max_per_host=http.max_per_host,
            allow_private_network=settings.allow_private_network,
            user_agent=settings.user_agent,
            http2=http.http2,
            retries=http.retries,
        )


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One URL to fetch, with the validators stored from its previous fetch."""

    url: str
    etag: str | None = None
    last_modified: str | None = None


def make_transport(policy: FetchPolicy) -> httpx.AsyncHTTPTransport:
    """The connection pool :func:`make_client` uses by default."""
    try:
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=policy.max_connections,
                max_keepalive_connections=policy.max_connections,
            ),
            http2=policy.http2,
            retries=policy.retries,
        )
    except ImportError as exc:  # http2=True without the optional h2 package
        raise ConfigError(f"HTTP/2 needs the 'h2' package: {exc}") from exc


def make_client(
    policy: FetchPolicy, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Build the shared client. The caller owns it and closes it (``async with`` or ``aclose``).

    httpx does not follow redirects: :func:`fetch` does, checking each hop. Because a transport
    is always given, httpx ignores proxy environment variables; the address check would be
    meaningless through a proxy anyway.
    """
    return httpx.AsyncClient(
        transport=transport if transport is not None else make_transport(policy),
        timeout=httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s),
        follow_redirects=False,
        headers={"User-Agent": policy.user_agent},
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET ``url`` within ``policy``; see the module docstring for what is raised when."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(policy.total_timeout_s):
            result = await _fetch(client, url, policy, etag=etag, last_modified=last_modified)
    except TimeoutError as exc:
        raise TransientFetchError(
            f"gave up after {policy.total_timeout_s:g}s in total", url=url
        ) from exc
    return replace(result, elapsed_s=time.perf_counter() - started)


async def fetch_all(
    client: httpx.AsyncClient, requests: Sequence[FetchRequest], policy: FetchPolicy
) -> list[FetchResult | FetchError]:
    """Fetch every request concurrently; element ``i`` of the result answers ``requests[i]``."""
    overall = asyncio.Semaphore(policy.max_connections)
    per_host: dict[str, asyncio.Semaphore] = {}

    async def one(request: FetchRequest) -> FetchResult | FetchError:
        try:
            host = host_of(request.url)
        except ParseError as exc:
            return PermanentFetchError(f"invalid URL: {exc}", url=request.url)
        # The per-host slot is taken first so a request waiting for a busy host does not hold one
        # of the overall slots. Redirects to another host still count against the first host.
        host_slots = per_host.setdefault(host, asyncio.Semaphore(policy.max_per_host))
        async with host_slots, overall:
            try:
                return await fetch(
                    client,
                    request.url,
                    policy,
                    etag=request.etag,
                    last_modified=request.last_modified,
                )
            except FetchError as exc:
                return exc

    return list(await asyncio.gather(*(one(r) for r in requests)))


def is_public_address(address: str) -> bool:
    """True when ``address`` (an IP literal) is globally routable unicast."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    seen = {current}
    for _hop in range(policy.max_redirects + 1):
        await _check_destination(current, url, policy)
        response = await _send(client, current, headers, url)
        try:
            status = response.status_code
            location = response.headers.get("location")
            if status in _REDIRECT_STATUSES and location:
                current = _next_hop(current, location, url)
                if current in seen:
                    raise PermanentFetchError(f"redirect loop back to {current}", url=url)
                seen.add(current)
                continue
            _raise_for_status(status, current, url)
            if status == 304:
                content = b""
            else:
                content = await _read_capped(response, policy.max_bytes, url)
            return FetchResult(
                url=url,
                final_url=current,
                status=status,
                content=content,
                headers={k.lower(): v for k, v in response.headers.items()},
                # A 304 may omit the validators; the ones we sent are still valid then.
                etag=response.headers.get("etag") or (etag if status == 304 else None),
                last_modified=response.headers.get("last-modified")
                or (last_modified if status == 304 else None),
            )
        finally:
            await response.aclose()
    raise PermanentFetchError(
        f"more than {policy.max_redirects} redirects (last to {current})", url=url
    )


async def _check_destination(target: str, url: str, policy: FetchPolicy) -> None:
    """Refuse ``target`` unless every address its host resolves to is public.

    Known limitation (DNS rebinding): httpx resolves the name again when it connects, so a
    hostile DNS server answering a public address here and a private one a moment later defeats
    this check. Closing that gap needs a transport that connects to the address checked here.
    """
    try:
        host = host_of(target)
        port = urlsplit(target).port
    except (ParseError, ValueError) as exc:
        raise PermanentFetchError(f"invalid URL {target!r}: {exc}", url=url) from exc
    if policy.allow_private_network:
        return
    scheme_port = port or (443 if target.lower().startswith("https:") else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, scheme_port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransientFetchError(f"cannot resolve {host}: {exc}", url=url) from exc
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if not is_public_address(address):
            raise BlockedAddressError(f"{host} resolves to non-public address {address}", url=url)


async def _send(
    client: httpx.AsyncClient, target: str, headers: Mapping[str, str], url: str
) -> httpx.Response:
    try:
        request = client.build_request("GET", target, headers=headers)
        return await client.send(request, stream=True)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentFetchError(f"cannot request {target!r}: {exc}", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientFetchError(f"timed out requesting {target}: {exc!r}", url=url) from exc
    except httpx.RequestError as exc:
        raise TransientFetchError(f"request to {target} failed: {exc!r}", url=url) from exc


def _next_hop(current: str, location: str, url: str) -> str:
    target = urljoin(current, location.strip())
    if urlsplit(target).scheme.lower() not in {"http", "https"}:
        raise PermanentFetchError(f"redirect to unsupported URL {target!r}", url=url)
    return target


def _raise_for_status(status: int, target: str, url: str) -> None:
    if status >= 500 or status in _TRANSIENT_STATUSES:
        raise TransientFetchError(f"HTTP {status} from {target}", url=url)
    if status >= 400:
        raise PermanentFetchError(f"HTTP {status} from {target}", url=url)
    if 300 <= status < 400 and status != 304:
        raise PermanentFetchError(f"HTTP {status} without a usable Location from {target}", url=url)


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(
            f"Content-Length {declared} exceeds the {max_bytes}-byte cap", url=url
        )
    chunks: list[bytes] = []
    received = 0
    try:
        # Decoded bytes are counted, so a small compressed body that inflates past the cap is
        # refused too; one network chunk is decompressed at a time, which bounds the overshoot.
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise ResponseTooLargeError(
                    f"body exceeds the {max_bytes}-byte cap (stopped reading at {received})",
                    url=url,
                )
            chunks.append(chunk)
    except httpx.DecodingError as exc:
        raise PermanentFetchError(f"undecodable body: {exc}", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientFetchError(f"timed out reading body: {exc!r}", url=url) from exc
    except httpx.RequestError as exc:
        raise TransientFetchError(f"body read failed: {exc!r}", url=url) from exc
    return b"".join(chunks)
