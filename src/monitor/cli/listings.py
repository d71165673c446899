"""``monitor articles``, ``monitor sources`` and ``monitor cycles``: what the database holds,
newest first. Read-only; URLs and error texts pass through secret redaction.

``monitor sources discover URL`` shows the feeds and sitemaps found for a page and the one a
source set to it would poll, and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import select

from monitor.cli.common import JsonOption, LimitOption, echo, echo_json, open_session
from monitor.escaping import terminal_text
from monitor.pipeline.report import summary_line
from monitor.timeutil import as_utc
from monitor.wording import counted

# What each listing prints on a database that holds none of its rows, with what to do next.
NOTHING_STORED = (
    "no articles yet: `monitor run --config FILE` runs a cycle that stores them "
    "(`monitor demo` fills a demo database)"
)
NO_DUPLICATES = "no duplicates stored yet"
NO_FAILED_PAGES = "no failing or parked pages"
NO_SOURCES = (
    "no sources yet: a config's sources are recorded by its first `monitor run --config FILE` "
    "(`monitor check --config FILE` tries them without storing anything)"
)
NO_CYCLES = (
    "no cycles yet: `monitor run --config FILE` runs one now, "
    "`monitor serve --config FILE` on a schedule"
)


def articles(
    as_json: JsonOption = False,
    limit: LimitOption = 20,
    duplicates: Annotated[bool, typer.Option(help="only duplicates")] = False,
    failed: Annotated[
        bool, typer.Option(help="pages that failed in recent cycles, and those parked")
    ] = False,
) -> None:
    """List stored articles, newest first (with --failed: pages that keep failing)."""
    from monitor.storage.tables import ArticleRow

    if failed:
        _failed_pages(as_json, limit)
        return

    with open_session() as session:
        stmt = select(ArticleRow).order_by(ArticleRow.id.desc()).limit(limit)
        if duplicates:
            stmt = stmt.where(ArticleRow.duplicate_of_id.is_not(None))
        rows = list(session.scalars(stmt))
    data = [
        {
            "id": r.id,
            "source": r.source_name,
            "title": r.title,
            "url": r.url,
            "published_at": r.published_at,
            "fetched_at": r.fetched_at,
            "summary_only": r.summary_only,
            "duplicate_of": r.duplicate_of_id,
            "similarity": r.duplicate_similarity,
            "story_id": r.story_id,
            "is_development": r.is_development,
            "revision_of": r.revision_of_id,  # a later version of that article
        }
        for r in rows
    ]
    if as_json:
        echo_json(data)
        return
    if not data:
        echo(NO_DUPLICATES if duplicates else NOTHING_STORED)
    for d in data:
        tag = (
            f"dup of #{d['duplicate_of']}"
            if d["duplicate_of"]
            else "development"
            if d["is_development"]
            else "report"
        )
        story = f"story #{d['story_id']}" if d["story_id"] else "-"
        source, title = terminal_text(d["source"])[:18], terminal_text(d["title"])[:70]
        if d["revision_of"]:
            title = f"(update of #{d['revision_of']}) {title}"[:70]
        echo(f"#{d['id']:<5} {source:<18} {tag:<14} {story:<11} {title}")


def _failed_pages(as_json: bool, limit: int) -> None:
    from monitor.redact import redact_text, redact_url
    from monitor.storage.tables import PageFailureRow, SourceRow

    with open_session() as session:
        stmt = (
            select(PageFailureRow, SourceRow.name)
            .join(SourceRow, SourceRow.id == PageFailureRow.source_id)
            .order_by(PageFailureRow.last_failed_at.desc())
            .limit(limit)
        )
        rows = list(session.execute(stmt))
    data = [
        {
            "source": name,
            "url": redact_url(r.url),
            "attempts": r.attempts,
            "parked_at": r.parked_at,  # not fetched again since
            "first_failed_at": r.first_failed_at,
            "last_failed_at": r.last_failed_at,
            "error_type": r.error_type,
            "error": redact_text(r.error) if r.error else None,
        }
        for r, name in rows
    ]
    if as_json:
        echo_json(data)
        return
    if not data:
        echo(NO_FAILED_PAGES)
    for d in data:
        state = "PARKED" if d["parked_at"] else f"failed x{d['attempts']}"
        echo(
            f"{terminal_text(d['source'])[:18]:<18} {state:<10} {terminal_text(d['url'])}\n"
            f"{'':<29} {d['error_type']}: {terminal_text(d['error'])[:160]}"
        )


def sources(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List sources with their health (last poll, last error and its class, failures in a
    row), their rhythm (new entries per day), when each is polled next, the feed found for a
    source set to a page, and the sources read as section pages (``kind: page``)."""
    if ctx.invoked_subcommand is not None:
        return
    data = _source_rows()
    if as_json:
        echo_json(data)
        return
    if not data:
        echo(NO_SOURCES)
    for d in data:
        echo(_source_line(d))


