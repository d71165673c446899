"""The listing commands, run as a user runs them (``python -m monitor``, a fresh SQLite data
directory), say that nothing is stored yet and what to run, instead of printing nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EMPTY = {
    ("articles",): "no articles yet: `monitor run --config FILE`",
    ("articles", "--duplicates"): "no duplicates stored yet",
    ("articles", "--failed"): "no failing or parked pages",
    ("sources",): "no sources yet: a config's sources are recorded by its first `monitor run",
    ("cycles",): "no cycles yet: `monitor run --config FILE` runs one now",
    ("stories",): "no stories yet: stories form as cycles store articles",
    ("alerts",): "no alerts yet: a topic alerts on each new development a cycle stores",
    ("feedback", "list"): "no alerts yet: a topic alerts on each new development a cycle stores",
    ("eval", "feedback"): "no alerts yet: a topic alerts on each new development a cycle stores",
}


def _monitor(
    data_dir: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["MONITOR_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd or data_dir,  # no stray .env
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("args", list(EMPTY))
def test_listing_an_empty_database_says_so_and_what_to_run(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = _monitor(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(EMPTY[args]), done.stdout


def test_json_listings_of_an_empty_database_stay_empty_lists(tmp_path: Path) -> None:
    for command in ("articles", "sources", "cycles", "stories"):
        done = _monitor(tmp_path, command, "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [], command


def test_explain_of_an_unknown_article_says_where_ids_are_listed(tmp_path: Path) -> None:
    done = _monitor(tmp_path, "explain", "42")
    assert done.returncode == 1
    assert "no article '42': give an id or URL that `monitor articles` lists" in done.stderr


@pytest.mark.parametrize(
    "args", [("web", "--port", "0"), ("export-feed", "Strike")], ids=["web", "export-feed"]
)
def test_the_web_view_of_a_fresh_data_directory_says_so_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("topics:\n  - {name: Strike, query: strike}\n", encoding="utf-8")
    data = tmp_path / "data"
    done = _monitor(data, *args, "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: nothing to show yet: no database at {data / 'monitor.db'} (see MONITOR_DATA_DIR);"
        " `monitor run --config FILE` runs a cycle that creates it"
    ]
    assert done.stdout == ""
    assert not data.exists()  # no empty monitor.db, nor its directory, left behind


def test_export_feed_of_a_database_without_schema_says_what_to_run(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("topics:\n  - {name: Strike, query: strike}\n", encoding="utf-8")
    (tmp_path / "monitor.db").touch()  # left by an older `monitor web`
    done = _monitor(tmp_path, "export-feed", "Strike", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: the database is not at the current schema"), done.stderr
    assert "`monitor db upgrade`" in done.stderr
