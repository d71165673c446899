from __future__ import annotations

import math

import pytest

from monitor.detection_settings import DetectionSettings
from monitor.evaluation import adjusted_rand_index, bcubed
from monitor.stories.cluster import (
    best_match,
    cosine,
    decay,
    merge_centroid,
    story_score,
    term_counts,
    tfidf_vector,
)

SETTINGS = DetectionSettings()


def test_vectors_of_the_same_story_are_closer_than_of_another() -> None:
    def vec(title: str, body: str) -> dict[str, float]:
        return tfidf_vector(term_counts(title, [body], SETTINGS), {}, 0)

    a = vec("Valmora talks set for June 9", "Varnholt and Marrow will meet in Valmora.")
    b = vec("Marrow to attend Valmora talks", "Marrow confirmed the Valmora meeting with Varnholt.")
    c = vec("Glacier museum opens in Tindral", "The museum in Tindral opened on Saturday.")
    assert math.isclose(cosine(a, a), 1.0)
    assert cosine(a, b) > SETTINGS.story_threshold > cosine(a, c)


def test_decay_halves_the_recency_part_and_keeps_the_floor() -> None:
    assert decay(0, SETTINGS) == 1.0
    half = decay(SETTINGS.story_half_life_hours, SETTINGS)
    assert math.isclose(half, SETTINGS.story_decay_floor + (1 - SETTINGS.story_decay_floor) / 2)
    assert math.isclose(decay(1e6, SETTINGS), SETTINGS.story_decay_floor)


def test_best_match_respects_threshold() -> None:
    strong = story_score(1, {"a": 1.0}, {"a": 1.0}, 0, SETTINGS)
    weak = story_score(2, {"a": 1.0}, {"a": 0.1, "b": 0.99}, 0, SETTINGS)
    assert best_match([weak, strong], SETTINGS) == strong
    assert best_match([weak], SETTINGS) is None


def test_merge_centroid_is_a_truncated_running_mean() -> None:
    merged = merge_centroid({"a": 1.0}, 1, {"b": 1.0}, keep=10)
    assert math.isclose(merged["a"], merged["b"])
    assert len(merge_centroid({"a": 0.6, "b": 0.8}, 3, {"c": 1.0}, keep=2)) == 2


def test_bcubed_and_ari_on_known_partitions() -> None:
    gold = ["x", "x", "y", "y"]
    assert bcubed([1, 1, 2, 2], gold) == (1.0, 1.0, 1.0)
    assert adjusted_rand_index([5, 5, 9, 9], gold) == 1.0
    p, r, f1 = bcubed([1, 1, 1, 1], gold)
    assert (p, r) == (0.5, 1.0)
    assert f1 == pytest.approx(2 / 3)
    # scikit-learn's adjusted_rand_score gives -0.5 for this pair of partitions.
    assert adjusted_rand_index([1, 2, 1, 2], gold) == pytest.approx(-0.5)
