"""Story placement of an original article: load its context, decide, then write the decision.

* :func:`load_context` reads what placement needs (document frequencies, candidate stories, the
  chosen story's memory). It asks the pure :func:`choose_story` which story the article joins,
  so that only that story's memory is read.
* :func:`decide` is pure: from the article, its reading and the loaded :class:`StoryContext` to
  a :class:`StoryPlan` (what to write) whose ``decision`` is the typed record of why.
* :func:`monitor.storage.detection.write_placement` writes the plan in one repository call
  (the plan's :class:`~monitor.storage.story_write.StoryWrite`, and its decision on the article).

:func:`monitor.stories.ingest.ingest` runs the three for each original article; duplicates
never reach them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.decision import (
    ClusterRecord,
    Decision,
    NoveltyRecord,
    SalienceRecord,
    StoryCandidate,
)
from monitor.detection_settings import DetectionSettings
from monitor.inbound import shortened
from monitor.models import Article
from monitor.storage import detection as repo
from monitor.storage.detection import DocumentCounts, StoredSentence, StoredStory
from monitor.storage.story_write import NewSentence, StoryWrite
from monitor.stories.cluster import (
    StoryMatch,
    best_match,
    idf,
    merge_centroid,
    story_score,
    tfidf_vector,
    top_terms,
)
from monitor.stories.kind import ArticleKind, classify
from monitor.stories.novelty import NoveltyReport, Remembered, StoryMemory, assess
from monitor.stories.reading import Reading
from monitor.stories.salience import Salience, headline_terms, judge, lead_sentences
from monitor.stories.signature import read_signature
from monitor.timeutil import as_utc

# An alert quotes a development's facts: a sentence, not a page. A runaway "sentence" (a broken
# or hostile page with no full stop for pages) is quoted shortened to this many characters.
MAX_FACT_CHARS = 600


@dataclass(frozen=True, slots=True)
class StoryChoice:
    """The scored candidate stories and the one the article joins (``None``: a new story)."""

    matches: tuple[StoryMatch, ...]
    best: StoryMatch | None


@dataclass(frozen=True, slots=True)
class StoryContext:
    """What placement reads of the database for one article."""

    terms: tuple[str, ...]  # the article's most frequent terms: its document frequencies count
    df: Mapping[str, int]
    docs: int
    vector: Mapping[str, float]
    query: tuple[str, ...]
    candidates: tuple[StoredStory, ...]
    choice: StoryChoice
    # The chosen story's entities, numbers and headline terms, and the sentences the reader
    # marked as known ("known": [[development id, article id, text, terms], ...]).
    names: Mapping[str, Sequence[Any]]
    stored: tuple[StoredSentence, ...]  # the chosen story's remembered sentences, oldest first


@dataclass(frozen=True, slots=True)
class StoryPlan:
    """What placing the article writes, and the decision record explaining it."""

    write: StoryWrite
    decision: Decision
    new_story: bool
    is_development: bool
    novel_sentences: tuple[str, ...]


def query_terms(
    article: Article, read: Reading, vector: Mapping[str, float], settings: DetectionSettings
) -> tuple[str, ...]:
    """The story index query: title words find the story even when the body's rarest terms are
    new to it, then the article's heaviest terms."""
    title = [t for t in read.sentence(article.title).term_list if t in vector]
    heavy = [t for t, _ in top_terms(vector, settings.query_terms)]
    return tuple(dict.fromkeys(title + heavy))


def choose_story(
    vector: Mapping[str, float],
    candidates: Sequence[StoredStory],
    when: datetime,
    settings: DetectionSettings,
    *,
    own_story: bool,
) -> StoryChoice:
    """Score the candidates; with ``own_story`` (a new version) the only candidate is its
    original's story, joined whatever the score."""
    matches = tuple(
        story_score(
            s.id,
            vector,
            s.state.get("centroid", {}),
            (when - as_utc(s.last_seen_at)).total_seconds() / 3600.0,
            settings,
        )
        for s in candidates
    )
    best = best_match(matches, settings)
    if own_story and matches:
        best = matches[0]
    return StoryChoice(matches, best)


def document_terms(read: Reading, settings: DetectionSettings) -> tuple[str, ...]:
    """The article's most frequent terms: those its document frequencies count."""
    counts = read.counts
    return tuple(sorted(counts, key=lambda t: -counts[t])[: settings.max_df_terms])


def load_context(
    session: Session,
    article: Article,
    read: Reading,
    when: datetime,
    settings: DetectionSettings,
    pending: DocumentCounts | None,
) -> StoryContext:
    counts = read.counts
    terms = document_terms(read, settings)
    df, docs = repo.document_frequencies(session, terms, pending)
    vector = tfidf_vector(counts, df, docs)
    query = query_terms(article, read, vector, settings)
    own = _original_story(session, article)
    if own is not None:
        candidates = tuple(repo.load_stories(session, [own]))
    else:
        since = when - timedelta(days=settings.story_active_days)
        ids = repo.story_candidates(
            session, list(query), settings.postings_per_term, settings.story_candidates
        )
        candidates = tuple(
            s for s in repo.load_stories(session, ids) if as_utc(s.last_seen_at) >= since
        )
    choice = choose_story(vector, candidates, when, settings, own_story=own is not None)
    names: Mapping[str, Sequence[Any]] = {}
    stored: Sequence[StoredSentence] = ()
    if choice.best is not None:
        names, stored = repo.load_memory(session, choice.best.story_id)
    return StoryContext(terms, df, docs, vector, query, candidates, choice, names, tuple(stored))


