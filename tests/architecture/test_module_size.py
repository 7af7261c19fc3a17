"""Modules stay small enough to read in one sitting: one over 500 lines says in its docstring why it is one."""

from __future__ import annotations

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "console"
LIMIT = 500


def long_modules_without_a_reason(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LIMIT and "Why " not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(f"{path.relative_to(root.parent)}: {text.count(chr(10))} lines, no reason in its docstring")
    return found


def test_every_long_module_states_why_it_is_one():
    assert long_modules_without_a_reason(CONSOLE) == []


def test_the_check_finds_a_long_module_without_a_reason(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "big.py").write_text('"""Big."""\n' + "x = 1\n" * (LIMIT + 1))
    (tmp_path / "pkg" / "fine.py").write_text('"""Big.\n\nWhy one module: a reason."""\n' + "x = 1\n" * (LIMIT + 1))
    expected = f"pkg/big.py: {LIMIT + 2} lines, no reason in its docstring"
    assert long_modules_without_a_reason(tmp_path / "pkg") == [expected]
