"""The Deliveries page: the deliveries that did not go out. (The Sources page reads
:func:`monitor.pipeline.sources.source_health`, as ``monitor sources`` does.)

Read-only, like every page. Error texts pass through secret redaction (:mod:`monitor.redact`):
a webhook's token in an error message is shown as ``***``. Deliveries are listed as
``monitor alerts --failed`` lists them
(:func:`monitor.alerts.status.list_alerts`); each has a retry button
(:mod:`monitor.web.actions`). Source notices with a failed or dead delivery are listed apart,
as ``monitor alerts notices --failed`` lists them (:func:`monitor.alerts.status.list_notices`),
each with a retry button of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from sqlalchemy.orm import Session

from monitor.alerts.status import AlertStatus, NoticeStatus, list_alerts, list_notices
from monitor.redact import redact_text

FAILED_DELIVERIES_SHOWN = 200


_S = TypeVar("_S", AlertStatus, NoticeStatus)


def _redacted(statuses: list[_S]) -> list[_S]:
    """The statuses with their deliveries' last errors redacted."""
    return [
        replace(
            status,
            deliveries=tuple(
                replace(d, last_error=redact_text(d.last_error) if d.last_error else None)
                for d in status.deliveries
            ),
        )
        for status in statuses
    ]


def failed_deliveries(session: Session) -> list[AlertStatus]:
    """Alerts with a failed or dead delivery, newest first, errors redacted."""
    return _redacted(list_alerts(session, failed_only=True, limit=FAILED_DELIVERIES_SHOWN))


def failed_notices(session: Session) -> list[NoticeStatus]:
    """Source notices with a failed or dead delivery, newest first, errors redacted."""
    return _redacted(list_notices(session, failed_only=True, limit=FAILED_DELIVERIES_SHOWN))