def _source_rows() -> list[dict[str, object]]:
    """One row per source, by name: its health, rhythm and schedule, URLs and errors redacted."""
    from monitor.pipeline.sources import source_health

    with open_session() as session:
        sources = source_health(session)
    return [
        {
            "name": s.name,
            "url": s.url,  # credentials masked; the config has the real one
            "articles": s.articles,
            "last_polled_at": s.last_polled_at,
            "last_success_at": s.last_success_at,
            "consecutive_failures": s.consecutive_failures,
            "last_error_type": s.last_error_type,
            "last_error": s.last_error,
            "retry_at": s.retry_at,  # not polled before: its server asked to wait
            "pages_parked": s.pages_parked,  # failed cycle after cycle: not fetched again
            "robots": s.robots,  # "obey" its host's robots.txt, or "ignore" it (the config's)
            "kind": s.kind,  # "feed", or "page": a section page whose article links are read
            "failure_class": s.failure_class,  # of the latest failure: temporary, soft, hard
            "new_per_day": s.new_per_day,  # its rhythm; None: not known yet
            "rhythm": s.rhythm,
            # Articles first stored from it: per day over the last 7 days, and today (UTC).
            "seen_per_day": s.seen_per_day,
            "seen_today": s.seen_today,
            "last_new_entry_at": s.last_new_entry_at,
            "next_poll_at": s.next_poll_at,  # None: the next cycle
            "quiet": s.quiet,  # answers, but lists nothing new for much longer than usual
            # A source set to a page: the feed found for it and polled, why, and when.
            "feed_url": s.feed_url,
            "feed_choice": s.feed_choice,
            "discovered_at": s.discovered_at,
        }
        for s in sources
    ]


def _source_line(d: dict[str, object]) -> str:
    """One source's text line: name, article count, rhythm, next poll and health."""
    next_at = d["next_poll_at"]
    when = (
        f"next {as_utc(next_at):%Y-%m-%d %H:%M}"
        if isinstance(next_at, datetime) and as_utc(next_at) > datetime.now(UTC)
        else "next: each cycle"
    )
    name = terminal_text(d["name"])[:24]
    stored = int(str(d["articles"]))
    noun = "article" if stored == 1 else "articles"  # padded: the columns stay aligned
    return (
        f"{name:<24} {stored:>5} {noun:<8}  {_seen(d):<22}  {d['rhythm']:<14}  {when:<16}  "
        f"{terminal_text(_source_health(d))}"
    )


def _seen(d: dict[str, object]) -> str:
    """What a source gave lately: ``seen 2.3/day, 4 today``."""
    per_day = d["seen_per_day"]
    return f"seen {per_day:.1f}/day, {d['seen_today']} today" if isinstance(per_day, float) else ""


