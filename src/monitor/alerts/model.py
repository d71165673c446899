"""Alert values: the stored payload of an alert and the messages built from it.

:func:`payload_from_content` turns an :class:`~monitor.models.AlertContent` into the JSON-safe dict
stored as ``AlertRow.payload`` when the alert is created; :func:`content_from_payload` is its exact
inverse, used at delivery time. The payload carries ``"v": 1`` so later versions can read it.
A :class:`SourceNotice` (a source's health changed) is stored the same way
(:func:`notice_payload`, :func:`notice_from_payload`) as ``SourceNoticeRow.payload``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from monitor.models import AlertContent

PAYLOAD_VERSION = 1

# "source": a source health notice (monitor.alerts.notices), not an alert.
MessageKind = Literal["alert", "digest", "test", "source"]


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


NoticeKind = Literal["failing", "recovered", "quiet", "active"]
NOTICE_KINDS: tuple[NoticeKind, ...] = ("failing", "recovered", "quiet", "active")


def notice_key(source: str, kind: str, episode: int) -> str:
    """A source notice's idempotency key: the same in every run that could record it (a
    delivery's adds the channel)."""
    return f"source:{source}:{kind}:{episode}"


@dataclass(frozen=True, slots=True)
class SourceNotice:
    """A source that started failing or recovered, went quiet or is active again, as told to
    the channels. ``url`` and ``error`` have credentials masked already; ``summary`` is the
    one line the cycle's log and summary show. ``episode`` numbers the source's runs of
    failures (or of silence): ``recovered`` ``n`` ends ``failing`` ``n``."""

    source: str
    url: str
    kind: NoticeKind
    summary: str
    failures: int = 0  # failed polls in a row; for "recovered", the run that just ended
    failure_class: str | None = None  # failing: temporary, soft or hard
    error_type: str | None = None  # failing: the latest error
    error: str | None = None
    last_success_at: datetime | None = None  # before the poll that changed it
    last_new_entry_at: datetime | None = None  # quiet: its last new entry
    new_per_day: float | None = None  # quiet: the rhythm it had
    episode: int = 0
    created_at: datetime | None = None

    @property
    def key(self) -> str:
        """The notice's idempotency key (:func:`notice_key`)."""
        return notice_key(self.source, self.kind, self.episode)


def notice_payload(notice: SourceNotice) -> dict[str, Any]:
    """The JSON-safe form of ``notice`` stored as ``SourceNoticeRow.payload`` (its source, kind,
    episode and time are columns of the row)."""
    return {
        "v": PAYLOAD_VERSION,
        "url": notice.url,
        "summary": notice.summary,
        "failures": notice.failures,
        "failure_class": notice.failure_class,
        "error_type": notice.error_type,
        "error": notice.error,
        "last_success_at": _dt(notice.last_success_at),
        "last_new_entry_at": _dt(notice.last_new_entry_at),
        "new_per_day": notice.new_per_day,
    }


def notice_from_payload(
    payload: dict[str, Any], *, source: str, kind: str, episode: int, created_at: datetime
) -> SourceNotice:
    """Rebuild a notice from its row's columns (``created_at`` in UTC) and stored payload."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown source notice kind {kind!r}")
    per_day = payload.get("new_per_day")
    return SourceNotice(
        source=source,
        url=str(payload.get("url") or ""),
        kind=kind,
        summary=str(payload.get("summary") or ""),
        failures=int(payload.get("failures") or 0),
        failure_class=payload.get("failure_class"),
        error_type=payload.get("error_type"),
        error=payload.get("error"),
        last_success_at=_parse_dt(payload.get("last_success_at")),
        last_new_entry_at=_parse_dt(payload.get("last_new_entry_at")),
        new_per_day=float(per_day) if per_day is not None else None,
        episode=episode,
        created_at=created_at,
    )
