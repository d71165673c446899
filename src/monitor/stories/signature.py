"""The facts an article puts forward: the names and figures of its headline and lead (pure).

Outlets word the same news their own way ("rebels free 21 hostages" against "21 hostages held
by the rebels have been released, officials say"): their headlines share few words, but not
their names and figures. An article's *signature* is the set of names and figures in its
headline and lead, normalised so that two outlets' spellings meet:

* a name is a capitalised word that is not a function word (see :func:`monitor.text.entities`),
  cut to its first :data:`NAME_PREFIX` characters so that "Kenya"/"Kenyan" and
  "Marlow"/"Marlow's" are one name; a word the article's text also writes in lower case is no
  name ("Unlike the old model, ..."), and in a headline written in title case ("Council Approves
  New Budget"), where every word is capitalised, a word counts only when the text itself
  writes it capitalised;
* a figure is a number ("21", "5.5", "1,200" -> "1200") or a number word ("four" -> "4"); a
  calendar date or a year is when the news happened, not what it is, and is left out, and so
  are digits inside a name ("X9").

A story remembers the signatures of its developments (what the reader was alerted to).
:func:`new_items` is what an article's signature adds to that: a report whose headline and lead
name no one and cite no figure its story's alerts have not already carried tells the reader
nothing new, however differently it is worded (see :mod:`monitor.stories.salience`).

A new name in the lead is often incidental (the spokesman quoted, the agency that confirmed):
:class:`FactSignature` keeps the headline's own names and figures apart, and :func:`mentions`
counts the sentences that name one again, so salience can tell a name the article puts forward
(in its headline and repeated in its text) from one it mentions in passing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from monitor.text import MONTHS, STOPWORDS, SentenceFeatures, entities, fold, words

# Characters of a name kept: enough to tell names apart within one story, few enough that a
# name and its adjective or possessive ("Kenya", "Kenyan", "Kenya's") meet.
NAME_PREFIX = 6

_NUMBER = re.compile(r"(?<![^\W\d_])\d+(?:[.,]\d+)*")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
# "one" is left out: "no one", "one of the", "one day" cite no figure.
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        (
            *("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
            *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
            *("eighteen", "nineteen", "twenty"),
        ),
        2,
    )
}
_NUMBER_WORDS.update(
    {
        w: str(10 * i)
        for i, w in enumerate(
            ("thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"), 3
        )
    }
)
_NUMBER_WORDS.update({"dozen": "12", "hundred": "100"})
# A headline is in title case when at least this share of its content words is capitalised.
_TITLE_CASE = 0.75


def _name(token: str) -> str:
    return "name:" + token.replace(".", "")[:NAME_PREFIX]


def _figures(text: str) -> set[str]:
    """Numbers and number words of ``text``, without calendar dates and years."""
    folded = fold(text)
    found: set[str] = set()
    for m in _NUMBER.finditer(folded):
        value = m.group(0).replace(",", "")
        before = folded[: m.start()].split()[-1:] or [""]
        if _YEAR.match(value) or before[0].lower().strip(".,") in MONTHS:
            continue
        after = folded[m.end() :].split()[:1] or [""]
        if after[0].lower().strip(".,") in MONTHS:
            continue
        found.add("figure:" + value)
    found.update("figure:" + _NUMBER_WORDS[w] for w in words(text) if w in _NUMBER_WORDS)
    return found


def _title_case(title: str) -> bool:
    content = [w for w in fold(title).split() if w[:1].isalpha() and w.lower() not in STOPWORDS]
    if len(content) < 3:
        return False
    return sum(w[0].isupper() for w in content) >= _TITLE_CASE * len(content)


@dataclass(frozen=True, slots=True)
class FactSignature:
    """An article's names and figures: those of its headline, and those of headline and lead."""

    headline: frozenset[str]
    items: frozenset[str]


def _case_uses(body: Sequence[str]) -> tuple[set[str], set[str]]:
    """The words ``body`` writes in lower case somewhere, and those it writes capitalised."""
    lower: set[str] = set()
    capitalised: set[str] = set()
    for sentence in body:
        for token in fold(sentence).split():
            core = token.strip("\"'()[],.;:!?*").removesuffix("'s")
            if core[:1].islower():
                lower.add(core.lower())
            elif core[:1].isupper():
                capitalised.add(core.lower())
    return lower, capitalised


def read_signature(title: str, lead: Sequence[str], body: Sequence[str]) -> FactSignature:
    """The names and figures of an article's headline, and of its headline and lead sentences.

    ``body`` is every content sentence of the article: it tells which headline words are names
    (written capitalised in the text, never in lower case).
    """
    lower, capitalised = _case_uses(body)
    # The first word of a sentence is capitalised whatever it is; only a lower-case use tells.
    headline_names = {
        n
        for n in entities(title)
        if n not in lower and (not _title_case(title) or n in capitalised)
    }
    headline = frozenset({_name(n) for n in headline_names} | _figures(title))
    items = set(headline)
    for sentence in lead:
        items |= {_name(n) for n in entities(sentence) if n not in lower}
        items |= _figures(sentence)
    return FactSignature(headline, frozenset(items))


def signature(title: str, lead: Sequence[str], body: Sequence[str]) -> frozenset[str]:
    """The names and figures of an article's headline and lead sentences (see
    :func:`read_signature`)."""
    return read_signature(title, lead, body).items


def mentions(
    item: str, sentences: Iterable[str], features: Callable[[str], SentenceFeatures]
) -> int:
    """How many of ``sentences`` name ``item`` (a signature's name or figure)."""
    kind, _, value = item.partition(":")
    if kind == "name":
        return sum(any(_name(e) == item for e in features(s).entities) for s in sentences)
    return sum(f"figure:{value}" in _figures(s) for s in sentences)


def new_items(article: Iterable[str], known: Iterable[str]) -> tuple[str, ...]:
    """What ``article`` (a signature) names or cites that ``known`` does not, sorted."""
    return tuple(sorted(set(article) - set(known)))
