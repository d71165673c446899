"""Another outlet's rewording of known news is a report; a new figure is a development.

Placed through :func:`monitor.stories.ingest.ingest` on SQLite and PostgreSQL, so the story's
signature is written to and read back from its stored memory between articles.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from monitor.detection_settings import DetectionSettings
from monitor.explanation import salience_lines
from monitor.models import Article
from monitor.storage import detection as repo
from tests.support.articles import article
from tests.support.placing import place_each, stored_decision

T0 = datetime(2031, 6, 8, 7, 0, tzinfo=UTC)

FIRST_TITLE = "Lowenna timber yard destroyed by overnight blaze"
FIRST = "\n".join(
    [
        "A fire destroyed the Brackwater timber yard in Lowenna overnight, the county "
        "fire service said on Sunday.",
        "Fire chief Odile Marchetti said 14 crews fought the flames for six hours and all "
        "40 workers were safe.",
        "The workers have been told to stay at home while the site is made safe.",
        "The yard supplies oak beams to boatbuilders along the Lowenna estuary.",
        "Investigators from the county fire service will examine the site on Monday morning.",
        "Residents of Quay Street were kept indoors because of the smoke until dawn.",
    ]
)

# Another outlet, the same news in its own words; the new name is deep in the text.
REWORDED_TITLE = "Inferno guts Brackwater yard as crews battle flames for six hours"
REWORDED = "\n".join(
    [
        "Fourteen crews spent six hours fighting the fire that gutted the Brackwater "
        "timber yard in Lowenna, fire chief Odile Marchetti said.",
        "No one was injured, and the 40 workers of the yard were sent home until the site is safe.",
        "Smoke drifted over the estuary for much of the night and kept Quay Street "
        "residents indoors.",
        "The yard's owner, Tamsin Arkwright, said the family business had been trading "
        "since the war.",
        "Investigators are due at the site on Monday to look for the cause of the fire.",
    ]
)

# Days later: an arrest, with a figure and a place the story has not carried.
ARREST_TITLE = "Man, 23, arrested over Brackwater timber yard fire in Lowenna"
ARREST = "\n".join(
    [
        "Police arrested a 23-year-old man from Pellick on Tuesday on suspicion of arson "
        "at the Brackwater timber yard.",
        "Detectives said the man was detained at an address in Pellick and is being "
        "questioned in Lowenna.",
        "Fire investigators found that the blaze had been started deliberately near the "
        "yard's gate.",
        "The Brackwater timber yard was destroyed on Saturday night and 40 workers were sent home.",
        "Fire chief Odile Marchetti said 14 crews had fought the flames for six hours.",
    ]
)


def _articles() -> list[Article]:
    return [
        article("estuary.test", "https://estuary.test/1", FIRST_TITLE, FIRST, T0),
        article(
            "coastline.test",
            "https://coastline.test/yard",
            REWORDED_TITLE,
            REWORDED,
            T0 + timedelta(hours=5),
        ),
        article(
            "estuary.test", "https://estuary.test/2", ARREST_TITLE, ARREST, T0 + timedelta(days=2)
        ),
    ]


def test_a_reworded_report_of_known_facts_is_not_a_development(
    sessions: sessionmaker[Session],
) -> None:
    first, reworded, arrest = place_each(sessions, _articles(), DetectionSettings())

    assert first.new_story
    assert reworded.story_id == arrest.story_id == first.story_id
    assert reworded.development_id is None
    assert reworded.repeats_development_id == first.development_id
    assert arrest.development_id is not None

    salience = stored_decision(sessions, reworded).salience
    assert salience is not None
    assert salience.overruled == "headline"
    assert salience.new_signature == ()
    assert "carry no name or figure" in salience_lines(salience)[-1]
    news = stored_decision(sessions, arrest).salience
    assert news is not None
    assert news.rule is not None
    assert news.new_signature is not None
    assert {"figure:23", "name:pellic"} <= set(news.new_signature)
    # The story remembers what its developments put forward, not the report's new name.
    with sessions() as session:
        assert first.story_id is not None
        names, _ = repo.load_memory(session, first.story_id)
    assert {"figure:14", "figure:23", "name:brackw", "name:marche"} <= set(names["signature"])
    assert "name:tamsin" not in names["signature"]


def test_without_the_signature_the_rewording_is_a_development(
    sessions: sessionmaker[Session],
) -> None:
    _, reworded, _ = place_each(sessions, _articles(), DetectionSettings(fact_signature=False))

    assert reworded.development_id is not None
    salience = stored_decision(sessions, reworded).salience
    assert salience is not None
    assert salience.rule == "headline"
    assert salience.new_signature is None
