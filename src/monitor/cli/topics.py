"""``monitor topics test``: which stored stories and developments a query would have alerted
on. Sends nothing."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor.cli.common import JsonOption, echo, echo_json, fail, open_session, parse_since
from monitor.errors import ConfigError
from monitor.escaping import terminal_text

topics_app = typer.Typer(no_args_is_help=True, help="Work with topic queries.")


@topics_app.command("test")
def topics_test(
    query: Annotated[str, typer.Argument(help='e.g. istanbul AND (talks OR "peace deal")')],
    since: Annotated[str | None, typer.Option(help="2025-05-01, an ISO time, or 7d / 12h")] = None,
    title_only: Annotated[bool, typer.Option(help="match titles only")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show which stories and developments QUERY would have alerted on. Sends nothing."""
    from monitor.backtest import backtest
    from monitor.topics import parse_query

    try:
        parsed = parse_query(query)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    with open_session() as session:
        hits = backtest(session, parsed, since=parse_since(since), title_only=title_only)
    if as_json:
        echo_json([_hit_dict(h) for h in hits])
        return
    if not hits:
        echo("no stored article would have alerted")
        return
    story: int | None = -1
    for h in hits:
        if h.story_id != story:
            story = h.story_id
            echo(f"story #{h.story_id}: {terminal_text(h.story_headline)}")
        kind = "development" if h.is_development else "first match"
        source, title = terminal_text(h.source), terminal_text(h.title[:80])
        echo(f"  #{h.article_id} [{source}] {kind}: {title}  ({terminal_text(h.why)})")
    echo(f"{len(hits)} alert(s) in {len({h.story_id for h in hits})} story(ies)")


def _hit_dict(hit: Any) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in hit.__slots__}


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
