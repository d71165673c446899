"""The demo's closing lines name commands a user can paste into a shell as printed."""

from __future__ import annotations

from pathlib import Path

from flows.demo import look_around


def test_each_suggested_command_is_a_line_of_its_own_and_no_pipe() -> None:
    lines = look_around(Path("data/demo"))
    commands = [line.strip() for line in lines[1:]]
    assert commands[0] == "MONITOR_DATA_DIR=data/demo .venv/bin/monitor stories"
    assert "MONITOR_DATA_DIR=data/demo .venv/bin/monitor alerts" in commands
    assert all("|" not in line for line in lines)
