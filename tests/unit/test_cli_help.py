"""``monitor db`` and its commands say in their help what each does, and no help text is
printed with its source's line breaks (ragged lines cut mid-sentence)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from monitor.cli import app


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # the words, whatever the box drawing


def test_db_group_names_both_commands_and_what_they_are_for() -> None:
    text = _help("db")
    assert "schema migrations (upgrade) and archive retention (prune)" in text


def test_db_upgrade_does_not_claim_every_command_migrates() -> None:
    text = _help("db", "upgrade")
    assert "before every command" not in text
    assert "except `monitor check` and `monitor web`, which never change the schema" in text
    assert "the Alembic revision to migrate to; head: the latest" in text


def test_db_prune_says_what_vacuum_does_on_each_database() -> None:
    text = _help("db", "prune")
    assert "SQLite rewrites the file smaller" in text
    assert "PostgreSQL (VACUUM ANALYZE) keeps the files' size" in text


@pytest.mark.parametrize(
    ("command", "sentence"),
    [
        (("db", "prune"), "so their reprints are still duplicates and nothing old alerts again"),
        ((), "was or was not a development, and how each topic of the config file"),  # listed
    ],
)
def test_help_paragraphs_are_not_cut_at_the_source_line_breaks(
    command: tuple[str, ...], sentence: str
) -> None:
    # As a user sees it: a process of its own (the test process's earlier tests leave typer's
    # rendering of the command list in a state a fresh process never has).
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *command, "--help"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip(" │") for line in result.stdout.splitlines()]
    assert any(sentence in line for line in lines), result.stdout


def test_topics_test_since_says_it_counts_from_when_articles_were_stored() -> None:
    # A backfill of last year's coverage stored today is "since 7d": the cut is the fetch time.
    text = _help("topics", "test")
    assert "only articles stored (fetched) since then, whatever their publication date" in text
