"""``monitor topics test``: which stored stories and developments a query would have alerted
on, and which articles its relevance rule keeps out. Sends nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

import typer

from monitor.cli.common import (
    ConfigOption,
    JsonOption,
    echo,
    echo_json,
    fail,
    load_settings,
    open_session,
    parse_since,
)
from monitor.errors import ConfigError
from monitor.escaping import terminal_text
from monitor.wording import counted

topics_app = typer.Typer(no_args_is_help=True, help="Work with topic queries.")

Relevance = Literal["anywhere", "prominent", "strict"]


@dataclass(frozen=True, slots=True)
class _Tested:
    name: str | None
    query: str
    title_only: bool
    relevance: Relevance


@topics_app.command("test")
def topics_test(
    query: Annotated[
        str | None,
        typer.Argument(
            help='e.g. istanbul AND (talks OR "peace deal"); omit it to test every topic of '
            "the config file"
        ),
    ] = None,
    config: ConfigOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="only articles stored (fetched) since then, whatever their publication date: "
            "2025-05-01, an ISO time, or 7d / 12h ago"
        ),
    ] = None,
    title_only: Annotated[bool, typer.Option(help="match titles only")] = False,
    relevance: Annotated[
        str,
        typer.Option(
            help="prominent: the match must rest on a term in the title, the lead or repeated; "
            "strict: every term must be; anywhere: a mention in passing counts (for a QUERY; "
            "a config's topics use their own)"
        ),
    ] = "prominent",
    samples: Annotated[int, typer.Option(min=0, help="borderline articles to show per query")] = 5,
    as_json: JsonOption = False,
) -> None:
    """Show which stories and developments QUERY (or each topic of the config) would have
    alerted on, and a sample of borderline articles: those that mention the query's terms only
    in passing, which the relevance rule keeps out. Sends nothing."""
    from monitor.backtest import backtest
    from monitor.topics import RELEVANCE, parse_query

    if relevance not in RELEVANCE:
        raise fail(f"--relevance must be one of {', '.join(RELEVANCE)}, not {relevance!r}")
    tested = _queries(query, config, title_only, cast(Relevance, relevance))
    try:
        parsed = [parse_query(t.query) for t in tested]
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    cutoff = parse_since(since)
    reports = []
    with open_session() as session:
        for t, q in zip(tested, parsed, strict=True):
            result = backtest(
                session,
                q,
                since=cutoff,
                title_only=t.title_only,
                relevance=t.relevance,
            )
            reports.append((t, result))
    if as_json:
        echo_json([_report_dict(t, r, samples) for t, r in reports])
        return
    for index, (t, result) in enumerate(reports):
        if index:
            echo()
        _print_report(t, result, samples, named=len(reports) > 1 or t.name is not None)


def _queries(
    query: str | None, config: Any, title_only: bool, relevance: Relevance
) -> list[_Tested]:
    if query is not None:
        return [_Tested(None, query, title_only, relevance)]
    from monitor.config import config_path, load_config

    try:
        loaded = load_config(config_path(config, load_settings()))
    except ConfigError as exc:
        raise fail(f"give a QUERY or a config file with topics: {exc}") from exc
    if not loaded.topics:
        raise fail("the config file has no topics; give a QUERY")
    return [_Tested(t.name, t.query, t.title_only, t.relevance) for t in loaded.topics]


def _print_report(t: _Tested, result: Any, samples: int, *, named: bool) -> None:
    if named:
        label = f"topic {t.name!r}: " if t.name else ""
        echo(f"{label}{terminal_text(t.query)}  (relevance: {t.relevance})")
    hits = result.hits
    if not hits:
        echo("no stored article would have alerted")
    story: int | None = -1
    for h in hits:
        if h.story_id != story:
            story = h.story_id
            echo(f"story #{h.story_id}: {terminal_text(h.story_headline)}")
        echo(f"  {_hit_line(h)}")
    if hits:
        stories = counted(len({h.story_id for h in hits}), "story", "stories")
        echo(f"{counted(len(hits), 'alert')} in {stories}")
    if t.relevance == "anywhere":
        return
    if not result.borderline:
        echo("borderline: none (no article mentions the terms only in passing)")
        return
    echo(
        f"borderline: {len(result.borderline)} more would have alerted had every mention "
        "counted (relevance: anywhere, or body:term in the query)"
    )
    for h in result.borderline[:samples]:
        echo(f"  {_hit_line(h)}")


def _hit_line(h: Any) -> str:
    kind = "development" if h.is_development else "first match"
    source, title = terminal_text(h.source), terminal_text(h.title[:80])
    return f"#{h.article_id} [{source}] {kind}: {title}  ({terminal_text(h.why)})"


def _report_dict(t: _Tested, result: Any, samples: int) -> dict[str, Any]:
    return {
        "topic": t.name,
        "query": t.query,
        "relevance": t.relevance,
        "alerts": [_hit_dict(h) for h in result.hits],
        "stories": len({h.story_id for h in result.hits}),
        "borderline_count": len(result.borderline),
        "borderline": [_hit_dict(h) for h in result.borderline[:samples]],
    }


def _hit_dict(hit: Any) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in hit.__slots__}


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
