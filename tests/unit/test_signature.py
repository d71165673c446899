"""Fact signatures: the names and figures an article's headline and lead put forward (pure)."""

from __future__ import annotations

from monitor.stories.signature import mentions, new_items, read_signature, signature
from monitor.text import sentence_features


def test_names_and_figures_of_headline_and_lead() -> None:
    lead = ["Harbour master Ysolde Penhale said 17 boats broke their moorings in Carrow Bay."]
    sig = signature("Storm sinks 3 trawlers at Carrow", lead, lead)

    assert sig == {
        "name:carrow",
        "name:ysolde",
        "name:penhal",
        "name:bay",
        "figure:3",
        "figure:17",
    }


def test_a_title_case_headline_keeps_only_the_words_the_text_writes_as_names() -> None:
    body = [
        "Councillors in Brenmoor approved the new budget on Monday after a long debate.",
        "Mayor Idris Talgarth said the budget protects libraries.",
    ]
    sig = signature("Brenmoor Council Approves New Budget After Long Debate", body[:1], body)

    # "Approves", "Budget", "Debate" are capitalised only because the headline is in title case.
    assert "name:approv" not in sig
    assert "name:budget" not in sig
    assert "name:debate" not in sig
    assert "name:brenmo" in sig


def test_a_headline_word_the_text_writes_in_lower_case_is_no_name() -> None:
    body = ["The ferry operator cancelled every crossing to Inchvarra on Friday."]
    sig = signature("Ferry Crossings to Inchvarra Cancelled", body, body)

    assert sig == {"name:inchva"}


def test_number_words_meet_digits_and_dates_are_left_out() -> None:
    spelled = signature(
        "Four injured as scaffold falls in Dunraith",
        ["Four workers were hurt on March 12, 2031, when a scaffold fell in Dunraith."],
        [],
    )
    digits = signature("4 hurt in Dunraith scaffold fall", [], [])

    assert "figure:4" in spelled
    assert "figure:12" not in spelled  # the day of a date
    assert "figure:2031" not in spelled  # a year
    assert new_items(digits, spelled) == ()


def test_a_name_and_its_adjective_or_possessive_meet() -> None:
    first = signature("Talks in Veskaria stall", [], [])
    later = signature("Veskarian envoy leaves Veskaria's capital", [], [])

    assert new_items(later, first) == ()


def test_digits_inside_a_product_name_are_no_figure() -> None:
    sig = signature("Orbix X9 phone goes on sale", [], [])

    assert not any(item.startswith("figure:") for item in sig)


def test_new_items_are_what_the_story_has_not_carried() -> None:
    known = signature("Rebels free 21 hostages in Korvath", [], [])
    reworded = signature("21 hostages held by rebels released, Korvath officials say", [], [])
    toll = signature("Korvath rebels free 9 more hostages, envoy Mara Tesk says", [], [])

    assert new_items(reworded, known) == ()
    assert new_items(toll, known) == ("figure:9", "name:mara", "name:tesk")


def test_a_capitalised_opening_word_the_text_also_writes_in_lower_case_is_no_name() -> None:
    body = [
        "Unlike Tarrow, the island of Skelda has no second ferry for the winter.",
        "Islanders said the timetable was unlike anything they had seen.",
    ]
    sig = signature("Skelda ferry cut", body[:1], body)

    assert sig == {"name:skelda", "name:tarrow"}


def test_the_headline_keeps_its_own_names_and_figures_apart() -> None:
    lead = ["Harbour master Ysolde Penhale said 17 boats broke their moorings in Carrow Bay."]
    sig = read_signature("Storm sinks 3 trawlers at Carrow", lead, lead)

    assert sig.headline == {"name:carrow", "figure:3"}
    assert sig.items == signature("Storm sinks 3 trawlers at Carrow", lead, lead)


def test_mentions_counts_the_sentences_naming_a_name_or_a_figure() -> None:
    body = [
        "Harbour master Ysolde Penhale said 17 boats broke their moorings.",
        "Crews sent by Penhale towed twelve of the 17 boats back by noon.",
        "Seventeen owners have claimed on their insurance.",
        "The harbour reopened at dusk.",
    ]

    assert mentions("name:penhal", body, sentence_features) == 2
    assert mentions("figure:17", body, sentence_features) == 3  # "Seventeen" too
    assert mentions("figure:12", body, sentence_features) == 1
    assert mentions("name:carrow", body, sentence_features) == 0
