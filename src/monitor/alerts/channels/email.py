"""SMTP e-mail: a multipart/alternative message (plain text + HTML) to one or more recipients.

The server, credentials and TLS mode come from ``settings.smtp``: ``security`` is ``none``,
``starttls`` (upgrade on the submission port; refused if the server cannot) or ``ssl`` (implicit
TLS). Certificates are verified against the system store, or ``smtp.ca_file`` when set.

The ``Message-ID`` is derived from the delivery's idempotency key, and the key itself is sent as
``X-Monitor-Idempotency-Key``, so a message re-sent after a crash is recognisably the same one.

smtplib runs in a worker thread; ``smtp.timeout_s`` bounds the whole session, not only each
read: a watchdog shuts the connection down when it runs past it, so a server that drips its
replies a byte at a time fails the delivery (transient) instead of holding it. Errors are
translated here: SMTP 4xx replies, dropped connections, timeouts and refused connections are
transient; 5xx replies, certificate failures and
a server lacking STARTTLS/AUTH are permanent. When only some recipients are refused, the message
counts as sent (resending would duplicate it for the others) and the refusal is returned as a
warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from monitor.alert_settings import EmailChannel
from monitor.alerts.model import OutgoingMessage
from monitor.config import Settings
from monitor.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.escaping import header_text


class _Watchdog:
    """Bounds a whole SMTP session: ``seconds`` after it is entered it shuts the session's
    socket down, which ends whatever smtplib is waiting for with an error. smtplib's own
    timeout is per socket operation, and a server that drips a byte a second never trips it.

    The socket is known by its file descriptor, which stays the same when TLS wraps it
    (STARTTLS, implicit TLS); :meth:`disarm` must be called before the socket is closed, so
    that a descriptor reused by another connection is never shut down.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.disarm()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._fd = sock.fileno()
            if self.fired:
                _shut_down(self._fd)

    def disarm(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._fd = None

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._fd is not None:
                _shut_down(self._fd)


def _shut_down(fd: int) -> None:
    """Shut the connection on ``fd`` down both ways without closing the descriptor (its owner
    closes it): a thread blocked reading it gets end-of-file at once."""
    sock = socket.socket(fileno=fd)
    try:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    finally:
        sock.detach()


class _WatchedSMTP(smtplib.SMTP):
    """:class:`smtplib.SMTP` whose socket is handed to a :class:`_Watchdog` as soon as it is
    connected, before the greeting is read. ``_get_socket`` is smtplib's hook for making the
    connection (``SMTP_SSL`` overrides it the same way); it connects as smtplib does. The
    client is made without a host, so that it does not connect before it is watched: the host
    TLS checks the certificate against (``_host``, which the constructor would have set) is
    set here."""

    def __init__(self, watchdog: _Watchdog, *, timeout: float) -> None:
        self._watchdog = watchdog
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._watchdog.watch(sock)
        return sock


class _WatchedSMTPSSL(smtplib.SMTP_SSL):
    """:class:`smtplib.SMTP_SSL` watched from before its TLS handshake (see
    :class:`_WatchedSMTP`)."""

    def __init__(self, watchdog: _Watchdog, *, timeout: float, context: ssl.SSLContext) -> None:
        self._watchdog = watchdog
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host
        raw = socket.create_connection((host, port), timeout, self.source_address)
        self._watchdog.watch(raw)
        return self.context.wrap_socket(raw, server_hostname=self._host)


def message_id(idempotency_key: str, sender: str) -> str:
    """A stable ``Message-ID`` for a delivery key (same key, same id)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = sender.rpartition("@")[2].strip("<> ") or "news-monitor.invalid"
    return f"<{digest}@{domain}>"


@dataclass(frozen=True, slots=True)
class EmailSender:
    name: str
    recipients: tuple[str, ...]
    host: str
    port: int
    sender: str
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    ca_file: Path | None = None

    @classmethod
    def from_settings(cls, config: EmailChannel, settings: Settings) -> EmailSender:
        smtp = settings.smtp
        return cls(
            name=config.name,
            recipients=tuple(config.to),
            host=smtp.host,
            port=smtp.port,
            sender=smtp.sender,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password,
            timeout_s=smtp.timeout_s,
            ca_file=smtp.ca_file,
        )

    def build_message(self, message: OutgoingMessage) -> EmailMessage:
        rendered = message.message
        mail = EmailMessage()
        # The subject is already one clean line when rendered here; a subject from anywhere
        # else (a template override, a stored message) is made one again: no control
        # character reaches a header, and the policy folds it.
        mail["Subject"] = header_text(rendered.subject)
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["Date"] = format_datetime(message.attempted_at)
        mail["Message-ID"] = message_id(message.idempotency_key, self.sender)
        mail["X-Monitor-Idempotency-Key"] = message.idempotency_key
        mail["X-Monitor-Kind"] = rendered.kind
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(rendered.text)
        mail.add_alternative(rendered.html, subtype="html")
        return mail

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _where(self) -> str:
        return f"email {self.name!r} (smtp {self.host}:{self.port})"

    def _send_sync(self, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        watchdog = _Watchdog(self.timeout_s)
        client: smtplib.SMTP
        if self.security == "ssl":
            client = _WatchedSMTPSSL(watchdog, timeout=self.timeout_s, context=self._tls_context())
        else:
            client = _WatchedSMTP(watchdog, timeout=self.timeout_s)
        with watchdog:
            try:
                return self._session(client, mail)
            except (smtplib.SMTPException, OSError) as exc:
                if watchdog.fired:
                    raise TimeoutError(f"the session ran past {self.timeout_s:g}s") from exc
                raise
            finally:
                # QUIT inside the watchdog (a server may drip its last reply too); the socket
                # is closed only once the watchdog can no longer touch it.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.docmd("QUIT")
                watchdog.disarm()
                client.close()

    def _session(self, client: smtplib.SMTP, mail: EmailMessage) -> dict[str, tuple[int, bytes]]:
        client.connect(self.host, self.port)
        client.ehlo()
        if self.security == "starttls":
            client.starttls(context=self._tls_context())
            client.ehlo()
        if self.username:
            password = self.password.get_secret_value() if self.password else ""
            client.login(self.username, password)
        return client.send_message(mail, from_addr=self.sender, to_addrs=self.recipients)

    def _translate(self, exc: BaseException) -> DeliveryError:
        where = self._where()
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = sorted({code for code, _ in exc.recipients.values()})
            text = f"{where}: all recipients refused (SMTP {', '.join(map(str, codes))})"
            if all(400 <= c < 500 for c in codes):
                return TransientDeliveryError(text, channel=self.name)
            return PermanentDeliveryError(text, channel=self.name)
        if isinstance(exc, smtplib.SMTPResponseException):
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            text = f"{where}: {type(exc).__name__} {exc.smtp_code} {reply[:200]}"
            if 400 <= exc.smtp_code < 500:
                return TransientDeliveryError(text, channel=self.name)
            return PermanentDeliveryError(text, channel=self.name)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentDeliveryError(f"{where}: {exc}", channel=self.name)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return TransientDeliveryError(
                f"{where}: server closed the connection", channel=self.name
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentDeliveryError(
                f"{where}: TLS certificate verification failed ({exc.verify_message})",
                channel=self.name,
            )
        if isinstance(exc, TimeoutError):
            return TransientDeliveryError(
                f"{where}: timed out after {self.timeout_s:g}s", channel=self.name
            )
        return TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}", channel=self.name)

    async def send(self, message: OutgoingMessage) -> str | None:
        mail = self.build_message(message)
        try:
            refused = await asyncio.to_thread(self._send_sync, mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._translate(exc) from exc
        if refused:
            return f"{self._where()}: refused {', '.join(sorted(refused))}"
        return None
