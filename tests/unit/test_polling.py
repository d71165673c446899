"""monitor.polling: a source's rhythm, its next poll, failure classes, back-off, going quiet."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.errors import (
    HeldBackError,
    OverBudgetError,
    ParseError,
    PermanentFetchError,
    ResponseTooLargeError,
    RobotsDisallowedError,
    TransientFetchError,
    UnreachableHostError,
)
from monitor.polling import (
    PollingRules,
    backoff,
    cache_lifetime,
    describe_rhythm,
    failure_class,
    next_poll,
    seed_rhythm,
    update_rhythm,
    usual_rhythm,
    went_quiet,
)

T0 = datetime(2031, 5, 6, 8, 0, tzinfo=UTC)
ADAPTIVE = PollingRules(adaptive=True)


def _polls(per_day: float | None, new: list[int], every: timedelta) -> float | None:
    for n in new:
        per_day = update_rhythm(per_day, n, every)
    return per_day


def test_the_rhythm_follows_what_the_feed_publishes() -> None:
    # Four new entries every six hours for two weeks: about sixteen a day.
    busy = _polls(2.0, [4] * 56, timedelta(hours=6))
    assert busy is not None
    assert 13 < busy < 17
    # Then nothing for a week: the estimate falls to about a third.
    quiet = _polls(busy, [0] * 28, timedelta(hours=6))
    assert quiet is not None
    assert quiet < busy * 0.4
    # And it grows again when the feed publishes again.
    assert (_polls(quiet, [4] * 8, timedelta(hours=6)) or 0) > quiet


def test_the_rhythm_does_not_depend_on_how_often_the_feed_is_polled() -> None:
    # The same twelve entries a day, read every ten minutes or twice a day.
    often = _polls(12.0, ([0] * 11 + [1]) * 12 * 7, timedelta(minutes=10))
    seldom = _polls(12.0, [6] * 14, timedelta(hours=12))
    assert often is not None
    assert seldom is not None
    assert often == pytest.approx(seldom, rel=0.05)
    assert often == pytest.approx(12.0, rel=0.05)


def test_an_unknown_rhythm_starts_at_the_first_new_entries() -> None:
    assert update_rhythm(None, 0, timedelta(hours=1)) is None
    # Three new entries two days after the first poll: one and a half a day.
    assert update_rhythm(None, 3, timedelta(days=2)) == pytest.approx(1.5)
    # Soon after the first poll, the span counts as an hour: not taken for a firehose.
    assert update_rhythm(None, 3, timedelta(minutes=10)) == pytest.approx(72.0)


def test_the_first_poll_judges_the_rhythm_from_the_dates_listed() -> None:
    dates = [T0 - timedelta(hours=6 * i) for i in range(9)]  # every six hours, up to now
    assert seed_rhythm(dates, T0) == pytest.approx(4.0)
    assert seed_rhythm([T0, None, None], T0) is None
    # A feed whose newest entry is a week old: the estimate has decayed as it would have.
    old = [d - timedelta(days=7) for d in dates]
    seeded = seed_rhythm(old, T0)
    assert seeded is not None
    assert seeded == pytest.approx(4.0 / 2.718281828, rel=0.01)
    assert usual_rhythm(seeded, old[0], T0) == pytest.approx(4.0)


def test_a_quiet_feed_is_polled_less_and_a_busy_one_more() -> None:
    busy = next_poll(48.0, T0, ADAPTIVE) - T0  # every half hour: polled every quarter hour
    daily = next_poll(1.0, T0, ADAPTIVE) - T0
    assert busy == timedelta(minutes=15)
    assert daily == timedelta(hours=12)
    # A feed going quiet: its estimate decays and its polls spread out, up to the longest.
    per_day: float | None = 1.0
    waits = []
    now = T0
    for _ in range(6):
        wait = next_poll(per_day, now, ADAPTIVE) - now
        waits.append(wait)
        now += wait
        per_day = update_rhythm(per_day, 0, wait)
    assert waits == sorted(waits)
    assert waits[0] < waits[-1] <= ADAPTIVE.max_interval
    # Bounds: never sooner than the shortest interval, never later than the longest.
    assert next_poll(10_000.0, T0, ADAPTIVE) - T0 == ADAPTIVE.min_interval
    assert next_poll(0.0, T0, ADAPTIVE) - T0 == ADAPTIVE.max_interval
    assert next_poll(None, T0, ADAPTIVE) - T0 == ADAPTIVE.min_interval


def test_the_feeds_own_cache_lifetime_is_honoured_up_to_the_longest_interval() -> None:
    hour = timedelta(hours=1)
    assert next_poll(48.0, T0, ADAPTIVE, asked=hour) - T0 == hour
    assert next_poll(48.0, T0, ADAPTIVE, asked=timedelta(days=30)) - T0 == ADAPTIVE.max_interval
    assert next_poll(1.0, T0, ADAPTIVE, asked=hour) - T0 == timedelta(hours=12)  # not sooner


def test_cache_lifetime_reads_max_age_and_ttl() -> None:
    assert cache_lifetime("public, max-age=1800", None) == timedelta(minutes=30)
    assert cache_lifetime('max-age="120", must-revalidate', None) == timedelta(minutes=2)
    assert cache_lifetime(None, 60) == timedelta(hours=1)
    assert cache_lifetime("max-age=60", 30) == timedelta(minutes=30)  # the longer
    assert cache_lifetime("no-cache", None) is None
    assert cache_lifetime("max-age=0", None) is None
    assert cache_lifetime("max-age=soon", None) is None


URL = "https://wire.test/rss"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientFetchError("timed out", url=URL), "temporary"),
        (TransientFetchError("HTTP 503", url=URL, status=503), "temporary"),
        (TransientFetchError("HTTP 429", url=URL, status=429, retry_after_s=60), "temporary"),
        (OverBudgetError("not fetched", url=URL), "temporary"),
        (HeldBackError("not requested", url=URL), "temporary"),
        (ParseError("not an RSS or Atom feed", url=URL), "soft"),
        (ResponseTooLargeError("too large", url=URL), "soft"),
        (PermanentFetchError("HTTP 404", url=URL, status=404), "hard"),
        (PermanentFetchError("HTTP 410", url=URL, status=410), "hard"),
        (RobotsDisallowedError("disallowed", url=URL), "hard"),
        (UnreachableHostError("cannot resolve wire.test", url=URL), "hard"),
    ],
)
def test_failures_are_classed_by_their_type(error: Exception, kind: str) -> None:
    assert isinstance(error, ParseError | PermanentFetchError | TransientFetchError)
    assert failure_class(error) == kind


def test_backoff_doubles_by_class_and_is_capped() -> None:
    rules = PollingRules(backoff_max=timedelta(hours=24))
    rng = random.Random(7)
    for kind, base in (("temporary", 15), ("soft", 30), ("hard", 60)):
        waits = [backoff(kind, k, rules, rng) for k in range(4)]  # type: ignore[arg-type]
        for k, wait in enumerate(waits):
            expected = timedelta(minutes=base * 2**k)
            assert expected * 0.8 <= wait <= expected * 1.2
    assert backoff("hard", 40, rules, rng) == timedelta(hours=24)
    # Jitter: sources failing together are not polled again together.
    assert len({backoff("temporary", 0, rules, rng) for _ in range(5)}) == 5


def test_a_source_goes_quiet_after_many_of_its_usual_intervals() -> None:
    rules = PollingRules()  # eight intervals, and at least 48 hours
    per_day = 4.0  # every six hours
    last_new = T0

    def quiet_after(hours: float) -> bool:
        silence = timedelta(hours=hours)
        decayed = per_day
        for _ in range(int(hours)):  # polled every hour meanwhile, nothing new
            decayed = update_rhythm(decayed, 0, timedelta(hours=1)) or 0.0
        return went_quiet(decayed, last_new, last_new + silence, rules)

    assert not quiet_after(47)  # past eight intervals (48 h), not yet the 48-hour floor
    assert quiet_after(49)

    # A feed publishing hourly is quiet after the floor; a weekly one only after eight weeks.
    def after(per_day: float, silence: timedelta) -> bool:
        return went_quiet(update_rhythm(per_day, 0, silence), T0, T0 + silence, rules)

    assert not after(24.0, timedelta(hours=47))
    assert after(24.0, timedelta(hours=49))
    assert not after(1 / 7, timedelta(days=55))
    assert after(1 / 7, timedelta(days=57))
    assert not went_quiet(None, T0, T0 + timedelta(days=400), rules)


def test_the_rhythm_for_people() -> None:
    assert describe_rhythm(3.2) == "~3 new/day"
    assert describe_rhythm(2 / 7) == "~2 new/week"
    assert describe_rhythm(0.05) == "~2 new/month"
    assert describe_rhythm(0.001) == "none lately"
    assert describe_rhythm(None) == "rhythm unknown"
