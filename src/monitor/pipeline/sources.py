"""Sources as the database knows them: which are configured, how their polls went, what they
asked of us.

* :func:`sync_sources` upserts the configured sources by name and returns their
  :class:`SourceState` (stored validators, ``retry_at``, whether updates are followed, whether
  robots.txt is obeyed: stored too, for ``monitor sources``).
* :func:`record_polls` keeps each source's health after a poll and reports the sources that
  started failing (``failing_after`` failed polls in a row) or recovered, once each
  (:class:`SourceHealthChange`), so a monitor going blind to an outlet is noticed without a
  notice every cycle. A poll refused with ``Retry-After`` sets ``retry_at``; a poll never sent
  (its host had just asked to wait) is neither a failure nor a success. It also keeps each
  source's rhythm and decides when it is polled next (:mod:`monitor.polling`): a failing source
  backs off by the class of its failure, an adaptively polled one waits by its rhythm; and it
  reports a source that went quiet (answers, lists nothing new for much longer than usual) and
  one active again, once each.
  The poll's transaction also queues each change for the channels
  (:func:`monitor.alerts.notices.queue_notices`, called by the collect stage).
* :func:`store_validators` keeps a poll's ETag / Last-Modified only once its entries are dealt
  with; :func:`deferred` leaves out the sources whose wait has not passed (``Retry-After``, a
  back-off, or, with adaptive polling, their rhythm).
* A source of kind ``page`` (:mod:`monitor.sections`) polls its own URL and reads its links;
  its feed is never looked for.
* A source may be set to a site's home or section page: the feed found for it
  (:mod:`monitor.pipeline.resolve`) is kept in ``sources.feed_url`` with the reason it was
  chosen (``feed_choice``), and later polls fetch it directly (:attr:`SourceState.poll_url`).
  A new URL in the config forgets the choice. :func:`stored_validators` looks up the
  validators of any URL (the sitemaps of an index).
* :func:`known_robots` and :func:`store_robots` keep each host's robots.txt between cycles,
  for a day (see :mod:`monitor.robots`).
* :func:`source_health` reads every source's state for people: ``monitor sources`` and the
  web view's Sources page.

Validators belong to the feed's URL (``feed_validators``), not to the source's name: two configs
that name one feed differently, or a config that renames a source, share them instead of
resetting each other's, and a feed polled by one deployment answers 304 to the next.
"""

from __future__ import annotations

import random
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.alerts.model import SourceNotice
from monitor.config import SOURCE_FAILING_AFTER, SourceConfig
from monitor.discovery import Discovery, StoredValidators, Validators
from monitor.errors import HeldBackError
from monitor.models import FetchResult, ParsedFeed, SourceError
from monitor.polling import (
    FailureClass,
    PollingRules,
    backoff,
    describe_rhythm,
    next_poll,
    seed_rhythm,
    update_rhythm,
    usual_rhythm,
    went_quiet,
)
from monitor.redact import redact_text, redact_url
from monitor.robots import KnownRobots
from monitor.storage.db import dialect_insert
from monitor.storage.tables import (
    ArticleRow,
    FeedValidatorRow,
    PageFailureRow,
    RobotsTxtRow,
    SourceRow,
)
from monitor.timeutil import as_utc
from monitor.wording import counted

SourceKind = Literal["feed", "page"]


