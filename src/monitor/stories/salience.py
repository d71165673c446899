"""Whether the new facts of an article are the news it puts forward (pure).

Almost every report from another outlet carries some name, number or quote its story has not
seen (:func:`monitor.stories.novelty.assess` finds those sentences): a new name in paragraph nine
is not news the reader lacks. An article joining a story is a *development* when what it leads
with is new, by one of four rules, tried in this order:

``headline``
    its headline is new to the story: the IDF-weighted share of the headline's terms that none of
    the story's earlier headlines and leads used is at least ``headline_novelty``; the share the
    story never reported anywhere is at least ``headline_unseen`` (a headline built from a detail
    of earlier bodies retells earlier reporting); and the article has a novel sentence to quote;
``lead``
    each of its first ``lead_novel_sentences`` content sentences (up to ``lead_sentences``) is
    novel: the article opens with what the story has not reported (a line repeating the
    headline above the text is not part of the lead);
``facts``
    it brings several new facts — at least ``several_new_facts`` novel sentences — and leads
    towards them: one of its lead sentences is novel and its headline is at least two thirds
    as new as the headline rule asks;
``update``
    it is an outlet's update of an article already read (its feed marked it updated) and has
    ``min_novel_sentences`` novel sentences: the outlet itself put the addition forward, wherever
    in the page it added the paragraph.

Known facts: the headline rule reads wording, and another outlet's report of the same news is
worded its own way. With ``fact_signature`` on, an article the headline rule would make news is a
report when its headline and lead paragraph name no one and cite no figure beyond what the
story's developments already put forward (its *signature*, see :mod:`monitor.stories.signature`):
"rebels free 21 hostages" after "21 hostages held by the rebels released, officials say" —
unless one of its novel sentences states a headline word the story never used (the headline's
news is then a new fact in other words than names: "Dam breach behind flood" over "a breach at
the Holloway dam caused the flood"; "Talks set for Friday" over "agreed to meet on Friday").
The other rules are not overruled: they rest on novel lead sentences or on several novel
sentences, each carrying a name, number, quote or event the story lacks. ``monitor explain``
shows the new names and figures and the rule that was overruled.

Put forward: a new name in the lead is often incidental — the spokesman quoted, the agency that
confirmed, the broadcaster that reported — and another outlet's rewording names one more often
than not. With ``put_forward`` on as well, the two wording rules (``headline`` and ``facts``)
make news only of an article that puts a new fact forward, in one of three ways:

* a novel sentence states a headline word the story never used (as above);
* a name or figure new to the story's developments is in the headline and named again in at
  least ``put_forward_mentions`` of its sentences: the article is about it ("Gunman named as
  Stephen Paddock" over a text that names Paddock throughout), not in passing;
* a headline word the story never used is said again in the lead: the article restates what its
  headline announces ("Broken rail caused derailment" over "investigators found a broken rail").

An article that does none of these is held back from the wording rules and judged by the lead
and update rules, which rest on what the article opens with; ``monitor explain`` shows the rule
held back, or what was put forward.

Commentary (analysis, opinion, reviews, explainers, live-blog wrappers; see
:mod:`monitor.stories.kind`) words its headline its own way and brings its own names and
figures, so for it only the lead rule counts.
The first article of a story is always a development; placement decides that.

:class:`Salience` records the figures and the rule that fired, for ``monitor explain``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.detection_settings import DetectionSettings
from monitor.stories.kind import ArticleKind
from monitor.stories.novelty import NoveltyReport, StoryMemory
from monitor.stories.signature import FactSignature, mentions, new_items
from monitor.text import (
    STOPWORDS,
    WEEKDAYS,
    SentenceFeatures,
    content_terms,
    sentence_features,
    stem,
    words,
)
from monitor.wording import counted

Weight = Callable[[str], float]

# The rules a report of known facts can fire by its wording alone.
_SIGNATURE_RULES = frozenset({"headline"})
# An article that names no one and cites no figure.
NO_SIGNATURE = FactSignature(frozenset(), frozenset())
# The rules that need the article to put a new fact forward (with ``put_forward``).
_WORDING_RULES = frozenset({"headline", "facts"})


@dataclass(frozen=True, slots=True)
class Salience:
    """How new the article's headline and lead are, and which rule (if any) made it news."""

    headline_novelty: float  # weighted share of headline terms new to earlier headlines/leads
    headline_unseen: float  # weighted share of headline terms new to everything reported
    lead_novel: int  # novel sentences among the first ``lead_sentences``
    novel: int  # novel sentences in the whole article
    sentences: int  # content sentences in the whole article
    kind: ArticleKind
    rule: str | None  # "headline", "lead", "facts", "update" (or placement's "first report")
    # Names and figures of the headline and lead that the story's developments did not carry
    # (None: not checked), and the rule the check overruled (see "known facts" above).
    new_signature: tuple[str, ...] | None = None
    overruled: str | None = None
    # What the article puts forward (see "put forward" above; None: not checked or nothing).
    put_forward: str | None = None

    @property
    def is_development(self) -> bool:
        return self.rule is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "headline_novelty": round(self.headline_novelty, 3),
            "headline_unseen": round(self.headline_unseen, 3),
            "lead_novel": self.lead_novel,
            "novel": self.novel,
            "sentences": self.sentences,
            "kind": self.kind.kind,
            "rule": self.rule,
        }
        if self.kind.marks:
            out["kind_marks"] = list(self.kind.marks)
        if self.new_signature is not None:
            out["new_signature"] = list(self.new_signature)
        if self.overruled is not None:
            out["overruled"] = self.overruled
        if self.put_forward is not None:
            out["put_forward"] = self.put_forward
        return out


