"""Headline and lead salience, and the article kinds that change it (pure)."""

from __future__ import annotations

import pytest

from monitor.decision import Decision, SalienceRecord
from monitor.detection_settings import DetectionSettings
from monitor.stories.kind import ArticleKind, classify
from monitor.stories.novelty import StoryMemory, assess
from monitor.stories.salience import headline_terms, judge
from monitor.stories.signature import signature
from monitor.text import sentence_features

SETTINGS = DetectionSettings()

EARLIER_TITLE = "Glenmoor council closes the Ashby road bridge after a crack is found"
EARLIER = [
    "The Glenmoor council closed the Ashby road bridge on Tuesday after engineers found a crack.",
    "Engineers said the crack ran along a support beam under the eastern lane.",
    "Buses between Ashby and Glenmoor will take the ring road while the bridge is shut.",
    "Council leader Irma Salo said the closure would last at least a fortnight.",
]


def _memory() -> StoryMemory:
    feats = [sentence_features(s) for s in EARLIER]
    lead = [f.terms for f in feats[: SETTINGS.lead_sentences]]
    memory = StoryMemory().remember(1, feats, development_id=1, cap=100)
    heads = headline_terms(sentence_features(EARLIER_TITLE).terms, lead)
    return StoryMemory.restore(memory.sentences, memory.entities, memory.numbers, headlines=heads)


def _judge(
    title: str,
    sentences: list[str],
    kind: ArticleKind | None = None,
    update: bool = False,
    *,
    known: frozenset[str] | None = None,
    settings: DetectionSettings = SETTINGS,
):
    memory = _memory()
    report = assess(sentences, memory, lambda _t: 1.0, settings)
    return judge(
        sentence_features(title),
        report,
        memory,
        lambda _t: 1.0,
        settings,
        kind or ArticleKind(),
        update=update,
        signature=signature(title, sentences[: settings.signature_lead_sentences], sentences),
        known=known,
    )


# What the story's first report put forward: its headline and lead paragraph.
KNOWN = signature(EARLIER_TITLE, EARLIER[: SETTINGS.signature_lead_sentences], EARLIER)


REPEATED_LEAD = EARLIER[:2]
NEW_DETAIL = "A Dunmore contractor, Kessel Works, was paid 48,000 pounds to inspect it in 2019."


def test_a_rewritten_headline_over_a_repeated_lead_is_a_report() -> None:
    s = _judge(
        "Ashby road bridge closed by Glenmoor council over crack", [*REPEATED_LEAD, NEW_DETAIL]
    )

    assert s.rule is None
    assert not s.is_development
    assert s.headline_novelty < SETTINGS.headline_novelty
    assert s.novel == 1  # the buried detail is novel, but not what the article puts forward


def test_a_headline_the_story_has_not_carried_makes_a_development() -> None:
    s = _judge("Kessel Works paid to inspect Ashby bridge in 2019 missed warning", [NEW_DETAIL])

    assert s.rule == "headline"
    assert s.headline_novelty >= SETTINGS.headline_novelty
    assert s.headline_unseen >= SETTINGS.headline_unseen


def test_a_headline_built_from_an_earlier_body_detail_is_not_news() -> None:
    # Every headline word is in the story already, only not in its headlines and leads.
    s = _judge("Closure to last a fortnight, council leader Irma Salo says", [NEW_DETAIL])

    assert s.headline_unseen < SETTINGS.headline_unseen
    assert s.rule is None


def test_a_lead_of_new_sentences_makes_a_development_whatever_the_headline() -> None:
    lead = [
        "Police in Glenmoor arrested two men on Thursday over the theft of bridge sensors.",
        "The sensors, worth 12,000 pounds, were taken from the Ashby crossing last week.",
        "Detective Anna Berg said the men would appear before magistrates in Dunmore.",
    ]
    s = _judge(EARLIER_TITLE, lead)

    assert s.headline_novelty == 0.0
    assert s.lead_novel == 3
    assert s.rule == "lead"


