"""Topic queries: grammar, precedence, matching rules, explanations and every error case."""

from __future__ import annotations

import re

import pytest

from monitor.config import parse_config
from monitor.errors import ConfigError, QueryError
from monitor.topics import LEAD_WORDS, Document, TopicMatch, parse_query, search_fold


def matches(query: str, title: str, text: str = "", *, title_only: bool = False) -> bool:
    return parse_query(query).match(title, text, title_only=title_only) is not None


# -- how the query is read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reading"),
    [
        ("istanbul", "istanbul"),
        ("istanbul talks", "(istanbul AND talks)"),
        ("istanbul AND talks", "(istanbul AND talks)"),
        ("a OR b c", "(a OR (b AND c))"),
        ("a b OR c", "((a AND b) OR c)"),
        ("NOT a b", "(NOT a AND b)"),
        ("b NOT a OR c", "((b AND NOT a) OR c)"),
        ("(a OR b) c", "((a OR b) AND c)"),
        ("a OR b OR c", "(a OR b OR c)"),
        ("x -a", "(x AND NOT a)"),
        ('x -"peace deal"', '(x AND NOT "peace deal")'),
        ("x -(a OR b)", "(x AND NOT (a OR b))"),
        ("x NOT NOT a", "(x AND NOT NOT a)"),
        ("a and b or c not d", "((a AND b) OR (c AND NOT d))"),
        ("a And b Or c", "((a AND b) OR c)"),
        ('"not" talks', '("not" AND talks)'),
        ("title:istanbul talks", "(title:istanbul AND talks)"),
        ('title:"peace deal"', 'title:"peace deal"'),
        ("title:(a OR b) c", "((title:a OR title:b) AND c)"),
        ("x -title:a", "(x AND NOT title:a)"),
        ("negotiat* ceasefire", "(negotiat* AND ceasefire)"),
        ("NOT NOT a", "NOT NOT a"),
    ],
)
def test_query_is_read_with_precedence_not_and_or(query: str, reading: str) -> None:
    assert str(parse_query(query)) == reading


def test_query_keeps_its_text() -> None:
    assert parse_query("  istanbul talks ").text == "  istanbul talks "


# -- matching rules -----------------------------------------------------------------------------


def test_whole_words_only() -> None:
    assert matches("talks", "Talks resume")
    assert not matches("talks", "A new talkshow starts")
    assert not matches("talk", "Talks resume")
    assert matches("g7", "G7 leaders meet")


def test_case_insensitive_both_ways() -> None:
    assert matches("ISTANBUL", "talks in istanbul")
    assert matches("istanbul", "TALKS IN ISTANBUL")


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("erdogan", "Erdoğan arrives"),
        ("Erdoğan", "Erdogan arrives"),
        ("zurich", "Talks in Zürich"),
        ("senor", "El Señor"),
        ("istanbul", "İSTANBUL'DA GÖRÜŞME"),  # dotted capital I
        ("diyarbakir", "Diyarbakır"),  # dotless i
        ("strasse", "Die Straße ist gesperrt"),
        ("orsted", "Ørsted results"),
        ("lodz", "Łódź council"),
        ("cafe", "Café owners protest"),
    ],
)
def test_accents_are_ignored(query: str, text: str) -> None:
    assert matches(query, text)


def test_fold_is_the_shared_normalisation() -> None:
    assert search_fold("Erdoğan İSTANBUL Straße") == "erdogan istanbul strasse"
    assert search_fold("plain ascii") == "plain ascii"


def test_implicit_and_needs_every_term() -> None:
    assert matches("istanbul talks", "Istanbul", "talks continue")
    assert not matches("istanbul talks", "Istanbul", "nothing else")


def test_or_needs_one_term() -> None:
    assert matches("ankara OR istanbul", "Istanbul")
    assert not matches("ankara OR istanbul", "Izmir")


def test_not_excludes() -> None:
    assert matches("talks NOT football", "Talks resume")
    assert not matches("talks NOT football", "Talks resume", "football transfer talks")
    assert not matches("talks -football", "Talks resume", "football transfer talks")


def test_lowercase_operators_work_and_quoted_operators_are_words() -> None:
    assert matches("ankara or istanbul", "Istanbul")
    assert not matches("talks not football", "Football talks")
    assert matches('"or"', "this or that")
    assert not matches('"or"', "this and that")


