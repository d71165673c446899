"""The cycle summary as markdown (the flow's artifact) and as text (``monitor run``)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta

from monitor.models import SourceError, SourceErrorKind
from monitor.pipeline.report import CycleReport, to_markdown, to_text

T0 = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)
FAILING = "source gazette is failing: 4 polls in a row (never worked); FetchError: HTTP 503"


def _report(**extra: object) -> CycleReport:
    counts = {f.name: 0 for f in fields(CycleReport) if f.type == "int"}  # every count
    values: dict[str, object] = {**counts, **extra}
    return CycleReport(started_at=T0, finished_at=T0 + timedelta(seconds=2), **values)  # type: ignore[arg-type]


def test_source_health_is_a_section_of_its_own_and_a_marked_line() -> None:
    error = SourceError("gazette", "https://g.test/rss", SourceErrorKind.FETCH, "FetchError", "x")
    report = _report(sources_failed=1, errors=(error,), source_health=(FAILING,))
    markdown = to_markdown(report)
    assert f"## Source health\n\n- {FAILING}\n" in markdown
    assert markdown.index("## Source health") < markdown.index("## Errors")
    text = to_text(report.as_dict())
    assert f"  !! {FAILING}" in text


def test_a_quiet_cycle_has_no_source_health_section_and_old_summaries_still_print() -> None:
    report = _report()
    assert "Source health" not in to_markdown(report)
    stored = report.as_dict()
    del stored["source_health"]  # a summary stored before the field existed
    assert "!!" not in to_text(stored)


def test_sources_left_alone_are_counted_and_named() -> None:
    waiting = "source gazette not polled until 2031-05-06 08:10 UTC: its server asked to wait"
    report = _report(sources_polled=3, sources_deferred=1, source_health=(waiting,))
    assert "| sources not polled (asked to wait) | 1 |" in to_markdown(report)
    text = to_text(report.as_dict())
    assert "3 feeds (0 unchanged, 0 failed, 1 not polled)" in text
    assert f"!! {waiting}" in text
    stored = report.as_dict()
    del stored["sources_deferred"]  # a summary stored before the field existed
    assert "3 feeds (0 unchanged, 0 failed)," in to_text(stored)


def test_each_deployment_has_an_artifact_key_prefect_accepts() -> None:
    from monitor.pipeline.report import artifact_key

    assert artifact_key("monitor-every-15-min") == "monitor-cycle-monitor-every-15-min"
    assert artifact_key("Desk: Istanbul talks (EU)") == "monitor-cycle-desk-istanbul-talks-eu"
    assert artifact_key("real-feeds") != artifact_key("my-monitor")
    assert artifact_key("§§") == "monitor-cycle"
