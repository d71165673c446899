"""``monitor stories``, ``monitor explain`` and ``monitor eval stream``.

Read-only views of what ingest decided, and the replay evaluation on a throw-away database.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from monitor.backtest import topic_verdicts
from monitor.cli.common import (
    ConfigOption,
    JsonOption,
    echo,
    echo_json,
    load_settings,
    open_session,
)
from monitor.decision import Decision
from monitor.errors import ConfigError
from monitor.escaping import terminal_text
from monitor.explanation import placement_lines
from monitor.storage.tables import (
    AlertRow,
    ArticleRow,
    DevelopmentReportRow,
    DevelopmentRow,
    StoryRow,
)
from monitor.timeutil import as_utc
from monitor.wording import counted


def story_listing(session: Session, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most recently active stories with their articles and developments, as
    plain values (four queries, whatever the number of stories stored)."""
    listed = session.scalars(
        select(StoryRow).order_by(StoryRow.last_seen_at.desc(), StoryRow.id.desc()).limit(limit)
    ).all()
    ids = [story.id for story in listed]
    articles: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    # Sorted here: with ORDER BY id, SQLite may walk the whole table in id order instead of
    # looking the stories up by their index.
    for a in sorted(
        session.scalars(
            select(ArticleRow)
            .options(defer(ArticleRow.text), defer(ArticleRow.minhash))  # not shown: not read
            .where(ArticleRow.story_id.in_(ids))
        ),
        key=lambda a: a.id,
    ):
        articles[a.story_id or 0].append(_listed_article(a))
    devs: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for d in _listed_developments(session, ids):
        devs[d.pop("story_id")].append(d)
    return [
        {
            "id": story.id,
            "headline": story.headline,
            "first_seen_at": as_utc(story.first_seen_at),
            "last_seen_at": as_utc(story.last_seen_at),
            "outlets": list(story.outlets or []),
            "articles": articles[story.id],
            "developments": devs[story.id],
        }
        for story in listed
    ]


def _listed_article(a: ArticleRow) -> dict[str, Any]:
    return {
        "id": a.id,
        "title": a.title,
        "source": a.source_name,
        "url": a.url,
        "duplicate_of": a.duplicate_of_id,
        "development_id": a.development_id,
        "is_development": a.is_development,
        "kind": ((a.decision or {}).get("salience") or {}).get("kind"),
    }


def _listed_developments(session: Session, story_ids: list[int]) -> list[dict[str, Any]]:
    """The developments of ``story_ids`` in id order, each with its story id and the articles
    filed as its other reports (two queries)."""
    rows = session.scalars(
        select(DevelopmentRow)
        .where(DevelopmentRow.story_id.in_(story_ids))
        .order_by(DevelopmentRow.id)
    ).all()
    reports: dict[int, list[int]] = {}
    for r in session.scalars(
        select(DevelopmentReportRow)
        .where(DevelopmentReportRow.development_id.in_([d.id for d in rows]))
        .order_by(DevelopmentReportRow.article_id)
    ):
        reports.setdefault(r.development_id, []).append(r.article_id)
    return [
        {
            "story_id": d.story_id,
            "id": d.id,
            "article_id": d.article_id,
            "created_at": as_utc(d.created_at),
            "facts": list(d.facts),
            "reports": reports.get(d.id, []),
        }
        for d in rows
    ]


