"""The ``monitor`` command line.

Commands that run a cycle (``run``, ``serve``, ``demo``) start the Prefect flow from the top-level
``flows`` package, imported only inside those commands so the core stays free of Prefect.
Stage packages add their own command groups through ``register(app)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n")[0])

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config file (YAML); default: MONITOR_CONFIG_FILE"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def load_settings() -> Settings:
    return get_settings()


def _register_stage_commands() -> None:
    """Stage packages contribute commands; each exposes ``register(app)``."""
    import importlib

    for module in ("monitor.alerts.cli", "monitor.stories.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(app)


def main() -> None:
    _register_stage_commands()
    app()
