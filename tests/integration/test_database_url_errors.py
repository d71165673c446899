"""A database that cannot be used, through the real command line in child processes: a URL that
cannot be used (exit 2) or a database that cannot be reached or opened (exit 1) is one line
naming the setting to change, never a traceback, whichever command opened the database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

CONFIG = """
sources:
  - {name: Ledger, url: "https://ledger.example/rss.xml"}
topics:
  - {name: Strike, query: strike}
"""

# Commands that open the database, as a new user would first type them.
COMMANDS = {
    "run": ["run", "--config", "{config}"],
    "articles": ["articles"],
    "db upgrade": ["db", "upgrade"],
    "db prune": ["db", "prune", "--older-than", "30"],
    "sources": ["sources"],
    "cycles": ["cycles"],
    "stories": ["stories"],
}
CHECK = ["check", "--config", "{config}"]


def _monitor(
    tmp_path: Path, command: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``python -m monitor COMMAND`` in ``tmp_path`` with only the given ``MONITOR_*`` names
    (no Prefect server either: ``run`` runs its cycle in process); its stderr's lines."""
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PREFECT_API_URL"))
    }
    args = [a.format(config=config) for a in COMMANDS.get(command, CHECK)]
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, done.stderr.strip().splitlines()


def _one_line(done: subprocess.CompletedProcess[str], lines: list[str], code: int) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert done.returncode == code, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


BAD_URLS = {
    "unknown dialect": ("foo://db.example/news", "foo"),
    "unknown driver": ("postgresql+nosuchdriver://u@db.example/news", "nosuchdriver"),
    "garbage": ("not a url at all", "not a URL"),
    "driver not installed": ("mysql://u@db.example/news", "not installed"),
    "port not a number": ("postgresql://u@db.example:port/news", "port"),
}


@pytest.mark.parametrize("kind", sorted(BAD_URLS))
@pytest.mark.parametrize("command", ["run", "articles", "db upgrade"])
def test_a_database_url_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, command: str, kind: str
) -> None:
    url, said = BAD_URLS[kind]
    done, lines = _monitor(tmp_path, command, MONITOR_DATABASE_URL=url)
    line = _one_line(done, lines, 2)
    assert "MONITOR_DATABASE_URL" in line
    assert said in line


def test_a_password_in_a_bad_url_is_not_shown(tmp_path: Path) -> None:
    url = "mysql://reader:hunter2secret@db.example/news"
    done, lines = _monitor(tmp_path, "articles", MONITOR_DATABASE_URL=url)
    line = _one_line(done, lines, 2)
    assert "hunter2secret" not in line
    assert "db.example" in line


def _postgres_url() -> str:
    url = os.environ.get("MONITOR_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MONITOR_TEST_POSTGRES_URL is not set")
    return url


def _unreachable(kind: str) -> tuple[str, str]:
    """A PostgreSQL URL that does not reach a database, and what the line says about it."""
    if kind == "refused":
        return "postgresql://postgres@127.0.0.1:1/monitor", "Connection refused"
    if kind == "unknown host":
        return "postgresql://postgres@no-such-host.invalid/monitor", "no-such-host.invalid"
    real = make_url(_postgres_url()).set(database="monitor_no_such_database")
    return real.render_as_string(hide_password=False), "monitor_no_such_database"


@pytest.mark.parametrize("kind", ["refused", "unknown host", "no such database"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    tmp_path: Path, command: str, kind: str
) -> None:
    url, said = _unreachable(kind)
    done, lines = _monitor(tmp_path, command, MONITOR_DATABASE_URL=url)
    line = _one_line(done, lines, 1)
    assert "MONITOR_DATABASE_URL" in line
    assert said in line


def test_a_data_dir_below_a_file_names_monitor_data_dir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory", encoding="utf-8")
    data = tmp_path / "a-file" / "data"
    for command in ("run", "articles", "db upgrade"):
        done, lines = _monitor(tmp_path, command, MONITOR_DATA_DIR=str(data))
        line = _one_line(done, lines, 1)
        assert "MONITOR_DATA_DIR" in line
        assert str(data) in line


def test_a_data_dir_that_is_a_file_names_monitor_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory", encoding="utf-8")
    done, lines = _monitor(tmp_path, "articles", MONITOR_DATA_DIR=str(data))
    line = _one_line(done, lines, 1)
    assert "MONITOR_DATA_DIR" in line


def test_a_data_dir_where_no_directory_can_be_made_names_monitor_data_dir(tmp_path: Path) -> None:
    # /sys refuses new directories even to root, where a directory's mode would not.
    data = Path("/sys/monitor-data")
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    done, lines = _monitor(tmp_path, "db upgrade", MONITOR_DATA_DIR=str(data))
    line = _one_line(done, lines, 1)
    assert "MONITOR_DATA_DIR" in line
    assert str(data) in line


def test_a_sqlite_url_naming_a_directory_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "monitor.db").mkdir()
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    done, lines = _monitor(tmp_path, "articles", MONITOR_DATABASE_URL=url)
    line = _one_line(done, lines, 1)
    assert "MONITOR_DATABASE_URL" in line
    assert "monitor.db" in line


