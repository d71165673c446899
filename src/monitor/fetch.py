"""Fetching: one HTTP GET per URL, bounded in time, size, redirects and destination.

Contract:

* :func:`fetch` takes an injected :class:`httpx.AsyncClient` (build it with :func:`make_client`) and
  returns a :class:`~monitor.models.FetchResult`, or raises a
  :class:`~monitor.errors.FetchError` subclass; httpx errors never escape.
* Conditional GET: a stored ETag / Last-Modified is sent as ``If-None-Match`` /
  ``If-Modified-Since``; a 304 answer is a normal result (``status=304``, empty content) that keeps
  the validators, so the caller can store them again. A 304 to a request that sent no
  validators is a :class:`~monitor.errors.TransientFetchError` (``status=304``), not "unchanged".
* The body is streamed and abandoned as soon as it passes ``max_bytes``
  (:class:`~monitor.errors.ResponseTooLargeError`); it is never loaded whole first. Content
  encodings (``gzip``, ``deflate``, stacked as in ``Content-Encoding: gzip, gzip``) are
  decoded from the raw bytes by :mod:`monitor.decoding`, a bounded piece at a time, and every
  layer's decoded size counts against ``max_bytes`` as it grows: a few kilobytes on the wire
  cannot become gigabytes in memory. Another coding (``br``, ``zstd``: not asked for) is a
  :class:`~monitor.errors.PermanentFetchError`.
* Header values are read through :mod:`monitor.inbound`: an ``ETag`` or ``Last-Modified``
  that is not visible ASCII (or too long to store) is dropped, both when it arrives and when
  a stored one is about to be sent again; ``Retry-After`` and ``Content-Length`` accept ASCII
  digits only. Every URL requested, the source's and each redirect's, passes
  :func:`monitor.urls.host_of` first; whatever the client still refuses is a
  :class:`~monitor.errors.PermanentFetchError` for that URL.
* Redirects are followed here, not by httpx, so that every hop's address is checked; a loop or more
  than ``max_redirects`` hops is a :class:`~monitor.errors.PermanentFetchError`.
* Unless ``allow_private_network`` is set, a host that resolves to a loopback, private, link-local,
  reserved, multicast or unspecified address is refused with
  :class:`~monitor.errors.BlockedAddressError`. The check is made by the transport
  :func:`make_transport` builds, when it opens a connection: the host is resolved once, every
  address is checked, and the socket is connected to a checked address, so a DNS answer that
  changes between check and connect (DNS rebinding) cannot slip through. The ``Host`` header,
  TLS SNI and certificate verification still use the name from the URL. A client built on
  another transport is not checked.
* Timeouts, connection failures, 5xx, 408 and 429 raise
  :class:`~monitor.errors.TransientFetchError` (retry next cycle); other 4xx and anything retrying
  cannot fix raise :class:`~monitor.errors.PermanentFetchError`; a host name that does not
  resolve, or a failed TLS handshake, raises :class:`~monitor.errors.UnreachableHostError`
  (transient, of a kind of its own). A 429 or 503 with a ``Retry-After`` header (seconds or an
  HTTP date) carries the wait in ``retry_after_s``.
* :func:`fetch_all` fetches many URLs concurrently, at most ``max_connections`` at once and at most
  ``max_per_host`` per host, and returns results and errors in request order; it never raises for
  one URL's failure. Calls given the same :class:`FetchLimits` share those bounds, and requests
  start in the order they were asked for.
* Budgets: a request has a total deadline (``total_timeout_s``: redirects and a dripped body
  included). :class:`FetchLimits` may add a :class:`FetchBudget`: the requests given those
  limits end ``total_s`` after the first of them was asked for, and those of one group (a
  source) ``group_s`` after the group's first request started; a request cut short, or never
  started, by a budget fails with :class:`~monitor.errors.OverBudgetError` (transient: fetched
  in a later cycle).
* Pacing: requests to one host start at least ``host_delay_s`` apart (a host's robots.txt
  ``Crawl-delay``, given with :meth:`FetchLimits.pace`, raises that for the host, up to
  ``max_crawl_delay_s``), each gap stretched by a random jitter of up to half of it so that
  monitors on the same schedule do not arrive in lock-step. The pacing is shared by every request
  given the same :class:`FetchLimits`, whichever source asked; a request waiting for its turn
  holds its host's slot, not an overall one, and its wait counts against its budget.
* A host that answers 429 (Too Many Requests), or 503 with ``Retry-After``, is left alone for
  the wait it asked (``Retry-After``, at most ``max_retry_after_s``; a minute for a bare 429):
  requests to it that have not started yet fail at once with a
  :class:`~monitor.errors.HeldBackError` (transient) instead of being sent, and are retried
  next cycle.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor import DEFAULT_USER_AGENT
from monitor.decoding import ACCEPT_ENCODING, BodyDecoder
from monitor.errors import (
    BlockedAddressError,
    ConfigError,
    FetchError,
    HeldBackError,
    OverBudgetError,
    ParseError,
    PermanentFetchError,
    ResponseTooLargeError,
    TransientFetchError,
    UnreachableHostError,
)
from monitor.inbound import header_int, validator
from monitor.models import FetchResult
from monitor.targets import is_public_address
from monitor.timeutil import asked_wait
from monitor.urls import host_of

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# How long a host that said 429 without a Retry-After is left alone.
_TOO_MANY_REQUESTS_WAIT_S = 60.0
# The longest validators storage keeps (sources.etag, sources.last_modified columns).
MAX_ETAG_CHARS = 500
MAX_LAST_MODIFIED_CHARS = 100


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits applied to every request. Built from settings by
    :func:`monitor.pipeline.collect.fetch_policy`."""

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
    # The longest Retry-After honoured: a server may not silence a source for longer.
    max_retry_after_s: float = 3600.0
    host_delay_s: float = 0.0  # least gap between two request starts to one host
    max_crawl_delay_s: float = 30.0  # the longest robots.txt Crawl-delay honoured


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One URL to fetch, with the validators stored from its previous fetch."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    # Requests of one group (a source's pages) share a FetchBudget's group_s.
    group: str | None = None


