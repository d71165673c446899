"""Freshness guard: which new entries may alert, decided from their date against the fetch time.

A feed's date is the outlet's word, and outlets get it wrong: an entry dated ahead of the fetch
(a wrong time zone, a scheduled post, a broken clock) is dated at the fetch time instead, and
the date its feed gave is kept (``feed_date``) so that ``monitor explain`` shows it. A feed
that lists old entries (a re-published archive, a sitemap listing every page, a source added
to a running monitor) must not alert on them as news: an entry dated more than ``max_age``
before the fetch, at its first sight, is stored (it joins stories, it is a duplicate's
original) but is never an alert. When a poll is an *archive dump* (the source's first
successful poll, or more than ``archive_entries`` new entries at once), an undated entry is
held as well: nothing says it is news. A link read off a section page (``listed``: a source of
kind ``page``, see :mod:`monitor.sections`) is undated, and a page lists what it holds, not
what is new: in an archive dump such a link is held even with ``max_age`` unset, so that the
first reading of a page is a baseline, and only links that appear later alert.

An entry seen before never reaches this stage: its canonical URL or GUID is known
(:func:`monitor.pipeline.collect.select_new`), and a copy under a new URL is a duplicate.

Pure: no I/O. With ``max_age`` unset only the future-date clamp applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.timeutil import as_utc


@dataclass(frozen=True, slots=True)
class FreshnessRules:
    """``max_age``: entries dated earlier than this before the fetch are held (``None``: off).
    ``archive_entries``: a poll listing more new entries than this is an archive dump."""

    max_age: timedelta | None = None
    archive_entries: int = 100


@dataclass(frozen=True, slots=True)
class Freshness:
    """What the guard decided about one entry."""

    published: datetime | None  # the date to store: the feed's, or the fetch time if ahead
    feed_date: datetime | None = None  # the feed's date, when it lay ahead of the fetch
    hold: str | None = None  # why the entry never alerts; ``None``: it may


def is_archive_dump(first_poll: bool, new_entries: int, rules: FreshnessRules) -> bool:
    """A poll that lists a feed's archive rather than its news."""
    return first_poll or new_entries > rules.archive_entries


def judge(
    published: datetime | None,
    now: datetime,
    rules: FreshnessRules,
    *,
    archive: bool = False,
    listed: bool = False,
) -> Freshness:
    """The freshness of an entry dated ``published`` (the feed's date), fetched at ``now``;
    ``listed``: a link read off a section page."""
    if published is not None and as_utc(published) > now:
        return Freshness(now, feed_date=published)
    if listed and archive and published is None:
        return Freshness(None, hold="link on a section page at its first reading (archive dump)")
    if rules.max_age is None:
        return Freshness(published)
    if published is None:
        hold = "undated entry in an archive dump" if archive else None
        return Freshness(None, hold=hold)
    if now - as_utc(published) > rules.max_age:
        days = rules.max_age / timedelta(days=1)
        hold = (
            f"dated {as_utc(published):%Y-%m-%d %H:%M} UTC, more than {days:g} "
            f"{'day' if days == 1 else 'days'} "
            "before it was first seen"
        )
        return Freshness(published, hold=hold)
    return Freshness(published)