def test_a_database_that_is_there_still_works(tmp_path: Path) -> None:
    done, _ = _monitor(tmp_path, "db upgrade", MONITOR_DATA_DIR=str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert "database at revision" in done.stdout


@pytest.mark.parametrize("url", ["not a url at all", "foo://db.example/news"])
def test_check_reports_a_database_url_that_cannot_be_used_as_a_failed_finding(
    tmp_path: Path, url: str
) -> None:
    done, _ = _monitor(tmp_path, "check", MONITOR_DATABASE_URL=url)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr
    (database,) = [line for line in done.stdout.splitlines() if line.startswith("database")]
    assert "FAILED" in database
    assert "MONITOR_DATABASE_URL" in database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _left_behind(marker: str) -> dict[int, str]:
    """Processes still running whose environment names ``marker`` (this test's directory):
    a server or a Prefect server child the command started and did not stop."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def _long_running(tmp_path: Path, args: list[str], url: str) -> tuple[str, int, list[str]]:
    """``python -m monitor ARGS`` with ``url`` as its database: its stderr, exit code and the
    processes it left running (stopped here). A command still running after 90 s (a server
    started over a database it cannot use) is stopped with its group and fails the test."""
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PREFECT_API_URL"))
    }
    env = {**base, "MONITOR_DATABASE_URL": url, "MONITOR_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", *(a.format(config=config) for a in args)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        stderr = f"monitor {args[0]} was still running after 90 s"
    left = _left_behind(str(tmp_path))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return stderr, proc.returncode, list(left.values())


SERVERS = {
    "web": ["web", "--config", "{config}", "--port", "{port}"],
    "serve": ["serve", "--config", "{config}", "--interval", "60"],
    "run --prefect": ["run", "--config", "{config}", "--prefect"],
}


def _server_case(tmp_path: Path, command: str, url: str, code: int) -> str:
    args = [a.replace("{port}", str(_free_port())) for a in SERVERS[command]]
    stderr, returncode, left = _long_running(tmp_path, args, url)
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert returncode == code, stderr
    assert lines[0].startswith("error: ")
    assert not left, left
    return lines[0]


@pytest.mark.parametrize("command", ["web", "serve"])
def test_a_server_over_a_database_url_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path, command: str
) -> None:
    line = _server_case(tmp_path, command, "foo://db.example/news", 2)
    assert "MONITOR_DATABASE_URL" in line
    assert "foo" in line


@pytest.mark.parametrize("command", ["web", "serve"])
def test_a_server_over_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    tmp_path: Path, command: str
) -> None:
    url, said = _unreachable("refused")
    line = _server_case(tmp_path, command, url, 1)
    assert "MONITOR_DATABASE_URL" in line
    assert said in line


def test_a_prefect_run_over_a_database_url_that_cannot_be_used_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    line = _server_case(tmp_path, "run --prefect", "foo://db.example/news", 2)
    assert "MONITOR_DATABASE_URL" in line
    assert "foo" in line


def test_a_prefect_run_over_a_database_that_cannot_be_reached_is_one_line_and_exit_1(
    tmp_path: Path,
) -> None:
    url, said = _unreachable("refused")
    line = _server_case(tmp_path, "run --prefect", url, 1)
    assert "MONITOR_DATABASE_URL" in line
    assert said in line
