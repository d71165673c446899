"""Counts in words for what people read (command output, cycle summaries, explanations):
``1 source``, ``2 sources``, never ``1 sources`` or ``2 source(s)``."""

from __future__ import annotations


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` and the noun that agrees with it; ``plural`` defaults to ``singular + "s"``."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
