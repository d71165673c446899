"""Generic JSON webhook: schema version 1, HMAC-SHA256 signed.

Request
    ``POST`` to the channel's URL with ``Content-Type: application/json; charset=utf-8`` and::

        Idempotency-Key:            <key>   same on every retry of the same delivery; dedupe on it
        X-Monitor-Idempotency-Key:  <key>   same value, for receivers that only log X- headers
        X-Monitor-Schema:           news-monitor/alert; version=1
                                    (a source notice: news-monitor/source-notice; version=1)
        X-Monitor-Timestamp:        <unix seconds of this attempt>
        X-Monitor-Signature:        sha256=<hex>   only when a secret is configured

    The signature is ``HMAC-SHA256(secret, f"{timestamp}.{raw body}")`` in lowercase hex. Verify it
    over the raw bytes received, compare in constant time, and refuse timestamps older than a few
    minutes (replays). :func:`verify_signature` does exactly that.

Body (version 1)::

    {
      "schema": "news-monitor/alert",
      "version": 1,
      "kind": "alert" | "digest" | "test",
      "idempotency_key": str,            # the header's value
      "subject": str,                    # one line: topic and development
      "text": str,                       # the plain-text rendering
      "generated_at": str,               # ISO 8601 UTC: alert creation or digest time
      "alerts": [                        # one for "alert"/"test", one or more for "digest"
        {
          "alert_id": int,
          "idempotency_key": str,        # the alert's own key (stable across channels)
          "topic": str,
          "story": {"id": int | null, "headline": str,
                    "url": str},         # url: only with MONITOR_WEB__BASE_URL
          "article": {"id": int, "title": str, "url": str, "source": str,
                      "published_at": str | null},
          "facts": [str],                # the new sentences, verbatim from the article
          "reason": str,                 # why the topic matched
          "first_reported_at": str,
          "outlets": [str],              # outlets carrying the story when the alert was raised
          "created_at": str
        }
      ]
    }

Source notice body (version 1 of its own schema, ``X-Monitor-Schema: news-monitor/source-notice;
version=1``): a source started failing, recovered, went quiet or is active again
(:mod:`monitor.alerts.notices`; channels with ``notices: false`` never get one)::

    {
      "schema": "news-monitor/source-notice",
      "version": 1,
      "type": "source.failing" | "source.recovered" | "source.quiet" | "source.active",
      "kind": "source",
      "idempotency_key": str,            # source:<name>:<kind>:<episode>:<channel>
      "subject": str,                    # e.g. "[Source] Harbour Post failing: hard (...)"
      "text": str,
      "generated_at": str,               # when the change was recorded
      "alerts": [],                      # always empty: not an alert
      "source": {
        "name": str, "url": str,         # credentials in the URL masked
        "status": "failing" | "recovered" | "quiet" | "active",
        "episode": int,                  # the source's n-th run of failures (or of silence);
                                         # "recovered" n ends "failing" n
        "summary": str,                  # the line the cycle's log shows
        "failures": int,                 # failed polls in a row (recovered: the run ended)
        "failure_class": "temporary" | "soft" | "hard" | null,
        "error_type": str | null, "error": str | null,
        "last_success_at": str | null,
        "last_new_entry_at": str | null, # quiet: its last new entry
        "new_per_day": float | null      # quiet: the rhythm it had
      }
    }

A receiver written for alert documents tells a notice by ``schema`` (or ``kind``), and one that
only iterates ``alerts`` finds nothing in it.

``story.url`` is the story's page in the web view, present only when ``MONITOR_WEB__BASE_URL`` is
set and the alert has a story. Article-derived strings are passed as data, unescaped: receivers
must escape them for their output. Fields may be added within version 1; removing or changing one
bumps ``version``.

Responses: any 2xx is success. 408, 425, 429 and 5xx, timeouts and connection errors are
transient (retried with back-off); other statuses are permanent (the delivery is dead until
``monitor alerts retry``). Redirects are not followed. The channel's timeout bounds the whole
exchange (connect, request, the response's status line and headers); the response body is never
read, so a receiver that answers 2xx and then sends an endless or dripped body does not hold
the delivery, and one that drips its headers fails it (transient) when the timeout ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from monitor.alert_settings import WebhookChannel
from monitor.alerts.model import MessageKind, OutgoingMessage, SourceNotice
from monitor.config import Settings
from monitor.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.models import AlertContent
from monitor.targets import check_http_url, non_public_address
from monitor.timeutil import asked_wait

SCHEMA = "news-monitor/alert"
VERSION = 1
NOTICE_SCHEMA = "news-monitor/source-notice"
NOTICE_VERSION = 1
SIGNATURE_HEADER = "X-Monitor-Signature"
TIMESTAMP_HEADER = "X-Monitor-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TRANSIENT_STATUSES = frozenset({408, 425, 429})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def alert_document(alert: AlertContent, story_url: str = "") -> dict[str, Any]:
    story: dict[str, Any] = {"id": alert.story_id, "headline": alert.story_headline}
    if story_url:
        story["url"] = story_url
    return {
        "alert_id": alert.alert_id,
        "idempotency_key": alert.idempotency_key,
        "topic": alert.topic,
        "story": story,
        "article": {
            "id": alert.article_id,
            "title": alert.title,
            "url": alert.url,
            "source": alert.source,
            "published_at": _iso(alert.published_at),
        },
        "facts": list(alert.facts),
        "reason": alert.reason,
        "first_reported_at": _iso(alert.first_reported_at),
        "outlets": list(alert.outlets),
        "created_at": _iso(alert.created_at),
    }


def build_document(
    kind: MessageKind,
    *,
    subject: str,
    text: str,
    alerts: Iterable[AlertContent],
    at: datetime,
    story_url: Callable[[int | None], str] | None = None,
) -> dict[str, Any]:
    """The version-1 body, without ``idempotency_key`` (added per delivery); ``story_url`` gives
    each alert's ``story.url`` (the web view's page, when its base URL is set)."""
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "kind": kind,
        "subject": subject,
        "text": text,
        "generated_at": _iso(at),
        "alerts": [alert_document(a, story_url(a.story_id) if story_url else "") for a in alerts],
    }


def build_notice_document(notice: SourceNotice, *, subject: str, text: str) -> dict[str, Any]:
    """The source notice body (see the module docstring), without ``idempotency_key``."""
    return {
        "schema": NOTICE_SCHEMA,
        "version": NOTICE_VERSION,
        "type": f"source.{notice.kind}",
        "kind": "source",
        "subject": subject,
        "text": text,
        "generated_at": _iso(notice.created_at),
        "alerts": [],
        "source": {
            "name": notice.source,
            "url": notice.url,
            "status": notice.kind,
            "episode": notice.episode,
            "summary": notice.summary,
            "failures": notice.failures,
            "failure_class": notice.failure_class,
            "error_type": notice.error_type,
            "error": notice.error,
            "last_success_at": _iso(notice.last_success_at),
            "last_new_entry_at": _iso(notice.last_new_entry_at),
            "new_per_day": notice.new_per_day,
        },
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` over ``b"{timestamp}." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    *,
    body: bytes,
    timestamp: str,
    signature: str,
    now: datetime,
    tolerance_s: int = 300,
) -> bool:
    """What a receiver does: a valid signature over a timestamp within ``tolerance_s`` of now."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def encode_body(message: OutgoingMessage) -> bytes:
    document = {**message.message.data, "idempotency_key": message.idempotency_key}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _schema_header(document: Mapping[str, Any]) -> str:
    """``<schema>; version=<n>`` of the document sent (an alert's, or a source notice's)."""
    if document.get("schema") == NOTICE_SCHEMA:
        return f"{NOTICE_SCHEMA}; version={NOTICE_VERSION}"
    return f"{SCHEMA}; version={VERSION}"


