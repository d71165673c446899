"""Whether ``monitor run`` needs Prefect, told without importing it.

Importing Prefect costs seconds of CPU, and with no Prefect server configured a flow run
starts a temporary one (seconds more) that is gone when the command ends. ``monitor run`` runs
its cycle as a Prefect flow run only where that buys something: a Prefect API is configured
(the run shows in that server) or a setting names a Prefect Secret block (only Prefect can read
it). Otherwise the same composition runs in-process with no orchestrator
(:func:`monitor.pipeline.cycle.run_plain`).

Prefect reads ``PREFECT_API_URL`` from the environment, ``.env``, ``prefect.toml`` or
``pyproject.toml`` in the working directory, and the active profile of its profiles file.
These are read here the same way; where one of the working directory's files could set the API
(or point at another profiles file), the answer is yes: a flow run when in doubt.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.secrets import uses_secret_blocks
from monitor.config import Settings

# Keys that, in a working directory's settings file, may give Prefect an API URL.
_API_KEYS = ("PREFECT_API_URL", "PREFECT_PROFILES_PATH", "PREFECT_PROFILE")


class PrefectLocation(BaseSettings):
    """The Prefect environment variables that say where its settings are."""

    model_config = SettingsConfigDict(env_prefix="PREFECT_", extra="ignore")

    api_url: str | None = None
    profile: str | None = None
    profiles_path: Path | None = None
    home: Path | None = None


def _toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _working_directory_may_set_api(cwd: Path) -> bool:
    dotenv = cwd / ".env"
    if dotenv.is_file():
        try:
            text = dotenv.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        if any(key in text for key in _API_KEYS):
            return True
    prefect_toml = _toml(cwd / "prefect.toml")
    if "api" in prefect_toml or "profiles_path" in prefect_toml:
        return True
    tool = _toml(cwd / "pyproject.toml").get("tool", {})
    prefect = tool.get("prefect", {}) if isinstance(tool, dict) else {}
    return isinstance(prefect, dict) and ("api" in prefect or "profiles_path" in prefect)


def _profile_sets_api(env: PrefectLocation) -> bool:
    home = env.home or Path.home() / ".prefect"
    path = env.profiles_path or home / "profiles.toml"
    profiles = _toml(path.expanduser())
    active = env.profile or profiles.get("active")
    table = profiles.get("profiles", {})
    profile = table.get(active, {}) if isinstance(table, dict) and active else {}
    return isinstance(profile, dict) and bool(profile.get("PREFECT_API_URL"))


def api_configured_in(env: PrefectLocation, cwd: Path) -> bool:
    """Whether Prefect, started with ``env`` in ``cwd``, would have an API URL (or might)."""
    if env.api_url:
        return True
    return _working_directory_may_set_api(cwd) or _profile_sets_api(env)


def prefect_api_configured(cwd: Path | None = None) -> bool:
    """Whether a Prefect flow run started here would report to a Prefect server."""
    if "prefect.settings" in sys.modules:  # already paid for: ask Prefect itself
        from prefect.settings import get_current_settings

        return bool(get_current_settings().api.url)
    return api_configured_in(PrefectLocation(), cwd or Path.cwd())


def needs_prefect(settings: Settings, cwd: Path | None = None) -> bool:
    """Whether ``monitor run`` should run its cycle as a Prefect flow run: a Prefect API is
    configured, or a setting names a Prefect Secret block."""
    return prefect_api_configured(cwd) or uses_secret_blocks(settings)
