"""The ``monitor`` command with one module's commands registered (each module of
:mod:`monitor.cli` has a ``register(app)``, as :mod:`monitor.cli.app` calls it), for typer's test
runner."""

from __future__ import annotations

from collections.abc import Callable

import typer


def stage_app(register: Callable[[typer.Typer], None]) -> typer.Typer:
    """A root command holding what ``register`` adds (``monitor.cli.alerts.register``, ...)."""
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """monitor"""

    register(root)
    return root