@dataclass(frozen=True, slots=True)
class FetchBudget:
    """Wall-clock budgets over many requests (see the module docstring): ``total_s`` seconds
    for all of them from the first one asked for, ``group_s`` for a group's requests from the
    start of its first one."""

    total_s: float | None = None
    group_s: float | None = None


Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""Resolves ``(host, port)`` to IP address strings, in the order to try them."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The system resolver's TCP addresses for ``host``, duplicates removed, order kept."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to checked addresses only.

    ``connect_tcp`` resolves the host once with ``resolver``, refuses it with
    :class:`~monitor.errors.BlockedAddressError` unless every address is public (or
    ``allow_private_network``), then connects to those addresses in turn. httpcore hands the
    URL's host name, not this address, to ``start_tls``, so SNI and certificate checks are
    unchanged. Resolution failures are :class:`httpcore.ConnectError`, as httpcore's own are.
    """

    def __init__(
        self,
        *,
        allow_private_network: bool,
        resolver: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private_network
        self._resolve = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    # httpcore's interface names the connect timeout `timeout`.
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, within_s=timeout)
        if not self._allow_private:
            for address in addresses:
                if not is_public_address(address):
                    raise BlockedAddressError(
                        f"{host} resolves to non-public address {address} "
                        "(refused unless MONITOR_ALLOW_PRIVATE_NETWORK=true)",
                        url=host,
                    )
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for {host}")

    async def _addresses(self, host: str, port: int, *, within_s: float | None) -> Sequence[str]:
        try:
            async with asyncio.timeout(within_s):
                addresses = await self._resolve(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {within_s}s") from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"Unix sockets are not fetched from: {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        limits = httpx.Limits(
            max_connections=policy.max_connections,
            max_keepalive_connections=policy.max_connections,
        )
        # Loading the CA bundle into a context takes tens of milliseconds: one serves both.
        ssl_context = httpx.create_ssl_context()
        super().__init__(
            verify=ssl_context, limits=limits, http2=policy.http2, retries=policy.retries
        )
        # httpx offers no way to give its pool a network backend, so the pool it built (no
        # connections yet, nothing to close) is swapped for one that uses the checked backend.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=policy.http2,
            retries=policy.retries,
            network_backend=CheckedNetworkBackend(
                allow_private_network=policy.allow_private_network, resolver=resolver
            ),
        )


def make_transport(
    policy: FetchPolicy, *, resolver: Resolver = resolve_host
) -> httpx.AsyncHTTPTransport:
    """The connection pool :func:`make_client` uses by default; it checks every address it
    connects to (see the module docstring). ``resolver`` replaces the system resolver."""
    try:
        return _CheckedTransport(policy, resolver)
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
        # httpx builds the next request of every redirect even when not following it, and a
        # Location it cannot parse raises there: it is checked first (see _check_location).
        event_hooks={"response": [_check_location]},
        timeout=httpx.Timeout(policy.timeout_s, connect=policy.connect_timeout_s),
        follow_redirects=False,
        # Only what _read_capped decodes, bounded, whatever compression packages are installed.
        headers={"User-Agent": policy.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
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


class FetchLimits:
    """Concurrency bounds (overall and per host) shared by the :func:`fetch_all` calls given them.

    Bound to the event loop of its first use. Waiting requests are admitted first come, first
    served.
    """

    def __init__(self, policy: FetchPolicy, budget: FetchBudget | None = None) -> None:
        self.budget = budget or FetchBudget()
        self._until: float | None = None
        self._group_started: dict[str, float] = {}
        self.overall = asyncio.Semaphore(policy.max_connections)
        self._per_host_max = policy.max_per_host
        self._per_host: dict[str, asyncio.Semaphore] = {}
        self._max_wait_s = policy.max_retry_after_s
        self._resume_at: dict[str, float] = {}  # host -> time.monotonic() it may be asked again
        self._delay_s = policy.host_delay_s
        self._max_crawl_delay_s = policy.max_crawl_delay_s
        self._host_delay_s: dict[str, float] = {}  # hosts paced slower (robots.txt Crawl-delay)
        self._next_start: dict[str, float] = {}  # host -> monotonic time of its next turn
        self._jitter = random.Random()  # noqa: S311 - spacing requests, not a secret

    def pace(self, host: str, seconds: float) -> None:
        """Start requests to ``host`` at least ``seconds`` apart (a ``Crawl-delay``), never
        less than the policy's ``host_delay_s`` nor more than its ``max_crawl_delay_s``."""
        delay = min(max(seconds, 0.0), self._max_crawl_delay_s)
        self._host_delay_s[host] = max(delay, self._delay_s)

    def delay_of(self, host: str) -> float:
        return self._host_delay_s.get(host, self._delay_s)

    async def turn(self, host: str) -> None:
        """Wait for ``host``'s next turn and book the one after it (see the module's pacing)."""
        delay = self.delay_of(host)
        if delay <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next_start.get(host, now))
        # Booked before waiting, with no await in between: concurrent requests queue in order.
        self._next_start[host] = start + delay * (1.0 + 0.5 * self._jitter.random())
        if start > now:
            await asyncio.sleep(start - now)

    def back_off(self, host: str, seconds: float) -> None:
        """Send nothing more to ``host`` for ``seconds`` (capped at the policy's maximum)."""
        until = time.monotonic() + min(max(seconds, 0.0), self._max_wait_s)
        self._resume_at[host] = max(until, self._resume_at.get(host, 0.0))

    def waiting(self, host: str) -> float:
        """Seconds ``host`` asked us to wait still, 0 when it may be asked."""
        return max(0.0, self._resume_at.get(host, 0.0) - time.monotonic())

    def deadline(self, group: str | None, *, starting: bool = False) -> float | None:
        """The monotonic time ``group``'s requests must end by (``None``: no budget); with
        ``starting``, a group's first request starts its clock."""
        budget = self.budget
        if self._until is None and budget.total_s is not None:
            self._until = time.monotonic() + budget.total_s
        ends = [self._until] if self._until is not None else []
        if group is not None and budget.group_s is not None:
            if starting:
                self._group_started.setdefault(group, time.monotonic())
            if group in self._group_started:
                ends.append(self._group_started[group] + budget.group_s)
        return min(ends) if ends else None

    def over_budget(self, request: FetchRequest, *, started: bool) -> OverBudgetError:
        budget = self.budget
        ran_out = (
            f"the source's budget of {budget.group_s:g}s"
            if request.group in self._group_started
            and budget.group_s is not None
            and self._group_started[request.group] + budget.group_s <= time.monotonic() + 0.01
            else f"the cycle's budget of {budget.total_s:g}s for pages"
        )
        done = "cut off" if started else "not fetched"
        return OverBudgetError(
            f"{done}: {ran_out} ran out; left for the next cycle", url=request.url
        )

    def host(self, host: str) -> asyncio.Semaphore:
        slots = self._per_host.get(host)
        if slots is None:
            slots = self._per_host[host] = asyncio.Semaphore(self._per_host_max)
        return slots


