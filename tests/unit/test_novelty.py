from __future__ import annotations

from monitor.detection_settings import DetectionSettings
from monitor.stories.novelty import StoryMemory, assess
from monitor.text import sentence_features

SETTINGS = DetectionSettings()
EARLIER = [
    "Premier Ilsa Varnholt proposed talks with Kallund in Valmora on June 9.",
    "Chancellor Edvin Marrow said he would attend the talks in person.",
]


def _memory() -> StoryMemory:
    feats = [sentence_features(s) for s in EARLIER]
    return StoryMemory().remember(1, feats, development_id=7, cap=100)


def _weight(_term: str) -> float:
    return 1.0


def test_paraphrase_without_new_information_is_not_novel() -> None:
    report = assess(
        ["Marrow, the chancellor, is set to attend the Valmora talks himself."],
        _memory(),
        _weight,
        SETTINGS,
    )
    assert not report.is_development
    assert report.verdicts[0].new_entities == ()


def test_new_name_and_number_make_a_development() -> None:
    report = assess(
        ["Mediator Amara Castellan invited 14 observers to the Valmora talks."],
        _memory(),
        _weight,
        SETTINGS,
    )
    assert report.is_development
    assert report.facts == ("Mediator Amara Castellan invited 14 observers to the Valmora talks.",)
    assert {"amara", "castellan"} <= set(report.verdicts[0].new_entities)


def test_repeated_sentence_is_matched_to_its_article() -> None:
    report = assess([EARLIER[1]], _memory(), _weight, SETTINGS)
    assert report.verdicts[0].similarity == 1.0
    assert report.repeats_article_id == 1
    assert not report.is_development


def test_filler_without_names_or_numbers_is_not_novel() -> None:
    report = assess(
        ["Many observers believe the coming days could reshape the region for a generation."],
        _memory(),
        _weight,
        SETTINGS,
    )
    assert not report.is_development


def test_memory_round_trips_through_json() -> None:
    memory = _memory()
    again = StoryMemory.from_json(memory.to_json())
    assert again == memory


def test_sentence_initial_word_is_not_a_name_unless_a_capitalised_word_follows() -> None:
    from monitor.text import entities

    assert "representatives" not in entities("Representatives of the union met on Tuesday.")
    assert {"hakan", "fidan"} <= entities("Hakan Fidan spoke to reporters in Ankara.")
    assert "ankara" in entities("Hakan Fidan spoke to reporters in Ankara.")


def test_a_new_verb_restating_known_figures_is_not_a_development() -> None:
    from monitor.detection_settings import DetectionSettings
    from monitor.stories.novelty import StoryMemory, assess
    from monitor.text import sentence_features

    settings = DetectionSettings()
    earlier = (
        "In a ballot called by Ilse Varga of the Dock Union, 71 per cent of members voted in "
        "favour on a turnout of 88 per cent."
    )
    memory = StoryMemory().remember(1, [sentence_features(earlier)], 1, cap=100)
    # Few shared words and a new verb, but only figures the story already has.
    restated = [
        "Dockers around Varga approved it at the quayside hall yesterday evening: 71 percent "
        "said yes, 88 percent took part."
    ]
    report = assess(restated, memory, lambda _t: 1.0, settings)
    assert report.verdicts[0].similarity < settings.event_verb_match_threshold
    assert not report.is_development
    # The same verb with a figure the story has not reported is news.
    fresh = ["The Dock Union approved the Varga deal, and 300 crane drivers returned at dawn."]
    assert assess(fresh, memory, lambda _t: 1.0, settings).is_development


def test_explain_record_keeps_what_explain_shows_and_leaves_out_the_rest() -> None:
    threshold = SETTINGS.sentence_match_threshold
    repeated = assess([EARLIER[1]], _memory(), _weight, SETTINGS).to_json(threshold)
    [record] = repeated["sentences"]
    # A repeat names the sentence it repeats; it found nothing new, so no empty lists.
    assert record == {
        "text": EARLIER[1],
        "novel": False,
        "similarity": 1.0,
        "matched_article_id": 1,
        "matched": EARLIER[1],
    }
    new = assess(
        ["Mediator Amara Castellan invited 14 observers to the Valmora talks."],
        _memory(),
        _weight,
        SETTINGS,
    ).to_json(threshold)
    [fact] = new["sentences"]
    assert fact["novel"] is True
    assert fact["informative"] is True
    assert {"amara", "castellan"} <= set(fact["new_entities"])
    assert fact["new_numbers"] == ["14"]
    # Its best match is below the repeat threshold: which article, not the sentence's text.
    assert fact["similarity"] < threshold
    assert "matched" not in fact
    assert "new_quotes" not in fact
