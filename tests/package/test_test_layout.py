"""The suite's own layout (issue 17): test files sit in a folder by concern, never directly in tests/,
and no file of the suite imports a test module or a conftest.py (shared helpers are tests/support/,
shared fixtures are found by pytest in the conftest.py files)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import List

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> List[str]:
    """Every module `path` imports, at any level, including pytest.importorskip("name")."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip" and node.args
              and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def test_no_test_file_sits_directly_in_tests():
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []


def test_no_file_of_the_suite_imports_a_test_module_or_a_conftest():
    bad = [f"{p.relative_to(TESTS)}: {name}" for p in sorted(TESTS.rglob("*.py"))
           for name in imported_modules(p) if name.split(".")[0].startswith("test_") or name == "conftest"]
    assert bad == []