async def fetch_all(
    client: httpx.AsyncClient,
    requests: Sequence[FetchRequest],
    policy: FetchPolicy,
    limits: FetchLimits | None = None,
) -> list[FetchResult | FetchError]:
    """Fetch every request concurrently; element ``i`` of the result answers ``requests[i]``."""
    bounds = limits if limits is not None else FetchLimits(policy)

    async def one(request: FetchRequest) -> FetchResult | FetchError:
        try:
            host = host_of(request.url)
        except ParseError as exc:
            return PermanentFetchError(f"invalid URL: {exc}", url=request.url)
        started = False
        try:
            async with asyncio.timeout_at(bounds.deadline(request.group)) as budget:
                # The per-host slot (and the host's turn) is taken first so a request waiting
                # for a busy host does not hold one of the overall slots. Redirects to another
                # host still count against the first host.
                async with bounds.host(host):
                    await bounds.turn(host)
                    async with bounds.overall:
                        started = True
                        budget.reschedule(bounds.deadline(request.group, starting=True))
                        return await _one(client, request, policy, bounds, host)
        except TimeoutError:
            return bounds.over_budget(request, started=started)

    return list(await asyncio.gather(*(one(r) for r in requests)))


async def _one(
    client: httpx.AsyncClient,
    request: FetchRequest,
    policy: FetchPolicy,
    bounds: FetchLimits,
    host: str,
) -> FetchResult | FetchError:
    wait = bounds.waiting(host)
    if wait > 0:
        return HeldBackError(
            f"not requested: {host} asked to be left alone for {wait:.0f}s more",
            url=request.url,
            retry_after_s=wait,
        )
    deadline = bounds.deadline(request.group)
    if deadline is not None and deadline <= time.monotonic():
        return bounds.over_budget(request, started=False)
    try:
        return await fetch(
            client, request.url, policy, etag=request.etag, last_modified=request.last_modified
        )
    except TransientFetchError as exc:
        if exc.retry_after_s is not None:
            bounds.back_off(host, exc.retry_after_s)
        return exc
    except FetchError as exc:
        return exc


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    # Stored validators are checked again before they are sent: one stored before this check
    # existed, or by an older version, must not break every later poll of the source.
    etag = validator(etag, max_chars=MAX_ETAG_CHARS)
    last_modified = validator(last_modified, max_chars=MAX_LAST_MODIFIED_CHARS)
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    seen = {current}
    for _hop in range(policy.max_redirects + 1):
        _check_url(current, url)
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
            _raise_for_status(status, current, url, response.headers.get("retry-after"))
            if status == 304:
                _check_asked(headers, current, url)
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
                etag=validator(response.headers.get("etag"), max_chars=MAX_ETAG_CHARS)
                or (etag if status == 304 else None),
                last_modified=validator(
                    response.headers.get("last-modified"), max_chars=MAX_LAST_MODIFIED_CHARS
                )
                or (last_modified if status == 304 else None),
            )
        finally:
            await response.aclose()
    raise PermanentFetchError(
        f"more than {policy.max_redirects} redirects (last to {current})", url=url
    )


