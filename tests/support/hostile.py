"""A hostile HTTP server on 127.0.0.1, written on raw sockets so it can misbehave as real ones
do: drip a body a byte at a time, hang after the request, reset the connection, promise a huge
body, answer garbage, ask for a strange Retry-After, redirect in a loop; and, as feeds, answer
304 to a request that asked for none, send a gzip bomb, list a year-1 entry with a 400 KB title,
or send XML that breaks off.

The behaviour is chosen by the path's first segment (``/drip/...``, ``/hang/...``); ``/feed.xml``
is an RSS feed listing one entry per behaviour in ``entries``. Every connection is handled in
its own daemon thread, and :meth:`HostileServer.stop` ends the ones still hanging or dripping.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.support.sockets import LoopbackServer

BEHAVIOURS = (
    "drip",
    "hang",
    "reset",
    "huge",
    "malformed",
    "toomany",
    "retryafter",
    "loop",
    "headers",
    "notmodified",
    "bomb",
    "ancient",
    "badxml",
)
# What the gzip bomb inflates to: far past any sane body cap, sent as about a megabyte.
BOMB_BYTES = 1 << 30


@functools.cache
def gzip_bomb() -> bytes:
    """:data:`BOMB_BYTES` of zeros, gzipped (made once, a megabyte at a time)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    zeros = bytes(1 << 20)
    parts = [squeeze.compress(zeros) for _ in range(BOMB_BYTES >> 20)]
    return b"".join(parts) + squeeze.flush()


class HostileServer(LoopbackServer):
    """Serve bad answers; ``served`` counts the requests per behaviour."""

    def __init__(
        self, entries: list[str], *, drip_interval_s: float = 0.2, address: str = "127.0.0.1"
    ) -> None:
        self.entries = entries
        self.address = address
        self.drip_interval_s = drip_interval_s
        self.served: Counter[str] = Counter()
        super().__init__(address)

    @property
    def base_url(self) -> str:
        # On 127.0.0.1, by name: a host of its own for per-host limits and Retry-After waits,
        # beside test servers on 127.0.0.1.
        host = "localhost" if self.address == "127.0.0.1" else self.address
        return f"http://{host}:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            path = request.split(b" ", 2)[1].decode("ascii", "replace")
            kind = path.strip("/").split("/", 1)[0]
            with self._lock:
                self.served[kind] += 1
            getattr(self, f"_{kind.replace('.', '_')}", self._not_found)(conn, path)

    def _send(self, conn: socket.socket, head: str, body: bytes = b"") -> None:
        conn.sendall(head.encode("latin-1") + b"\r\n\r\n" + body)

    def _send_feed(self, conn: socket.socket, body: bytes, extra_headers: str = "") -> None:
        """``200 OK`` with ``body`` as an RSS feed of that length (``extra_headers``: CRLF-ended
        lines of more headers)."""
        self._send(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            f"{extra_headers}Content-Length: {len(body)}\r\nConnection: close",
            body,
        )

    def _feed_xml(self, conn: socket.socket, path: str) -> None:
        now = datetime.now(UTC)
        items = "".join(
            f"<item><title>Entry {i}</title><link>{self.base_url}{entry}</link>"
            f"<guid>{entry}</guid><pubDate>{format_datetime(now - timedelta(minutes=i))}"
            "</pubDate></item>"
            for i, entry in enumerate(self.entries)
        )
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title>'
            f"<link>{self.base_url}/</link>{items}</channel></rss>"
        ).encode()
        self._send_feed(conn, body)

    def _drip(self, conn: socket.socket, path: str) -> None:
        self._send(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000")
        while not self._stop.wait(self.drip_interval_s):
            conn.sendall(b"<")

    def _hang(self, conn: socket.socket, path: str) -> None:
        self._stop.wait()

    def _reset(self, conn: socket.socket, path: str) -> None:
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _huge(self, conn: socket.socket, path: str) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 50000000000"
        self._send(conn, head)
        block = b"<p>" + b"x" * 65_000 + b"</p>"
        while not self._stop.is_set():
            conn.sendall(block)

    def _malformed(self, conn: socket.socket, path: str) -> None:
        conn.sendall(b"HTTP/1.1 abc What\r\nContent-Length: banana\r\n\r\n\x00\xff garbage")

    def _toomany(self, conn: socket.socket, path: str) -> None:
        self._send(conn, "HTTP/1.1 429 Too Many\r\nRetry-After: soon-ish\r\nContent-Length: 0")

    def _retryafter(self, conn: socket.socket, path: str) -> None:
        self._send(conn, "HTTP/1.1 429 Too Many\r\nRetry-After: 3600\r\nContent-Length: 0")

    def _notmodified(self, conn: socket.socket, path: str) -> None:
        # Whatever the request asked: a 304 with no validators of its own.
        self._send(conn, "HTTP/1.1 304 Not Modified\r\nContent-Length: 0")

    def _bomb(self, conn: socket.socket, path: str) -> None:
        body = gzip_bomb()
        self._send_feed(conn, body, "Content-Encoding: gzip\r\n")

    def _ancient(self, conn: socket.socket, path: str) -> None:
        # A feed whose one entry is dated in year 1 and titled with 400 KB.
        title = "Ancient " * 50_000
        body = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Ancient</title>'
            f"<link>{self.base_url}/</link><item><title>{title}</title>"
            f"<link>{self.base_url}/ancientpage/1</link><guid>ancient-1</guid>"
            "<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate></item></channel></rss>"
        ).encode()
        self._send_feed(conn, body)

    def _ancientpage(self, conn: socket.socket, path: str) -> None:
        text = (
            "The Ostby museum reopened its east wing on Saturday after two years of repairs. "
            "Curator Lena Holm said the collection of ship models would be shown in full. "
        ) * 3
        body = f"<html><head><title>{'Ancient ' * 50_000}</title></head><body><article>"
        body += f"<p>{text}</p><p>{text}</p></article></body></html>"
        self._send(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body.encode())}\r\nConnection: close",
            body.encode(),
        )

    def _badxml(self, conn: socket.socket, path: str) -> None:
        body = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Br\xff\x00oken'
        self._send_feed(conn, body)

    def _loop(self, conn: socket.socket, path: str) -> None:
        other = path[:-1] + ("b" if path.endswith("a") else "a")
        self._send(conn, f"HTTP/1.1 302 Found\r\nLocation: {other}\r\nContent-Length: 0")

    def _headers(self, conn: socket.socket, path: str) -> None:
        # Headers that never end: a line every interval.
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        n = 0
        while not self._stop.wait(self.drip_interval_s):
            n += 1
            conn.sendall(f"X-Filler-{n}: {'y' * 10}\r\n".encode())

    def _not_found(self, conn: socket.socket, path: str) -> None:
        self._send(conn, "HTTP/1.1 404 Not Found\r\nContent-Length: 0")