SEVERAL = [
    "Council leader Irma Salo said on Friday the bridge would reopen to buses within a week.",
    "Kessel Works of Dunmore will brace the cracked beam with 14 steel collars.",
    "The repair is expected to cost 310,000 pounds, paid from the Tarrow roads fund.",
    "Lorries above 7.5 tonnes will stay on the ring road until a survey in March.",
    "Residents of Ashby Row asked the Glenmoor council for a footbridge during the works.",
]


def test_several_new_facts_behind_a_new_lead_sentence_make_a_development() -> None:
    # A headline partly new (2 of 8 terms: not enough alone), a lead opening with the known
    # closure, then four new facts.
    title = "Glenmoor council bridge on Ashby road to reopen for lorries next week"
    body = [EARLIER[0], *SEVERAL[1:]]
    s = _judge(title, body)

    assert SETTINGS.headline_novelty * 2 / 3 <= s.headline_novelty < SETTINGS.headline_novelty
    assert 1 <= s.lead_novel < SETTINGS.lead_novel_sentences
    assert s.novel >= SETTINGS.several_new_facts
    assert s.rule == "facts"
    # Fewer new facts, or the same facts under the story's own headline: a report.
    assert _judge(title, body[:3]).rule is None
    assert _judge("Ashby road bridge closed by Glenmoor council over crack", body).rule is None


def test_commentary_needs_its_lead_not_its_headline() -> None:
    opinion = classify("https://paper.example/opinion/2026/bridges", "Our bridges are crumbling")
    s = _judge(
        "Kessel Works paid to inspect Ashby bridge in 2019 missed warning", [NEW_DETAIL], opinion
    )

    assert opinion.kind == "opinion"
    assert s.headline_novelty >= SETTINGS.headline_novelty
    assert s.rule is None


def test_an_outlets_update_with_a_new_paragraph_is_a_development() -> None:
    s = _judge(EARLIER_TITLE, [*REPEATED_LEAD, NEW_DETAIL], update=True)

    assert s.rule == "update"
    assert _judge(EARLIER_TITLE, REPEATED_LEAD, update=True).rule is None


@pytest.mark.parametrize(
    ("url", "title", "page_types", "kind"),
    [
        ("https://a.example/news/world/123-ferry-strike", "Ferry strike called off", (), "news"),
        ("https://a.example/commentisfree/2026/x", "We deserve better ferries", (), "opinion"),
        ("https://a.example/culture/halftime-show-review", "A flashy medley", (), "review"),
        ("https://a.example/tech/x", "Every new feature explained", (), "explainer"),
        ("https://a.example/a", "The singer's halftime show, reviewed", (), "review"),
        ("https://a.example/a", "Analysis: why the talks stalled", (), "analysis"),
        ("https://a.example/a", "Ferry strike: what we know so far", (), "explainer"),
        ("https://a.example/a", "Talks in Istanbul", ("LiveBlogPosting",), "live"),
        ("https://a.example/a", "Talks", ("OpinionNewsArticle", "NewsArticle"), "opinion"),
        # A section word as the article's own slug is not a section.
        ("https://a.example/live", "Live music returns to Tarrow", (), "news"),
    ],
)
def test_article_kinds_by_their_marks(
    url: str, title: str, page_types: tuple[str, ...], kind: str
) -> None:
    found = classify(url, title, page_types)

    assert found.kind == kind
    assert bool(found.marks) == (kind != "news")


def test_the_salience_record_round_trips_in_the_decision() -> None:
    s = _judge("Kessel Works paid to inspect Ashby bridge in 2019 missed warning", [NEW_DETAIL])
    record = Decision(outcome="development", salience=SalienceRecord.from_json(s.to_json()))

    again = Decision.from_json(record.to_json())

    assert again.salience == record.salience
    assert again.salience is not None
    assert again.salience.rule == "headline"
    assert Decision.from_json({"outcome": "report"}).salience is None  # older records