def stories(
    json_out: JsonOption = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="most recently active stories shown")
    ] = 20,
) -> None:
    """List stories with their articles and developments."""
    with open_session() as session:
        data = story_listing(session, limit)
    if json_out:
        echo_json(data)
        return
    if not data:
        echo(
            "no stories yet: stories form as cycles store articles "
            "(`monitor run --config FILE`, or `monitor demo`)"
        )
    for s in data:
        outlets = counted(len(s["outlets"]), "outlet")
        echo(f"story {s['id']}: {terminal_text(s['headline'])}  ({outlets})")
        for d in s["developments"]:
            when = f"{d['created_at']:%Y-%m-%d %H:%M} UTC"
            echo(f"  development {d['id']} (article {d['article_id']}, {when})")
            for fact in d["facts"][:3]:
                echo(f"    - {terminal_text(fact[:140])}")
            if d["reports"]:
                echo(f"    also reported by articles {d['reports']}")
        for a in s["articles"]:
            tag = "dup" if a["duplicate_of"] else ("dev" if a["is_development"] else "report")
            source, title = terminal_text(a["source"]), terminal_text(a["title"][:90])
            kind = f" ({terminal_text(a['kind'])})" if a["kind"] not in (None, "news") else ""
            echo(f"  [{tag:6}] {a['id']} {source}: {title}{kind}")


def _find_article(session: Session, ident: str) -> ArticleRow | None:
    if ident.isdigit():
        return session.get(ArticleRow, int(ident))
    return session.scalars(
        select(ArticleRow).where((ArticleRow.canonical_url == ident) | (ArticleRow.url == ident))
    ).first()


def explain(
    ident: Annotated[str, typer.Argument(help="article id or URL")],
    config: ConfigOption = None,
    json_out: JsonOption = False,
) -> None:
    """Why an article was a duplicate, joined a story, was or was not a development, and how
    each topic of the config file (if one is given or set) reads it."""
    topics = _config_topics(config)
    row, decision, header, alerts = _explained_article(ident)
    verdicts = topic_verdicts(topics, row.title, row.text) if topics else []
    if json_out:
        readings = [
            {"topic": v.topic, "relevance": v.relevance, "why": v.why, "in_passing": v.passing}
            for v in verdicts
        ]
        document = {**header, "alerts": alerts, "topics": readings, "decision": decision}
        echo(json.dumps(document, indent=2))
        return
    echo(f"article {row.id}: {terminal_text(row.title)}\n  {terminal_text(row.url)}")
    record = Decision.from_json(decision)
    _echo_outcome(row, record, alerts)
    for v in verdicts:
        echo(f"  topic {v.topic!r} ({v.relevance}): {v.describe()}")
    _echo_placement(record)


def _explained_article(
    ident: str,
) -> tuple[ArticleRow, dict[str, Any], dict[str, object], list[dict[str, object]]]:
    """The article ``ident`` names, its decision record, its header fields and its alerts;
    exits with status 1 when no article has that id or URL."""
    with open_session() as session:
        row = _find_article(session, ident)
        if row is None:
            echo(f"no article {ident!r}: give an id or URL that `monitor articles` lists", err=True)
            raise typer.Exit(1)
        decision = dict(row.decision or {})
        header: dict[str, object] = {
            "article_id": row.id,
            "title": row.title,
            "url": row.url,
            "source": row.source_name,
            "alert_hold": row.alert_hold,
            "feed_date": as_utc(row.feed_date).isoformat() if row.feed_date else None,
        }
        alerts: list[dict[str, object]] = [
            {"alert_id": a.id, "topic": a.topic, "created_at": a.created_at.isoformat()}
            for a in session.scalars(
                select(AlertRow).where(AlertRow.article_id == row.id).order_by(AlertRow.id)
            )
        ]
    return row, decision, header, alerts


def _echo_outcome(row: ArticleRow, record: Decision, alerts: list[dict[str, object]]) -> None:
    """The outcome line, a feed date moved to the fetch, and whom the article alerted."""
    echo(f"outcome: {record.outcome or 'unknown'}")
    if row.feed_date is not None:
        echo(
            f"  its feed dated it {as_utc(row.feed_date):%Y-%m-%d %H:%M} UTC, after it was "
            "fetched: dated at the fetch instead"
        )
    if row.alert_hold is not None:
        echo(f"alerted: never, stale at first sight ({terminal_text(row.alert_hold)})")
    elif alerts:
        alerted = ", ".join(f"{a['topic']!r} (alert {a['alert_id']})" for a in alerts)
        echo(f"alerted: {alerted}")
    else:
        echo(
            "alerted: none (a duplicate never alerts; otherwise no topic matched, each one that "
            "did had this development or story already, or its min_new_facts held it back)"
        )


