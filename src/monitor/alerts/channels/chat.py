"""Chat and push services through apprise: Slack, Discord, Microsoft Teams, Telegram, ntfy and the
many others apprise knows (https://github.com/caronc/apprise/wiki). No per-service code lives here.

The apprise URL carries the service's tokens, so it is a secret: the config names an entry of
``settings.secrets`` and the URL itself never appears in errors, logs or CLI output (only its
scheme does). The message goes out as markdown with the one-line subject as title.

For apprise's generic ``json://``, ``form://`` and ``xml://`` schemes (and their ``s`` variants)
the delivery's idempotency key is added as an ``X-Monitor-Idempotency-Key`` request header, so a
receiver can dedupe a message re-sent after a crash as it can with the native webhook.

apprise reports only success or failure, not why; a failure is treated as transient and retried
with back-off until the delivery's attempts run out. A URL apprise does not understand is a
permanent error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import quote

import apprise
from pydantic import SecretStr

from monitor.alerts.model import OutgoingMessage
from monitor.alerts.settings import AppriseChannel
from monitor.config import Settings
from monitor.errors import PermanentDeliveryError, TransientDeliveryError

HEADER_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else "?"


def with_idempotency_header(url: str, key: str) -> str:
    """``url`` plus the idempotency header, for the generic schemes that take custom headers."""
    if _scheme(url) not in HEADER_SCHEMES:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}+X-Monitor-Idempotency-Key={quote(key, safe='')}"


@dataclass(frozen=True, slots=True)
class AppriseSender:
    name: str
    url: SecretStr = field(repr=False)

    @classmethod
    def from_settings(cls, config: AppriseChannel, settings: Settings) -> AppriseSender:
        from monitor.alerts.channels import secret_named

        url = secret_named(settings, config.url_secret, channel=config.name)
        return cls(name=config.name, url=url)

    @property
    def _where(self) -> str:
        return f"apprise {self.name!r} ({_scheme(self.url.get_secret_value())}://…)"

    def _notify_sync(self, message: OutgoingMessage) -> bool:
        notifier = apprise.Apprise()
        url = with_idempotency_header(self.url.get_secret_value(), message.idempotency_key)
        if not notifier.add(url):
            raise PermanentDeliveryError(
                f"{self._where}: apprise does not understand this URL", channel=self.name
            )
        result = notifier.notify(
            body=message.message.markdown,
            title=message.message.subject,
            body_format=apprise.NotifyFormat.MARKDOWN,
        )
        return bool(result)

    async def send(self, message: OutgoingMessage) -> str | None:
        if not await asyncio.to_thread(self._notify_sync, message):
            raise TransientDeliveryError(
                f"{self._where}: the service did not accept the notification", channel=self.name
            )
        return None