def headline_terms(title_terms: Iterable[str], lead: Iterable[frozenset[str]]) -> frozenset[str]:
    """The terms an article contributes to its story's headline memory: headline and lead."""
    out = set(title_terms)
    for terms in lead:
        out |= terms
    return frozenset(out)


def _new_share(terms: frozenset[str], known: frozenset[str], weight: Weight) -> float:
    total = sum(weight(t) for t in terms)
    if total <= 0:
        return 0.0
    return sum(weight(t) for t in terms if t not in known) / total


def _repeats_headline(sentence: str, title: SentenceFeatures) -> bool:
    """A page that prints its headline again above the text: that line is not the lead."""
    terms = content_terms(sentence)
    return bool(terms) and sum(t in title.terms for t in terms) >= 0.8 * len(terms)


def _unsaid(title: SentenceFeatures, memory: StoryMemory) -> set[str]:
    """The stems of the headline's words that the story never used."""
    said = memory.terms | memory.headlines
    return {
        stem(w) for w in words(title.text) if len(w) > 1 and (w not in STOPWORDS or w in WEEKDAYS)
    } - said


def _said_in(unsaid: set[str], sentences: Iterable[str]) -> list[str]:
    """The stems of ``unsaid`` that one of ``sentences`` uses, sorted."""
    found: set[str] = set()
    for sentence in sentences:
        found |= unsaid & {stem(w) for w in words(sentence)}
    return sorted(found)


def _backed(title: SentenceFeatures, report: NoveltyReport, memory: StoryMemory) -> bool:
    """Whether a novel sentence of the article carries a word of its headline that the story
    never used: the headline's news stated as a new fact ("Dam breach behind flood" over "the
    water authority said a breach at the Holloway dam caused the flood"), not a rewording."""
    return bool(_said_in(_unsaid(title, memory), (v.text for v in report.verdicts if v.novel)))


def _headline_words(words: Sequence[str]) -> str:
    return f"headline {'word' if len(words) == 1 else 'words'} {', '.join(words)}"


