"""Source health as Prefect events, for automations to turn into notifications.

A source that has failed ``MONITOR_SOURCE_FAILING_AFTER`` polls in a row emits
``monitor.source.failing`` once; its next successful poll emits ``monitor.source.recovered``.
A source that answers but has listed nothing new for much longer than its rhythm
(``MONITOR_POLLING__QUIET_*``) emits ``monitor.source.quiet`` once; its next new entry emits
``monitor.source.active``. The resource is ``monitor.source.<name>``, and the payload says how
many polls failed, the latest error and its class, when the source last worked, and for a
quiet source its last new entry and usual rhythm; the URL and the error have credentials masked
(:mod:`monitor.redact`). ``deploy/automations.yaml`` turns them into
notifications through any Prefect notification block (e-mail, Slack, Teams, a webhook, ...).
The same changes also reach the config's own channels as source notices, through the outbox
(:mod:`monitor.alerts.notices`), with or without a Prefect server.
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
            "failure_class": change.failure_class,
            "last_new_entry_at": (
                change.last_new_entry_at.isoformat() if change.last_new_entry_at else None
            ),
            "new_per_day": change.new_per_day,
        },
    }


def emit_source_health(changes: Sequence[SourceHealthChange]) -> None:
    """Log each change and emit it as a Prefect event (from inside a flow run)."""
    logger = get_run_logger()
    for change in changes:
        if change.status in ("failing", "quiet"):
            logger.warning(change.describe())
        else:
            logger.info(change.describe())
        emit_event(**event_of(change))
