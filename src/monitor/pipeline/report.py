"""Report stage: the summary of one cycle, as a value and as markdown (the flow's artifact)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from monitor.escaping import terminal_text
from monitor.models import SourceError
from monitor.wording import counted


@dataclass(frozen=True, slots=True)
class CycleReport:
    started_at: datetime
    finished_at: datetime
    sources_polled: int
    sources_not_modified: int
    sources_failed: int
    entries_skipped_known: int
    pages_fetched: int
    articles_stored: int
    summary_only: int
    exact_duplicates: int
    near_duplicates: int
    new_stories: int
    developments: int
    reports: int
    alerts_created: int
    deliveries_sent: int
    deliveries_failed: int
    errors: tuple[SourceError, ...] = ()
    lines: tuple[str, ...] = field(default=())
    # Sources that started failing or recovered in this cycle (SourceHealthChange.describe()),
    # and those not polled because their server asked to wait (SourceState.describe_wait()).
    source_health: tuple[str, ...] = field(default=())
    sources_deferred: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        data["errors"] = [
            {
                "source": e.source,
                "url": e.url,
                "kind": str(e.kind),
                "error": e.error_type,
                "message": e.message,
            }
            for e in self.errors
        ]
        data["lines"] = list(self.lines)
        data["source_health"] = list(self.source_health)
        return data


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: CycleReport) -> str:
    rows: Sequence[tuple[str, int]] = (
        ("sources polled", report.sources_polled),
        ("sources unchanged (304)", report.sources_not_modified),
        ("sources failed", report.sources_failed),
        ("sources not polled (asked to wait)", report.sources_deferred),
        ("entries already stored", report.entries_skipped_known),
        ("pages fetched", report.pages_fetched),
        ("articles stored", report.articles_stored),
        ("summary-only articles", report.summary_only),
        ("exact duplicates", report.exact_duplicates),
        ("near duplicates", report.near_duplicates),
        ("new stories", report.new_stories),
        ("new developments", report.developments),
        ("re-reports (no alert)", report.reports),
        ("alerts created", report.alerts_created),
        ("deliveries sent", report.deliveries_sent),
        ("deliveries failed", report.deliveries_failed),
    )
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    out = [
        f"# Monitor cycle {report.started_at:%Y-%m-%d %H:%M:%S} UTC",
        f"Took {report.seconds:.1f} s ({stages}).",
        "",
        "| | count |",
        "|---|---:|",
    ]
    out += [f"| {name} | {value} |" for name, value in rows]
    if report.source_health:
        out += ["", "## Source health", ""]
        out += [f"- {_md_escape(line)}" for line in report.source_health]
    if report.errors:
        out += ["", "## Errors", "", "| source | kind | error | message |", "|---|---|---|---|"]
        out += [
            f"| {_md_escape(e.source)} | {e.kind} | {e.error_type} | "
            f"{_md_escape(e.message[:200])} |"
            for e in report.errors
        ]
    if report.lines:
        out += ["", "## Articles", ""] + [f"- {_md_escape(line)}" for line in report.lines]
    return "\n".join(out) + "\n"


def summary_line(report: Mapping[str, Any]) -> str:
    """One line of counts, from :meth:`CycleReport.as_dict` (what ``monitor cycles`` stores)."""
    # Reports stored before sources could ask to wait have no such key.
    waiting = report.get("sources_deferred", 0)
    return (
        f"{counted(report['sources_polled'], 'feed')} ({report['sources_not_modified']} "
        f"unchanged, {report['sources_failed']} failed"
        f"{f', {waiting} not polled' if waiting else ''}), "
        f"{counted(report['pages_fetched'], 'new page')}, "
        f"{report['articles_stored']} stored ({report['exact_duplicates']} exact + "
        f"{counted(report['near_duplicates'], 'near duplicate')}), "
        f"{counted(report['new_stories'], 'new story', 'new stories')}, "
        f"{counted(report['developments'], 'development')}, "
        f"{counted(report['reports'], 're-report')}, {counted(report['alerts_created'], 'alert')}, "
        f"{counted(report['deliveries_sent'], 'delivery', 'deliveries')} sent, "
        f"{report['deliveries_failed']} failed"
    )


def to_text(report: Mapping[str, Any], indent: str = "") -> str:
    """The summary for a terminal or a log: counts, one line per article, then errors."""
    # Each line quotes titles and error texts from the network: control characters are shown,
    # not acted on, by whatever terminal or log viewer shows them.
    safe = terminal_text
    out = [f"{indent}cycle: {summary_line(report)}"]
    out += [f"{indent}  {safe(line)}" for line in report["lines"]]
    # Reports stored before source health was reported have no such key.
    out += [f"{indent}  !! {safe(line)}" for line in report.get("source_health", ())]
    out += [
        f"{indent}  ! {safe(e['source'])}: {e['kind']} {safe(e['error'])}: "
        f"{safe(e['message'][:160])}"
        for e in report["errors"]
    ]
    return "\n".join(out)


def save_report(session: Any, report: CycleReport) -> int:
    """Store the cycle's summary (``monitor cycles`` reads it back)."""
    from monitor.storage.tables import CycleRow

    row = CycleRow(
        started_at=report.started_at, finished_at=report.finished_at, stats=report.as_dict()
    )
    session.add(row)
    session.flush()
    return int(row.id)


def artifact_key(name: str) -> str:
    """The summary artifact's key for a deployment (or, run by hand, a config file) called
    ``name``: ``monitor-cycle-<name>`` in the lowercase letters, digits and dashes Prefect
    allows, so each deployment's summaries form a series of their own."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"monitor-cycle-{slug}" if slug else "monitor-cycle"