@dataclass(frozen=True, slots=True)
class SourceState:
    id: int
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    retry_at: datetime | None = None  # not to be polled before (the feed's Retry-After)
    follow_updates: bool = False  # entries marked updated are read again (see select_new)
    first_poll: bool = False  # never polled successfully: its feed lists its archive
    obey_robots: bool = True  # its host's robots.txt decides what may be fetched
    next_poll_at: datetime | None = None  # due again then (a back-off, or its rhythm)
    failure_class: FailureClass | None = None  # of its latest poll, when that failed
    failures: int = 0  # failed polls in a row
    new_per_day: float | None = None  # its rhythm (see monitor.polling)
    feed_url: str | None = None  # the feed found for a source set to a page (discovery)
    kind: SourceKind = "feed"  # "page": a section page whose links are read (monitor.sections)
    # When the poll URL's validators were last kept: its last poll whose entries were all dealt
    # with (a sitemap's older <lastmod>s hold nothing new, see monitor.discovery).
    read_at: datetime | None = None

    @property
    def poll_url(self) -> str:
        """The URL a poll fetches: the feed found for the source's page, or its own URL."""
        return self.feed_url or self.url

    def asked_to_wait(self, now: datetime) -> bool:
        """Its server asked not to be polled before ``retry_at`` (Retry-After)."""
        return self.retry_at is not None and as_utc(self.retry_at) > now

    def due(self, now: datetime, *, adaptive: bool = False, poll_all: bool = False) -> bool:
        """Whether to poll it now: never before its server's ``retry_at``; unless ``poll_all``,
        not before ``next_poll_at`` while it backs off (failing) or, with ``adaptive``, while
        its rhythm says nothing new is likely yet."""
        if self.asked_to_wait(now):
            return False
        if poll_all or self.next_poll_at is None or as_utc(self.next_poll_at) <= now:
            return True
        return not (adaptive or self.failure_class is not None)

    def describe_wait(self) -> str:
        """One line for a source that is not polled this cycle (see :func:`deferred`)."""
        if self.retry_at is not None and (
            self.next_poll_at is None or as_utc(self.retry_at) >= as_utc(self.next_poll_at)
        ):
            when = as_utc(self.retry_at)
            return (
                f"source {self.name} not polled until {when:%Y-%m-%d %H:%M} UTC: "
                "its server asked to wait (Retry-After)"
            )
        until = f"until {as_utc(self.next_poll_at):%Y-%m-%d %H:%M} UTC" if self.next_poll_at else ""
        if self.failure_class is not None:
            return (
                f"source {self.name} not polled {until}: backing off after "
                f"{counted(self.failures, 'failed poll')} in a row ({self.failure_class})"
            )
        return f"source {self.name} not due {until} ({describe_rhythm(self.new_per_day)})"


@dataclass(frozen=True, slots=True)
class FeedPoll:
    source: SourceState
    feed: ParsedFeed | None = None
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    error: SourceError | None = None
    retry_after_s: float | None = None  # the wait a failed poll's server asked for
    # Entries of a feed that was read, left out for a reason of their own (an invalid link):
    # recorded in the cycle's errors, never a failure of the source.
    entry_errors: tuple[SourceError, ...] = ()
    failure: FailureClass | None = None  # the class of ``error`` (see monitor.polling)
    # How long the feed said it may be cached (Cache-Control max-age, RSS <ttl>).
    cache_for: timedelta | None = None
    page: bool = False  # the URL answered with an HTML page, not a feed: its feed is looked for
    # That page as fetched, for discovery to read (not fetched twice); dropped once it is read.
    document: FetchResult | None = field(default=None, repr=False, compare=False)
    gone: bool = False  # the URL answered 404 or 410
    discovery: Discovery | None = None  # the source's feed was looked for in this poll
    # Validators of the sitemaps of an index read whole, kept like the poll's own.
    children: tuple[StoredValidators, ...] = ()
    # False: a sitemap of its index failed transiently; nothing of the poll's validators is
    # kept, so the next poll reads the index again, from the same point (``read_at``).
    complete: bool = True

    @property
    def held_back(self) -> bool:
        """Not sent: the feed's host had just asked to be left alone (see HeldBackError)."""
        return self.error is not None and self.error.error_type == HeldBackError.__name__


def last_worked(when: datetime | None) -> str:
    """When a source last answered a poll, for people: ``last worked 2031-05-06 08:00 UTC``."""
    return f"last worked {as_utc(when):%Y-%m-%d %H:%M} UTC" if when else "never worked"


HealthStatus = Literal["failing", "recovered", "quiet", "active"]