def _echo_placement(record: Decision) -> None:
    """Where the article went: a later version, a duplicate, a pruned record's story and
    role, or its full placement (story choice, thresholds, salience, sentence verdicts)."""
    if record.revision_of is not None:
        echo(
            f"  a later version of article {record.revision_of} (its feed marked it "
            "updated): kept in that article's story, its sentences compared with the story's"
        )
    if record.is_duplicate:
        echo(f"  duplicate of article {record.duplicate_of} (similarity {record.similarity})")
        return
    if record.pruned_at is not None:
        dev = record.development_id
        role = (
            f"development {dev}"
            if dev is not None
            else f"repeats development {record.repeats_development_id}"
        )
        echo(f"story {record.story_id}, {role}")
        echo(f"details pruned on {record.pruned_at[:10]} (monitor db prune)")
        return
    for line in placement_lines(record):
        echo(line)


def _config_topics(given: Path | None) -> list[tuple[str, Any, bool, str]]:
    """The config's topics, parsed; none when no config file is given or set."""
    from monitor.config import load_config
    from monitor.topics import parse_query

    path = given or load_settings().config_file
    if path is None:
        return []
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        echo(f"topics not shown: {exc}", err=True)
        return []
    return [(t.name, parse_query(t.query), t.title_only, t.relevance) for t in loaded.topics]


eval_app = typer.Typer(help="Evaluate detection on labelled streams.", no_args_is_help=True)


@eval_app.command("stream")
def eval_stream(
    path: Annotated[Path, typer.Argument(help="labelled JSONL stream")],
    developments: Annotated[
        Path | None,
        typer.Option(
            "--developments",
            help="development labels (JSON): adds development recall, alerts per development, "
            "redundant alerts and alerts on analysis pieces",
        ),
    ] = None,
    cycle_size: Annotated[
        int, typer.Option("--cycle-size", min=1, help="articles per detect cycle")
    ] = 1,
    settle_minutes: Annotated[
        int,
        typer.Option(
            "--settle-minutes",
            min=0,
            max=1440,
            help="the topic's settle window: messages counts what a reader would receive",
        ),
    ] = 0,
    json_out: JsonOption = False,
) -> None:
    """Replay a labelled stream on a fresh temporary database and print the scores.

    The stream runs through the detect stage of a cycle with one topic that matches every
    article, so alerts count what detection calls new, whatever a query would have matched.
    """
    from monitor.evaluation import (
        evaluate,
        format_report,
        load_developments,
        load_stream,
        reader_messages,
        replay,
    )
    from monitor.storage.db import migrated_engine

    settings = load_settings()
    items = load_stream(path)
    labels = load_developments(developments) if developments is not None else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        migrated_engine(f"sqlite:///{tmp}/eval.db") as engine,
    ):
        replayed = replay(
            engine, items, settings.detection, cycle_size=cycle_size, settle_minutes=settle_minutes
        )
        messages = reader_messages(engine)
        report = evaluate(replayed, labels=labels, messages=messages, settle_minutes=settle_minutes)
    echo(json.dumps(report.to_json(), indent=2) if json_out else format_report(report))


@eval_app.command("feedback")
def eval_feedback(json_out: JsonOption = False) -> None:
    """The reader's own precision per topic, from the configured database: of its alerts, those
    marked not new and those on a story marked not the topic's (as `monitor feedback list`
    counts them; undone marks do not count)."""
    from monitor.cli.feedback import echo_counts
    from monitor.storage.feedback import feedback_counts

    with open_session(load_settings()) as session:
        counts = feedback_counts(session)
    if json_out:
        echo_json({"topics": [c.to_json() for c in counts]})
        return
    echo_counts(counts)


def register(app: typer.Typer) -> None:
    app.command("stories")(stories)
    app.command("explain")(explain)
    app.add_typer(eval_app, name="eval")
