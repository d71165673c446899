"""Counts in command output agree with their number: "1 source", not "1 sources"."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.check import Finding, summary
from monitor.pipeline.report import summary_line
from monitor.storage.retention import PruneReport
from monitor.web.templating import page_environment
from monitor.wording import counted


def test_counted_agrees_with_its_number() -> None:
    assert counted(1, "source") == "1 source"
    assert counted(0, "source") == "0 sources"
    assert counted(2, "story", "stories") == "2 stories"
    assert counted(1, "delivery", "deliveries") == "1 delivery"


def _report(n: int) -> dict[str, int | list[str]]:
    keys = (
        "sources_polled sources_not_modified sources_failed pages_fetched articles_stored "
        "exact_duplicates near_duplicates new_stories developments reports alerts_created "
        "deliveries_sent deliveries_failed"
    )
    return dict.fromkeys(keys.split(), n)


def test_cycle_summary_of_one_of_each_is_singular() -> None:
    line = summary_line(_report(1))
    assert line == (
        "1 feed (1 unchanged, 1 failed), 1 new page, 1 stored (1 exact + 1 near duplicate), "
        "1 new story, 1 development, 1 re-report, 1 alert, 1 delivery sent, 1 failed"
    )
    assert "1 new stories" not in summary_line(_report(1))
    assert "2 new stories" in summary_line(_report(2))


def test_check_summary_counts_one_channel_and_one_source() -> None:
    findings = [Finding("channel", "desk", "ok", "email"), Finding("source", "a", "ok", "rss")]
    assert summary(findings) == "checked the settings, 1 channel, the database and 1 source: all ok"


def test_prune_report_of_one_article_is_singular() -> None:
    cutoff = datetime(2031, 5, 6, tzinfo=UTC)
    report = PruneReport(
        cutoff=cutoff, story_cutoff=cutoff, dry_run=False, articles=1, stories=1, sentences=1
    )
    text = "\n".join(report.lines())
    assert text.startswith("1 article fetched before")
    assert "1 cold story last seen" in text
    assert "(1 sentence)" in text
    assert "(s)" not in text


def test_web_pages_count_with_the_same_words() -> None:
    template = page_environment().from_string('{{ n | counted("poll") }} in a row')
    assert template.render(n=1) == "1 poll in a row"
    assert template.render(n=3) == "3 polls in a row"