def test_a_headline_printed_again_above_the_text_is_not_the_lead() -> None:
    lead = [
        "Police in Glenmoor arrested two men on Thursday over the theft of bridge sensors.",
        "The sensors, worth 12,000 pounds, were taken from the Ashby crossing last week.",
        "Detective Anna Berg said the men would appear before magistrates in Dunmore.",
    ]
    title = "Two held over Ashby bridge sensor theft"

    kept = _judge(title, [title, *lead])
    assert kept.lead_novel == 3
    # A sentence that is not the headline does take a lead place.
    assert _judge(title, [EARLIER[1], *lead]).lead_novel == 2


# Another outlet's headline for the closure: new words, the same places, no figure.
REWORDED = "Fissure shuts Glenmoor span, Ashby commuters rerouted"
NO_SIGNATURE = DetectionSettings(fact_signature=False)


def test_a_reworded_headline_over_known_names_and_figures_is_a_report() -> None:
    body = [*REPEATED_LEAD, NEW_DETAIL]
    unchecked = _judge(REWORDED, body)
    s = _judge(REWORDED, body, known=KNOWN)

    assert unchecked.rule == "headline"  # new in wording
    assert unchecked.new_signature is None
    assert s.rule is None
    assert s.overruled == "headline"
    assert s.new_signature == ()
    assert _judge(REWORDED, body, known=KNOWN, settings=NO_SIGNATURE).rule == "headline"


def test_a_new_figure_in_the_headline_keeps_it_news() -> None:
    s = _judge(
        "Fissure shuts Glenmoor span for 6 weeks, Ashby commuters rerouted",
        [*REPEATED_LEAD, NEW_DETAIL],
        known=KNOWN,
    )

    assert s.rule == "headline"
    assert s.overruled is None
    assert s.new_signature == ("figure:6",)


def test_a_new_name_in_the_lead_paragraph_keeps_it_news() -> None:
    lead = [
        "Kessel Works of Dunmore was told to inspect the Glenmoor span last spring.",
        EARLIER[1],
    ]
    s = _judge(REWORDED, [*lead, NEW_DETAIL], known=KNOWN)

    assert s.rule == "headline"
    assert s.new_signature == ("name:dunmor", "name:kessel", "name:works")


@pytest.mark.parametrize(
    ("title", "fact"),
    [
        (
            "Corroded bolts behind Ashby bridge closure",
            "Inspectors said corroded bolts supplied by Kessel Works of Dunmore caused the crack.",
        ),
        (
            "Glenmoor bridge reopening set for Friday",
            "Kessel Works told the council in Dunmore that buses could cross again from Friday.",
        ),
    ],
)
def test_a_headline_stated_by_a_new_fact_below_the_lead_stays_news(title: str, fact: str) -> None:
    # Names and figures of headline and lead are all known; the news is in words ("corroded
    # bolts", "Friday") that a novel sentence further down states.
    body = [*REPEATED_LEAD, fact]
    s = _judge(title, body, known=KNOWN)

    assert s.new_signature == ()
    assert s.rule == "headline"
    assert s.overruled is None
    # The same headline over an unrelated new detail is a rewording of the closure.
    assert _judge(title, [*REPEATED_LEAD, NEW_DETAIL], known=KNOWN).overruled == "headline"


def test_only_the_headline_rule_is_overruled() -> None:
    # Three novel lead sentences are news even when the story has carried every name in them.
    lead = [
        "Police in Glenmoor arrested two men on Thursday over the theft of bridge sensors.",
        "The sensors, worth 12,000 pounds, were taken from the Ashby crossing last week.",
        "Detective Anna Berg said the men would appear before magistrates in Dunmore.",
    ]
    everything = signature(EARLIER_TITLE, lead, lead)

    s = _judge(EARLIER_TITLE, lead, known=everything)

    assert s.rule == "lead"
    assert s.new_signature == ()
    assert s.overruled is None


def test_the_overruled_rule_round_trips_in_the_decision() -> None:
    s = _judge(REWORDED, [*REPEATED_LEAD, NEW_DETAIL], known=KNOWN)
    record = SalienceRecord.from_json(s.to_json())

    again = Decision.from_json(Decision(outcome="report", salience=record).to_json()).salience

    assert again == record
    assert again is not None
    assert again.overruled == "headline"
    assert again.new_signature == ()
