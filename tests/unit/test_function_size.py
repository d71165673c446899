"""No function in ``src/`` or ``flows/`` runs past ``MAX_LINES`` lines unless a comment right
above it (above its decorators) says why, starting "Long by design". Branches are bounded by
ruff's C901 (``[tool.ruff.lint.mccabe]`` in pyproject.toml), with a ``noqa`` and its reason where
one is kept."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60
REASON = "# Long by design"


def _has_reason(lines: list[str], first: int) -> bool:
    """Whether the comment block right above line ``first`` (1-based) starts with REASON."""
    above = first - 2
    reason = False
    while above >= 0 and lines[above].lstrip().startswith("#"):
        reason = lines[above].lstrip().startswith(REASON)
        above -= 1
    return reason


def _long_functions_without_reason(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        if length > MAX_LINES and not _has_reason(lines, first):
            found.append(f"{path}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_a_long_function_says_why() -> None:
    files = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "flows").rglob("*.py")])
    assert len(files) > 50
    found = [f for path in files for f in _long_functions_without_reason(path)]
    assert found == []


def test_the_check_finds_a_long_function_without_a_reason(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    cases = {
        "bare": (f"def long():\n{body}", 1),
        "explained": (f"# Long by design: a table.\n# more\n@staticmethod\ndef long():\n{body}", 0),
        "detached": (f"# Long by design: a table.\n\ndef long():\n{body}", 1),
        "short": ("def short():\n" + "    pass\n" * (MAX_LINES - 1), 0),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text, encoding="utf-8")
        assert len(_long_functions_without_reason(path)) == expected, name