@dataclass(frozen=True, slots=True)
class SourceHealthChange:
    """A source that started failing (its ``failing_after``-th failed poll in a row) or
    recovered (a successful poll after such a run) in this cycle; or one that went quiet (it
    answers, but has listed nothing new for much longer than its rhythm) or is active again
    (a new entry after that)."""

    source: str
    url: str
    status: HealthStatus
    failures: int  # failed polls in a row; for "recovered", the run that just ended
    error_type: str | None  # the latest error; None unless failing
    error: str | None
    last_success_at: datetime | None  # before this poll
    failure_class: FailureClass | None = None  # failing: the class of the latest error
    last_new_entry_at: datetime | None = None  # quiet: its last new entry before the silence
    new_per_day: float | None = None  # quiet: the rhythm it had then

    @property
    def shown_url(self) -> str:
        """The source's URL as it may be shown: credentials masked."""
        return redact_url(self.url)

    def notice(self) -> SourceNotice:
        """The change as told to the channels (:mod:`monitor.alerts.notices`)."""
        return SourceNotice(
            source=self.source,
            url=self.shown_url,
            kind=self.status,
            summary=self.describe(),
            failures=self.failures,
            failure_class=self.failure_class,
            error_type=self.error_type,
            error=self.error,
            last_success_at=self.last_success_at,
            last_new_entry_at=self.last_new_entry_at,
            new_per_day=self.new_per_day,
        )

    def describe(self) -> str:
        """One line for a log, a terminal or the cycle's summary."""
        if self.status == "recovered":
            return f"source {self.source} works again after {counted(self.failures, 'failed poll')}"
        if self.status == "quiet":
            last = self.last_new_entry_at
            since = f"{as_utc(last):%Y-%m-%d %H:%M} UTC" if last else "a long time"
            return (
                f"source {self.source} went quiet: nothing new since {since}, "
                f"though it used to publish {describe_rhythm(self.new_per_day)}"
            )
        if self.status == "active":
            return f"source {self.source} is active again: it lists new entries"
        since = last_worked(self.last_success_at)
        return (
            f"source {self.source} is failing: {counted(self.failures, 'poll')} in a row "
            f"({since}); "
            f"{self.error_type}: {self.error}"
        )


def _move(row: SourceRow, src: SourceConfig) -> None:
    """Point a source's row at its new URL or kind, forgetting what belonged to the old one."""
    # A moved feed: the new URL has validators of its own. A page read for its links polls its
    # own URL, not a feed found for it before.
    row.url = src.url
    row.kind = src.kind
    row.feed_url = row.feed_choice = None  # a feed found for the old URL
    row.discovered_at = None
    # The old URL's failures, back-off and waits are not the new one's: an operator who fixes
    # a failing source's URL sees it polled in the next cycle.
    row.consecutive_failures = 0
    row.failure_class = row.last_error = row.last_error_type = None
    row.retry_at = row.next_poll_at = None


def sync_sources(session: Session, sources: Sequence[SourceConfig]) -> list[SourceState]:
    """Upsert configured sources by name; return the enabled ones with their validators."""
    rows = {row.name: row for row in session.scalars(select(SourceRow))}
    states: list[SourceState] = []
    new: list[dict[str, Any]] = []
    for src in sources:
        row = rows.get(src.name)
        if row is None:
            new.append({"name": src.name, "url": src.url, "robots": src.robots, "kind": src.kind})
        elif row.url != src.url or row.kind != src.kind:
            _move(row, src)
        if row is not None and row.robots != src.robots:
            row.robots = src.robots
        if src.enabled:
            states.append(SourceState(0, src.name, src.url))
    session.flush()
    if new:
        # Another deployment on the database may be adding the same source right now.
        insert = dialect_insert(session.get_bind().dialect.name, SourceRow.__table__)
        values = [{**v, "consecutive_failures": 0, "articles_seen": 0} for v in new]
        session.execute(insert.values(values).on_conflict_do_nothing(index_elements=["name"]))
    by_name = {row.name: row for row in session.scalars(select(SourceRow))}
    follows = {src.name for src in sources if src.follow_updates}
    ignoring = {src.name for src in sources if src.robots == "ignore"}
    kinds: dict[str, SourceKind] = {src.name: src.kind for src in sources}
    found = {name: row.feed_url for name, row in by_name.items() if kinds.get(name) != "page"}
    urls = sorted({found.get(s.name) or s.url for s in states})
    validators = {
        row.url: row
        for row in session.scalars(select(FeedValidatorRow).where(FeedValidatorRow.url.in_(urls)))
    }
    return [
        SourceState(
            (row := by_name[s.name]).id,
            s.name,
            s.url,
            v.etag if (v := validators.get(found.get(s.name) or s.url)) else None,
            v.last_modified if v else None,
            row.retry_at,
            s.name in follows,
            row.last_success_at is None,
            s.name not in ignoring,
            row.next_poll_at,
            _failure_class(row.failure_class),
            row.consecutive_failures or 0,
            row.new_per_day,
            found.get(s.name),
            kinds[s.name],
            as_utc(v.updated_at) if v else None,
        )
        for s in states
    ]


_FAILURE_CLASSES: dict[str | None, FailureClass] = {
    "temporary": "temporary",
    "soft": "soft",
    "hard": "hard",
}


def _failure_class(stored: str | None) -> FailureClass | None:
    return _FAILURE_CLASSES.get(stored)


