"""Another outlet's rewording whose only new name is incidental is a report; a development that
puts a new name forward is not held back.

Placed through :func:`monitor.stories.ingest.ingest` on SQLite and PostgreSQL (the story's
signature is written to and read back from its stored memory between articles), and explained
by ``monitor explain`` from the stored decision.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from monitor.cli.stories import register as register_stories
from monitor.detection_settings import DetectionSettings
from monitor.models import Article
from tests.support.articles import article
from tests.support.cli import stage_app
from tests.support.placing import place_each, stored_decision

T0 = datetime(2031, 9, 2, 6, 0, tzinfo=UTC)

FIRST_TITLE = "Hollin Quay ferry terminal closed after fuel leak"
FIRST = "\n".join(
    [
        "The ferry terminal at Hollin Quay was closed on Monday after a fuel leak from a "
        "storage tank, Marrow Ferries said.",
        "Harbour master Ewan Tarrant said 2,000 litres of diesel had reached the harbour.",
        "All sailings to the islands were cancelled and passengers were told to stay away.",
        "Booms were laid across the harbour mouth to hold the diesel back from the beaches.",
        "Marrow Ferries said the terminal would stay shut until the tank had been emptied.",
    ]
)

# Another outlet, hours later: the same news in its own words. Its lead names the coastguard's
# spokeswoman, who confirms what was reported; nothing in its headline is new.
REWORDED_TITLE = "Diesel spill halts island sailings at Hollin Quay"
REWORDED = "\n".join(
    [
        "A coastguard spokeswoman, Lise Aumont, confirmed that the terminal at Hollin Quay "
        "was closed on Monday.",
        "Harbour master Ewan Tarrant said 2,000 litres of diesel had leaked from a storage tank.",
        "Marrow Ferries cancelled all sailings to the islands and booms were laid across the "
        "harbour mouth.",
        "The terminal will stay shut until the tank has been emptied, Marrow Ferries said.",
    ]
)

# The next day: a new person, the news of the headline, named through the text.
SUSPENDED_TITLE = "Marrow Ferries suspends engineer Bryn Callow over Hollin Quay leak"
SUSPENDED = "\n".join(
    [
        "Marrow Ferries has suspended its chief engineer, Bryn Callow, over the fuel leak "
        "at Hollin Quay.",
        "Bryn Callow signed off the storage tank as safe three weeks before the leak, the "
        "company said.",
        "Callow has not commented; an inquiry will report within 30 days.",
        "The terminal at Hollin Quay remained closed on Tuesday.",
    ]
)


def _articles() -> list[Article]:
    return [
        article("shore.test", "https://shore.test/1", FIRST_TITLE, FIRST, T0),
        article(
            "islands.test",
            "https://islands.test/spill",
            REWORDED_TITLE,
            REWORDED,
            T0 + timedelta(hours=4),
        ),
        article(
            "shore.test",
            "https://shore.test/2",
            SUSPENDED_TITLE,
            SUSPENDED,
            T0 + timedelta(days=1),
        ),
    ]


def test_an_incidental_new_name_does_not_make_a_rewording_news(
    sessions: sessionmaker[Session],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first, reworded, suspended = place_each(sessions, _articles(), DetectionSettings())

    assert reworded.story_id == suspended.story_id == first.story_id
    assert reworded.development_id is None
    assert reworded.repeats_development_id == first.development_id
    assert suspended.development_id is not None

    held = stored_decision(sessions, reworded).salience
    assert held is not None
    assert held.overruled == "headline"
    assert held.put_forward is None
    assert held.new_signature is not None
    assert {"name:aumont", "name:lise"} <= set(held.new_signature)
    news = stored_decision(sessions, suspended).salience
    assert news is not None
    assert news.rule == "headline"
    assert news.put_forward is not None

    monkeypatch.setenv("MONITOR_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    shown = CliRunner().invoke(stage_app(register_stories), ["explain", str(reworded.article_id)])
    assert shown.exit_code == 0, shown.output
    assert "names and figures new to the story's developments: aumont, lise" in shown.output
    assert "report: the headline rule found it new in wording, but its new names and" in (
        shown.output
    )
    shown = CliRunner().invoke(stage_app(register_stories), ["explain", str(suspended.article_id)])
    assert f"put forward: {news.put_forward}" in shown.output


def test_without_the_check_the_incidental_name_makes_it_news(
    sessions: sessionmaker[Session],
) -> None:
    _, reworded, _ = place_each(sessions, _articles(), DetectionSettings(put_forward=False))

    assert reworded.development_id is not None
    salience = stored_decision(sessions, reworded).salience
    assert salience is not None
    assert salience.rule == "headline"
    assert salience.overruled is None
    assert salience.put_forward is None