def _source_health(d: dict[str, object]) -> str:
    """A source's health: ok, disallowed, failing or quiet, then its notes (asked to wait,
    pages parked, robots.txt ignored, section page, the feed found on its page)."""
    from monitor.errors import RobotsDisallowedError
    from monitor.pipeline.sources import last_worked

    health = "ok"
    if d["last_error_type"] == RobotsDisallowedError.__name__:
        health = f"DISALLOWED by robots.txt: {str(d['last_error'])[:160]}"
    elif d["consecutive_failures"]:
        worked = d["last_success_at"]
        since = last_worked(worked if isinstance(worked, datetime) else None)
        health = (
            f"FAILING x{d['consecutive_failures']} ({since}): "
            f"{d['last_error_type']}: {str(d['last_error'])[:160]}"
        )
        if d["failure_class"]:
            health += f" ({d['failure_class']} failure)"
    elif d["quiet"]:
        last_new = d["last_new_entry_at"]
        health = "QUIET: nothing new" + (
            f" since {last_new:%Y-%m-%d %H:%M} UTC" if isinstance(last_new, datetime) else ""
        )
    retry_at = d["retry_at"]
    if isinstance(retry_at, datetime) and as_utc(retry_at) > datetime.now(UTC):
        health = f"not polled until {retry_at:%Y-%m-%d %H:%M} UTC (asked to wait); {health}"
    if d["pages_parked"]:
        health += (
            f"; {counted(int(str(d['pages_parked'])), 'page')} parked (monitor articles --failed)"
        )
    if d["robots"] == "ignore":
        health += "; robots.txt ignored (config)"
    if d["kind"] == "page":
        health += "; section page: its article links are read (kind: page)"
    if d["feed_url"]:
        found = d["discovered_at"]
        on = f" on {found:%Y-%m-%d %H:%M} UTC" if isinstance(found, datetime) else ""
        health += f"; polls {d['feed_url']}, found on its page{on} ({d['feed_choice']})"
    return health


def cycles(as_json: JsonOption = False, limit: LimitOption = 10) -> None:
    """List recent cycles with their summary counts."""
    from monitor.storage.tables import CycleRow

    with open_session() as session:
        rows = list(session.scalars(select(CycleRow).order_by(CycleRow.id.desc()).limit(limit)))
    if as_json:
        echo_json([r.stats for r in rows])
        return
    if not rows:
        echo(NO_CYCLES)
    for r in rows:
        echo(f"#{r.id} {r.started_at:%Y-%m-%d %H:%M:%S}: " + summary_line(r.stats))


def discover(
    url: Annotated[str, typer.Argument(help="a site's home or section page")],
    as_json: JsonOption = False,
    ignore_robots: Annotated[
        bool, typer.Option(help="fetch what the site's robots.txt disallows")
    ] = False,
) -> None:
    """Show the feeds and sitemaps found for a page and the one a source set to it would poll
    (kind, URL, entries, newest entry, chosen and why). Stores nothing; exits 1 when none is
    usable."""
    import asyncio

    from monitor.check import discover_feed, when
    from monitor.cli.common import load_settings
    from monitor.redact import redact_url

    found = asyncio.run(discover_feed(url, load_settings(), obey_robots=not ignore_robots))
    now = datetime.now(UTC)
    data = [
        {
            "kind": c.kind,
            "url": redact_url(c.url),
            "found_by": c.found_by,
            "entries": c.entries,
            "newest": c.newest,
            "newest_age_h": round((now - c.newest).total_seconds() / 3600, 1) if c.newest else None,
            "dated": c.dated,
            "chosen": i == found.chosen,
            "error": c.error,
        }
        for i, c in enumerate(found.candidates)
    ]
    chosen = found.choice
    if as_json:
        echo_json(
            {
                "page": redact_url(found.page_url),
                "chosen": redact_url(chosen.url) if chosen else None,
                "reason": found.reason,
                "candidates": data,
            }
        )
    else:
        for d, c in zip(data, found.candidates, strict=True):
            mark = "CHOSEN" if d["chosen"] else ""
            if c.error is not None:
                what = f"failed: {terminal_text(c.error)[:160]}"
            else:
                newest = f"newest {when(c.newest, now)}" if c.newest else "undated"
                what = f"{counted(c.entries, 'entry', 'entries')}, {newest}"
            echo(
                f"{mark:<6} {c.kind:<12} {terminal_text(d['url'])}\n"
                f"{'':<6} {'':<12} found by {c.found_by}; {what}"
            )
        verdict = f"chosen {redact_url(chosen.url)}" if chosen else "none chosen"
        echo(f"{terminal_text(verdict)}: {terminal_text(found.reason)}")
    if chosen is None:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(articles)
    app.command()(cycles)
    group = typer.Typer(
        invoke_without_command=True,
        no_args_is_help=False,
        help="List sources with their health; `discover` finds a page's feed.",
    )
    group.callback()(sources)
    group.command()(discover)
    app.add_typer(group, name="sources")
