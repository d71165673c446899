"""Prefect orchestration of the monitor: flows wrap the core stages of ``monitor.pipeline``."""