# Back-off jitter: spreads the sources of a host that failed together.
BACKOFF_RANDOM = random.Random()  # noqa: S311 - spreading polls, not a secret


def record_polls(
    session: Session,
    polls: Sequence[FeedPoll],
    now: datetime,
    *,
    failing_after: int = SOURCE_FAILING_AFTER,
    new_entries: Mapping[int, int] | None = None,
    rules: PollingRules | None = None,
    rng: random.Random = BACKOFF_RANDOM,
) -> list[SourceHealthChange]:
    """Store each source's health after this poll; return the sources that started failing,
    recovered, went quiet or are active again with it. ``new_entries``: the new entries each
    successful poll found, by source id, which keep its rhythm (left as it was when not given).
    The poll's validators are not stored here (see :func:`store_validators`)."""
    rules = rules or PollingRules()
    rows = {
        r.id: r
        for r in session.scalars(
            select(SourceRow).where(SourceRow.id.in_([p.source.id for p in polls]))
        )
    }
    changes: list[SourceHealthChange] = []
    for poll in polls:
        row = rows[poll.source.id]
        before = row.consecutive_failures or 0
        if poll.error is not None:
            wait = poll.retry_after_s
            row.retry_at = now + timedelta(seconds=wait) if wait else None
            if poll.held_back:
                continue  # not sent at all: neither a failure nor a success of the feed
            row.last_polled_at = now
            row.last_error = poll.error.message
            row.last_error_type = poll.error.error_type
            row.consecutive_failures = before + 1
            kind = poll.failure or "temporary"
            row.failure_class = kind
            beyond = row.consecutive_failures - failing_after
            # Before the threshold every cycle polls it, as a source that works.
            row.next_poll_at = now + backoff(kind, beyond, rules, rng) if beyond >= 0 else None
            if row.consecutive_failures == failing_after:
                changes.append(_health(row, "failing", row.consecutive_failures))
            continue
        if new_entries is not None:
            changes.extend(_keep_rhythm(row, poll, new_entries.get(row.id, 0), now, rules))
        row.next_poll_at = (
            next_poll(row.new_per_day, now, rules, asked=poll.cache_for) if rules.adaptive else None
        )
        row.last_polled_at = now
        choice = poll.discovery.choice if poll.discovery is not None else None
        if choice is not None and poll.discovery is not None:
            row.feed_url = choice.url
            row.feed_choice = poll.discovery.reason
            row.discovered_at = now
        if before >= failing_after:
            changes.append(_health(row, "recovered", before))
        row.last_success_at = now
        row.retry_at = None
        row.last_error = row.last_error_type = row.failure_class = None
        row.consecutive_failures = 0
    return changes


def _keep_rhythm(
    row: SourceRow, poll: FeedPoll, new: int, now: datetime, rules: PollingRules
) -> list[SourceHealthChange]:
    """Update a source's rhythm after a successful poll (its first: from the dates its feed
    lists); report it quiet, or active again, when that changes."""
    if row.last_success_at is None:  # its first poll lists its archive, not what is new
        dated = [e.published for e in poll.feed.entries] if poll.feed else []
        row.new_per_day = seed_rhythm(dated, now)
        newest = max((d for d in dated if d is not None), default=None)
        row.last_new_entry_at = min(newest, now) if newest else (now if dated else None)
        return []
    elapsed = now - as_utc(row.last_success_at)
    row.new_per_day = update_rhythm(row.new_per_day, new, elapsed)
    if new > 0:
        row.last_new_entry_at = now
        if row.quiet:
            row.quiet = False
            return [_health(row, "active", 0)]
        return []
    last_new = as_utc(row.last_new_entry_at) if row.last_new_entry_at else None
    if not row.quiet and went_quiet(row.new_per_day, last_new, now, rules):
        row.quiet = True
        usual = usual_rhythm(row.new_per_day, last_new, now)
        return [_health(row, "quiet", 0, new_per_day=usual)]
    return []


