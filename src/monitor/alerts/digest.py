"""Digest scheduling and assembly, pure functions of values and an injected clock.

* :func:`route` decides, when an alert is enqueued, whether a channel gets it now or in the next
  digest: the topic's mode, its hourly cap (alerts past the cap roll into the digest) and its quiet
  hours (an alert arriving inside them waits for the next digest; a digest time inside them
  moves to their end). Nothing is dropped.
* The settle window (``settle_minutes``): breaking news reaches the monitor from several outlets
  within minutes, often in different cycles. The first development of a story goes out at once;
  further developments of the same story arriving within the window after it wait, and go out
  together as one **follow-up** (a digest of that story: what each report added, and who
  carried it) when the window ends. A development after the window is immediate again and opens
  a new window. The cost is latency: a follow-up is up to ``settle_minutes`` late.
* :func:`next_digest_at` gives the next send time of a :class:`DigestSchedule` (hourly on the hour,
  or daily at a wall-clock time in a time zone; DST follows the zone's rules).
* :func:`assemble` groups the alerts of one digest by topic, then by story, in a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.alert_settings import DigestSchedule, QuietHours, TopicDelivery
from monitor.models import AlertContent

RouteReason = Literal["mode", "cap", "quiet_hours", "settle"]


@dataclass(frozen=True, slots=True)
class Route:
    """Where one (alert, channel) delivery goes: now, or in the digest due at ``due_at``."""

    mode: Literal["immediate", "digest"]
    reason: RouteReason
    due_at: datetime


def next_digest_at(schedule: DigestSchedule, after: datetime) -> datetime:
    """The first digest time at or after ``after`` (returned in UTC-aware form of ``after``)."""
    tz = ZoneInfo(schedule.timezone)
    local = after.astimezone(tz)
    if schedule.every == "hourly":
        floor = local.replace(minute=0, second=0, microsecond=0)
        candidate = floor if floor >= local else floor + timedelta(hours=1)
        return candidate.astimezone(after.tzinfo)
    day = local.date()
    for offset in range(3):  # today, tomorrow; a third day only if DST ate the wall time
        candidate = datetime.combine(day + timedelta(days=offset), schedule.at, tzinfo=tz)
        if candidate >= local:
            return candidate.astimezone(after.tzinfo)
    raise AssertionError("unreachable: a daily time recurs within two days")


def in_quiet_hours(quiet: QuietHours, at: datetime) -> bool:
    """Whether ``at`` falls in the daily window [start, end) (which may cross midnight)."""
    clock = at.astimezone(ZoneInfo(quiet.timezone)).time().replace(tzinfo=None)
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= clock < quiet.end
    return clock >= quiet.start or clock < quiet.end


def quiet_hours_end(quiet: QuietHours, at: datetime) -> datetime:
    """The end of the quiet window containing ``at`` (``at`` itself when not in one)."""
    if not in_quiet_hours(quiet, at):
        return at
    tz = ZoneInfo(quiet.timezone)
    local = at.astimezone(tz)
    end = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return end.astimezone(at.tzinfo)


def digest_due_at(delivery: TopicDelivery, now: datetime) -> datetime:
    """The next digest time for a topic; one falling inside quiet hours goes out as they end."""
    due = next_digest_at(delivery.digest, now)
    if delivery.quiet_hours is not None:
        due = quiet_hours_end(delivery.quiet_hours, due)
    return due


def settle_window(delivery: TopicDelivery) -> timedelta | None:
    return timedelta(minutes=delivery.settle_minutes) if delivery.settle_minutes else None


def route(
    delivery: TopicDelivery,
    *,
    now: datetime,
    sent_last_hour: int,
    story_alerted_at: datetime | None = None,
) -> Route:
    """Route one delivery. ``sent_last_hour``: immediate deliveries of the same topic on the
    same channel enqueued in the hour before ``now``. ``story_alerted_at``: when the newest
    immediate delivery of the same story, topic and channel was enqueued, if within the settle
    window before ``now``."""
    if delivery.mode == "digest":
        return Route("digest", "mode", digest_due_at(delivery, now))
    if delivery.quiet_hours is not None and in_quiet_hours(delivery.quiet_hours, now):
        return Route("digest", "quiet_hours", digest_due_at(delivery, now))
    window = settle_window(delivery)
    if window is not None and story_alerted_at is not None and story_alerted_at + window > now:
        due = story_alerted_at + window
        if delivery.quiet_hours is not None:
            due = quiet_hours_end(delivery.quiet_hours, due)
        return Route("digest", "settle", due)
    if delivery.max_per_hour is not None and sent_last_hour >= delivery.max_per_hour:
        return Route("digest", "cap", digest_due_at(delivery, now))
    return Route("immediate", "mode", now)


@dataclass(frozen=True, slots=True)
class DigestStory:
    """The alerts of one story (or of one article that has no story yet), oldest first."""

    story_id: int | None
    headline: str
    alerts: tuple[AlertContent, ...]

    @property
    def outlets(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for alert in self.alerts:
            for outlet in (alert.source, *alert.outlets):
                if outlet:
                    seen.setdefault(outlet, None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class DigestTopic:
    topic: str
    stories: tuple[DigestStory, ...]

    @property
    def alert_count(self) -> int:
        return sum(len(s.alerts) for s in self.stories)


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest message: topics by name, stories by first alert, alerts by creation time."""

    generated_at: datetime
    topics: tuple[DigestTopic, ...]
    follow_up: bool = False  # every alert in it waited out a settle window after its story's

    @property
    def headline(self) -> str:
        """The first story's headline (a follow-up is usually about one story)."""
        return self.topics[0].stories[0].headline if self.topics else ""

    @property
    def story_count(self) -> int:
        return sum(len(t.stories) for t in self.topics)

    @property
    def alert_count(self) -> int:
        return sum(t.alert_count for t in self.topics)

    @property
    def alerts(self) -> tuple[AlertContent, ...]:
        return tuple(a for t in self.topics for s in t.stories for a in s.alerts)


def assemble(alerts: Iterable[AlertContent], *, now: datetime, follow_up: bool = False) -> Digest:
    """Group ``alerts`` by topic and story. Order is stable whatever the input order."""
    by_topic: dict[str, dict[tuple[str, int], list[AlertContent]]] = {}
    for alert in alerts:
        key = (
            ("story", alert.story_id)
            if alert.story_id is not None
            else ("article", alert.article_id)
        )
        by_topic.setdefault(alert.topic, {}).setdefault(key, []).append(alert)
    topics: list[DigestTopic] = []
    for topic in sorted(by_topic, key=str.casefold):
        stories: list[DigestStory] = []
        for group in by_topic[topic].values():
            group.sort(key=lambda a: (a.created_at, a.alert_id))
            first = group[0]
            stories.append(
                DigestStory(
                    story_id=first.story_id,
                    headline=first.story_headline or first.title,
                    alerts=tuple(group),
                )
            )
        stories.sort(key=lambda s: (s.alerts[0].created_at, s.alerts[0].alert_id))
        topics.append(DigestTopic(topic=topic, stories=tuple(stories)))
    return Digest(generated_at=now, topics=tuple(topics), follow_up=follow_up)