def _original_story(session: Session, article: Article) -> int | None:
    """The story of the article ``article`` is a new version of, if any."""
    if article.revision_of is None:
        return None
    original = repo.placement(session, article.revision_of)
    return original.story_id if original is not None else None


def decide(
    article: Article,
    read: Reading,
    context: StoryContext,
    when: datetime,
    settings: DetectionSettings,
    header: Decision,
) -> StoryPlan:
    """Place an original article (pure): the story it joins or opens, development or report.

    ``header`` is the decision so far (content hash, shingles, revision); the plan's decision
    adds the clustering and novelty records, with ids filled in when the plan is written.
    """
    sentences = read.sentences
    best = context.choice.best
    story = _chosen_story(context, when)
    memory = _story_memory(context)
    weight = _Idf(context.df, context.docs)
    report = assess(sentences, memory, weight, settings, features=read.sentence)
    title = read.sentence(article.title)
    kind = _kind(article)
    lead_paragraph = lead_sentences(sentences, title, settings)[: settings.signature_lead_sentences]
    facts_put_forward = read_signature(article.title, lead_paragraph, sentences)
    carried = _carried(context)
    salience = judge(
        title,
        report,
        memory,
        weight,
        settings,
        kind,
        update=article.revision_of is not None,
        signature=facts_put_forward,
        known=carried,
        features=read.sentence,
    )
    new_story = best is None
    if new_story:
        salience = replace(salience, rule="first report")
    is_dev = salience.is_development
    facts = _quoted_facts(report.facts or (sentences[: settings.max_facts] if new_story else ()))
    # The lead as salience reads it (a line repeating the headline is not part of it).
    lead = [read.sentence(s).terms for s in lead_sentences(sentences, title, settings)]
    write = replace(
        _story_write(article, read, context, story, memory, when, settings),
        story_id=None if new_story else story.id,
        headline=(article.title or (sentences[0] if sentences else article.canonical_url))
        if new_story
        else None,
        **_novelty_fields(report, is_dev, facts),
    )
    if is_dev:
        carried = (carried or frozenset()) | facts_put_forward.items
    write = _remembered(write, memory.headlines | headline_terms(title.terms, lead), carried)
    decision = _decision(
        header, context, report, salience, settings, new_story=new_story, is_dev=is_dev
    )
    return StoryPlan(write, decision, new_story, is_dev, tuple(facts) if is_dev else ())


def _kind(article: Article) -> ArticleKind:
    """The article's kind, from what its page declares, its addresses and its headline."""
    return classify(
        article.canonical_url or article.url,
        article.title,
        article.page_types,
        section=article.section,
        other_urls=(article.rel_canonical,),
    )


def _remembered(
    write: StoryWrite, headlines: frozenset[str] | set[str], carried: frozenset[str] | None
) -> StoryWrite:
    """``write`` with the story's memory of headline terms and of its signature, which grows by
    what its developments put forward (the reader has those)."""
    memory = {**write.memory, "headlines": sorted(headlines)}
    if carried is not None:
        memory["signature"] = sorted(carried)
    return replace(write, memory=memory)


def _carried(context: StoryContext) -> frozenset[str] | None:
    """The names and figures the chosen story's developments put forward (see
    :mod:`monitor.stories.signature`); ``None`` for a new story, and for a story stored before
    signatures were kept until its next development starts one."""
    if context.choice.best is None:
        return None
    kept = context.names.get("signature")
    return frozenset(kept) if kept is not None else None


def _chosen_story(context: StoryContext, when: datetime) -> StoredStory:
    """The story the article joins; a new story starts empty (its id comes when the plan is
    written)."""
    best = context.choice.best
    return (
        next(s for s in context.candidates if s.id == best.story_id)
        if best is not None
        else StoredStory(0, when, 0, [], {})
    )


def _story_memory(context: StoryContext) -> StoryMemory:
    """What the chosen story already reported: reader-marked and stored sentences, names,
    numbers and headline terms."""
    return StoryMemory.restore(
        known_sentences(context.names)
        + tuple(
            Remembered(s.article_id, s.text, frozenset(s.terms.split())) for s in context.stored
        ),
        context.names.get("entities", ()),
        context.names.get("numbers", ()),
        headlines=context.names.get("headlines", ()),
    )


