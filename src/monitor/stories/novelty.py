"""New-development detection: which sentences of an article the story has not reported yet (pure).

Contract: :func:`assess` compares each content sentence of a new article with a
:class:`StoryMemory` (the story's earlier sentences, names, numbers and quotes). A sentence is
*novel* when both hold:

1. nothing similar was seen: its best IDF-weighted term containment in any one earlier sentence is
   below ``sentence_match_threshold``;
2. it carries information: a name, number or date the story has not mentioned, a quotation not
   found in an earlier sentence, or a name with an event verb the story has not used yet (the
   verb counts only below the stricter ``event_verb_match_threshold``).

An article is a development when at least ``min_novel_sentences`` sentences are novel. Page
furniture never reaches this module (see :func:`monitor.text.content_sentences`). Paraphrases of
earlier reporting fail test 2 even when they share few exact words, because a rewrite cannot add
names, numbers or quotes without adding facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.detection_settings import DetectionSettings
from monitor.text import SentenceFeatures, content_terms, sentence_features, stem

Weight = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class Remembered:
    """An earlier story sentence: which article said it and its terms."""

    article_id: int
    text: str
    terms: frozenset[str]


@dataclass(frozen=True, slots=True)
class StoryMemory:
    """What a story has already reported (bounded: the most recent sentences)."""

    sentences: tuple[Remembered, ...] = ()
    entities: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    terms: frozenset[str] = frozenset()
    # Terms of the members' headlines and leads (what the story has put forward as its news).
    headlines: frozenset[str] = frozenset()
    development_of: Mapping[int, int] = field(default_factory=dict)  # article id -> development id

    def to_json(self) -> dict[str, Any]:
        return {
            # Terms are stored with the text so loading a story does not re-tokenise it.
            "sentences": [[s.article_id, s.text, sorted(s.terms)] for s in self.sentences],
            "entities": sorted(self.entities),
            "numbers": sorted(self.numbers),
            "headlines": sorted(self.headlines),
            "development_of": {str(k): v for k, v in self.development_of.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoryMemory:
        return cls.restore(
            tuple(
                Remembered(int(item[0]), str(item[1]), frozenset(item[2]))
                for item in data.get("sentences", ())
            ),
            data.get("entities", ()),
            data.get("numbers", ()),
            {int(k): int(v) for k, v in data.get("development_of", {}).items()},
            data.get("headlines", ()),
        )

    @classmethod
    def restore(
        cls,
        sentences: tuple[Remembered, ...],
        entities: Iterable[str],
        numbers: Iterable[str],
        development_of: Mapping[int, int] | None = None,
        headlines: Iterable[str] = (),
    ) -> StoryMemory:
        """A memory from stored parts (its term set is derived from the sentences)."""
        terms: set[str] = set()
        for s in sentences:
            terms |= s.terms
        return cls(
            sentences=sentences,
            entities=frozenset(entities),
            numbers=frozenset(numbers),
            terms=frozenset(terms),
            headlines=frozenset(headlines),
            development_of=dict(development_of or {}),
        )

    def remember(
        self,
        article_id: int,
        features: Sequence[SentenceFeatures],
        development_id: int | None,
        cap: int,
    ) -> StoryMemory:
        new = tuple(Remembered(article_id, f.text, f.terms) for f in features)
        kept = (self.sentences + new)[-cap:]
        terms: set[str] = set()
        for s in kept:
            terms |= s.terms
        ents = set(self.entities)
        nums = set(self.numbers)
        for f in features:
            ents |= f.entities
            nums |= f.numbers
        dev_of = dict(self.development_of)
        if development_id is not None:
            dev_of[article_id] = development_id
        return StoryMemory(
            kept, frozenset(ents), frozenset(nums), frozenset(terms), self.headlines, dev_of
        )


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    """Why one sentence was or was not a new fact."""

    text: str
    novel: bool
    similarity: float
    matched_text: str | None
    matched_article_id: int | None
    new_entities: tuple[str, ...]
    new_numbers: tuple[str, ...]
    new_quotes: tuple[str, ...]
    new_event_verbs: tuple[str, ...]
    informative: bool

    def to_json(self, repeats_from: float = 0.0) -> dict[str, Any]:
        """The verdict for ``monitor explain``, compact: what it found new only where it found
        something, and the sentence it matched only when it counts as a repeat of it
        (similarity >= ``repeats_from``): ~35 such records are most of an article's row."""
        out: dict[str, Any] = {
            "text": self.text,
            "novel": self.novel,
            "similarity": round(self.similarity, 3),
        }
        if self.matched_article_id is not None:
            out["matched_article_id"] = self.matched_article_id
            if self.matched_text is not None and self.similarity >= repeats_from:
                out["matched"] = self.matched_text
        for key, values in (
            ("new_entities", self.new_entities),
            ("new_numbers", self.new_numbers),
            ("new_quotes", self.new_quotes),
            ("new_event_verbs", self.new_event_verbs),
        ):
            if values:
                out[key] = list(values)
        if self.informative:
            out["informative"] = True
        return out


