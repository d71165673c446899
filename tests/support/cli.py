"""The ``monitor`` command with a stage package's commands registered, as ``monitor.cli.main``
registers them, for typer's test runner."""

from __future__ import annotations

from collections.abc import Callable

import typer


def stage_app(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """A root command holding what ``register`` adds (``monitor.alerts.cli.register``, ...)."""
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """monitor"""

    register(root)
    return root
