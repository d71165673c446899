"""Time values at the boundaries: everything the monitor stores and compares is aware UTC.

Dates and waits from the network are read here and nowhere else (see :mod:`monitor.inbound`).
They are total: any text in, an aware UTC datetime, a number of seconds, or ``None`` out; a
date whose offset pushes it past year 9999 or before year 1 (``9999-12-31T23:59:59-23:59``),
a timestamp out of range, a ``Retry-After`` in another script's digits or too large to count
is ``None`` or capped, never an exception. A publication date before 1970 (a feed's
``0001-01-01`` placeholder), the Unix epoch itself (a timestamp of 0: an unset date) or past
year 8999 is no date (:func:`publication_date`): a story's window reaching back from it would
overflow, and no news is dated there.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from time import struct_time

# A Retry-After longer than this is read as this: every caller caps the wait far lower.
MAX_RETRY_AFTER_S = 10**9
_ASCII_DIGITS = re.compile(r"[0-9]+")
# The range a publication date is believed in. Outside it a date is a placeholder or garbage,
# and the arithmetic done on it (a story's active window before it) can leave datetime's range.
EARLIEST_PUBLISHED = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_PUBLISHED = datetime(9000, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC. SQLite hands back naive datetimes; they are UTC by contract."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def publication_date(value: datetime | None) -> datetime | None:
    """``value`` as a publication date: ``None`` (undated) when absent or outside
    (:data:`EARLIEST_PUBLISHED`, :data:`LATEST_PUBLISHED`): the epoch itself is a placeholder."""
    if value is None:
        return None
    if not EARLIEST_PUBLISHED < as_utc(value) < LATEST_PUBLISHED:
        return None
    return value


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (its own offset kept; none means UTC).

    Returns ``None`` for empty or unparsable text, and for a time that is not representable in
    UTC (so ``.astimezone(UTC)`` on the result cannot fail): publishers' dates are hints, never
    errors.
    """
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed


def from_timestamp(value: object) -> datetime | None:
    """A UTC ``struct_time`` (what feedparser gives) or POSIX seconds as an aware UTC datetime;
    ``None`` when absent or out of range."""
    try:
        if isinstance(value, struct_time):
            seconds: float = calendar.timegm(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value
        else:
            return None
        if not math.isfinite(seconds):
            return None
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header in seconds from ``now``: delta-seconds or an HTTP date; ``None``
    when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also accepts "²" and other scripts' digits.
    if _ASCII_DIGITS.fullmatch(value):
        return (
            float(MAX_RETRY_AFTER_S)
            if len(value) > 9
            else float(min(int(value), MAX_RETRY_AFTER_S))
        )
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC by RFC 5322
            when = when.replace(tzinfo=UTC)
        wait = (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, wait), float(MAX_RETRY_AFTER_S))


def asked_wait(status: int, retry_after: str | None) -> float | None:
    """The wait, in seconds, that an HTTP answer asks for: a 429 (Too Many Requests) or 503
    (Service Unavailable) with a readable ``Retry-After``; ``None`` otherwise."""
    return retry_after_seconds(retry_after) if status in (429, 503) else None


_SINCE = re.compile(r"(\d{1,6})([dhm])")
_SINCE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def since_time(value: str, now: datetime) -> datetime:
    """A user's "since": ``7d``, ``12h`` or ``30m`` before ``now``, or an ISO date or time (no
    offset: UTC). :class:`ValueError` for anything else, or a time before year 1."""
    relative = _SINCE.fullmatch(value)
    try:
        if relative:
            return now - timedelta(**{_SINCE_UNITS[relative.group(2)]: int(relative.group(1))})
        parsed = datetime.fromisoformat(value)
    except OverflowError as exc:
        raise ValueError(f"{value!r} reaches before year 1") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
