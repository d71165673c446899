"""SMTP e-mail: a multipart/alternative message (plain text + HTML) to one or more recipients.

The server, credentials and TLS mode come from ``settings.smtp``: ``security`` is ``none``,
``starttls`` (upgrade on the submission port; refused if the server cannot) or ``ssl`` (implicit
TLS). Certificates are verified against the system store, or ``smtp.ca_file`` when set.

The ``Message-ID`` is derived from the delivery's idempotency key, and the key itself is sent as
``X-Monitor-Idempotency-Key``, so a message re-sent after a crash is recognisably the same one.

smtplib runs in a worker thread; its errors are translated here: SMTP 4xx replies, dropped
connections, timeouts and refused connections are transient; 5xx replies, certificate failures and
a server lacking STARTTLS/AUTH are permanent. When only some recipients are refused, the message
counts as sent (resending would duplicate it for the others) and the refusal is returned as a
warning.
"""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import ssl
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
        client: smtplib.SMTP
        if self.security == "ssl":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._tls_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            client.ehlo()
            if self.security == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            if self.username:
                password = self.password.get_secret_value() if self.password else ""
                client.login(self.username, password)
            refused = client.send_message(mail, from_addr=self.sender, to_addrs=self.recipients)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        return refused

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
