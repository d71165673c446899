"""Digest scheduling, routing (mode, cap, quiet hours) and assembly at a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from monitor.alert_settings import DigestSchedule, QuietHours, TopicDelivery
from monitor.alerts.digest import (
    assemble,
    digest_due_at,
    in_quiet_hours,
    next_digest_at,
    quiet_hours_end,
    route,
)
from monitor.models import AlertContent

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # a Monday


def alert(
    alert_id: int, *, topic: str, story: int | None, minutes: int, title: str = ""
) -> AlertContent:
    at = NOW + timedelta(minutes=minutes)
    return AlertContent(
        alert_id=alert_id,
        idempotency_key=f"k{alert_id}",
        topic=topic,
        story_id=story,
        story_headline=f"Story {story}" if story is not None else "",
        article_id=100 + alert_id,
        title=title or f"Article {alert_id}",
        url=f"https://news.example/{alert_id}",
        source=f"Outlet {alert_id % 3}",
        facts=(f"Fact {alert_id}.",),
        reason="matched",
        first_reported_at=at,
        published_at=at,
        outlets=(f"Outlet {alert_id % 3}", "Wire"),
        created_at=at,
    )


def test_hourly_digest_is_on_the_next_hour() -> None:
    schedule = DigestSchedule(every="hourly")
    assert next_digest_at(schedule, NOW) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    on_the_hour = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert next_digest_at(schedule, on_the_hour) == on_the_hour


def test_hourly_digest_in_half_hour_zone() -> None:
    schedule = DigestSchedule(every="hourly", timezone="Asia/Kolkata")  # UTC+5:30
    assert next_digest_at(schedule, NOW) == datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert next_digest_at(schedule, NOW + timedelta(seconds=1)) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC
    )


def test_daily_digest_in_time_zone() -> None:
    schedule = DigestSchedule(every="daily", at=time(8, 0), timezone="Europe/Berlin")  # UTC+1
    # 08:00 Berlin today (07:00 UTC) has passed: tomorrow
    assert next_digest_at(schedule, NOW) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert next_digest_at(schedule, datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )


def test_daily_digest_follows_dst() -> None:
    schedule = DigestSchedule(every="daily", at=time(8, 0), timezone="Europe/Berlin")
    # the night of 2027-03-28 Berlin moves to UTC+2: 08:00 local is then 06:00 UTC
    before = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    assert next_digest_at(schedule, before) == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)


def test_quiet_hours_across_midnight() -> None:
    quiet = QuietHours(start=time(22, 0), end=time(7, 0), timezone="UTC")
    assert in_quiet_hours(quiet, datetime(2026, 11, 23, 23, 0, tzinfo=UTC))
    assert in_quiet_hours(quiet, datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    assert not in_quiet_hours(quiet, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert not in_quiet_hours(quiet, NOW)
    assert quiet_hours_end(quiet, datetime(2026, 11, 23, 23, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 7, 0, tzinfo=UTC
    )
    assert quiet_hours_end(quiet, datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 7, 0, tzinfo=UTC
    )


def test_route_immediate_by_default() -> None:
    r = route(TopicDelivery(), now=NOW, sent_last_hour=100)
    assert (r.mode, r.reason, r.due_at) == ("immediate", "mode", NOW)


def test_route_digest_mode() -> None:
    delivery = TopicDelivery(mode="digest", digest=DigestSchedule(every="hourly"))
    r = route(delivery, now=NOW, sent_last_hour=0)
    assert (r.mode, r.reason, r.due_at) == (
        "digest",
        "mode",
        datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
    )


def test_route_cap_overflow_goes_to_digest() -> None:
    delivery = TopicDelivery(max_per_hour=3, digest=DigestSchedule(every="hourly"))
    assert route(delivery, now=NOW, sent_last_hour=2).mode == "immediate"
    r = route(delivery, now=NOW, sent_last_hour=3)
    assert (r.mode, r.reason) == ("digest", "cap")
    assert r.due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_route_quiet_hours_defer_to_first_digest_after_they_end() -> None:
    delivery = TopicDelivery(
        digest=DigestSchedule(every="hourly"),
        quiet_hours=QuietHours(start=time(22, 0), end=time(7, 0)),
    )
    at = datetime(2026, 11, 23, 23, 15, tzinfo=UTC)
    r = route(delivery, now=at, sent_last_hour=0)
    assert (r.mode, r.reason) == ("digest", "quiet_hours")
    assert r.due_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def test_route_settle_window_holds_a_storys_later_developments() -> None:
    delivery = TopicDelivery(settle_minutes=30)
    # no immediate alert of the story in the window: this one goes out at once
    assert route(delivery, now=NOW, sent_last_hour=0).mode == "immediate"
    alerted = NOW - timedelta(minutes=10)
    r = route(delivery, now=NOW, sent_last_hour=0, story_alerted_at=alerted)
    assert (r.mode, r.reason, r.due_at) == ("digest", "settle", alerted + timedelta(minutes=30))
    # the window is over: immediate again
    late = NOW - timedelta(minutes=30)
    assert route(delivery, now=NOW, sent_last_hour=0, story_alerted_at=late).mode == "immediate"
    # without a window the story's earlier alert changes nothing
    plain = route(TopicDelivery(), now=NOW, sent_last_hour=0, story_alerted_at=alerted)
    assert plain.mode == "immediate"


def test_route_settle_window_ending_in_quiet_hours_waits_for_their_end() -> None:
    delivery = TopicDelivery(
        settle_minutes=60, quiet_hours=QuietHours(start=time(22, 0), end=time(7, 0))
    )
    at = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    r = route(delivery, now=at, sent_last_hour=0, story_alerted_at=at - timedelta(minutes=5))
    assert (r.mode, r.reason) == ("digest", "settle")
    assert r.due_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


def test_digest_time_inside_quiet_hours_is_pushed_out() -> None:
    delivery = TopicDelivery(
        mode="digest",
        digest=DigestSchedule(every="daily", at=time(6, 0)),
        quiet_hours=QuietHours(start=time(22, 0), end=time(7, 30)),
    )
    # the next 06:00 (tomorrow) is inside quiet hours: it goes out when they end
    assert digest_due_at(delivery, NOW) == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
    evening = delivery.model_copy(update={"digest": DigestSchedule(every="daily", at=time(18, 0))})
    assert digest_due_at(evening, NOW) == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def test_assemble_groups_by_topic_and_story_at_fixed_clock() -> None:
    alerts = [
        alert(1, topic="Istanbul talks", story=7, minutes=0),
        alert(2, topic="Energy", story=None, minutes=1),
        alert(3, topic="Istanbul talks", story=None, minutes=2),
        alert(4, topic="Istanbul talks", story=7, minutes=3),
        alert(5, topic="Energy", story=9, minutes=4),
    ]
    expected_shape = [
        ("Energy", [(None, [2]), (9, [5])]),
        ("Istanbul talks", [(7, [1, 4]), (None, [3])]),
    ]
    for ordering in (alerts, list(reversed(alerts))):
        digest = assemble(ordering, now=NOW)
        assert digest.generated_at == NOW
        shape = [
            (t.topic, [(s.story_id, [a.alert_id for a in s.alerts]) for s in t.stories])
            for t in digest.topics
        ]
        assert shape == expected_shape
    assert digest.alert_count == 5
    story = digest.topics[1].stories[0]
    assert story.headline == "Story 7"
    assert story.outlets == ("Outlet 1", "Wire")
    assert [a.alert_id for a in digest.alerts] == [2, 5, 1, 4, 3]


def test_assemble_story_less_alerts_stay_separate() -> None:
    a = alert(1, topic="T", story=None, minutes=0, title="One")
    b = alert(2, topic="T", story=None, minutes=1, title="Two")
    digest = assemble([a, b], now=NOW)
    assert [s.headline for s in digest.topics[0].stories] == ["One", "Two"]


@pytest.mark.parametrize("tz", ["Nowhere/City", "UTC+3"])
def test_unknown_timezone_is_a_config_error(tz: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        DigestSchedule(timezone=tz)
