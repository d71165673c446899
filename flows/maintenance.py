"""Archive retention as a Prefect flow: ``monitor db prune`` on a schedule.

``deploy/prefect.yaml`` runs it weekly on the same work pool as the cycles. It changes rows in
short transactions, so cycles run on while it works. ``vacuum`` is off by default: on SQLite,
``VACUUM`` rewrites the file under an exclusive lock, which a cycle would wait for; run
``monitor db prune --vacuum`` by hand between cycles instead. On PostgreSQL it blocks no one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from flows.run_logs import quiet_expected_failures
from flows.secrets import flow_settings
from monitor.config import Settings
from monitor.storage.db import migrated_engine
from monitor.storage.retention import PruneReport, prune_database

# When `monitor serve --prune-days` runs it; deploy/prefect.yaml says the same.
WEEKLY = "30 3 * * 0"


@task(name="prune-archive", cache_policy=NO_CACHE)
def prune_task(settings: Settings, keep_days: int, vacuum: bool) -> PruneReport:
    with migrated_engine(settings.resolved_database_url()) as engine:
        return prune_database(
            engine,
            now=datetime.now(UTC),
            keep_days=keep_days,
            story_active_days=settings.detection.story_active_days,
            vacuum_after=vacuum,
        )


@flow(name="monitor-prune", log_prints=False, validate_parameters=True)
def prune_archive_flow(
    keep_days: Annotated[int, Field(ge=1)] = 180,
    vacuum: bool = False,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Drop the text and explain record of articles fetched more than ``keep_days`` ago."""
    quiet_expected_failures()
    settings = flow_settings(database_url)
    report = prune_task(settings, keep_days, vacuum)
    get_run_logger().info("; ".join(report.lines()))
    create_markdown_artifact(
        markdown="# Archive pruned\n\n" + "".join(f"- {line}\n" for line in report.lines()),
        key="monitor-prune-summary",
        description="Articles and story memory dropped by archive retention",
    )
    return report.as_dict()
