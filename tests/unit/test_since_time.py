"""A user's "since" (``monitor topics test --since``, the web view's search): one reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.timeutil import since_time

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2025-05-01", datetime(2025, 5, 1, tzinfo=UTC)),
        (
            "2025-05-01T08:30:00+02:00",
            datetime(2025, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_relative_and_absolute_times(value: str, expected: datetime) -> None:
    assert since_time(value, NOW) == expected


@pytest.mark.parametrize("value", ["last tuesday", "7w", "1234567d", "", "-3d"])
def test_anything_else_is_a_value_error(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every caller words its own message
        since_time(value, NOW)


def test_a_time_before_year_one_is_a_value_error_not_an_overflow() -> None:
    with pytest.raises(ValueError, match="before year 1"):
        since_time("999999d", NOW)
