"""The Sources and Deliveries pages: source health and the deliveries that did not go out.

Read-only, like every page. URLs and error texts pass through secret redaction
(:mod:`monitor.redact`): a feed URL's ``?apikey=`` or a webhook's token in an error message is
shown as ``***``. Deliveries are listed as ``monitor alerts --failed`` lists them
(:func:`monitor.alerts.status.list_alerts`); retrying them stays a command for now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.alerts.status import AlertStatus, list_alerts
from monitor.polling import describe_rhythm
from monitor.redact import redact_text, redact_url
from monitor.storage.tables import ArticleRow, PageFailureRow, SourceRow
from monitor.timeutil import as_utc

FAILED_DELIVERIES_SHOWN = 200


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    url: str  # credentials masked
    articles: int
    last_polled_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error_type: str | None
    last_error: str | None
    retry_at: datetime | None  # its server asked to wait until then
    pages_parked: int
    failure_class: str | None = None  # of the latest failure: temporary, soft, hard
    rhythm: str = ""  # e.g. "~3 new/day" (see monitor.polling)
    next_poll_at: datetime | None = None  # None: the next cycle
    quiet: bool = False  # answers, but lists nothing new for much longer than usual
    last_new_entry_at: datetime | None = None
    robots: str = "obey"  # its host's robots.txt: obeyed, or ignored by the config
    feed_url: str | None = None  # the feed found for a source set to a page (masked)
    feed_choice: str | None = None  # why that feed was chosen

    def waiting(self, now: datetime) -> bool:
        return self.retry_at is not None and self.retry_at > now

    def scheduled(self, now: datetime) -> bool:
        """Not polled before ``next_poll_at`` (a back-off, or its rhythm)."""
        return self.next_poll_at is not None and self.next_poll_at > now


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def source_health(session: Session) -> list[SourceHealth]:
    """Every source the cycles have polled, by name."""
    per_source = select(ArticleRow.source_name, func.count()).group_by(ArticleRow.source_name)
    counts: dict[str, int] = dict(session.execute(per_source).tuples().all())
    parked_per_source = (
        select(PageFailureRow.source_id, func.count())
        .where(PageFailureRow.parked_at.is_not(None))
        .group_by(PageFailureRow.source_id)
    )
    parked: dict[int, int] = dict(session.execute(parked_per_source).tuples().all())
    return [
        SourceHealth(
            name=r.name,
            url=redact_url(r.url),
            articles=counts.get(r.name, 0),
            last_polled_at=_utc(r.last_polled_at),
            last_success_at=_utc(r.last_success_at),
            consecutive_failures=r.consecutive_failures or 0,
            last_error_type=r.last_error_type,
            last_error=redact_text(r.last_error) if r.last_error else None,
            retry_at=_utc(r.retry_at),
            pages_parked=parked.get(r.id, 0),
            failure_class=r.failure_class,
            rhythm=describe_rhythm(r.new_per_day),
            next_poll_at=_utc(r.next_poll_at),
            quiet=bool(r.quiet),
            last_new_entry_at=_utc(r.last_new_entry_at),
            robots=r.robots or "obey",
            feed_url=redact_url(r.feed_url) if r.feed_url else None,
            feed_choice=r.feed_choice,
        )
        for r in session.scalars(select(SourceRow).order_by(SourceRow.name))
    ]


def failed_deliveries(session: Session) -> list[AlertStatus]:
    """Alerts with a failed or dead delivery, newest first, errors redacted."""
    out = []
    for status in list_alerts(session, failed_only=True, limit=FAILED_DELIVERIES_SHOWN):
        deliveries = tuple(
            replace(d, last_error=redact_text(d.last_error) if d.last_error else None)
            for d in status.deliveries
        )
        out.append(replace(status, deliveries=deliveries))
    return out
