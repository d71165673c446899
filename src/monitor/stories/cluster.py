"""Incremental story clustering: TF-IDF vectors, story centroids, time decay (pure).

Contract:

* :func:`term_counts` turns an article into raw term frequencies: title words weighted by
  ``title_weight``, body words, and an extra ``entity_weight`` for capitalised names, numbers and
  dates (the cheap stand-in for named entities).
* :func:`tfidf_vector` weights them with sublinear TF and smoothed IDF and L2-normalises.
* :func:`story_score` is cosine(article, centroid) x decay, where decay falls from 1 towards
  ``story_decay_floor`` with half-life ``story_half_life_hours`` since the story was last updated.
* :func:`merge_centroid` folds an article into a centroid as a running mean, truncated to the
  ``centroid_terms`` strongest terms so story state stays bounded.

The caller finds candidate stories through an index of each story's top terms, so scoring only
ever sees a bounded number of stories.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from monitor.detection_settings import DetectionSettings
from monitor.text import SentenceFeatures, sentence_features


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """A scored candidate story."""

    story_id: int
    cosine: float
    decay: float
    gap_hours: float

    @property
    def score(self) -> float:
        return self.cosine * self.decay


def term_counts(
    title: str,
    sentences: Iterable[str],
    settings: DetectionSettings,
    *,
    features: Callable[[str], SentenceFeatures] = sentence_features,
) -> dict[str, float]:
    counts: dict[str, float] = defaultdict(float)
    heading = features(title)
    for term in heading.term_list:
        counts[term] += settings.title_weight
    for sentence_terms in (heading, *map(features, sentences)):
        for term in sentence_terms.term_list:
            counts[term] += 1.0
        for term in sentence_terms.name_terms:
            counts[term] += settings.entity_weight
    return dict(counts)


def idf(df: int, docs: int) -> float:
    """Smoothed IDF: never zero, so a term seen everywhere still counts a little."""
    return math.log((docs + 1) / (df + 1)) + 1.0


def tfidf_vector(counts: Mapping[str, float], df: Mapping[str, int], docs: int) -> dict[str, float]:
    vec = {t: (1.0 + math.log(c)) * idf(df.get(t, 0), docs) for t, c in counts.items() if c > 0}
    return normalised(vec)


def normalised(vec: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vec.values()))
    if norm == 0:
        return {}
    return {t: v / norm for t, v in vec.items()}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine of two L2-normalised sparse vectors."""
    # Only shared terms contribute; fsum makes the result independent of the set's order.
    return math.fsum(a[t] * b[t] for t in a.keys() & b.keys())


def decay(gap_hours: float, settings: DetectionSettings) -> float:
    recency = float(0.5 ** (max(gap_hours, 0.0) / settings.story_half_life_hours))
    return settings.story_decay_floor + (1.0 - settings.story_decay_floor) * recency


def story_score(
    story_id: int,
    vector: Mapping[str, float],
    centroid: Mapping[str, float],
    gap_hours: float,
    settings: DetectionSettings,
) -> StoryMatch:
    return StoryMatch(story_id, cosine(vector, centroid), decay(gap_hours, settings), gap_hours)


def best_match(matches: Iterable[StoryMatch], settings: DetectionSettings) -> StoryMatch | None:
    """The highest-scoring candidate at or above the join threshold."""
    best = max(matches, key=lambda m: m.score, default=None)
    if best is None or best.score < settings.story_threshold:
        return None
    return best


def merge_centroid(
    centroid: Mapping[str, float], members: int, vector: Mapping[str, float], keep: int
) -> dict[str, float]:
    """Running mean of member vectors, truncated to ``keep`` terms and re-normalised."""
    merged: dict[str, float] = {t: v * members for t, v in centroid.items()}
    for t, v in vector.items():
        merged[t] = merged.get(t, 0.0) + v
    top = sorted(merged.items(), key=lambda kv: kv[1], reverse=True)[:keep]
    return normalised(dict(top))


def top_terms(vector: Mapping[str, float], n: int) -> list[tuple[str, float]]:
    return sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
