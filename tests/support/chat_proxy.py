"""A local HTTPS endpoint posing as chat services whose address apprise fixes (discord.com,
hooks.slack.com): an HTTP proxy on 127.0.0.1 that accepts ``CONNECT host:443``, speaks TLS with a
certificate for that host from a throw-away CA (trustme), and records the request apprise sends.

Point apprise's ``requests`` at it with ``HTTPS_PROXY=proxy.url`` and
``REQUESTS_CA_BUNDLE=<the CA's PEM>``; every request then reaches this process, byte for byte as
the service would get it.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

import trustme


@dataclass(frozen=True, slots=True)
class ChatRequest:
    host: str
    path: str
    body: bytes


@dataclass
class ChatServiceProxy:
    hosts: tuple[str, ...]
    ca: trustme.CA = field(default_factory=trustme.CA)
    requests: list[ChatRequest] = field(default_factory=list)
    _server: socketserver.ThreadingTCPServer | None = None

    def start(self, ca_file: Path) -> ChatServiceProxy:
        self.ca.cert_pem.write_to_path(str(ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*self.hosts).configure_cert(context)
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline().decode("latin-1")
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                method, target, _ = request_line.split(" ", 2)
                if method != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host = target.rsplit(":", 1)[0]
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                with context.wrap_socket(self.connection, server_side=True) as tls:
                    proxy._serve_one(tls, host)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _serve_one(self, tls: socket.socket, host: str) -> None:
        stream = tls.makefile("rb")
        request_line = stream.readline().decode("latin-1")
        length = 0
        while True:
            line = stream.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = stream.read(length) if length else b""
        self.requests.append(ChatRequest(host, request_line.split(" ")[1], body))
        # Discord answers 204; Slack's incoming webhooks answer 200 "ok".
        reply = b"ok"
        tls.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(reply)}\r\n\r\n".encode()
            + reply
        )

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