def store_validators(
    session: Session,
    polls: Sequence[FeedPoll],
    *,
    unfinished: Container[int] = (),
    polled_at: datetime | None = None,
) -> None:
    """Store the ETag / Last-Modified of every successful poll whose entries are all dealt with.

    A source in ``unfinished`` (a page of it failed transiently and was left for later) keeps
    the validators of its previous poll: those describe a feed whose entries were all stored,
    so its next poll reads the feed again (HTTP 200, not 304) and the entry is fetched then.
    Validators of a failed poll, or of an index whose reading was incomplete, are never
    stored. They are stored by feed URL: one URL polled under two names has one pair (the later
    poll's), with ``polled_at`` (default: now), the time the poll was made, which later polls
    read as :attr:`SourceState.read_at`.
    """
    finished = [
        p
        for p in polls
        if p.error is None and p.source.id not in unfinished and not p.not_modified and p.complete
    ]
    done = {p.source.poll_url: (p.etag, p.last_modified) for p in finished}
    for poll in finished:
        done.update({c.url: (c.etag, c.last_modified) for c in poll.children})
    if not done:
        return
    now = polled_at or datetime.now(UTC)
    rows = [
        {"url": url, "etag": etag, "last_modified": modified, "updated_at": now}
        for url, (etag, modified) in sorted(done.items())  # one order for every writer
    ]
    insert = dialect_insert(session.get_bind().dialect.name, FeedValidatorRow.__table__)
    session.execute(
        insert.values(rows).on_conflict_do_update(
            index_elements=["url"],
            set_={
                "etag": insert.excluded.etag,
                "last_modified": insert.excluded.last_modified,
                "updated_at": insert.excluded.updated_at,
            },
        )
    )


def stored_validators(session: Session, urls: Sequence[str]) -> dict[str, Validators]:
    """The validators stored for those of ``urls`` that have them."""
    rows = session.scalars(select(FeedValidatorRow).where(FeedValidatorRow.url.in_(list(urls))))
    return {row.url: (row.etag, row.last_modified) for row in rows}


def _health(
    row: SourceRow, status: HealthStatus, failures: int, *, new_per_day: float | None = None
) -> SourceHealthChange:
    failing = status == "failing"
    return SourceHealthChange(
        source=row.name,
        url=row.url,
        status=status,
        failures=failures,
        error_type=row.last_error_type if failing else None,
        error=redact_text(row.last_error) if failing and row.last_error else None,
        last_success_at=as_utc(row.last_success_at) if row.last_success_at else None,
        failure_class=_failure_class(row.failure_class) if failing else None,
        last_new_entry_at=(
            as_utc(row.last_new_entry_at) if status == "quiet" and row.last_new_entry_at else None
        ),
        new_per_day=new_per_day,
    )


def deferred(
    states: Sequence[SourceState],
    now: datetime,
    *,
    adaptive: bool = False,
    poll_all: bool = False,
) -> tuple[list[SourceState], list[SourceState]]:
    """Split sources into those due for a poll and the others (:meth:`SourceState.due`): a
    feed that answered 429 or 503 with a ``Retry-After`` that has not passed yet (capped by
    ``MONITOR_HTTP__MAX_RETRY_AFTER_S``: polling it sooner would only earn another refusal, or
    a ban), a failing source backing off, and, with ``adaptive``, a source its rhythm does not
    make due yet. ``poll_all`` polls all but the first kind."""
    due = [s for s in states if s.due(now, adaptive=adaptive, poll_all=poll_all)]
    picked = {id(s) for s in due}
    return due, [s for s in states if id(s) not in picked]


def describe_waits(waiting: Sequence[SourceState], now: datetime) -> list[str]:
    """Lines for the cycle's summary on the sources not polled: one each for those asked to
    wait or backing off, one line for all those not due by their rhythm."""
    resting = {id(s) for s in waiting if not s.asked_to_wait(now) and s.failure_class is None}
    lines = [s.describe_wait() for s in waiting if id(s) not in resting]
    if resting:
        lines.append(
            f"{counted(len(resting), 'source')} not due yet by their rhythm (adaptive polling; "
            "`monitor run --all` polls every source)"
        )
    return lines


def known_robots(session: Session, now: datetime) -> list[KnownRobots]:
    """The robots.txt rules read by earlier cycles that have not expired."""
    rows = session.scalars(select(RobotsTxtRow).where(RobotsTxtRow.expires_at > now))
    return [KnownRobots(r.origin, r.body, as_utc(r.fetched_at), as_utc(r.expires_at)) for r in rows]