def test_phrase_needs_the_words_adjacent_and_in_order() -> None:
    assert matches('"peace deal"', "A peace deal is near")
    assert matches('"peace deal"', "Peace, deal!")  # punctuation is not a word
    assert not matches('"peace deal"', "deal for peace")
    assert not matches('"peace deal"', "peace and a deal")


def test_phrase_at_the_end_of_the_text() -> None:
    assert matches('"peace deal"', "", "They want a peace deal")
    assert not matches('"peace deal now"', "", "They want a peace deal")


def test_hyphenated_query_word_is_a_phrase() -> None:
    assert matches("cease-fire", "Cease-fire holds")
    assert matches("cease-fire", "A cease fire holds")
    assert not matches("cease-fire", "Fire; cease")


def test_prefix_wildcard() -> None:
    assert matches("negotiat*", "Negotiations resume")
    assert matches("negotiat*", "negotiators meet")
    assert matches("negotiat*", "they negotiate")
    assert not matches("negotiat*", "renegotiation")
    assert not matches("negotiat*", "negotiable")


def test_wildcard_inside_a_phrase() -> None:
    assert matches('"peace negotiat*"', "Peace negotiations stall")
    assert matches('"resum* talks"', "They resumed talks")
    assert not matches('"peace negotiat*"', "negotiations for peace")


def test_title_scope_for_one_term() -> None:
    query = "title:istanbul talks"
    assert matches(query, "Istanbul meeting", "talks continue")
    assert not matches(query, "Meeting", "talks continue in Istanbul")


def test_title_scope_for_a_phrase_and_a_group() -> None:
    assert matches('title:"peace deal"', "Peace deal signed")
    assert not matches('title:"peace deal"', "Signed", "peace deal")
    assert matches("title:(ankara OR istanbul)", "Istanbul talks")
    assert not matches("title:(ankara OR istanbul)", "Talks", "in Istanbul")


def test_negated_title_term() -> None:
    assert matches("talks -title:football", "Talks resume", "football")
    assert not matches("talks -title:football", "Football talks")


def test_title_only_scopes_the_whole_query() -> None:
    assert matches("istanbul talks", "Istanbul", "talks", title_only=False)
    assert not matches("istanbul talks", "Istanbul", "talks", title_only=True)
    assert matches("istanbul talks", "Istanbul talks", "", title_only=True)
    # a NOT under title_only looks at the title only, too
    assert matches("talks -football", "Talks", "football", title_only=True)


def test_no_match_is_none() -> None:
    assert parse_query("istanbul").match("Ankara", "Ankara only") is None


# -- what a match reports -----------------------------------------------------------------------


def test_explain_names_terms_and_where_they_matched() -> None:
    query = parse_query('istanbul AND (talks OR "peace deal") AND ceasefire')
    found = query.match("Istanbul hosts delegations", "The talks aim at a ceasefire.")
    assert found == TopicMatch(terms=("istanbul", "talks", "ceasefire"), title_terms=("istanbul",))
    assert found.explain() == 'title: "istanbul"; body: "talks", "ceasefire"'


def test_explain_quotes_a_phrase_once() -> None:
    found = parse_query('"peace deal"').match("", "a peace deal")
    assert found is not None
    assert found.terms == ('"peace deal"',)
    assert found.explain() == 'body: "peace deal"'


def test_explain_title_only_match() -> None:
    found = parse_query("istanbul").match("Istanbul", "Istanbul again")
    assert found is not None
    assert found.explain() == 'title: "istanbul"'


def test_terms_under_not_are_never_reported() -> None:
    found = parse_query("talks NOT (football AND transfer)").match("Talks", "football")
    assert found is not None
    assert found.terms == ("talks",)


def test_every_matching_or_branch_is_reported_in_query_order() -> None:
    found = parse_query("ceasefire OR talks OR ankara").match("Talks", "a ceasefire")
    assert found is not None
    assert found.terms == ("ceasefire", "talks")
    assert found.title_terms == ("talks",)


def test_a_failed_and_branch_reports_nothing() -> None:
    found = parse_query("(talks AND football) OR ceasefire").match("Talks", "ceasefire")
    assert found is not None
    assert found.terms == ("ceasefire",)


def test_repeated_term_is_reported_once() -> None:
    found = parse_query("talks OR (talks AND istanbul)").match("Talks in Istanbul", "")
    assert found is not None
    assert found.terms == ("talks", "istanbul")


def test_wildcard_is_reported_as_written() -> None:
    found = parse_query("negotiat*").match("Negotiators meet", "")
    assert found is not None
    assert found.terms == ("negotiat*",)


