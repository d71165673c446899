"""Time values at the boundaries: everything the monitor stores and compares is aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


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