def put_forward(
    title: SentenceFeatures,
    report: NoveltyReport,
    memory: StoryMemory,
    settings: DetectionSettings,
    signature: FactSignature,
    added: Sequence[str],
    *,
    lead: Sequence[str],
    features: Callable[[str], SentenceFeatures] = sentence_features,
) -> str | None:
    """What the article puts forward as new, in words for ``monitor explain``; ``None``: nothing
    (see "put forward" in the module docstring). ``added`` is its signature's names and figures
    new to the story's developments, ``lead`` its lead sentences."""
    unsaid = _unsaid(title, memory)
    stated = _said_in(unsaid, (v.text for v in report.verdicts if v.novel))
    if stated:
        return f"{_headline_words(stated)} stated in a novel sentence"
    if not added:
        return None
    texts = [v.text for v in report.verdicts]
    for item in added:
        if item not in signature.headline:
            continue
        named = mentions(item, texts, features)
        if named >= settings.put_forward_mentions:
            sentences = counted(named, "sentence")
            return f"{item.split(':', 1)[1]} in the headline and named in {sentences}"
    restated = _said_in(unsaid, lead)
    if restated:
        return f"{_headline_words(restated)} said again in the lead"
    return None


def lead_sentences(
    sentences: Sequence[str], title: SentenceFeatures, settings: DetectionSettings
) -> list[str]:
    """The article's lead: its first content sentences, without a line repeating the headline."""
    body = [s for s in sentences if not _repeats_headline(s, title)]
    return body[: settings.lead_sentences]


def _rules(
    kind: ArticleKind,
    report: NoveltyReport,
    settings: DetectionSettings,
    figures: tuple[float, float, int, int],
    *,
    update: bool,
) -> list[str]:
    """Every rule of the module docstring the article meets, in the order they are tried;
    ``figures`` is its headline novelty, headline unseen share, novel lead and novel sentences."""
    novelty, unseen, lead_novel, novel = figures
    met: list[str] = []
    if (
        kind.is_news
        and novel >= settings.min_novel_sentences
        and novelty >= settings.headline_novelty
        and unseen >= settings.headline_unseen
    ):
        met.append("headline")
    if lead_novel >= min(settings.lead_novel_sentences, settings.lead_sentences):
        met.append("lead")
    if (
        kind.is_news
        and novel >= settings.several_new_facts
        and lead_novel >= 1
        and novelty >= settings.headline_novelty * 2 / 3
    ):
        met.append("facts")
    if update and report.is_development:
        met.append("update")
    return met


def judge(
    title: SentenceFeatures,
    report: NoveltyReport,
    memory: StoryMemory,
    weight: Weight,
    settings: DetectionSettings,
    kind: ArticleKind,
    *,
    update: bool = False,
    signature: FactSignature = NO_SIGNATURE,
    known: frozenset[str] | None = None,
    features: Callable[[str], SentenceFeatures] = sentence_features,
) -> Salience:
    """Apply the rules of the module docstring to an article joining a story.

    ``signature`` is the article's names and figures, ``known`` its story's (``None``: the story
    keeps none yet, nothing is overruled); ``features`` reads a sentence of the article.
    """
    title_terms = title.terms
    novelty = _new_share(title_terms, memory.headlines, weight)
    unseen = _new_share(title_terms, memory.headlines | memory.terms, weight)
    body = [v for v in report.verdicts if not _repeats_headline(v.text, title)]
    lead_novel = sum(v.novel for v in body[: settings.lead_sentences])
    novel = sum(v.novel for v in report.verdicts)
    met = _rules(kind, report, settings, (novelty, unseen, lead_novel, novel), update=update)
    rule = met[0] if met else None
    counts = (novelty, unseen, lead_novel, novel, len(report.verdicts), kind)
    if known is None or not settings.fact_signature:
        return Salience(*counts, rule)
    added = new_items(signature.items, known)
    if not settings.put_forward:
        if rule in _SIGNATURE_RULES and not added and not _backed(title, report, memory):
            return Salience(*counts, None, added, rule)
        return Salience(*counts, rule, added)
    forward = None
    if _WORDING_RULES.intersection(met):
        lead = [v.text for v in body[: settings.lead_sentences]]
        forward = put_forward(
            title, report, memory, settings, signature, added, lead=lead, features=features
        )
    kept = [r for r in met if forward is not None or r not in _WORDING_RULES]
    overruled = rule if rule is not None and rule not in kept else None
    return Salience(*counts, kept[0] if kept else None, added, overruled, forward)
