"""Ctrl-C at a real ``python -m monitor run`` (and at the ``monitor`` console script) in a child
process: whether it lands while the command line is still being imported or while a cycle
waits on the network, the command says ``interrupted`` on one line and exits 130 (128 +
SIGINT), with no traceback from it or from the processes it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from monitor.demo.server import LocalServer, Route

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path: Path, feed_url: str) -> subprocess.Popen[str]:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f'sources:\n  - {{name: Slow, url: "{feed_url}"}}\n'
        "topics:\n  - {name: Strike, query: strike}\n",
        encoding="utf-8",
    )
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "PREFECT_API_URL"))
    }
    env = {
        **base,
        "MONITOR_DATA_DIR": str(tmp_path / "data"),
        "MONITOR_ALLOW_PRIVATE_NETWORK": "true",
        "MONITOR_HTTP__TIMEOUT_S": "120",
        "MONITOR_EXTRACTION__WORKERS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _after_ctrl_c(child: subprocess.Popen[str]) -> str:
    """Send SIGINT and wait for the child to end (a bound only a hang reaches); its stderr."""
    child.send_signal(signal.SIGINT)
    try:
        _, stderr = child.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("the command did not end after Ctrl-C")
    return stderr


def _interrupted(child: subprocess.Popen[str]) -> str:
    """Send SIGINT, wait, check the exit; the child's stderr."""
    stderr = _after_ctrl_c(child)
    assert "Traceback" not in stderr, stderr
    assert "KeyboardInterrupt" not in stderr, stderr
    assert child.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1:] == ["interrupted"], stderr
    return stderr


def test_ctrl_c_while_a_cycle_waits_on_the_network(
    local_server: LocalServer, tmp_path: Path
) -> None:
    asked = threading.Event()

    def slow() -> Route:
        asked.set()
        return Route(body=b"<rss></rss>", delay_s=300.0)

    local_server.table.set("/feed.xml", slow)
    child = _start(tmp_path, local_server.url("/feed.xml"))
    assert asked.wait(120), "the cycle never asked for the feed"
    stderr = _interrupted(child)
    assert stderr.strip() == "interrupted", stderr


@pytest.mark.parametrize("after_s", [0.2, 0.4, 0.7, 1.0])
def test_ctrl_c_while_the_command_line_starts(
    local_server: LocalServer, tmp_path: Path, after_s: float
) -> None:
    # Late enough to miss the interpreter's own start (no code of ours runs there), early
    # enough to land in the imports of the command line, or the start of the cycle.
    local_server.table.set("/feed.xml", Route(body=b"<rss></rss>", delay_s=300.0))
    child = _start(tmp_path, local_server.url("/feed.xml"))
    time.sleep(after_s)
    _interrupted(child)


def _console_script(directory: Path) -> Path:
    """The ``monitor`` script as an installer writes it from pyproject.toml's entry point."""
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    module, _, function = entry["project"]["scripts"]["monitor"].partition(":")
    script = directory / "monitor"
    script.write_text(
        f"import sys\nfrom {module} import {function}\n"
        f"if __name__ == '__main__':\n    sys.exit({function}())\n",
        encoding="utf-8",
    )
    return script


def test_ctrl_c_while_the_console_script_imports_the_command_line(tmp_path: Path) -> None:
    # -X importtime writes a line to stderr as each module's import ends (or is given up): the
    # Ctrl-C is sent when typer's first module is in (imported by the command line only), and
    # whether SQLAlchemy's import then ended (the command line's next import, some 0.1 s later)
    # shows whether the Ctrl-C came while the command line was still being imported.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    child = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(_console_script(tmp_path)), "--help"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    seen = []
    while (line := child.stderr.readline()).rsplit("|", 1)[-1].strip() != "typer.colors":
        assert line, "".join(seen)  # the child ended before it imported typer
        seen.append(line)
    rest = _after_ctrl_c(child)
    imported = [line.rsplit("|", 1)[1].strip() for line in rest.splitlines() if "|" in line]
    assert "sqlalchemy" not in imported, "the Ctrl-C came after the imports: not this case"
    said = [line for line in rest.splitlines() if not line.startswith("import time:")]
    assert said == ["interrupted"], rest
    assert child.returncode == 130, rest
