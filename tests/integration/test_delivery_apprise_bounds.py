"""A chat service that answers a byte at a time cannot hold a delivery (SQLite, PostgreSQL).

apprise bounds each socket read, not the exchange: a service that sends its answer one byte per
second never trips its read timeout. The delivery's timeout must bound the whole send, and the
delivery goes out once the service behaves again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerts.outbox import deliver_due
from monitor.config import MonitorConfig, Settings, parse_config
from monitor.storage.tables import DeliveryRow
from tests.integration.test_delivery_apprise import NOW, enqueue_hostile

# Still inside the headers after 20 s: the test fails by its time bound, not by the drip ending.
DRIP_BYTES = 20
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class DrippingService:
    """Reads a request, then answers one byte per ``interval_s`` (``drip``) or at once."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.drip = True
        self.interval_s = interval_s
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> DrippingService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            if not self.drip:
                conn.sendall(ANSWER)
                return
            for byte in ANSWER[:DRIP_BYTES]:
                if self._stop.wait(self.interval_s):
                    return
                conn.sendall(bytes([byte]))


@pytest.fixture
def service() -> Iterator[DrippingService]:
    s = DrippingService().start()
    yield s
    s.stop()


def setup(settings: Settings, port: int, timeout_s: float) -> tuple[MonitorConfig, Settings]:
    config = parse_config(
        {
            "topics": [{"name": "Istanbul talks", "query": "istanbul"}],
            "channels": [{"type": "apprise", "name": "team-chat", "url_secret": "chat_url"}],
        }
    )
    url = SecretStr(f"json://127.0.0.1:{port}/chat")
    delivery = settings.delivery.model_copy(update={"webhook_timeout_s": timeout_s})
    return config, settings.model_copy(update={"secrets": {"chat_url": url}, "delivery": delivery})


async def test_a_dripping_chat_service_fails_the_send_within_the_timeout(
    sessions: sessionmaker[Session], service: DrippingService, settings: Settings
) -> None:
    config, s = setup(settings, service.port, timeout_s=2.0)
    enqueue_hostile(sessions, config)

    started = time.monotonic()
    report = await deliver_due(sessions, config, s, now=NOW)
    elapsed = time.monotonic() - started

    assert elapsed < 6.0, f"the send took {elapsed:.1f} s against a 2 s timeout"
    assert report.failed == 1
    assert report.errors[0].error_type == "TransientDeliveryError"
    assert "2 s" in report.errors[0].message
    with sessions() as session:
        assert session.scalars(select(DeliveryRow.state)).one() == "failed"

    # the service behaves again: the delivery goes out, once
    service.drip = False
    later = NOW.replace(day=NOW.day + 1)
    again = await deliver_due(sessions, config, s, now=later)
    assert again.sent == 1
    assert service.requests == 2
    with sessions() as session:
        assert session.scalars(select(DeliveryRow.state)).one() == "sent"
