"""``monitor demo``: the offline demo newsroom, monitored end to end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import echo


def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo database goes")] = Path(
        "data/demo"
    ),
    steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps")] = None,
    verbose: Annotated[bool, typer.Option(help="show Prefect's own logs")] = False,
) -> None:
    """Run monitor cycles against an offline demo newsroom served on 127.0.0.1."""
    # Read by Prefect when it is imported below. The demo keeps Prefect's own state (its
    # serverless API database) beside the demo database rather than in ~/.prefect.
    os.environ.setdefault("PREFECT_HOME", str((data_dir / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # offline demo
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from flows.demo import run_demo

    run_demo(data_dir, echo, steps=steps)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