def test_document_is_reused_across_queries_with_the_same_results() -> None:
    title, text = "Istanbul talks resume", "Negotiators discussed a cease-fire and prisoners."
    doc = Document(title, text)
    queries = [
        "istanbul talks",
        "negotiat* -football",
        '"cease fire" OR ankara',
        "title:negotiat*",
        "prisoner",
        "title:(istanbul OR ankara) prisoners",
    ]
    for text_query in queries:
        query = parse_query(text_query)
        assert query.match_document(doc) == query.match(title, text), text_query
        assert query.match_document(doc, title_only=True) == query.match(
            title, text, title_only=True
        )
    assert [parse_query(q).match_document(doc) is not None for q in queries] == [
        True,
        True,
        True,
        False,
        False,
        True,
    ]


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(a OR b", 0, "unbalanced '('"),
        ("x (a (b)", 2, "unbalanced '('"),
        ("a OR b)", 6, "unbalanced ')'"),
        (")", 0, "unbalanced ')'"),
        ("a AND", 2, "AND needs a term after it"),
        ("a OR", 2, "OR needs a term after it"),
        ("AND a", 0, "AND needs a term before it"),
        ("OR a", 0, "OR needs a term before it"),
        ("a OR OR b", 5, "found 'OR'"),
        ("a AND OR b", 6, "found 'OR'"),
        ("(a AND) b", 6, "found ')'"),
        ("(OR a)", 1, "OR needs a term before it"),
        ("NOT", 0, "NOT needs a term after it"),
        ("a NOT", 2, "NOT needs a term after it"),
        ("a NOT OR b", 6, "found 'OR'"),
        ("-", 0, "'-' must be followed directly by a term"),
        ("a - b", 2, "'-' must be followed directly by a term"),
        ("a -)", 2, "'-' must be followed directly by a term"),
        ('""', 0, "empty phrase"),
        ('a "  "', 2, "empty phrase"),
        ('a "?!"', 2, "empty phrase"),
        ('a "peace deal', 2, "unterminated phrase"),
        ("()", 0, "empty parentheses"),
        ("a ( ) b", 2, "empty parentheses"),
        ("NOT a", 0, "none of its terms"),
        ("-a -b", 0, "none of its terms"),
        ("a OR NOT b", 5, "none of its terms"),
        ("c OR (-a -b)", 6, "none of its terms"),
        ("x*", 0, "at least 2"),
        ("*", 0, "at least 2"),
        ("a *", 2, "at least 2"),
        ("neg*ot", 0, "only a trailing *"),
        ("negot**", 0, "only a trailing *"),
        ("author:smith", 0, "unknown field 'author:'"),
        ("a http://example.org", 2, "unknown field 'http:'"),
        ("title:", 0, "title: must be followed directly"),
        ("title: istanbul", 0, "title: must be followed directly"),
        ("title:-istanbul", 0, "-title:word"),
        ("&", 0, "no letters or digits"),
        ("talks & ceasefire", 6, "no letters or digits"),
        ("(" * 80 + "a" + ")" * 80, 64, "nested deeper"),
        ("x " + "NOT " * 80 + "a", 258, "nested deeper"),
    ],
)
def test_malformed_query_raises_with_position(query: str, position: int, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)) as caught:
        parse_query(query)
    assert caught.value.position == position
    assert message in str(caught.value)
    assert caught.value.query == query
    assert f"at position {position}" in str(caught.value)


def test_query_error_is_a_config_error() -> None:
    assert issubclass(QueryError, ConfigError)


def test_config_names_the_topic_whose_query_is_malformed() -> None:
    data = {"topics": [{"name": "ok", "query": "istanbul"}, {"name": "bad", "query": "(a OR b"}]}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, origin="monitor.yaml")
    message = str(caught.value)
    assert "monitor.yaml" in message
    assert "topics.1.query" in message
    assert "unbalanced '('" in message


# -- relevance: where a term counts -------------------------------------------------------------

FILLER = " ".join(f"word{i}" for i in range(LEAD_WORDS))  # pushes what follows past the lead


def _at(level: str, query: str, title: str, text: str) -> TopicMatch | None:
    return parse_query(query).match(title, text, relevance=level)


