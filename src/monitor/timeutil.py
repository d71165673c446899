"""Time values at the boundaries: everything the monitor stores and compares is aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC. SQLite hands back naive datetimes; they are UTC by contract."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (its own offset kept; none means UTC).

    Returns ``None`` for empty or unparsable text: publishers' dates are hints, never errors.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds from ``now``: delta-seconds or an HTTP date; ``None``
    when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def asked_wait(status: int, retry_after: str | None) -> float | None:
    """The wait, in seconds, that an HTTP answer asks for: a 429 (Too Many Requests) or 503
    (Service Unavailable) with a readable ``Retry-After``; ``None`` otherwise."""
    return retry_after_seconds(retry_after) if status in (429, 503) else None
