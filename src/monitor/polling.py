"""When to poll a source again: its rhythm, adaptive polling, back-off by failure class, and
noticing a source that went quiet. Pure: values in, values out; the clock is always given.

Contract:

* **Rhythm.** Each source keeps an estimate of how many new entries it publishes per day, an
  exponentially time-weighted count (:func:`update_rhythm`): at every successful poll the
  estimate decays by ``exp(-elapsed / RHYTHM_WINDOW)`` and the poll's new entries add
  ``n / RHYTHM_WINDOW``. In a steady state that is the source's mean rate, and it is the same
  whether the source is polled every ten minutes or once a day (the decay depends on time, not
  on the number of polls), so adaptive polling does not bend its own input. Per day, because
  news rhythms are daily (and weekly) and that is how the estimate is shown ("~3 new/day").
  A source's first poll lists its archive, not news: the estimate starts from the dates of the
  entries listed instead (:func:`seed_rhythm`); a feed without dates starts at its first new
  entries. ``None`` means not known yet.
* **Adaptive polling** (``MONITOR_POLLING__ADAPTIVE``, off by default): the next poll is half
  the expected interval between new entries after this one, within
  ``MIN_INTERVAL_S``..``MAX_INTERVAL_S``, never sooner than the feed said it may be cached
  (``Cache-Control: max-age`` or RSS ``<ttl>``, itself capped at the longest interval): see
  :func:`next_poll`. An unknown rhythm polls at the shortest interval.
* **Failure classes** (:func:`failure_class`, by the error's type and HTTP status, never its
  message): ``temporary`` (timeouts, 5xx, 429, connection errors, over budget), ``soft`` (a
  document that is not a usable feed, or is too large), ``hard`` (the host does not resolve,
  TLS fails, 404/410 and other refusals, robots.txt disallows the feed). A source that is
  failing (its ``failing_after``-th failure in a row and on) is polled again after
  :func:`backoff`: :data:`BACKOFF_BASE` of its class, doubled at each further failure, capped at
  ``BACKOFF_MAX_S``, with jitter; before that it is polled every cycle.
* **Went quiet** (:func:`went_quiet`): a source that answers but has listed no new entry for
  ``QUIET_FACTOR`` times its usual interval, and at least ``QUIET_MIN_HOURS``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.errors import (
    MonitorError,
    ParseError,
    PermanentFetchError,
    ResponseTooLargeError,
    TransientFetchError,
    UnreachableHostError,
)

FailureClass = Literal["temporary", "soft", "hard"]

# How far back the rhythm looks: a week, so that a weekday/weekend pattern averages out and a
# change of pace shows within days.
RHYTHM_WINDOW = timedelta(days=7)
# A feed without dates whose first new entries come soon after its first poll is not taken
# for a firehose: its first estimate counts at least an hour.
_FIRST_SPAN = timedelta(hours=1)

# Back-off of a failing source, by class: a hard failure (the feed moved or is gone) needs a
# person more than a poll every cycle.
BACKOFF_BASE: Mapping[FailureClass, timedelta] = {
    "temporary": timedelta(minutes=15),
    "soft": timedelta(minutes=30),
    "hard": timedelta(hours=1),
}
BACKOFF_JITTER = 0.2  # each back-off is drawn within +-20% of its length

_DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class PollingRules:
    """The ``MONITOR_POLLING__*`` settings as the rules need them."""

    adaptive: bool = False
    min_interval: timedelta = timedelta(minutes=10)
    max_interval: timedelta = timedelta(hours=24)
    backoff_max: timedelta = timedelta(hours=24)
    quiet_factor: float = 8.0
    quiet_min: timedelta = timedelta(hours=48)


def seed_rhythm(published: Sequence[datetime | None], now: datetime) -> float | None:
    """New entries per day judged from the dates a feed lists at its first poll: the dated
    entries but one over the span they cover, decayed from the newest to ``now`` as
    :func:`update_rhythm` would have (so :func:`went_quiet` reads it like any other); None with
    fewer than two dated entries."""
    dates = sorted(min(d, now) for d in published if d is not None)
    if len(dates) < 2:
        return None
    span_days = max((dates[-1] - dates[0]).total_seconds(), 3600.0) / _DAY_S
    return (len(dates) - 1) / span_days * math.exp(-((now - dates[-1]) / RHYTHM_WINDOW))


def update_rhythm(per_day: float | None, new_entries: int, elapsed: timedelta) -> float | None:
    """The estimate after a successful poll that found ``new_entries``, ``elapsed`` after the
    previous successful one (see the module docstring)."""
    window_days = RHYTHM_WINDOW.total_seconds() / _DAY_S
    if per_day is None:
        if new_entries <= 0:
            return None
        return new_entries / (max(elapsed, _FIRST_SPAN).total_seconds() / _DAY_S)
    decay = math.exp(-max(elapsed.total_seconds(), 0.0) / RHYTHM_WINDOW.total_seconds())
    return per_day * decay + new_entries / window_days


def expected_interval(per_day: float | None) -> timedelta | None:
    """The usual time between two new entries; None when unknown or nothing is published."""
    if per_day is None or per_day <= 0:
        return None
    return timedelta(seconds=_DAY_S / per_day)


def next_poll(
    per_day: float | None, now: datetime, rules: PollingRules, *, asked: timedelta | None = None
) -> datetime:
    """When an adaptively polled source is due again after a successful poll at ``now``;
    ``asked`` is how long the feed said it may be cached (:func:`cache_lifetime`)."""
    if per_day is None:
        wait = rules.min_interval
    elif per_day <= 0:
        wait = rules.max_interval
    else:
        wait = timedelta(seconds=_DAY_S / per_day / 2)
    wait = min(max(wait, rules.min_interval), rules.max_interval)
    if asked is not None:
        wait = max(wait, min(asked, rules.max_interval))
    return now + wait


def cache_lifetime(cache_control: str | None, ttl_minutes: int | None) -> timedelta | None:
    """How long a feed said it may be cached: ``Cache-Control: max-age`` (``no-cache`` and
    ``no-store`` say nothing of the kind) or the RSS ``<ttl>``, the longer of the two."""
    found: list[timedelta] = []
    if ttl_minutes is not None and ttl_minutes > 0:
        found.append(timedelta(minutes=ttl_minutes))
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() != "max-age":
            continue
        try:
            seconds = int(value.strip().strip('"'))
        except ValueError:
            continue
        if seconds > 0:
            found.append(timedelta(seconds=seconds))
    return max(found) if found else None


def failure_class(error: MonitorError) -> FailureClass:
    """The class of a failed poll's error (see the module docstring)."""
    if isinstance(error, UnreachableHostError):
        return "hard"
    if isinstance(error, TransientFetchError):
        return "temporary"
    if isinstance(error, ParseError | ResponseTooLargeError):
        return "soft"
    if isinstance(error, PermanentFetchError):
        return "hard"
    return "temporary"


