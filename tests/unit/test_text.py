from __future__ import annotations

import pytest

from monitor.text import (
    content_sentences,
    entities,
    normalise,
    numbers,
    quotes,
    split_sentences,
    stem,
    without_printed_headline,
    words,
)


def test_normalise_folds_case_quotes_dashes_and_spacing() -> None:
    assert normalise("The  \u201cTalks\u201d \u2014 Resume\n") == normalise('the "talks" - resume')


def test_content_sentences_drop_page_furniture_and_keep_facts() -> None:
    page = """Subscribe to our newsletter
Harbour Talks Resume
3 min read
The mayor of Corvane said on Monday that 12 ferries would resume service. Mr. Aldous Brin agreed.
Photo: Lena Marsh/Getty Images
Read more @ example.com
"""
    sentences = content_sentences(page)
    assert sentences == [
        "The mayor of Corvane said on Monday that 12 ferries would resume service."
    ]


def test_a_photo_caption_goes_whole_with_its_credit() -> None:
    captions = [
        "Mayor Ilse Varga speaks at a press conference in Corvane on March 3, 2024. "
        "(Tomas Reid/Getty Images)",
        "Ferries wait at the north quay of Tarrow on Sunday. (AP Photo/Nell Adair, File)",
        "Snow covers the harbour road in Kell on Tuesday. (Photo: Kell Police Department)",
        "Dockworkers vote at the union hall in Marrowick. (Ada Frost/The Lowland Ledger via AP)",
        "A rescue boat leaves the harbour at dawn on Friday. (Reuters)",
    ]
    news = [
        "The council approved the budget of 4.2 million euros (3.6 million pounds)",
        "The survey was published on Tuesday in the harbour journal (doi.org/10.1000/xyz123)",
        "The update brings faster downloads to the older console model (PS4)",
        "The ferry operator said on Friday that fares would rise by 8 percent.",
    ]
    page = "\n".join(captions + news)
    assert content_sentences(page) == news


def test_gallery_related_and_syndication_lines_are_furniture() -> None:
    furniture = [
        "Photos: Harbour strike in Marrowick Dockers gather at the gate on Monday morning.",
        "Photos: Harbour strike in Marrowick Hide Caption 4 of 12",
        "Related: Ten things to know about the Marrowick port strike and its history",
        "Related Stories Union leader says the strike could last into the summer months",
        "View all Lowland Ledger newsletters.",
        "This article originally appeared on the Marrowick Courier website.",
        "GETTY Union leader Ada Frost addresses striking dockworkers at the north gate",
        "JUST WATCHED Marrowick dockers walk out: the first day of the strike Replay More Videos",
        "We will not go back without a deal pic.twitter.com/Ab12Cd34 - Ada Frost (@adafrost) "
        "March 3, 2025",
    ]
    news = [
        "The union said 71 per cent of its members voted to accept the offer on Friday.",
        "Related talks between the port and the ferry operator will open on 3 April in Kell.",
        "Getty, the union's lawyer, said the ballot was binding on all 400 members.",
    ]
    assert content_sentences("\n".join(furniture + news)) == news


@pytest.mark.parametrize(
    ("sentences", "kept"),
    [
        # the headline again, in other quotes and case: dropped
        (["\u2018Nigel\u2019 the heron returns to Ashby pond", "It flew in on Monday."], 1),
        # nothing follows it: it is all there is
        (["'Nigel' the heron returns to Ashby pond"], 1),
        # a lead that shares most of its words but says more: kept
        (["The heron named Nigel returns to Ashby pond after its winter in Spain.", "x y."], 2),
        # the headline second, not first: not a printed headline
        (["It flew in on Monday.", "'Nigel' the heron returns to Ashby pond"], 2),
    ],
)
def test_a_printed_headline_is_dropped_from_the_start_only(sentences: list[str], kept: int) -> None:
    found = without_printed_headline("'Nigel' the heron returns to Ashby pond", sentences)
    assert found == sentences[len(sentences) - kept :]


def test_abbreviations_do_not_split_sentences() -> None:
    text = "Officials in the U.S. and Dr. Imre Falk met in Valmora on Friday to discuss fishing."
    assert content_sentences(text) == [text]


def test_entities_numbers_and_quotes() -> None:
    sentence = 'Meanwhile, Hakan Vell said on May 15 that "the 30-day truce must come first".'
    assert entities(sentence) == {"hakan", "vell"}
    assert {"15", "30", "may 15"} <= numbers(sentence)
    assert quotes(sentence) == ["the 30-day truce must come first"]


def test_stem_conflates_inflections() -> None:
    assert stem("released") == stem("releases") == stem("release")
    assert stem("talks") == stem("talk")
    # A plural gerund and a short word ending in "e" meet their other forms too.
    assert stem("shootings") == stem("shooting") == stem("shoots")
    assert stem("meetings") == stem("meeting") == stem("meet")
    assert stem("fire") == stem("fires") == stem("fired") == stem("firing")
    assert stem("vote") == stem("votes") == stem("voted")
    assert stem("rule") == stem("rules") == stem("ruled")
    # Short words keep their letters otherwise: "news" is not "new", "things" not "th".
    assert stem("news") != stem("new")
    assert stem("things") == stem("thing") == "thing"
    assert stem("kings") == stem("king") == "king"


def test_sloppy_copy_reads_like_its_original() -> None:
    sloppy = "Officials in Angola 's capital met on Monday this week.The talks resumed in Luanda."
    clean = "Officials in Angola's capital met on Monday this week. The talks resumed in Luanda."

    assert split_sentences(sloppy) == split_sentences(clean)
    assert words(sloppy) == words(clean)
    assert "angola's" in words(sloppy)
    # Domain names and initials are not sentence ends.
    assert (
        len(split_sentences("Shares of Amazon.Com rose after the U.S.Army deal was signed.")) == 1
    )


def test_a_sloppily_reformatted_wire_copy_is_contained_in_its_original() -> None:
    from monitor.dedup import exact_containment

    original = (
        "Angola's president opened the talks in Luanda on Monday. Delegates from both parties "
        "agreed a timetable for the vote this week. The talks resume on Thursday with observers "
        "from the region. Officials said the count would be published within ten days."
    )
    sloppy = original.replace("Angola's", "Angola 's").replace("week. The", "week.The")

    assert exact_containment(sloppy, original) > 0.95
