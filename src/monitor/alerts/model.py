"""Alert values: the stored payload of an alert and the messages built from it.

:func:`payload_from_content` turns an :class:`~monitor.models.AlertContent` into the JSON-safe dict
stored as ``AlertRow.payload`` when the alert is created; :func:`content_from_payload` is its exact
inverse, used at delivery time. The payload carries ``"v": 1`` so later versions can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from monitor.models import AlertContent

PAYLOAD_VERSION = 1

MessageKind = Literal["alert", "digest", "test"]


def _dt(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # times are UTC throughout; a naive one is UTC by contract
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def payload_from_content(content: AlertContent) -> dict[str, Any]:
    """The JSON-safe form of ``content`` stored as ``AlertRow.payload``."""
    return {
        "v": PAYLOAD_VERSION,
        "alert_id": content.alert_id,
        "idempotency_key": content.idempotency_key,
        "topic": content.topic,
        "story_id": content.story_id,
        "story_headline": content.story_headline,
        "article_id": content.article_id,
        "title": content.title,
        "url": content.url,
        "source": content.source,
        "facts": list(content.facts),
        "reason": content.reason,
        "first_reported_at": _dt(content.first_reported_at),
        "published_at": _dt(content.published_at),
        "outlets": list(content.outlets),
        "created_at": _dt(content.created_at),
    }


def content_from_payload(payload: dict[str, Any], *, alert_id: int | None = None) -> AlertContent:
    """Rebuild the alert from its stored payload.

    ``alert_id`` (the row's id) wins over the payload's, which the pipeline may have written
    before the row had an id.
    """
    created = _parse_dt(payload["created_at"])
    first = _parse_dt(payload.get("first_reported_at")) or created
    if created is None or first is None:
        raise ValueError("alert payload has no created_at")
    return AlertContent(
        alert_id=alert_id if alert_id is not None else int(payload.get("alert_id") or 0),
        idempotency_key=str(payload["idempotency_key"]),
        topic=str(payload["topic"]),
        story_id=payload.get("story_id"),
        story_headline=str(payload.get("story_headline") or ""),
        article_id=int(payload["article_id"]),
        title=str(payload.get("title") or ""),
        url=str(payload.get("url") or ""),
        source=str(payload.get("source") or ""),
        facts=tuple(str(f) for f in payload.get("facts") or ()),
        reason=str(payload.get("reason") or ""),
        first_reported_at=first,
        published_at=_parse_dt(payload.get("published_at")),
        outlets=tuple(str(o) for o in payload.get("outlets") or ()),
        created_at=created,
    )


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One message in every form a channel may need.

    ``subject`` is a single line; ``text`` plain text; ``html`` a complete HTML document;
    ``markdown`` for chat services; ``data`` the webhook JSON body (see
    :mod:`monitor.alerts.channels.webhook`).
    """

    kind: MessageKind
    subject: str
    text: str
    html: str
    markdown: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A rendered message bound for one channel, with the key receivers dedupe on.

    ``attempted_at`` is the injected clock of this attempt (email Date, webhook timestamp).
    """

    channel: str
    idempotency_key: str
    message: RenderedMessage
    attempted_at: datetime
