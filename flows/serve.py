"""``monitor serve``: the cycle (and, if asked, archive retention) served from this process.

Prefect's serving runner polls for runs of the served deployments and executes them here; no
work pool or worker is needed. Each deployment has a concurrency limit of 1, so cycles never
overlap.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.cycle import monitor_cycle
from flows.maintenance import WEEKLY, prune_archive_flow


def serve_flows(
    config_path: Path,
    *,
    name: str,
    cron: str | None,
    interval: int | None,
    prune_days: int | None = None,
) -> None:
    """Serve ``monitor-cycle/NAME`` on its schedule, and ``monitor-prune/NAME-prune`` weekly
    when ``prune_days`` is given. Blocks until interrupted."""
    # to_deployment() returns a coroutine only when called from async code; this is sync.
    deployments = [
        cast(
            RunnerDeployment,
            monitor_cycle.to_deployment(
                name=name,
                cron=cron,
                interval=interval,
                parameters={"config_path": str(config_path)},
                concurrency_limit=1,
            ),
        )
    ]
    if prune_days is not None:
        prune = prune_archive_flow.to_deployment(
            name=f"{name}-prune",
            cron=WEEKLY,
            parameters={"keep_days": prune_days},
            concurrency_limit=1,
        )
        deployments.append(cast(RunnerDeployment, prune))
    serve(*deployments)
