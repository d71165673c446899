"""``monitor check``: try a config's sources and database before trusting it to a schedule.

Every configured source is fetched and parsed exactly as a cycle polls it (same client limits,
same address checks, same feed parser), without validators and without storing anything, and
the database is looked at without creating or migrating it. A source set to a home or section
page has its feed discovered as a cycle would, and its finding says which feed was chosen and
why (nothing is remembered: a check stores nothing). Each finding is one
:class:`Finding`; :func:`check` returns them all and never raises for a single bad source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from monitor.config import MonitorConfig, Settings
from monitor.discovery import Discovery, IndexRules, Reader
from monitor.errors import DatabaseUnreachableError, DatabaseUrlError
from monitor.fetch import FetchPolicy, make_client
from monitor.pipeline.collect import fetch_policy, index_rules, poll_feeds
from monitor.pipeline.sources import FeedPoll, SourceState
from monitor.robots import RobotsRules
from monitor.storage.db import current_revision, head_revisions, make_engine
from monitor.timeutil import as_utc
from monitor.wording import counted

Status = Literal["ok", "warning", "failed"]


@dataclass(frozen=True, slots=True)
class Finding:
    what: Literal["setting", "channel", "source", "database"]
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        mark = {"ok": "ok", "warning": "WARNING", "failed": "FAILED"}[self.status]
        return f"{self.what:<8} {self.name[:28]:<28} {mark:<7} {self.detail}"


async def check_sources(
    config: MonitorConfig,
    policy: FetchPolicy,
    *,
    now: datetime,
    rules: IndexRules | None = None,
) -> list[Finding]:
    """Poll every enabled source once, as a cycle would (its host's robots.txt obeyed unless it
    is set to be ignored), and say what came back."""
    sources = [
        SourceState(0, s.name, s.url, obey_robots=s.robots == "obey", kind=s.kind)
        for s in config.sources
        if s.enabled
    ]
    async with make_client(policy) as client:
        polls = await poll_feeds(
            client, policy, sources, robots=RobotsRules(policy), index_rules=rules
        )
    return [_with_discovery(_source_finding(poll, now), poll) for poll in polls]


def _with_discovery(finding: Finding, poll: FeedPoll) -> Finding:
    """``finding`` saying which feed was found for a source set to a page, and why."""
    choice = poll.discovery.choice if poll.discovery is not None else None
    if choice is None or poll.discovery is None or poll.error is not None:
        return finding
    found = f"the page's feed: {choice.url} (chosen: {poll.discovery.reason})"
    return replace(finding, detail=f"{finding.detail}; {found}")


async def discover_feed(url: str, settings: Settings, *, obey_robots: bool = True) -> Discovery:
    """The feeds and sitemaps found for the page ``url`` and the one a source set to it would
    poll (:meth:`monitor.discovery.Reader.discover`); nothing is stored."""
    policy = fetch_policy(settings)
    async with make_client(policy) as client:
        reader = Reader(
            client, policy, RobotsRules(policy), obey_robots, rules=index_rules(settings)
        )
        return await reader.discover(url)


def _source_finding(poll: FeedPoll, now: datetime) -> Finding:
    name = poll.source.name
    if poll.error is not None:
        return Finding("source", name, "failed", f"{poll.error.error_type}: {poll.error.message}")
    feed = poll.feed
    if feed is None:  # not possible without validators; kept total
        return Finding("source", name, "warning", "not modified (304)")
    dates = [e.published for e in feed.entries if e.published is not None]
    if not feed.entries:
        return Finding("source", name, "warning", f"{feed.kind}, no entries")
    if feed.kind == "page":  # a section page's links: each article is dated by its own page
        links = counted(len(feed.entries), "article link")
        return Finding("source", name, "ok", f"section page, {links} (dated by their pages)")
    newest = max(dates) if dates else None
    age = f", newest {_when(newest, now)}" if newest else ", no entry has a date"
    # What follow_updates can go by: only entries whose feed says when they last changed.
    updated = sum(e.updated is not None for e in feed.entries)
    marked = f", {updated} with an updated time" if updated else ""
    count = counted(len(feed.entries), "entry", "entries")
    detail = f"{feed.kind}, {count}{age}{marked}"
    if feed.rejected:  # entries whose link cannot be requested: a cycle records and skips them
        detail += f"; {len(feed.rejected)} left out: {feed.rejected[0][:120]}"
        return Finding("source", name, "warning", detail)
    return Finding("source", name, "ok" if newest else "warning", detail)


def when(moment: datetime, now: datetime) -> str:
    """``moment`` for people, with its age at ``now``."""
    return _when(moment, now)


def _when(moment: datetime, now: datetime) -> str:
    moment = as_utc(moment)
    hours = (now - moment).total_seconds() / 3600
    ago = f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago})"


def check_database(url: str) -> Finding:
    """Reach the database and compare its schema with the shipped migrations; change nothing."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        return Finding("database", "url", "failed", f"MONITOR_DATABASE_URL is not a URL: {exc}")
    backend = parsed.get_backend_name()

    def found(status: Status, detail: str) -> Finding:
        return Finding("database", backend, status, f"{parsed.render_as_string()}: {detail}")

    file = parsed.database if backend == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return found("ok", "not created yet, the first run makes it")
    try:
        engine = make_engine(url)
    except (DatabaseUrlError, DatabaseUnreachableError) as exc:  # they show the URL
        return Finding("database", backend, "failed", f"MONITOR_DATABASE_URL: {exc}")
    try:
        revision = current_revision(engine)
    except DBAPIError as exc:
        return found("failed", f"cannot connect: {str(exc.orig).strip().splitlines()[0]}")
    except SQLAlchemyError as exc:
        return found("failed", f"cannot connect: {exc}")
    finally:
        engine.dispose()
    heads = head_revisions()
    if revision in heads:
        return found("ok", f"schema at revision {revision}, the latest")
    if revision is None:
        return found("ok", "empty, the first run creates the schema")
    latest = ", ".join(sorted(heads))
    return found("ok", f"schema at revision {revision}, the next run migrates it to {latest}")