def known_sentences(names: Mapping[str, Sequence[Any]]) -> tuple[Remembered, ...]:
    """The sentences the reader marked as already reported (a development marked not new, see
    :mod:`monitor.pipeline.feedback`): remembered whatever the memory's bound."""
    return tuple(
        Remembered(int(item[1]), str(item[2]), frozenset(str(item[3]).split()))
        for item in names.get("known", ())
    )


class _Idf:
    """Inverse document frequency of a term, computed once per term."""

    __slots__ = ("_df", "_docs", "_weights")

    def __init__(self, df: Mapping[str, int], docs: int) -> None:
        self._df = df
        self._docs = docs
        self._weights: dict[str, float] = {}

    def __call__(self, term: str) -> float:
        w = self._weights.get(term)
        if w is None:
            w = self._weights[term] = idf(self._df.get(term, 0), self._docs)
        return w


def _story_write(
    article: Article,
    read: Reading,
    context: StoryContext,
    story: StoredStory,
    memory: StoryMemory,
    when: datetime,
    settings: DetectionSettings,
) -> StoryWrite:
    """The story row, memory and index after the article joins ``story``."""
    outlets = list(story.outlets)
    if article.source not in outlets:
        outlets.append(article.source)
    members = story.article_count
    centroid = merge_centroid(
        story.state.get("centroid", {}), members, context.vector, settings.centroid_terms
    )
    # The memory grows by this article's sentences and keeps the most recent
    # ``story_sentence_memory`` of them; names and numbers are never forgotten, nor the
    # sentences the reader marked as known.
    features = [read.sentence(s) for s in read.sentences]
    entities = set(memory.entities)
    numbers = set(memory.numbers)
    for f in features:
        entities |= f.entities
        numbers |= f.numbers
    stored = context.stored
    start = stored[-1].position + 1 if stored else 0
    end = start + len(features)
    keep = settings.story_sentence_memory
    return StoryWrite(
        story_id=story.id,
        published_at=when,
        outlets=outlets,
        article_count=story.article_count + 1,
        last_seen_at=max(as_utc(story.last_seen_at), when),
        state={"centroid": centroid, "members": members + 1},
        memory={
            "entities": sorted(entities),
            "numbers": sorted(numbers),
            **({"known": list(known)} if (known := context.names.get("known")) else {}),
        },
        sentences=tuple(
            NewSentence(start + i, f.text, " ".join(sorted(f.terms)))
            for i, f in enumerate(features)
        ),
        keep_from=end - keep if len(stored) + len(features) > keep else 0,
        story_terms=tuple(top_terms(centroid, settings.story_terms)),
        document_terms=context.terms,
    )


def _quoted_facts(facts: Sequence[str]) -> tuple[str, ...]:
    """What an alert quotes of ``facts``: each at most :data:`MAX_FACT_CHARS` characters."""
    return tuple(shortened(fact, MAX_FACT_CHARS) for fact in facts)


def _novelty_fields(report: NoveltyReport, is_dev: bool, facts: Sequence[str]) -> dict[str, Any]:
    """A development's facts, or the article a report repeats and how closely."""
    if is_dev:
        return {"facts": tuple(facts)}
    matched = [v.similarity for v in report.verdicts if not v.novel]
    return {
        "repeats_article_id": report.repeats_article_id,
        "repeat_similarity": sum(matched) / len(matched) if matched else 0.0,
    }


def _decision(
    header: Decision,
    context: StoryContext,
    report: NoveltyReport,
    salience: Salience,
    settings: DetectionSettings,
    *,
    new_story: bool,
    is_dev: bool,
) -> Decision:
    ranked = sorted(context.choice.matches, key=lambda m: m.score, reverse=True)[:5]
    cluster = ClusterRecord(
        threshold=settings.story_threshold,
        candidates=tuple(
            StoryCandidate(
                m.story_id,
                round(m.cosine, 4),
                round(m.decay, 4),
                round(m.score, 4),
                round(m.gap_hours, 1),
            )
            for m in ranked
        ),
        query_terms=context.query[:10],
    )
    return Decision(
        outcome="development" if is_dev else "report",
        content_hash=header.content_hash,
        shingles=header.shingles,
        revision_of=header.revision_of,
        near_candidates=header.near_candidates,
        cluster=cluster,
        new_story=new_story,
        novelty=NoveltyRecord.from_json(
            report.to_json(repeats_from=settings.sentence_match_threshold)
        ),
        salience=SalienceRecord.from_json(salience.to_json()),
        thresholds={
            "sentence_match": settings.sentence_match_threshold,
            "quote_match": settings.quote_match_threshold,
            "min_novel_sentences": settings.min_novel_sentences,
            "headline_novelty": settings.headline_novelty,
            "headline_unseen": settings.headline_unseen,
            "lead_sentences": settings.lead_sentences,
            "lead_novel_sentences": settings.lead_novel_sentences,
            "several_new_facts": settings.several_new_facts,
            "fact_signature": float(settings.fact_signature),
            "signature_lead_sentences": settings.signature_lead_sentences,
            "put_forward": float(settings.put_forward),
            "put_forward_mentions": settings.put_forward_mentions,
        },
    )
