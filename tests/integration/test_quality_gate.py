"""Detection-quality gate: the project's labelled stream through the real detect stage.

``tests/fixtures/quality/`` holds a stream of fictional articles (wire copies, rewrites, follow-ups
with new facts, analysis pieces, same-town and shared-name traps) with event and development
labels, and ``baseline.json`` the figures measured on it. The stream is replayed exactly as
``monitor eval stream --developments`` replays it (:func:`monitor.evaluation.replay`: the detect
stage of a cycle, one topic matching every article) with the shipped detection settings, on
SQLite and PostgreSQL. The gate fails when a floor (BCubed F1, copies stored as duplicates,
rewrites kept silent, development recall) falls or a ceiling (alerts per development, redundant
alerts, alerts on analysis pieces, containment violations) rises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from monitor.detection_settings import DetectionSettings
from monitor.evaluation import (
    EvalReport,
    evaluate,
    load_developments,
    load_stream,
    replay,
)
from monitor.storage.db import make_engine, upgrade

FIXTURES = Path(__file__).parent.parent / "fixtures" / "quality"
# Baselines are written rounded to four places; a figure within this of its baseline holds.
TOLERANCE = 5e-4


def _measure(engine: Engine, settings: DetectionSettings) -> EvalReport:
    items = load_stream(FIXTURES / "stream.jsonl")
    labels = load_developments(FIXTURES / "developments.json")
    return evaluate(replay(engine, items, settings), labels=labels)


def figures(report: EvalReport) -> dict[str, float]:
    """The gated figures of one replay."""
    assert report.developments is not None
    total = report.developments.total
    assert not report.developments.unlabelled
    assert not report.developments.missing
    return {
        "bcubed_f1": report.f1,
        "copies_as_duplicates": total.copies_caught / total.copies,
        "rewrites_silent": total.rewrites_silent / total.rewrites,
        "development_recall": total.recall,
        "alerts_per_development": total.alerts_per_development,
        "redundant_alerts": total.redundant_alerts,
        "analysis_alerts": total.analysis_alerts,
        "containment_violations": len(report.containment_violations),
    }


def gate_failures(measured: dict[str, float], baseline: dict[str, Any]) -> list[str]:
    """What falls below a floor or rises above a ceiling of ``baseline``."""
    failures = [
        f"{name} {measured[name]:.4f} fell below its baseline {floor}"
        for name, floor in baseline["floors"].items()
        if measured[name] < floor - TOLERANCE
    ]
    failures += [
        f"{name} {measured[name]:.4f} rose above its baseline {ceiling}"
        for name, ceiling in baseline["ceilings"].items()
        if measured[name] > ceiling + TOLERANCE
    ]
    return failures


def _baseline() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "baseline.json").read_text(encoding="utf-8"))
    return data


def test_the_stream_is_what_its_readme_promises() -> None:
    items = load_stream(FIXTURES / "stream.jsonl")
    labels = load_developments(FIXTURES / "developments.json")
    assert len(items) >= 60
    assert len({it.event for it in items}) >= 12
    assert {it.item_id for it in items} == set(labels)
    assert all(labels[it.item_id].event == it.event for it in items)
    kinds = {(label.kind, label.form) for label in labels.values()}
    assert {("new", None), ("same", "copy"), ("same", "rewrite"), ("analysis", None)} <= kinds
    assert all(150 <= len(it.article.text.split()) <= 500 for it in items)


def test_detection_quality_holds_its_baseline(engine: Engine) -> None:
    measured = figures(_measure(engine, DetectionSettings()))
    baseline = _baseline()
    assert set(measured) == {*baseline["floors"], *baseline["ceilings"]}
    failures = gate_failures(measured, baseline)
    assert not failures, f"detection quality regressed: {failures}; measured {measured}"


def test_the_gate_fails_when_detection_gets_worse(tmp_path: Path) -> None:
    """A near-duplicate threshold no reprint reaches: copies alert, and the gate says so."""
    engine = make_engine(f"sqlite:///{tmp_path / 'worse.db'}")
    upgrade(engine)
    try:
        worse = DetectionSettings(near_duplicate_threshold=0.99)
        measured = figures(_measure(engine, worse))
    finally:
        engine.dispose()
    failures = gate_failures(measured, _baseline())
    assert any(f.startswith("copies_as_duplicates") for f in failures), (failures, measured)
