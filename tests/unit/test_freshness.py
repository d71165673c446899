"""The freshness guard's decision for one entry (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.freshness import FreshnessRules, is_archive_dump, judge

NOW = datetime(2031, 5, 6, 12, 0, tzinfo=UTC)
WEEK = FreshnessRules(max_age=timedelta(days=7), archive_entries=100)


def test_a_date_ahead_of_the_fetch_is_clamped_and_kept_even_with_the_guard_off() -> None:
    ahead = NOW + timedelta(hours=5)
    for rules in (WEEK, FreshnessRules()):
        fresh = judge(ahead, NOW, rules)
        assert fresh.published == NOW
        assert fresh.feed_date == ahead
        assert fresh.hold is None


def test_an_entry_older_than_the_window_is_held_and_one_inside_is_not() -> None:
    old = judge(NOW - timedelta(days=7, minutes=1), NOW, WEEK)
    assert old.hold is not None
    assert "2031-04-29 11:59 UTC" in old.hold
    assert old.published == NOW - timedelta(days=7, minutes=1)
    assert judge(NOW - timedelta(days=6), NOW, WEEK).hold is None
    assert judge(NOW - timedelta(days=300), NOW, FreshnessRules()).hold is None  # guard off


def test_an_undated_entry_is_held_only_in_an_archive_dump() -> None:
    assert judge(None, NOW, WEEK).hold is None
    assert judge(None, NOW, WEEK, archive=True).hold == "undated entry in an archive dump"
    assert judge(None, NOW, FreshnessRules(), archive=True).hold is None


def test_a_first_poll_or_a_poll_past_the_threshold_is_an_archive_dump() -> None:
    assert is_archive_dump(True, 1, WEEK)
    assert is_archive_dump(False, 101, WEEK)
    assert not is_archive_dump(False, 100, WEEK)
