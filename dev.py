#!/usr/bin/env python3
"""Bootstrap and run the project with nothing but Python >= 3.11.

    python3 dev.py demo    # create .venv, install, run the offline demo newsroom end to end
    python3 dev.py test    # create .venv, install with dev extras, run the whole test suite
    python3 dev.py lint    # ruff on src, flows, tests and bench; mypy --strict on src/
    python3 dev.py bench   # run every bench/bench_*.py, one after the other

Arguments after the command go to it: ``dev.py test -k fetch`` to pytest, ``dev.py demo
--steps 2`` to ``monitor demo``, ``dev.py bench --help`` to each benchmark.

The virtual environment lives in ``.venv`` beside this file and is reused; the install step is
skipped when ``pyproject.toml`` has not changed since the last successful install.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _ensure_env(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit("Python >= 3.11 is required (found %s)" % sys.version.split()[0])
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("installing the project (first run takes a few minutes)", flush=True)
    subprocess.run([PY, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([PY, "-m", "pip", "install", "-q", "-e", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    env = dict(os.environ)
    if command == "demo":
        _ensure_env("")
        return subprocess.call([BIN / "monitor", "demo", *rest], cwd=ROOT, env=env)
    if command == "test":
        _ensure_env("dev")
        return subprocess.call([PY, "-m", "pytest", *rest], cwd=ROOT, env=env)
    if command == "bench":
        _ensure_env("dev")
        code = 0
        for script in sorted((ROOT / "bench").glob("bench_*.py")):
            print(f"== {script.name}", flush=True)
            code |= subprocess.call([PY, script, *rest], cwd=ROOT, env=env)
        return code
    if command == "lint":
        _ensure_env("dev")
        code = subprocess.call([BIN / "ruff", "check", "src", "flows", "tests", "bench"], cwd=ROOT)
        return code | subprocess.call([BIN / "mypy"], cwd=ROOT)
    if command not in ("help", "-h", "--help"):
        print(f"unknown command {command!r}: demo, test, lint, bench or help", file=sys.stderr)
        return 2
    print(__doc__)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