def backoff(kind: FailureClass, beyond: int, rules: PollingRules, rng: random.Random) -> timedelta:
    """How long a failing source is left alone after its failure number ``failing_after +
    beyond`` (``beyond`` 0 at the failure that made it failing)."""
    base = BACKOFF_BASE[kind].total_seconds() * 2 ** min(max(beyond, 0), 32)
    jittered = base * rng.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
    return timedelta(seconds=min(jittered, rules.backoff_max.total_seconds()))


def usual_rhythm(per_day: float | None, last_new: datetime | None, now: datetime) -> float | None:
    """The estimate as it stood at the source's last new entry: with nothing new since, it has
    only decayed (:func:`update_rhythm`), so it is recovered from today's."""
    if per_day is None or per_day <= 0 or last_new is None:
        return None
    return per_day * math.exp(min(max((now - last_new) / RHYTHM_WINDOW, 0.0), 50.0))


def went_quiet(
    per_day: float | None, last_new: datetime | None, now: datetime, rules: PollingRules
) -> bool:
    """Whether a source has listed nothing new since ``last_new`` for much longer than it used
    to: more than ``quiet_factor`` of its usual intervals (:func:`usual_rhythm`), and more than
    ``quiet_min``."""
    usual = usual_rhythm(per_day, last_new, now)
    if usual is None or last_new is None:
        return False
    silence = now - last_new
    if silence <= rules.quiet_min:
        return False
    return silence.total_seconds() > rules.quiet_factor * _DAY_S / usual


def describe_rhythm(per_day: float | None) -> str:
    """The rhythm for people: ``~3 new/day``, ``~2 new/week``, ``none lately``, at most 14
    characters (a column of ``monitor sources``)."""
    if per_day is None:
        return "rhythm unknown"
    if per_day >= 1:
        return f"~{per_day:.0f} new/day"
    if per_day * 7 >= 1:
        return f"~{per_day * 7:.0f} new/week"
    if per_day * 30 >= 1:
        return f"~{per_day * 30:.0f} new/month"
    return "none lately"
