"""Prefect settings for flow runs started in this process (``monitor run``, the demo)."""

from __future__ import annotations

from flows.cycle import local_run_settings
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    get_current_settings,
    temporary_settings,
)


def _heartbeat() -> int | None:
    return get_current_settings().flows.heartbeat_frequency


def test_serverless_runs_send_no_heartbeats_and_the_setting_comes_back_after() -> None:
    serverless = {PREFECT_API_URL: None, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}
    with temporary_settings(updates=serverless):
        with local_run_settings():
            assert _heartbeat() is None
        assert _heartbeat() == 60


def test_runs_reporting_to_a_prefect_server_keep_their_heartbeats() -> None:
    served = {PREFECT_API_URL: "http://127.0.0.1:4200/api", PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}
    with temporary_settings(updates=served), local_run_settings():
        assert _heartbeat() == 60
