"""Whether ``monitor run`` needs Prefect: told from Prefect's environment variables, the working
directory's settings files and the active profile, without importing Prefect."""

from __future__ import annotations

from pathlib import Path

import pytest
from flows.local import PrefectLocation, api_configured_in, needs_prefect
from flows.secrets import uses_secret_blocks
from pydantic import SecretStr

from monitor.config import Settings

SERVER = "http://127.0.0.1:4200/api"


def _profiles(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "profiles.toml").write_text(text, encoding="utf-8")
    return home


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_nothing_configured_means_no_server(tmp_path: Path, cwd: Path) -> None:
    assert not api_configured_in(PrefectLocation(home=tmp_path / "empty-home"), cwd)


def test_the_environment_variable(tmp_path: Path, cwd: Path) -> None:
    env = PrefectLocation(api_url=SERVER, home=tmp_path / "empty-home")
    assert api_configured_in(env, cwd)


def test_the_active_profile_decides(tmp_path: Path, cwd: Path) -> None:
    home = _profiles(
        tmp_path / "home",
        f'active = "remote"\n[profiles.ephemeral]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "true"\n'
        f'[profiles.remote]\nPREFECT_API_URL = "{SERVER}"\n',
    )
    assert api_configured_in(PrefectLocation(home=home), cwd)
    assert not api_configured_in(PrefectLocation(home=home, profile="ephemeral"), cwd)
    moved = PrefectLocation(home=tmp_path / "empty-home", profiles_path=home / "profiles.toml")
    assert api_configured_in(moved, cwd)


def test_prefects_default_profile_has_no_server(tmp_path: Path, cwd: Path) -> None:
    home = _profiles(
        tmp_path / "home",
        'active = "ephemeral"\n[profiles.ephemeral]\nPREFECT_SERVER_EPHEMERAL_ENABLED = "true"\n'
        f'[profiles.local]\nPREFECT_API_URL = "{SERVER}"\n',
    )
    assert not api_configured_in(PrefectLocation(home=home), cwd)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".env", f"MONITOR_DATA_DIR=data\nPREFECT_API_URL={SERVER}\n"),
        ("prefect.toml", f'[api]\nurl = "{SERVER}"\n'),
        ("pyproject.toml", f'[project]\nname = "x"\n[tool.prefect.api]\nurl = "{SERVER}"\n'),
    ],
)
def test_the_working_directorys_settings_files(
    tmp_path: Path, cwd: Path, name: str, text: str
) -> None:
    env = PrefectLocation(home=tmp_path / "empty-home")
    (cwd / name).write_text(text, encoding="utf-8")
    assert api_configured_in(env, cwd)


def test_settings_files_without_prefect_keys_do_not_count(tmp_path: Path, cwd: Path) -> None:
    (cwd / ".env").write_text("MONITOR_DATA_DIR=data\n", encoding="utf-8")
    (cwd / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert not api_configured_in(PrefectLocation(home=tmp_path / "empty-home"), cwd)


def test_a_secret_block_needs_prefect_whatever_the_server(cwd: Path) -> None:
    plain = Settings(webhook_secret=SecretStr("s3cret"))
    block = Settings(webhook_secret=SecretStr("prefect-secret:hook-key"))
    in_secrets = Settings(secrets={"ops": SecretStr("prefect-secret:ops-key")})
    assert not uses_secret_blocks(plain)
    assert uses_secret_blocks(block)
    assert uses_secret_blocks(in_secrets)
    assert needs_prefect(block, cwd)