def check_settings(unknown: Sequence[str]) -> list[Finding]:
    """``MONITOR_*`` names no setting reads (from :func:`monitor.config.unknown_settings`): an
    error here, since a misspelt setting silently keeps its default; a warning in a run."""
    return [Finding("setting", "unknown", "failed", message) for message in unknown]


def check_channels(config: MonitorConfig, settings: Settings) -> list[Finding]:
    """Each channel's secrets are set and its apprise URL usable (nothing is sent)."""
    from monitor.alerts.channels import channel_problems

    findings = []
    for channel in config.channels:
        problems = channel_problems([channel], settings)
        status: Status = "failed" if problems else "ok"
        detail = "; ".join(problems) if problems else f"{channel.type}, configured"
        findings.append(Finding("channel", channel.name, status, detail))
    return findings


async def check(
    config: MonitorConfig, settings: Settings, *, unknown_settings: Sequence[str] = ()
) -> list[Finding]:
    """Settings and channels (no I/O), the database (quick), then every enabled source."""
    now = datetime.now(UTC)
    findings = check_settings(unknown_settings) + check_channels(config, settings)
    findings.append(check_database(settings.resolved_database_url()))
    findings += await check_sources(
        config, fetch_policy(settings), now=now, rules=index_rules(settings)
    )
    return findings


def summary(findings: Sequence[Finding]) -> str:
    sources = sum(f.what == "source" for f in findings)
    channels = sum(f.what == "channel" for f in findings)
    failed = sum(f.status == "failed" for f in findings)
    warned = sum(f.status == "warning" for f in findings)
    checked = (
        f"the settings, {counted(channels, 'channel')}, the database and "
        f"{counted(sources, 'source')}"
    )
    if failed or warned:
        return f"checked {checked}: {failed} failed, {warned} with warnings"
    return f"checked {checked}: all ok"
