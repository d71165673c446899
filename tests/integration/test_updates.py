"""Entries a feed marks as updated (``follow_updates``): the new version is read, and only new
facts in it make a development and an alert. Real HTTP server; SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.stories import register as register_stories
from monitor.config import Settings, parse_config
from monitor.demo.server import LocalServer, Route
from monitor.pipeline import collect
from monitor.pipeline.detect import DetectReport
from monitor.storage.tables import AlertRow, ArticleRow
from tests.support.cli import stage_app
from tests.support.pipeline import run_cycle
from tests.support.updates import (
    BACKGROUND,
    LEAD,
    TYPO_FIX,
    UPDATE,
    UpdatingNewsroom,
    page,
)


def _config(server: LocalServer, follow: bool) -> Any:
    return parse_config(
        {
            "sources": [
                {"name": "gazette", "url": server.url("/atom.xml"), "follow_updates": follow}
            ],
            "topics": [{"name": "Tarrow ferry", "query": "tarrow AND ferry"}],
        }
    )


def _first_reading(
    sessions: sessionmaker[Session], settings: Settings, server: LocalServer, *, follow: bool
) -> tuple[UpdatingNewsroom, Any, DetectReport]:
    """The newsroom publishes the article (version 0) and one cycle reads it."""
    room = UpdatingNewsroom(server)
    config = _config(server, follow)
    room.publish(0, LEAD, *BACKGROUND)
    _, report = run_cycle(sessions, settings, config)
    return room, config, report


def _alerts(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(AlertRow)) or 0)


def test_an_update_with_new_facts_alerts_and_a_typo_fix_does_not(
    sessions: sessionmaker[Session],
    settings: Settings,
    local_server: LocalServer,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room, config, first = _first_reading(sessions, settings, local_server, follow=True)
    assert first.stored == 1
    assert _alerts(sessions) == 1
    with sessions() as s:
        first_id = s.scalar(select(ArticleRow.id))

    # The same entry, marked updated, with a new paragraph.
    room.publish(1, LEAD, *BACKGROUND, UPDATE)
    collection, second = run_cycle(sessions, settings, config)
    assert [p.job.revision_of for p in collection.pages] == [first_id]
    assert second.stored == 1
    assert second.developments == 1
    assert _alerts(sessions) == 2
    with sessions() as s:
        original, revision = s.scalars(select(ArticleRow).order_by(ArticleRow.id)).all()
        alert = s.scalars(select(AlertRow).order_by(AlertRow.id.desc())).first()
    assert revision.revision_of_id == original.id
    assert revision.story_id == original.story_id  # the same story, whatever its wording
    assert revision.canonical_url.startswith(original.canonical_url + "#update-")
    assert revision.decision["revision_of"] == original.id
    assert alert is not None
    assert any("Marta" in fact for fact in alert.payload["facts"])
    assert not any("corrosion" in fact for fact in alert.payload["facts"])  # known already
    assert alert.payload["url"] == original.canonical_url  # the page, not the version's key
    assert "update of an article already read" in alert.reason
    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    explained = CliRunner().invoke(stage_app(register_stories), ["explain", str(revision.id)])
    assert explained.exit_code == 0, explained.output
    assert f"a later version of article {original.id}" in explained.output
    listed = CliRunner().invoke(app, ["articles"])
    assert listed.exit_code == 0, listed.output
    assert f"(update of #{original.id}) Tarrow to close ferry terminal" in listed.output

    # The feed changes for another reason: the entry's version is known, it is not read again.
    before = room.fetched()
    other = (
        "<entry><title>Choir wins</title><id>urn:gazette:2</id>"
        f"<link href='{local_server.url('/choir.html')}'/>"
        f"<published>{room.t0.isoformat()}</published></entry>"
    )
    room.publish(1, LEAD, *BACKGROUND, UPDATE, extra=other)
    local_server.table.set("/choir.html", Route(body=page("The Fenwick youth choir won " * 12)))
    collection, _ = run_cycle(sessions, settings, config)
    assert [p.job.canonical_url.rsplit("/", 1)[-1] for p in collection.pages] == ["choir.html"]
    assert room.fetched() == before

    # A later version that only mends wording: read, stored as that version, no alert.
    room.publish(2, TYPO_FIX, *BACKGROUND, UPDATE)
    alerts = _alerts(sessions)
    collection, third = run_cycle(sessions, settings, config)
    assert [p.job.revision_of for p in collection.pages] == [first_id]
    assert third.stored == 1
    assert third.developments == 0
    assert _alerts(sessions) == alerts


def test_updates_are_not_followed_unless_the_source_asks(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    room, config, _ = _first_reading(sessions, settings, local_server, follow=False)
    room.publish(1, LEAD, *BACKGROUND, UPDATE)
    collection, report = run_cycle(sessions, settings, config)
    assert collection.pages == ()
    assert report.stored == 0
    assert room.fetched() == 1


def test_an_update_weeks_after_the_first_reading_is_not_followed(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    room, config, _ = _first_reading(sessions, settings, local_server, follow=True)
    late = collect.FOLLOW_UPDATES_FOR + timedelta(hours=1)
    room.publish(1, LEAD, *BACKGROUND, UPDATE, later=late)
    collection, report = run_cycle(sessions, settings, config)
    assert collection.pages == ()
    assert report.stored == 0
    room.publish(2, LEAD, *BACKGROUND, UPDATE, later=collect.FOLLOW_UPDATES_FOR)  # still in time
    collection, report = run_cycle(sessions, settings, config)
    assert len(collection.pages) == 1
    assert report.developments == 1


def test_an_entry_is_read_again_a_bounded_number_of_times(
    sessions: sessionmaker[Session], settings: Settings, local_server: LocalServer
) -> None:
    room, config, _ = _first_reading(sessions, settings, local_server, follow=True)
    limit = collect.MAX_REVISIONS
    for version in range(1, limit + 3):  # a system that touches <updated> on every request
        edition = f"Edition {version}: the council met again on the terminal."
        room.publish(version, LEAD, *BACKGROUND, edition)
        run_cycle(sessions, settings, config)
    assert room.fetched() == 1 + limit  # the original, then the first versions only
    with sessions() as s:
        revisions = s.scalar(select(func.count()).where(ArticleRow.revision_of_id.is_not(None)))
    assert revisions == limit
