"""The typed decision record reads records of every version and writes them back unchanged."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from monitor.decision import DECISION_VERSION, Decision

# As ingest wrote them before records had a version (fictional values).
LEGACY_REPORT: dict[str, Any] = {
    "content_hash": "ab12",
    "shingles": 48,
    "cluster": {
        "threshold": 0.3,
        "candidates": [
            {"story_id": 4, "cosine": 0.61, "decay": 0.98, "score": 0.5978, "gap_hours": 3.5}
        ],
        "query_terms": ["ferry", "caro"],
    },
    "outcome": "report",
    "story_id": 4,
    "new_story": False,
    "development_id": None,
    "repeats_development_id": 9,
    "novelty": {
        "is_development": False,
        "facts": [],
        "repeats_article_id": 21,
        "sentences": [
            {
                "text": "The night ferry was suspended.",
                "novel": False,
                "similarity": 0.9,
                "matched_article_id": 21,
                "matched": "The night ferry is suspended.",
            },
            {
                "text": "Minister Lunvik spoke.",
                "novel": True,
                "similarity": 0.2,
                "new_entities": ["lunvik"],
                "informative": True,
                "new_numbers": [],
            },
        ],
    },
    "thresholds": {"sentence_match": 0.5, "quote_match": 0.6, "min_novel_sentences": 1},
}
LEGACY_DUPLICATE: dict[str, Any] = {
    "content_hash": "cd34",
    "shingles": 40,
    "near_candidates": [{"article_id": 5, "shared_bands": 30, "containment": 0.97}],
    "outcome": "near duplicate",
    "duplicate_of": 5,
    "similarity": 0.97,
    "story_id": 4,
    "development_id": 8,
}


def test_a_record_without_version_reads_as_version_one_by_attribute() -> None:
    d = Decision.from_json(LEGACY_REPORT)

    assert d.version == 1
    assert (d.outcome, d.story_id, d.repeats_development_id) == ("report", 4, 9)
    assert not d.is_duplicate
    assert d.cluster is not None
    assert d.cluster.candidates[0].score == 0.5978
    assert d.novelty is not None
    assert d.novelty.sentences[0].matched == "The night ferry is suspended."
    assert d.novelty.sentences[1].new_of("new_entities") == ("lunvik",)
    assert d.novelty.sentences[1].new_of("new_numbers") == ()
    assert d.novelty.sentences[1].informative
    assert not d.novelty.sentences[0].informative


def test_records_are_written_back_with_the_same_keys_and_values_plus_the_version() -> None:
    for legacy in (LEGACY_REPORT, LEGACY_DUPLICATE):
        out = Decision.from_json(legacy).to_json()
        # Empty lists of new information are left out, as ingest writes them today.
        expected = {**copy.deepcopy(legacy), "version": 1}
        if "novelty" in legacy:
            expected["novelty"]["sentences"][1].pop("new_numbers", None)
        assert out == expected
        assert list(out) == list(expected)
    current = Decision.from_json(LEGACY_DUPLICATE).to_json() | {"version": DECISION_VERSION}
    assert Decision.from_json(current).to_json() == current


def test_missing_keys_read_as_not_recorded() -> None:
    d = Decision.from_json({})

    assert d.outcome is None
    assert d.cluster is None
    assert d.novelty is None
    assert not d.is_duplicate
    assert Decision.from_json(None).version == 1


def test_pruning_keeps_the_outcome_and_ids_only() -> None:
    when = datetime(2026, 6, 1, tzinfo=UTC)
    report = Decision.from_json(Decision.from_json(LEGACY_REPORT).pruned(when).to_json())
    duplicate = Decision.from_json(LEGACY_DUPLICATE).pruned(when).to_json()

    assert report.pruned_at == when.isoformat()
    assert (report.outcome, report.story_id, report.repeats_development_id) == ("report", 4, 9)
    assert report.cluster is None
    assert report.novelty is None
    assert report.thresholds is None
    assert duplicate == {
        "outcome": "near duplicate",
        "duplicate_of": 5,
        "similarity": 0.97,
        "story_id": 4,
        "development_id": 8,
        "content_hash": "cd34",
        "pruned_at": when.isoformat(),
        "version": 1,
    }
