"""Headline and lead salience, and the article kinds that change it (pure)."""

from __future__ import annotations

import pytest

from monitor.decision import Decision, SalienceRecord
from monitor.detection_settings import DetectionSettings
from monitor.explanation import salience_lines
from monitor.stories.kind import ArticleKind, classify
from monitor.stories.novelty import StoryMemory, assess
from monitor.stories.salience import headline_terms, judge
from monitor.stories.signature import read_signature, signature
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
        signature=read_signature(title, sentences[: settings.signature_lead_sentences], sentences),
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


@pytest.mark.parametrize(
    ("section", "kind"),
    [
        ("Opinion", "opinion"),
        ("Comment is free", "opinion"),
        ("Film reviews", "review"),
        ("Analysis", "analysis"),
        ("World news", "news"),
        # A live section is a place on the site, not a mark of the piece.
        ("Live", "news"),
    ],
)
def test_a_declared_section_marks_commentary(section: str, kind: str) -> None:
    found = classify("https://a.example/2025/03/04/ferry", "Ferry", section=section)

    assert found.kind == kind
    assert found.marks == ((f"page section {section!r}",) if kind != "news" else ())


def test_the_pages_canonical_url_counts_as_the_articles() -> None:
    # A feed linking a neutral or proxied URL; the page's rel=canonical has the section.
    url = "https://feeds.example/item?id=7"
    canonical = "https://a.example/commentisfree/2025/mar/04/ferry"
    found = classify(url, "Ferry", other_urls=(None, canonical))

    assert found == ArticleKind("opinion", ("URL section /commentisfree/",))
    assert classify(url, "Ferry").kind == "news"


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
    # The figure is the headline's and the text's: stated in two sentences.
    body = [
        *REPEATED_LEAD,
        "Engineers now expect the repairs to take 6 weeks.",
        "Buses will use the ring road for those 6 weeks, the operator said.",
    ]
    s = _judge(
        "Fissure shuts Glenmoor span for 6 weeks, Ashby commuters rerouted", body, known=KNOWN
    )

    assert s.rule == "headline"
    assert s.overruled is None
    assert s.new_signature == ("figure:6",)
    assert s.put_forward == "headline word week stated in a novel sentence"


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


# An incidental new name: the board's spokesman confirms what the story reported.
SPOKESMAN = "A spokesman for the regional transport board, Piet Varga, confirmed it on Tuesday."
PUT_FORWARD_OFF = DetectionSettings(put_forward=False)


def test_a_rewording_whose_only_new_name_is_incidental_is_a_report() -> None:
    body = [SPOKESMAN, EARLIER[1], EARLIER[2]]
    s = _judge(REWORDED, body, known=KNOWN)

    assert s.new_signature == ("name:piet", "name:varga")
    assert s.rule is None
    assert s.overruled == "headline"
    assert s.put_forward is None
    # Without the check, any new name of the lead keeps the headline rule.
    assert _judge(REWORDED, body, known=KNOWN, settings=PUT_FORWARD_OFF).rule == "headline"


def test_a_new_name_the_text_repeats_but_the_headline_lacks_is_not_put_forward() -> None:
    body = [
        SPOKESMAN,
        "Piet Varga added that the buses would run to the usual timetable.",
        EARLIER[1],
    ]
    s = _judge(REWORDED, body, known=KNOWN)

    assert s.rule is None
    assert s.overruled == "headline"


SALO_TITLE = "Glenmoor bridge shut as council leader Irma Salo rules out quick fix"
SALO_COST = "Repairs are now expected to cost 2.3 million pounds, a report to the council said."


def test_a_new_name_of_the_headline_that_the_text_names_again_is_put_forward() -> None:
    # Irma Salo was in the first report's body, never in what an alert put forward.
    body = [
        "Council leader Irma Salo said on Wednesday the Ashby road bridge will not reopen soon.",
        "Irma Salo told councillors the crack in the support beam was deeper than thought.",
        SALO_COST,
    ]
    s = _judge(SALO_TITLE, body, known=KNOWN)

    assert s.rule == "headline"
    assert s.put_forward == "irma in the headline and named in 2 sentences"


def test_a_headline_name_named_once_in_the_text_is_not_put_forward() -> None:
    body = [
        "The Ashby road bridge will not reopen soon, the council said on Wednesday.",
        "Irma Salo told councillors the crack in the support beam was deeper than thought.",
        SALO_COST,
    ]
    s = _judge(SALO_TITLE, body, known=KNOWN)

    assert s.rule is None
    assert s.overruled == "headline"
    once = DetectionSettings(put_forward_mentions=1)
    assert _judge(SALO_TITLE, body, known=KNOWN, settings=once).rule == "headline"


def test_a_headline_word_said_again_in_the_lead_is_put_forward() -> None:
    # "Corroded bolts" is in no novel sentence (that one names no one new): the lead restates it.
    body = [
        "Engineers found corroded bolts under the Ashby road bridge, the Glenmoor council said.",
        SPOKESMAN,
        EARLIER[2],
    ]
    s = _judge("Corroded bolts shut Glenmoor span", body, known=KNOWN)

    assert s.rule == "headline"
    assert s.put_forward == "headline words bolt, corrod said again in the lead"
    # The same words further down are not the lead.
    late = [SPOKESMAN, EARLIER[2], EARLIER[3], body[0]]
    assert _judge("Corroded bolts shut Glenmoor span", late, known=KNOWN).rule is None


def test_several_new_facts_none_put_forward_are_a_report() -> None:
    # Four novel sentences, each with a name or figure new to the story, none in the headline.
    body = [
        SPOKESMAN,
        EARLIER[1],
        "Drivers from Keswick Haulage said the detour added 40 minutes to each trip.",
        "The Marden school run now starts at 7.15, head teacher Olwen Price said.",
        "Traders on Ferris Lane reported takings down by a third since the closure.",
    ]
    title = "Glenmoor council leader says Ashby bridge to remain shut for a fortnight"
    on = _judge(title, body, known=KNOWN)
    off = _judge(title, body, known=KNOWN, settings=PUT_FORWARD_OFF)

    assert off.rule == "facts"
    assert on.rule is None
    assert on.overruled == "facts"


def test_a_held_back_wording_rule_lets_the_lead_rule_decide() -> None:
    # A new lead, sentence after sentence, is news whatever the headline puts forward.
    lead = [
        SPOKESMAN,
        "Police in Dunmore arrested two men over the theft of 300 metres of bridge cable.",
        "Detective Anna Berg said the men would appear before magistrates in Kelso.",
    ]
    s = _judge(REWORDED, lead, known=KNOWN)

    assert s.rule == "lead"
    assert s.overruled == "headline"
    assert s.put_forward is None
    lines = salience_lines(SalienceRecord.from_json(s.to_json()))
    assert lines[-2].startswith("held back: the headline rule, as its new names and figures")
    assert lines[-1] == "salience: development: it opens with sentences the story had not reported"
