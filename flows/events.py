"""Source health as Prefect events, for automations to turn into notifications.

A source that has failed ``MONITOR_SOURCE_FAILING_AFTER`` polls in a row emits
``monitor.source.failing`` once; its next successful poll emits ``monitor.source.recovered``.
The resource is ``monitor.source.<name>``, and the payload says how many polls failed, the
latest error and when the source last worked; the URL and the error have credentials masked
(:mod:`monitor.redact`). ``deploy/automations.yaml`` turns them into
notifications through any Prefect notification block (e-mail, Slack, Teams, a webhook, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import get_run_logger
from prefect.events import emit_event

from monitor.pipeline.sources import SourceHealthChange

EVENT_PREFIX = "monitor.source."


def event_of(change: SourceHealthChange) -> dict[str, Any]:
    """The event's name, resource and payload for one change."""
    return {
        "event": EVENT_PREFIX + change.status,
        "resource": {
            "prefect.resource.id": EVENT_PREFIX + change.source,
            "prefect.resource.name": change.source,
            "monitor.source.url": change.shown_url,  # credentials masked
        },
        "payload": {
            "failures": change.failures,
            "error_type": change.error_type,
            "error": change.error,
            "last_success_at": (
                change.last_success_at.isoformat() if change.last_success_at else None
            ),
        },
    }


def emit_source_health(changes: Sequence[SourceHealthChange]) -> None:
    """Log each change and emit it as a Prefect event (from inside a flow run)."""
    logger = get_run_logger()
    for change in changes:
        if change.status == "failing":
            logger.warning(change.describe())
        else:
            logger.info(change.describe())
        emit_event(**event_of(change))
