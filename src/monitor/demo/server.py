"""A small threaded HTTP server on 127.0.0.1 serving a mutable table of routes.

It is the offline demo newsroom's web server and the real server the integration tests and
benchmarks fetch from. Routes can be replaced while it runs (articles are "published" over time),
honour ``If-None-Match``/``If-Modified-Since`` with 304, and can misbehave on purpose: error
statuses, hangs, redirects, oversized or mis-declared bodies. Given a server-side SSL context
it speaks HTTPS instead (the handshake happens in the request's own thread).
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Route:
    """What to answer for one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0  # sleep before answering (a hang, when longer than the client timeout)
    redirect_to: str | None = None  # Location header; status defaults to 302
    etag: bool = True  # send an ETag and answer If-None-Match with 304
    declared_length: int | None = None  # lie in Content-Length (broken servers)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    path: str
    headers: dict[str, str]
    at: float
    method: str = "GET"
    body: bytes = b""


@dataclass
class RouteTable:
    routes: dict[str, Route | Callable[[], Route]] = field(default_factory=dict)
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, path: str, route: Route | Callable[[], Route]) -> None:
        with self.lock:
            self.routes[path] = route

    def remove(self, path: str) -> None:
        with self.lock:
            self.routes.pop(path, None)

    def get(self, path: str) -> Route | None:
        with self.lock:
            route = self.routes.get(path)
        return route() if callable(route) else route

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body then waits
    # for the client's delayed ACK (~40 ms per response on Linux), which would dominate benchmarks.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging."""

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_POST(self) -> None:
        """Record the body (a webhook receiver); answer with the route's status, default 200."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.table.record(RequestRecord(path, headers, time.time(), "POST", body))
        route = self.server.table.get(path) or Route(body=b"{}", content_type="application/json")
        if route.delay_s:
            time.sleep(route.delay_s)
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)

    def _answer(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path or "/"
        table = self.server.table
        table.record(
            RequestRecord(path, {k.lower(): v for k, v in self.headers.items()}, time.time())
        )
        route = table.get(path)
        if route is None:
            route = Route(body=b"<html><body><h1>404 Not Found</h1></body></html>", status=404)
        if route.delay_s:
            time.sleep(route.delay_s)
        if route.redirect_to is not None:
            self.send_response(route.status if 300 <= route.status < 400 else 302)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        etag = '"' + hashlib.sha1(route.body, usedforsecurity=False).hexdigest()[:16] + '"'
        if route.etag and route.status == 200 and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        length = route.declared_length if route.declared_length is not None else len(route.body)
        self.send_header("Content-Length", str(length))
        if route.etag and route.status == 200:
            self.send_header("ETag", etag)
        for name, value in route.headers:
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            # The client may give up early (size cap, timeout): expected in tests.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)


def speak_tls(server: TCPServer, context: ssl.SSLContext) -> None:
    """Make a listening server speak TLS with ``context`` (server side).

    The handshake happens on the connection's first read, in the thread handling the request,
    not in ``accept()``: a client that never completes its handshake would otherwise stop the
    listening thread from accepting anyone else.
    """
    server.socket = context.wrap_socket(
        server.socket, server_side=True, do_handshake_on_connect=False
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a client opening more connections at once
    # (the fetcher opens up to MONITOR_HTTP__MAX_CONNECTIONS) has the rest of its SYNs dropped
    # and retransmitted a second later, which a real server would not make it wait.
    request_queue_size = 128

    def __init__(self, table: RouteTable, port: int, tls: ssl.SSLContext | None) -> None:
        self.table = table
        super().__init__(("127.0.0.1", port), _Handler)
        if tls is not None:
            speak_tls(self, tls)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up early (size caps, timeouts) or refuse the certificate are
        expected; other errors are not."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalServer:
    """A running server: ``base_url``, ``table`` and ``url(path)``."""

    def __init__(
        self, table: RouteTable | None = None, port: int = 0, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.table = table or RouteTable()
        self.scheme = "https" if tls is not None else "http"
        self._server = _Server(self.table, port, tls)
        # A short poll interval keeps stop() fast (tests start and stop many servers).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def serve(table: RouteTable | None = None, port: int = 0) -> Iterator[LocalServer]:
    """Run a :class:`LocalServer` for the duration of a ``with`` block."""
    server = LocalServer(table, port).start()
    try:
        yield server
    finally:
        server.stop()