def _check_url(target: str, url: str) -> None:
    """Refuse a ``target`` without an http(s) scheme, a host or a valid port.

    Addresses are checked by the transport when it connects (see the module docstring).
    """
    try:
        host_of(target)
        _ = urlsplit(target).port  # raises ValueError for a port out of range
    except (ParseError, ValueError) as exc:
        raise PermanentFetchError(f"invalid URL {target!r}: {exc}", url=url) from exc


async def _send(
    client: httpx.AsyncClient, target: str, headers: Mapping[str, str], url: str
) -> httpx.Response:
    try:
        request = client.build_request("GET", target, headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
        # ValueError: the IDNA codec's and header encoders' errors (UnicodeError) that httpx
        # lets through; host_of refuses what it knows of them first.
        raise PermanentFetchError(f"cannot request {target!r}: {exc}", url=url) from exc
    try:
        return await client.send(request, stream=True)
    except BlockedAddressError as exc:  # raised by CheckedNetworkBackend, which knows no URL
        raise BlockedAddressError(str(exc), url=url) from exc
    except PermanentFetchError as exc:  # raised by _check_location, which knows only the hop
        raise PermanentFetchError(str(exc), url=url) from exc
    except ValueError as exc:
        # Something in the response httpx could not take (a header's encoding): this URL's
        # problem, and asking again will not change it.
        raise PermanentFetchError(f"unusable response from {target}: {exc}", url=url) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentFetchError(f"cannot request {target!r}: {exc}", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientFetchError(f"timed out requesting {target}: {exc!r}", url=url) from exc
    except httpx.RequestError as exc:
        if _caused_by(exc, (socket.gaierror, ssl.SSLError)):
            raise UnreachableHostError(f"request to {target} failed: {exc!r}", url=url) from exc
        raise TransientFetchError(f"request to {target} failed: {exc!r}", url=url) from exc


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or an error it was raised from is one of ``kinds``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


async def _check_location(response: httpx.Response) -> None:
    """Refuse a redirect whose ``Location`` cannot be requested (an invalid IDNA host, a port
    out of range), as a :class:`~monitor.errors.PermanentFetchError` of this URL, before httpx
    parses it and raises something else (or a transient protocol error, retried for ever)."""
    if not response.has_redirect_location:
        return
    current = str(response.request.url)
    target = _next_hop(current, response.headers["location"], current)
    try:
        host_of(target)
        _ = urlsplit(target).port
    except (ParseError, ValueError) as exc:
        raise PermanentFetchError(f"redirect to an invalid URL: {exc}", url=current) from exc


def _next_hop(current: str, location: str, url: str) -> str:
    try:
        target = urljoin(current, location.strip())
        scheme = urlsplit(target).scheme.lower()
    except ValueError as exc:  # a broken IPv6 literal in Location
        raise PermanentFetchError(f"redirect to invalid URL {location[:200]!r}", url=url) from exc
    if scheme not in {"http", "https"}:
        raise PermanentFetchError(f"redirect to unsupported URL {target[:200]!r}", url=url)
    return target


def _check_asked(headers: Mapping[str, str], target: str, url: str) -> None:
    """A 304 answers a conditional request only: to one that sent no validators it says
    nothing about the resource (a broken cache or server), and must not read as unchanged."""
    if "If-None-Match" not in headers and "If-Modified-Since" not in headers:
        raise TransientFetchError(
            f"HTTP 304 from {target} to a request without validators", url=url, status=304
        )


def _raise_for_status(status: int, target: str, url: str, retry_after: str | None = None) -> None:
    if status >= 500 or status in _TRANSIENT_STATUSES:
        wait = asked_wait(status, retry_after)
        if wait is None and status == 429:
            wait = _TOO_MANY_REQUESTS_WAIT_S
        asked = f", asked to wait {wait:.0f}s" if wait is not None else ""
        raise TransientFetchError(
            f"HTTP {status} from {target}{asked}", url=url, retry_after_s=wait, status=status
        )
    if status >= 400:
        raise PermanentFetchError(f"HTTP {status} from {target}", url=url, status=status)
    if 300 <= status < 400 and status != 304:
        raise PermanentFetchError(f"HTTP {status} without a usable Location from {target}", url=url)


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = header_int(response.headers.get("content-length"))
    if declared is not None and declared > max_bytes:
        raise ResponseTooLargeError(
            f"Content-Length {declared} exceeds the {max_bytes}-byte cap", url=url
        )
    decoder = BodyDecoder(response.headers.get_list("content-encoding", split_commas=True), url)
    chunks: list[bytes] = []
    received = 0
    try:
        # The raw bytes are read and decoded here, a bounded piece at a time: the decoded size
        # is counted as it grows, so a small body that inflates past the cap (through any
        # number of layers) is refused before it is in memory.
        async for raw in response.aiter_raw():
            for piece in decoder.decode(raw, max_bytes):
                received += len(piece)
                if received > max_bytes:
                    raise ResponseTooLargeError(
                        f"body exceeds the {max_bytes}-byte cap (stopped reading at {received})",
                        url=url,
                    )
                chunks.append(piece)
    except zlib.error as exc:
        raise PermanentFetchError(f"undecodable body: {exc}", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientFetchError(f"timed out reading body: {exc!r}", url=url) from exc
    except httpx.RequestError as exc:
        raise TransientFetchError(f"body read failed: {exc!r}", url=url) from exc
    return b"".join(chunks)