def store_robots(session: Session, read: Sequence[KnownRobots]) -> None:
    """Keep the robots.txt rules a cycle read (the newer reading of an origin wins)."""
    if not read:
        return
    rows = [
        {"origin": r.origin, "body": r.body, "fetched_at": r.fetched_at, "expires_at": r.expires_at}
        for r in sorted(read, key=lambda r: r.origin)  # one order for every writer
    ]
    insert = dialect_insert(session.get_bind().dialect.name, RobotsTxtRow.__table__)
    session.execute(
        insert.values(rows).on_conflict_do_update(
            index_elements=["origin"],
            set_={
                "body": insert.excluded.body,
                "fetched_at": insert.excluded.fetched_at,
                "expires_at": insert.excluded.expires_at,
            },
        )
    )


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source as ``monitor sources`` and the web view's Sources page show it: its health,
    rhythm and schedule, URLs and errors redacted, times in UTC."""

    name: str
    url: str  # credentials masked
    articles: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error_type: str | None
    last_error: str | None
    retry_at: datetime | None  # its server asked to wait until then
    pages_parked: int
    failure_class: str | None = None  # of the latest failure: temporary, soft, hard
    rhythm: str = ""  # e.g. "~3 new/day" (see monitor.polling)
    next_poll_at: datetime | None = None  # None: the next cycle
    quiet: bool = False  # answers, but lists nothing new for much longer than usual
    last_new_entry_at: datetime | None = None
    robots: str = "obey"  # its host's robots.txt: obeyed, or ignored by the config
    feed_url: str | None = None  # the feed found for a source set to a page (masked)
    feed_choice: str | None = None  # why that feed was chosen
    discovered_at: datetime | None = None  # when that feed was found
    kind: str = "feed"  # or "page": a section page whose article links are read
    new_per_day: float | None = None  # its rhythm; None: not known yet
    # Articles first stored from it: per day over the last SEEN_OVER days, and since midnight
    # UTC. What it gave, next to the rhythm its polls are scheduled by.
    seen_per_day: float = 0.0
    seen_today: int = 0

    def waiting(self, now: datetime) -> bool:
        return self.retry_at is not None and self.retry_at > now

    def scheduled(self, now: datetime) -> bool:
        """Not polled before ``next_poll_at`` (a back-off, or its rhythm)."""
        return self.next_poll_at is not None and self.next_poll_at > now


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


SEEN_OVER = 7  # days: a source's ``seen_per_day`` is its articles stored over these, per day


def source_health(session: Session, now: datetime | None = None) -> list[SourceHealth]:
    """Every source the cycles have polled, by name; ``now`` (default: the clock) dates the
    articles counted as seen lately and today."""
    now = now or datetime.now(UTC)
    week = now - timedelta(days=SEEN_OVER)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    stored = ArticleRow.fetched_at  # when the article was first stored (never updated)
    per_source = select(
        ArticleRow.source_name,
        func.count(),
        func.coalesce(func.sum(case((stored >= week, 1), else_=0)), 0),
        func.coalesce(func.sum(case((stored >= today, 1), else_=0)), 0),
    ).group_by(ArticleRow.source_name)  # one query for every source
    counts: dict[str, tuple[int, int, int]] = {
        name: (int(total), int(lately), int(since_midnight))
        for name, total, lately, since_midnight in session.execute(per_source).tuples()
    }
    parked_per_source = (
        select(PageFailureRow.source_id, func.count())
        .where(PageFailureRow.parked_at.is_not(None))
        .group_by(PageFailureRow.source_id)
    )
    parked: dict[int, int] = dict(session.execute(parked_per_source).tuples().all())
    return [
        SourceHealth(
            name=r.name,
            url=redact_url(r.url),
            articles=(seen := counts.get(r.name, (0, 0, 0)))[0],
            last_polled_at=_utc(r.last_polled_at),
            last_success_at=_utc(r.last_success_at),
            consecutive_failures=r.consecutive_failures or 0,
            last_error_type=r.last_error_type,
            last_error=redact_text(r.last_error) if r.last_error else None,
            retry_at=_utc(r.retry_at),
            pages_parked=parked.get(r.id, 0),
            failure_class=r.failure_class,
            rhythm=describe_rhythm(r.new_per_day),
            next_poll_at=_utc(r.next_poll_at),
            quiet=bool(r.quiet),
            last_new_entry_at=_utc(r.last_new_entry_at),
            robots=r.robots or "obey",
            feed_url=redact_url(r.feed_url) if r.feed_url else None,
            feed_choice=r.feed_choice,
            discovered_at=_utc(r.discovered_at),
            kind=r.kind,
            new_per_day=r.new_per_day,
            seen_per_day=seen[1] / SEEN_OVER,
            seen_today=seen[2],
        )
        for r in session.scalars(select(SourceRow).order_by(SourceRow.name))
    ]
