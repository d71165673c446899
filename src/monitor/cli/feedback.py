"""``monitor feedback``: the web view's feedback from the command line, and its counts.

    monitor feedback mute TOPIC STORY [--days N]   not my topic (or for N days)
    monitor feedback unmute TOPIC STORY
    monitor feedback not-new DEVELOPMENT
    monitor feedback undo ID
    monitor feedback list [--json] [--limit N]

Changes are applied by the next cycle (see :mod:`monitor.pipeline.feedback`) and recorded as
given by ``--by`` (default: ``MONITOR_WEB__USER``). ``list`` counts, per topic, the alerts
marked not new and those on a story marked not the topic's: the reader's own precision
(``monitor eval feedback`` prints the same counts beside the other evaluations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli.alerts import NO_ALERTS
from monitor.cli.common import JsonOption, echo, echo_json, fail, load_settings, open_session
from monitor.errors import FeedbackError
from monitor.escaping import terminal_text
from monitor.wording import counted

if TYPE_CHECKING:
    from monitor.storage.feedback import TopicFeedbackCounts

feedback_app = typer.Typer(no_args_is_help=True, help="Feedback on alerts: mute, not new, undo.")

ByOption = Annotated[
    str | None, typer.Option("--by", help="who gives it (default: MONITOR_WEB__USER)")
]
T = TypeVar("T")


@contextmanager
def _writing() -> Iterator[tuple[Session, str]]:
    from monitor.pipeline.feedback import feedback_transaction
    from monitor.storage.db import migrated_engine, session_factory

    settings = load_settings()
    with (
        migrated_engine(settings.resolved_database_url()) as engine,
        feedback_transaction(session_factory(engine)) as session,
    ):
        yield session, settings.web.user


def _apply(act: Callable[[Session, str, datetime], T]) -> T:
    try:
        with _writing() as (session, user):
            return act(session, user, datetime.now(UTC))
    except FeedbackError as exc:
        raise fail(str(exc)) from exc


def _known_topic(session: Session, topic: str) -> None:
    from monitor.storage.tables import AlertRow, TopicCursorRow

    known = session.scalar(select(TopicCursorRow.topic).where(TopicCursorRow.topic == topic))
    if known is None:
        known = session.scalar(select(AlertRow.topic).where(AlertRow.topic == topic).limit(1))
    if known is None:
        raise FeedbackError(f"no topic {topic!r} has been evaluated yet")


@feedback_app.command("mute")
def mute_command(
    topic: Annotated[str, typer.Argument(help="the topic's name")],
    story: Annotated[int, typer.Argument(help="story id")],
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="mute for N days (default: for good)")
    ] = None,
    by: ByOption = None,
) -> None:
    """No more alerts on STORY for TOPIC ("not my topic"), or not for --days N."""
    from monitor.pipeline import feedback

    def act(session: Session, user: str, now: datetime) -> feedback.Feedback:
        _known_topic(session, topic)
        return feedback.mute(session, topic, story, by=by or user, now=now, days=days)

    mark = _apply(act)
    until = f" until {mark.expires_at:%Y-%m-%d %H:%M} UTC" if mark.expires_at else ""
    echo(f"#{mark.id}: story {story} muted for {terminal_text(topic)}{until}")


@feedback_app.command("unmute")
def unmute_command(
    topic: Annotated[str, typer.Argument(help="the topic's name")],
    story: Annotated[int, typer.Argument(help="story id")],
    by: ByOption = None,
) -> None:
    """Alerts on STORY for TOPIC again, from the next development on."""
    from monitor.pipeline import feedback

    undone = _apply(lambda s, user, now: feedback.unmute(s, topic, story, by=by or user, now=now))
    echo(
        f"story {story} unmuted for {terminal_text(topic)} ({counted(len(undone), 'mute')} undone)"
    )


@feedback_app.command("not-new")
def not_new_command(
    development: Annotated[int, typer.Argument(help="development id")],
    by: ByOption = None,
) -> None:
    """DEVELOPMENT was not new: a later article repeating its facts stays silent."""
    from monitor.pipeline import feedback

    mark = _apply(lambda s, user, now: feedback.not_new(s, development, by=by or user, now=now))
    echo(f"#{mark.id}: development {development} marked not new")


@feedback_app.command("undo")
def undo_command(
    feedback_id: Annotated[int, typer.Argument(metavar="ID", help="feedback id")],
    by: ByOption = None,
) -> None:
    """Undo a mute or a not-new mark."""
    from monitor.pipeline import feedback

    mark = _apply(lambda s, user, now: feedback.undo(s, feedback_id, by=by or user, now=now))
    echo(f"#{mark.id} undone")


def echo_counts(counts: list[TopicFeedbackCounts]) -> None:
    """One line per topic: its alerts, those marked not new and not my topic, the share kept
    (also ``monitor eval feedback``)."""
    if not counts:
        echo(NO_ALERTS)  # nothing to give feedback on: as `monitor alerts` says it
    for c in counts:
        share = f"{c.precision:.0%}" if c.precision is not None else "-"
        echo(
            f"{terminal_text(c.topic)}: {counted(c.alerts, 'alert')}, {c.not_new} not new, "
            f"{c.not_my_topic} not my topic ({share} kept)"
        )


@feedback_app.command("list")
def list_command(
    as_json: JsonOption = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N feedback rows")] = 20,
) -> None:
    """Per topic: alerts, those marked not new and not my topic; then the newest feedback."""
    from monitor.storage.feedback import feedback_counts, recent

    with open_session(load_settings()) as session:
        counts = feedback_counts(session)
        rows = recent(session, limit=limit)
    if as_json:
        echo_json(
            {"topics": [c.to_json() for c in counts], "feedback": [r.to_json() for r in rows]}
        )
        return
    echo_counts(counts)
    for r in rows:
        what = {
            "not_my_topic": f"story {r.story_id} not my topic for {r.topic}",
            "mute": f"story {r.story_id} muted for {r.topic} until {r.expires_at:%Y-%m-%d %H:%M}"
            if r.expires_at
            else f"story {r.story_id} muted for {r.topic}",
            "not_new": f"development {r.development_id} (story {r.story_id}) not new",
        }.get(r.kind, r.kind)
        undone = f", undone by {r.undone_by} {r.undone_at:%Y-%m-%d %H:%M}" if r.undone_at else ""
        echo(
            terminal_text(f"#{r.id}  {r.created_at:%Y-%m-%d %H:%M}  {r.created_by}: {what}{undone}")
        )


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
