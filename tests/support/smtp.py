"""Real SMTP servers (aiosmtpd) on loopback ports: accepting, rejecting, dropping the connection,
and one that requires STARTTLS + AUTH with a certificate from a throw-away CA (trustme).
:class:`DrippingSmtp`, on raw sockets, drips its replies a byte at a time and never ends."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.sockets import LoopbackServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Recorded:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class RecordingHandler:
    """Accepts everything (or drops the connection / rejects, per ``mode``)."""

    mode: str = "accept"  # accept | reject_rcpt | temp_reject_rcpt | drop
    received: list[Recorded] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mode == "reject_rcpt":
            return "550 5.1.1 mailbox unavailable"
        if self.mode == "temp_reject_rcpt":
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        if self.mode == "drop":
            server.transport.close()
            return "250 OK"
        assert envelope.content is not None
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.received.append(Recorded(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 OK"


@dataclass
class PasswordAuth:
    username: str
    password: str

    def __call__(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            ok = (
                auth_data.login.decode() == self.username
                and auth_data.password.decode() == self.password
            )
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)


def start_smtp(handler: RecordingHandler, **smtp_kwargs: Any) -> Controller:
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10, **smtp_kwargs
    )
    controller.start()
    return controller


class DrippingSmtp(LoopbackServer):
    """An SMTP server on raw sockets that never completes a session: it answers the first
    ``prompt`` replies (the greeting counts) at once, then drips every later reply a byte every
    ``interval_s`` as continuation lines that never end (``250-...``), so a client's per-read
    timeout never trips. ``commands`` records what clients sent; :meth:`stop` ends the drips."""

    def __init__(self, *, prompt: int = 0, interval_s: float = 1.0) -> None:
        self.prompt = prompt
        self.interval_s = interval_s
        self.commands: list[str] = []
        self.sessions = 0
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(30)
            with self._lock:
                self.sessions += 1
            reader = conn.makefile("rb")
            replies = 0
            while True:
                code = "220" if replies == 0 else "250"
                if replies >= self.prompt:
                    self._drip(conn, code)
                    return
                conn.sendall(f"{code} OK\r\n".encode())
                replies += 1
                line = reader.readline()
                if not line:
                    return
                with self._lock:
                    self.commands.append(line.decode("latin-1").strip())

    def _drip(self, conn: socket.socket, code: str) -> None:
        line = f"{code}-still thinking\r\n".encode()
        while True:
            for byte in line:
                if self._stop.wait(self.interval_s):
                    return
                conn.sendall(bytes([byte]))