def test_a_single_mention_past_the_lead_is_in_passing() -> None:
    text = f"Missiles hit the port. {FILLER} A satellite image showed smoke."
    assert _at("prominent", "satellite", "Strikes on the port", text) is None
    assert _at("strict", "satellite", "Strikes on the port", text) is None
    loose = _at("anywhere", "satellite", "Strikes on the port", text)
    assert loose is not None
    assert loose.weak_terms == ("satellite",)
    assert loose.explain() == 'once, deep in the text: "satellite"'


def test_title_lead_or_repetition_make_a_term_prominent() -> None:
    for level in ("prominent", "strict"):
        assert _at(level, "satellite", "Satellite launched", f"{FILLER} the satellite")
        assert _at(level, "satellite", "Launch", f"The satellite rose. {FILLER}")
        found = _at(level, "satellite", "Launch", f"{FILLER} the satellite; the satellite")
        assert found is not None
        assert found.weak_terms == ()
        assert found.explain() == 'body: "satellite"'


def test_the_lead_ends_after_lead_words() -> None:
    words = [f"w{i}" for i in range(LEAD_WORDS + 5)]
    inside = [*words[: LEAD_WORDS - 1], "satellite", *words[LEAD_WORDS:]]
    outside = [*words[:LEAD_WORDS], "satellite", *words[LEAD_WORDS:]]
    assert _at("prominent", "satellite", "", " ".join(inside)) is not None
    assert _at("prominent", "satellite", "", " ".join(outside)) is None


def test_prominent_rests_on_one_term_strict_on_every_term() -> None:
    text = f"Delegations met for talks. {FILLER} They may meet again in Istanbul."
    # the article is about the talks; Istanbul is mentioned in passing
    found = _at("prominent", "istanbul AND talks", "", text)
    assert found is not None
    assert found.terms == ("istanbul", "talks")
    assert found.weak_terms == ("istanbul",)
    assert _at("strict", "istanbul AND talks", "", text) is None
    # nothing prominent to rest on: no match even at the default level
    assert _at("prominent", "istanbul AND meet*", "", f"{FILLER} meet in Istanbul") is None
    # an OR is satisfied by its prominent branch; strict leaves the passing one out
    strict = _at("strict", "istanbul OR talks", "", text)
    assert strict is not None
    assert strict.terms == ("talks",)


def test_body_scope_counts_a_mention_in_passing() -> None:
    text = f"Delegations met in Istanbul. {FILLER} A ceasefire was mentioned."
    found = _at("strict", "istanbul AND body:ceasefire", "", text)
    assert found is not None
    assert found.weak_terms == ("ceasefire",)
    assert _at("strict", "istanbul AND body:(truce OR ceasefire)", "", text) is not None
    assert _at("prominent", "body:ceasefire", "", text) is not None
    assert _at("prominent", "ceasefire", "", text) is None
    assert str(parse_query("body:ceasefire")) == "body:ceasefire"


def test_phrases_and_prefixes_count_their_repetitions() -> None:
    once = f"{FILLER} a peace deal and negotiators"
    twice = f"{FILLER} a peace deal, negotiators; the peace deal, negotiating"
    assert _at("prominent", '"peace deal"', "", once) is None
    assert _at("prominent", '"peace deal"', "", twice) is not None
    assert _at("prominent", "negotiat*", "", once) is None
    assert _at("prominent", "negotiat*", "", twice) is not None


def test_not_excludes_any_mention_at_every_level() -> None:
    text = f"Talks resumed in Geneva. {FILLER} The football final was postponed."
    for level in ("prominent", "strict"):
        assert _at(level, "talks -football", "", text) is None
        assert _at(level, "talks", "", text) is not None


def test_title_scope_wins_over_a_body_scope_inside_it() -> None:
    assert _at("strict", "title:(body:ceasefire)", "Talks", "A ceasefire.") is None
    assert _at("strict", "title:(body:ceasefire)", "Ceasefire", "") is not None


def test_title_only_ignores_relevance_of_the_body() -> None:
    query = parse_query("satellite")
    assert query.match("Launch", "The satellite rose.", title_only=True, relevance="strict") is None
    assert query.match("Satellite", "", title_only=True, relevance="strict") is not None


def test_an_unknown_relevance_level_is_an_error() -> None:
    with pytest.raises(ValueError, match="relevance must be one of"):
        parse_query("talks").match("Talks", "", relevance="lead")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("body:", "body: must be followed directly"),
        ("-body:-x", "write a negated body term as -body:word"),
        ("summary:x", "only title: and body: are supported"),
    ],
)
def test_field_errors(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(query)
