"""A real webhook receiver on 127.0.0.1: records every request, dedupes on the idempotency key,
and can fail the first N requests or hang until stopped. Given a server-side SSL context it
speaks HTTPS. :class:`MisbehavingReceiver` answers on raw sockets the way no well-behaved
server would: an endless body, a dripped body, dripped headers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from monitor.demo.server import speak_tls
from tests.support.sockets import LoopbackServer


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key") or self.headers.get("x-monitor-idempotency-key")


@dataclass
class Behaviour:
    fail_times: int = 0  # answer the first N requests with ``fail_status``
    fail_status: int = 503
    always_status: int | None = None  # answer every request with this status
    hang: bool = False  # never answer (until the receiver stops)
    fail_paths: frozenset[str] = frozenset()  # always answer ``fail_status`` on these paths
    retry_after: str | None = None  # sent as Retry-After with every failure


@dataclass
class WebhookReceiver:
    behaviour: Behaviour = field(default_factory=Behaviour)
    tls: ssl.SSLContext | None = None
    requests: list[Received] = field(default_factory=list)
    hung: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._status_for_next(self.path)
                if status is None:  # hang
                    receiver._release.wait(30)
                    return
                with receiver._lock:
                    receiver.requests.append(Received(self.path, headers, body, status))
                payload = b"ok" if status < 300 else b"no"
                self.send_response(status)
                if status >= 300 and receiver.behaviour.retry_after is not None:
                    self.send_header("Retry-After", receiver.behaviour.retry_after)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            speak_tls(self._server, self.tls)
            # A client refusing the certificate is what some tests are about, not an error.
            self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def _status_for_next(self, path: str) -> int | None:
        with self._lock:
            b = self.behaviour
            if path in b.fail_paths:
                return b.fail_status
            if b.hang:
                self.hung += 1
                return None
            if b.always_status is not None:
                return b.always_status
            if b.fail_times > 0:
                b.fail_times -= 1
                return b.fail_status
            return 200

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def unique_accepted(self) -> dict[str, Received]:
        """What a deduping receiver keeps: the first accepted request per idempotency key."""
        seen: dict[str, Received] = {}
        for r in self.accepted:
            assert r.key is not None, "every delivery carries an idempotency key"
            seen.setdefault(r.key, r)
        return seen


class MisbehavingReceiver(LoopbackServer):
    """A webhook receiver on raw sockets that reads each request whole, records it, then
    answers badly, as ``mode`` says:

    * ``endless_body``: ``200 OK`` and a body that never ends (no length; 64 KiB blocks every
      10 ms, so a client that reads it all grows by megabytes a second, not gigabytes);
    * ``drip_body``: ``200 OK`` promising 100,000 bytes, sent a byte every ``interval_s``;
    * ``drip_headers``: the status line and headers a byte every ``interval_s``, never done.

    :meth:`stop` ends the connections still answering.
    """

    def __init__(self, mode: str, *, interval_s: float = 1.0) -> None:
        if mode not in {"endless_body", "drip_body", "drip_headers"}:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.interval_s = interval_s
        self.requests: list[Received] = []
        self.body_bytes_sent = 0
        super().__init__()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            received = _read_request(conn)
            if received is None:
                return
            with self._lock:
                self.requests.append(received)
            getattr(self, f"_{self.mode}")(conn)

    def _endless_body(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        block = b"x" * 65_536
        while not self._stop.wait(0.01):
            conn.sendall(block)
            with self._lock:
                self.body_bytes_sent += len(block)

    def _drip_body(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not self._stop.wait(self.interval_s):
            conn.sendall(b"x")
            with self._lock:
                self.body_bytes_sent += 1

    def _drip_headers(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\n" + b"".join(
            f"X-Filler-{n}: {'y' * 20}\r\n".encode() for n in range(10_000)
        )
        for i in range(len(head)):
            if self._stop.wait(self.interval_s):
                return
            conn.sendall(head[i : i + 1])


def _read_request(conn: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65_536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(body) < length:
        chunk = conn.recv(65_536)
        if not chunk:
            return None
        body += chunk
    return Received(lines[0].split(" ")[1], headers, body, 200)
