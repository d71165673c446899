"""A real webhook receiver on 127.0.0.1: records every request, dedupes on the idempotency key,
and can fail the first N requests or hang until stopped. Given a server-side SSL context it
speaks HTTPS."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from monitor.demo.server import speak_tls


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