@dataclass(frozen=True, slots=True)
class NoveltyReport:
    verdicts: tuple[SentenceVerdict, ...]
    is_development: bool
    facts: tuple[str, ...]
    repeats_article_id: int | None  # the earlier article this one mostly repeats

    def to_json(self, repeats_from: float = 0.0) -> dict[str, Any]:
        return {
            "is_development": self.is_development,
            "facts": list(self.facts),
            "repeats_article_id": self.repeats_article_id,
            "sentences": [v.to_json(repeats_from) for v in self.verdicts],
        }


def _index(memory: StoryMemory) -> dict[str, list[int]]:
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(memory.sentences):
        for t in s.terms:
            index[t].append(i)
    return index


def _best_sentence(
    terms: frozenset[str], index: Mapping[str, list[int]], weight: Weight
) -> tuple[float, int | None]:
    """Best IDF-weighted containment of ``terms`` in one remembered sentence (inverted index)."""
    weighted = [(t, weight(t)) for t in terms]
    total = sum(w for _, w in weighted)
    if total == 0:
        return 0.0, None
    acc: dict[int, float] = defaultdict(float)
    for t, w in weighted:
        for i in index.get(t, ()):
            acc[i] += w
    if not acc:
        return 0.0, None
    i, hit = max(acc.items(), key=lambda kv: kv[1])
    return hit / total, i


def _judge(
    sentence: str,
    f: SentenceFeatures,
    memory: StoryMemory,
    index: Mapping[str, list[int]],
    weight: Weight,
    settings: DetectionSettings,
    seen: tuple[set[str], set[str], set[str]],
) -> tuple[SentenceVerdict, int | None]:
    """One sentence's verdict, and the earlier article it repeats (None when it repeats none).

    ``seen`` holds the names, numbers and event verbs known before this sentence (the story's and
    those of earlier sentences of the same article); it is read, not updated.
    """
    seen_ents, seen_nums, seen_verbs = seen
    sim, idx = _best_sentence(f.terms, index, weight)
    matched = memory.sentences[idx] if idx is not None else None
    # A capitalised word the story already used in any case ("chancellor") is no new name.
    new_ents = tuple(sorted(e for e in f.entities - seen_ents if stem(e) not in memory.terms))
    new_nums = tuple(sorted(f.numbers - seen_nums))
    new_quotes = tuple(
        q
        for q in f.quotes
        if _best_sentence(frozenset(content_terms(q)), index, weight)[0]
        < settings.quote_match_threshold
    )
    # A new verb alone is weak evidence (rewrites swap verbs): it counts only in a sentence
    # that is clearly unlike anything the story reported, and not in one that restates
    # figures the story already has ("approved by 71 per cent" after "71 per cent voted").
    restates_figures = bool(f.numbers) and f.numbers <= seen_nums
    verb_counts = f.entities and sim < settings.event_verb_match_threshold and not restates_figures
    new_verbs = tuple(sorted(f.event_verbs - memory.terms - seen_verbs)) if verb_counts else ()
    informative = bool(new_ents or new_nums or new_quotes or new_verbs)
    novel = sim < settings.sentence_match_threshold and informative
    repeat_of = None
    if matched is not None and sim >= settings.sentence_match_threshold:
        repeat_of = matched.article_id
    verdict = SentenceVerdict(
        text=sentence,
        novel=novel,
        similarity=sim,
        matched_text=matched.text if matched else None,
        matched_article_id=matched.article_id if matched else None,
        new_entities=new_ents,
        new_numbers=new_nums,
        new_quotes=new_quotes,
        new_event_verbs=new_verbs,
        informative=informative,
    )
    return verdict, repeat_of


def assess(
    sentences: Sequence[str],
    memory: StoryMemory,
    weight: Weight,
    settings: DetectionSettings,
    *,
    features: Callable[[str], SentenceFeatures] = sentence_features,
) -> NoveltyReport:
    """Judge every sentence of an article against what the story already reported."""
    index = _index(memory)
    verdicts: list[SentenceVerdict] = []
    repeats: dict[int, int] = defaultdict(int)
    seen_ents = set(memory.entities)
    seen_nums = set(memory.numbers)
    seen_verbs: set[str] = set()
    for sentence in sentences:
        f = features(sentence)
        verdict, repeat_of = _judge(
            sentence, f, memory, index, weight, settings, (seen_ents, seen_nums, seen_verbs)
        )
        if repeat_of is not None:
            repeats[repeat_of] += 1
        verdicts.append(verdict)
        # Names introduced by an earlier sentence of the same article are not new again.
        seen_ents |= f.entities
        seen_nums |= f.numbers
        seen_verbs |= f.event_verbs
    novel_texts = [v.text for v in verdicts if v.novel]
    is_dev = len(novel_texts) >= settings.min_novel_sentences
    repeated = max(repeats.items(), key=lambda kv: kv[1])[0] if repeats else None
    return NoveltyReport(
        tuple(verdicts), is_dev, tuple(novel_texts[: settings.max_facts]), repeated
    )