def request_headers(
    message: OutgoingMessage, body: bytes, secret: SecretStr | None
) -> Mapping[str, str]:
    timestamp = int(message.attempted_at.timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        IDEMPOTENCY_HEADER: message.idempotency_key,
        "X-Monitor-Idempotency-Key": message.idempotency_key,
        "X-Monitor-Schema": _schema_header(message.message.data),
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret is not None and secret.get_secret_value():
        headers[SIGNATURE_HEADER] = sign(secret.get_secret_value(), timestamp, body)
    return headers


@dataclass(frozen=True, slots=True)
class WebhookSender:
    """POSTs the version-1 document to ``url``; ``secret`` signs it when set."""

    name: str
    url: str
    secret: SecretStr | None
    http: httpx.AsyncClient = field(repr=False)
    timeout_s: float = 10.0
    allow_private: bool = True

    @classmethod
    def from_settings(
        cls, config: WebhookChannel, settings: Settings, *, http: httpx.AsyncClient
    ) -> WebhookSender:
        from monitor.alerts.channels import secret_named

        secret = (
            secret_named(settings, config.secret, channel=config.name)
            if config.secret is not None
            else settings.webhook_secret
        )
        return cls(
            name=config.name,
            url=config.url,
            secret=secret,
            http=http,
            timeout_s=settings.delivery.webhook_timeout_s,
            allow_private=settings.delivery.allow_private_destinations,
        )

    @property
    def _where(self) -> str:
        # Host only: paths and query strings of webhook URLs often carry tokens.
        try:
            host = urlsplit(self.url).hostname
        except ValueError:
            host = "invalid URL"
        return f"webhook {self.name!r} ({host})"

    def _cause(self, exc: Exception) -> str:
        """The error's type and text (refused, certificate not verified, ...), without the
        URL's path or query should the text quote them."""
        text = " ".join(str(exc).split())[:300]
        parts = urlsplit(self.url)
        secret_parts = [p for p in (parts.path, parts.query, parts.fragment) if len(p) > 1]
        if not text or any(part in text for part in secret_parts):
            return type(exc).__name__
        return f"{type(exc).__name__}: {text}"

    async def _check_destination(self) -> None:
        """Refuse a host that resolves to a non-public address (private destinations not
        allowed). The name is resolved here and again when httpx connects: a DNS answer that
        changes in between is not caught (an IP literal in the URL leaves no such gap)."""
        parts = httpx.URL(self.url)
        try:
            address = await non_public_address(parts.host, parts.port or 443)
        except (OSError, UnicodeError) as exc:
            raise TransientDeliveryError(
                f"{self._where}: cannot resolve the host ({type(exc).__name__})", channel=self.name
            ) from exc
        if address is not None:
            raise PermanentDeliveryError(
                f"{self._where}: resolves to non-public address {address} (private "
                "destinations are not allowed: MONITOR_DELIVERY__ALLOW_PRIVATE_DESTINATIONS)",
                channel=self.name,
            )

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str | None]:
        """POST ``body``; the answer's status and ``Retry-After``. ``timeout_s`` bounds the
        whole exchange (connect, send, the response's headers), not each read: a receiver
        dripping its headers cannot hold the delivery. The body is never read: a 2xx is the
        answer, and a body that never ends or drips must not keep it waiting."""
        try:
            async with asyncio.timeout(self.timeout_s):
                request = self.http.build_request(
                    "POST", self.url, content=body, headers=dict(headers), timeout=self.timeout_s
                )
                response = await self.http.send(request, stream=True, follow_redirects=False)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise PermanentDeliveryError(
                f"{self._where}: the URL cannot be requested ({type(exc).__name__})",
                channel=self.name,
            ) from exc
        except (UnicodeError, ValueError, OverflowError) as exc:
            # A host httpx cannot encode (IDNA) or a port the socket refuses: the config check
            # stops these; a URL from anywhere else still fails as this delivery's error.
            raise PermanentDeliveryError(
                f"{self._where}: the URL cannot be requested ({type(exc).__name__})",
                channel=self.name,
            ) from exc
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransientDeliveryError(
                f"{self._where}: timed out after {self.timeout_s:g}s ({type(exc).__name__})",
                channel=self.name,
            ) from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(
                f"{self._where}: connection failed ({self._cause(exc)})", channel=self.name
            ) from exc
        # Closing a response whose body is unread drops its connection, without reading on.
        # The answer is in: a close that fails or stalls (a TLS peer not reading) changes
        # nothing, and is not waited for beyond the timeout.
        with contextlib.suppress(TimeoutError, httpx.TransportError):
            async with asyncio.timeout(self.timeout_s):
                await response.aclose()
        return response.status_code, response.headers.get("retry-after")

    async def send(self, message: OutgoingMessage) -> str | None:
        try:  # the config check, again: a URL from anywhere else fails here, not in a socket
            check_http_url(self.url)
        except ValueError as exc:
            raise PermanentDeliveryError(
                f"{self._where}: the URL cannot be requested: {exc}", channel=self.name
            ) from exc
        if not self.allow_private:
            await self._check_destination()
        body = encode_body(message)
        status, retry_after = await self._post(body, request_headers(message, body, self.secret))
        if 200 <= status < 300:
            return None
        reason = f"{self._where}: HTTP {status}"
        if status >= 500 or status in TRANSIENT_STATUSES:
            # A rate-limited receiver (429, or 503 with Retry-After) says when to come back.
            wait = asked_wait(status, retry_after)
            asked = f", asked to wait {wait:.0f}s" if wait is not None else ""
            raise TransientDeliveryError(reason + asked, channel=self.name, retry_after_s=wait)
        raise PermanentDeliveryError(reason, channel=self.name)
