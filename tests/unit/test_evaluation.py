"""Development labels, their scores, and the indexed containment rule of ``monitor eval``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.dedup import exact_containment
from monitor.errors import ConfigError
from monitor.evaluation import (
    Replayed,
    StreamItem,
    best_earlier_containment,
    load_developments,
    score_developments,
)
from monitor.models import Article
from monitor.stories.ingest import IngestResult

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BASE = (
    "The harbour board in Tarrow voted on Monday to close the old ferry terminal at the end of "
    "the summer season after a survey found the pier unsafe for heavy vehicles."
)
TEXTS = [
    BASE,
    "An unrelated report: the Fenwick choir won the regional cup with a programme of sea songs.",
    BASE + " Kell Lines said it would move its sailings to the new berth.",  # contains BASE
    BASE[: len(BASE) // 2],  # an excerpt of BASE
    "",
    "Short text.",
]


def test_indexed_containment_equals_comparing_every_pair() -> None:
    expected = []
    for i, text in enumerate(TEXTS):
        best = max(((exact_containment(text, TEXTS[j]), j) for j in range(i)), default=(0.0, -1))
        expected.append(best)
    got = best_earlier_containment(TEXTS)
    for (share, j), (want_share, want_j) in zip(got, expected, strict=True):
        assert share == pytest.approx(want_share)
        if want_share > 0:
            assert j == want_j
    assert got[3] == (1.0, 2)  # the excerpt is wholly in both; the later text wins the tie


def _replayed(ident: str, alerts: int, *, duplicate_of: int | None = None) -> Replayed:
    url = f"https://s.example/{ident}"
    article = Article(source="s", url=url, canonical_url=url, title=ident, text="", fetched_at=T0)
    result = IngestResult(1, False, duplicate_of, None, None, 1, False, None, None, ())
    return Replayed(StreamItem(ident, "e", article), result, 0.0, alerts)


def test_scores_count_recall_redundant_analysis_copies_and_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    members = [
        {"id": "a", "development": 1, "kind": "new"},
        {"id": "b", "development": 1, "kind": "same", "form": "copy"},
        {"id": "c", "development": 1, "kind": "same", "form": "rewrite"},
        {"id": "d", "development": 1, "kind": "analysis"},
        {"id": "e", "development": 2, "kind": "new"},
        {"id": "f", "development": 3, "kind": "new"},
    ]
    path.write_text(json.dumps({"events": {"e": members}}), encoding="utf-8")
    labels = load_developments(path)
    replayed = [
        _replayed("a", 1),
        _replayed("b", 0, duplicate_of=1),
        _replayed("c", 1),  # a rewrite that alerted: redundant
        _replayed("d", 1),  # analysis that alerted: redundant too
        _replayed("e", 0),
        _replayed("f", 1),
        _replayed("x", 1),  # not labelled
    ]
    scores = score_developments(replayed, labels)
    total = scores.total
    assert (total.groups, total.alerted_groups) == (3, 2)
    assert total.recall == pytest.approx(2 / 3)
    assert (total.alerts, total.redundant_alerts, total.analysis_alerts) == (4, 2, 1)
    assert total.alerts_per_development == pytest.approx(4 / 3)
    assert (total.copies, total.copies_caught, total.rewrites, total.rewrites_silent) == (
        1,
        1,
        1,
        0,
    )
    assert scores.unlabelled == ["x"]
    assert scores.missing == []
    assert scores.per_event["e"] == total


@pytest.mark.parametrize(
    "members",
    [
        [{"id": "a", "development": 1, "kind": "fresh"}],
        [{"id": "a", "development": 1, "kind": "same", "form": "copied"}],
        [
            {"id": "a", "development": 1, "kind": "new"},
            {"id": "a", "development": 2, "kind": "new"},
        ],
        [{"id": "a", "kind": "new"}],
    ],
)
def test_malformed_labels_are_a_config_error(tmp_path: Path, members: list[object]) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"events": {"e": members}}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dev\.json"):
        load_developments(path)
