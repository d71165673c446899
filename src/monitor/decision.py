"""The placement decision: what detection decided about one article and why.

:class:`Decision` is written to ``articles.decision`` (JSON) when an article is placed, and read
back by ``monitor explain`` and by retention. Stored records carry ``version``
(:data:`DECISION_VERSION`); records written before the field existed have none and read as
version 1. :meth:`Decision.from_json` tolerates missing keys in any version, so pruned records
(which keep only the outcome, see :meth:`Decision.pruned`) read as well.

Outcomes: ``"exact duplicate"``, ``"near duplicate"``, ``"development"``, ``"report"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

DECISION_VERSION = 3  # 1: the untyped record, no "version" key; 3: adds "salience"

# The kinds of new information a sentence verdict lists, in the order they are stored.
NEW_KINDS = ("new_entities", "new_numbers", "new_quotes", "new_event_verbs")


@dataclass(frozen=True, slots=True)
class NearCandidate:
    """A stored original sharing LSH bands with the article, and its estimated containment."""

    article_id: int
    shared_bands: int
    containment: float

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "shared_bands": self.shared_bands,
            "containment": self.containment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NearCandidate:
        return cls(
            int(data.get("article_id", 0)),
            int(data.get("shared_bands", 0)),
            float(data.get("containment", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class StoryCandidate:
    """One candidate story's score, as recorded (rounded)."""

    story_id: int
    cosine: float
    decay: float
    score: float
    gap_hours: float

    def to_json(self) -> dict[str, Any]:
        return {
            "story_id": self.story_id,
            "cosine": self.cosine,
            "decay": self.decay,
            "score": self.score,
            "gap_hours": self.gap_hours,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoryCandidate:
        return cls(
            int(data.get("story_id", 0)),
            float(data.get("cosine", 0.0)),
            float(data.get("decay", 0.0)),
            float(data.get("score", 0.0)),
            float(data.get("gap_hours", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class ClusterRecord:
    """How the story was chosen: the threshold, the best candidates and the query terms."""

    threshold: float | None
    candidates: tuple[StoryCandidate, ...] = ()
    query_terms: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "candidates": [c.to_json() for c in self.candidates],
            "query_terms": list(self.query_terms),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterRecord:
        return cls(
            data.get("threshold"),
            tuple(StoryCandidate.from_json(c) for c in data.get("candidates", ())),
            tuple(data.get("query_terms", ())),
        )


@dataclass(frozen=True, slots=True)
class SentenceRecord:
    """One sentence's novelty verdict as recorded (see ``SentenceVerdict.to_json``)."""

    text: str
    novel: bool
    similarity: float
    matched_article_id: int | None = None
    matched: str | None = None  # the sentence it repeats, kept only when it counts as a repeat
    new: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (kind, values) for non-empty kinds
    informative: bool = False

    def new_of(self, kind: str) -> tuple[str, ...]:
        return next((values for k, values in self.new if k == kind), ())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "novel": self.novel,
            "similarity": self.similarity,
        }
        if self.matched_article_id is not None:
            out["matched_article_id"] = self.matched_article_id
            if self.matched is not None:
                out["matched"] = self.matched
        for kind, values in self.new:
            out[kind] = list(values)
        if self.informative:
            out["informative"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SentenceRecord:
        matched_id = data.get("matched_article_id")
        return cls(
            str(data.get("text", "")),
            bool(data.get("novel", False)),
            float(data.get("similarity", 0.0)),
            int(matched_id) if matched_id is not None else None,
            data.get("matched"),
            tuple((k, tuple(data[k])) for k in NEW_KINDS if data.get(k)),
            bool(data.get("informative", False)),
        )


@dataclass(frozen=True, slots=True)
class NoveltyRecord:
    """The novelty verdict of a placed article, sentence by sentence."""

    is_development: bool
    facts: tuple[str, ...] = ()
    repeats_article_id: int | None = None
    sentences: tuple[SentenceRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "is_development": self.is_development,
            "facts": list(self.facts),
            "repeats_article_id": self.repeats_article_id,
            "sentences": [s.to_json() for s in self.sentences],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoveltyRecord:
        return cls(
            bool(data.get("is_development", False)),
            tuple(data.get("facts", ())),
            data.get("repeats_article_id"),
            tuple(SentenceRecord.from_json(s) for s in data.get("sentences", ())),
        )


@dataclass(frozen=True, slots=True)
class SalienceRecord:
    """Why a placed article was or was not news (see ``monitor.stories.salience``)."""

    rule: str | None = None  # "first report", "headline", "lead", "facts"; None: a report
    kind: str = "news"
    kind_marks: tuple[str, ...] = ()
    headline_novelty: float = 0.0
    headline_unseen: float = 0.0
    lead_novel: int = 0
    novel: int = 0
    sentences: int = 0
    # Names and figures of headline and lead new to the story's developments (None: not
    # checked), and the rule that found the wording new but was overruled by them.
    new_signature: tuple[str, ...] | None = None
    overruled: str | None = None
    # What the article puts forward as new (None: not checked, or nothing).
    put_forward: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "headline_novelty": self.headline_novelty,
            "headline_unseen": self.headline_unseen,
            "lead_novel": self.lead_novel,
            "novel": self.novel,
            "sentences": self.sentences,
            "kind": self.kind,
            "rule": self.rule,
        }
        if self.kind_marks:
            out["kind_marks"] = list(self.kind_marks)
        if self.new_signature is not None:
            out["new_signature"] = list(self.new_signature)
        if self.overruled is not None:
            out["overruled"] = self.overruled
        if self.put_forward is not None:
            out["put_forward"] = self.put_forward
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SalienceRecord:
        signature = data.get("new_signature")
        return cls(
            rule=data.get("rule"),
            kind=str(data.get("kind", "news")),
            kind_marks=tuple(data.get("kind_marks", ())),
            headline_novelty=float(data.get("headline_novelty", 0.0)),
            headline_unseen=float(data.get("headline_unseen", 0.0)),
            lead_novel=int(data.get("lead_novel", 0)),
            novel=int(data.get("novel", 0)),
            sentences=int(data.get("sentences", 0)),
            new_signature=tuple(signature) if signature is not None else None,
            overruled=data.get("overruled"),
            put_forward=data.get("put_forward"),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What detection decided about an article; ``None`` fields were not recorded.

    A duplicate has ``duplicate_of``; a placed article (development or report) has ``cluster``,
    ``novelty`` and ``thresholds``; a pruned record keeps only the outcome and ``pruned_at``.
    """

    outcome: str | None = None
    content_hash: str | None = None
    shingles: int | None = None
    revision_of: int | None = None
    near_candidates: tuple[NearCandidate, ...] | None = None
    cluster: ClusterRecord | None = None
    duplicate_of: int | None = None
    similarity: float | None = None
    story_id: int | None = None
    new_story: bool | None = None
    development_id: int | None = None
    repeats_development_id: int | None = None
    novelty: NoveltyRecord | None = None
    salience: SalienceRecord | None = None
    thresholds: Mapping[str, float] | None = None
    pruned_at: str | None = None
    version: int = DECISION_VERSION

    @property
    def is_duplicate(self) -> bool:
        return self.duplicate_of is not None

    @property
    def is_placed(self) -> bool:
        """A development or a report (not a duplicate, not an unknown outcome)."""
        return self.outcome in ("development", "report")

    def pruned(self, when: datetime) -> Decision:
        """What retention keeps: enough for ``monitor explain`` to say what the article was."""
        return Decision(
            outcome=self.outcome,
            content_hash=self.content_hash,
            duplicate_of=self.duplicate_of,
            similarity=self.similarity,
            story_id=self.story_id,
            new_story=self.new_story,
            development_id=self.development_id,
            repeats_development_id=self.repeats_development_id,
            pruned_at=when.isoformat(),
            version=self.version,
        )

    def placed(
        self, story_id: int, development_id: int | None, repeats_development_id: int | None
    ) -> Decision:
        """This decision with the ids the repository gave its story and development."""
        return replace(
            self,
            story_id=story_id,
            development_id=development_id,
            repeats_development_id=repeats_development_id,
        )

    def to_json(self) -> dict[str, Any]:
        """The stored record (keys in the order earlier versions wrote them)."""
        out: dict[str, Any] = {}
        if self.pruned_at is None:
            out.update(self._header())
        if self.cluster is not None:
            out["cluster"] = self.cluster.to_json()
        if self.outcome is not None:
            out["outcome"] = self.outcome
        out.update(self._placement())
        if self.novelty is not None:
            out["novelty"] = self.novelty.to_json()
        if self.salience is not None:
            out["salience"] = self.salience.to_json()
        if self.thresholds is not None:
            out["thresholds"] = dict(self.thresholds)
        if self.pruned_at is not None:
            if self.content_hash is not None:
                out["content_hash"] = self.content_hash
            out["pruned_at"] = self.pruned_at
        out["version"] = self.version
        return out

    def _header(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.content_hash is not None:
            out["content_hash"] = self.content_hash
        if self.shingles is not None:
            out["shingles"] = self.shingles
        if self.revision_of is not None:
            out["revision_of"] = self.revision_of
        if self.near_candidates is not None:
            out["near_candidates"] = [c.to_json() for c in self.near_candidates]
        return out

    def _placement(self) -> dict[str, Any]:
        """The ids: a duplicate records its original; a placed article its novelty's ids."""
        out: dict[str, Any] = {}
        if self.is_duplicate:
            out["duplicate_of"] = self.duplicate_of
            out["similarity"] = self.similarity
            out["story_id"] = self.story_id
            out["development_id"] = self.development_id
        elif self.is_placed:
            out["story_id"] = self.story_id
            out["new_story"] = self.new_story
            out["development_id"] = self.development_id
            out["repeats_development_id"] = self.repeats_development_id
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Decision:
        """A stored record of any version (missing keys read as not recorded)."""
        d = data or {}
        cluster, novelty, salience = d.get("cluster"), d.get("novelty"), d.get("salience")
        near = d.get("near_candidates")
        return cls(
            outcome=d.get("outcome"),
            content_hash=d.get("content_hash"),
            shingles=d.get("shingles"),
            revision_of=d.get("revision_of"),
            near_candidates=tuple(NearCandidate.from_json(c) for c in near)
            if near is not None
            else None,
            cluster=ClusterRecord.from_json(cluster) if cluster is not None else None,
            duplicate_of=d.get("duplicate_of"),
            similarity=d.get("similarity"),
            story_id=d.get("story_id"),
            new_story=d.get("new_story"),
            development_id=d.get("development_id"),
            repeats_development_id=d.get("repeats_development_id"),
            novelty=NoveltyRecord.from_json(novelty) if novelty is not None else None,
            salience=SalienceRecord.from_json(salience) if salience is not None else None,
            thresholds=d.get("thresholds"),
            pruned_at=d.get("pruned_at"),
            version=int(d.get("version", 1)),
        )
