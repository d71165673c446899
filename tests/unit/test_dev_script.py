"""``python3 dev.py``, the README's first command: its help names every command the README
shows, and a mistyped command says so instead of printing the help as if asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _dev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command_the_readme_uses() -> None:
    done = _dev("help")
    assert done.returncode == 0
    for command in ("demo", "test", "lint", "bench"):
        assert f"python3 dev.py {command}" in done.stdout, command
    assert "Arguments after the command go to it" in done.stdout


def test_an_unknown_command_is_named_and_exits_2() -> None:
    done = _dev("tset")
    assert done.returncode == 2
    assert "unknown command 'tset': demo, test, lint, bench or help" in done.stderr
    assert done.stdout == ""
