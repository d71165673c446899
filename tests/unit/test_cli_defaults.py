"""The command line's defaults for Prefect's serverless start, and ``python -m monitor``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from monitor.cli import prefect_defaults

KEY = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def test_the_serverless_api_gets_two_minutes_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY, raising=False)
    prefect_defaults()
    assert os.environ[KEY] == "120"
    # Prefect reads it as its own setting.
    from prefect.settings.models.server.ephemeral import ServerEphemeralSettings

    assert ServerEphemeralSettings().startup_timeout_seconds == 120


def test_a_value_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY, "45")
    prefect_defaults()
    assert os.environ[KEY] == "45"


def test_python_dash_m_monitor_is_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "topics", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: python -m monitor topics" in done.stdout
