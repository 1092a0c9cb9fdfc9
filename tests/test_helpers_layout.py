"""Test modules share code through tests/helpers.py, never by importing one another.

Nor do the conftest.py files or the helpers import a test module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules(pattern: str) -> dict[str, Path]:
    """Map the dotted name of each module under tests/ (``tests.annotate.test_cli``) to its file."""
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in sorted((ROOT / "tests").rglob(pattern))
    }


def _test_modules() -> dict[str, Path]:
    return _modules("test_*.py")


def _imported(source: str, package: str) -> set[str]:
    """Every module a source imports, at any depth, relative imports made absolute.

    ``from a.b import c`` counts as importing both ``a.b`` and ``a.b.c`` (c may be a module).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parts, node.module] if node.module else parts)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _crossings() -> list[str]:
    modules = _test_modules()
    found = []
    for name, path in _modules("*.py").items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in sorted(_imported(path.read_text(), package)):
            if target in modules and target != name:
                found.append(f"{path.relative_to(ROOT)} imports {target}")
    return found


def test_the_walk_finds_the_test_modules() -> None:
    modules = _test_modules()
    assert "tests.annotate.test_label_studio" in modules
    assert "tests.learners.test_routing" in modules
    assert "tests.test_helpers_layout" in modules
    assert "tests.helpers" not in modules


def test_every_way_of_importing_a_module_is_seen() -> None:
    # Seen from a module of package suite.a; suite.a.test_x and suite.b.test_y are modules.
    cases = {
        "from suite.a.test_x import helper": "suite.a.test_x",
        "import suite.a.test_x": "suite.a.test_x",
        "from suite.a import test_x": "suite.a.test_x",
        "from .test_x import helper": "suite.a.test_x",
        "from . import test_x": "suite.a.test_x",
        "from ..b.test_y import helper": "suite.b.test_y",
        "def f():\n    from suite.a.test_x import helper": "suite.a.test_x",
    }
    for source, target in cases.items():
        assert target in _imported(source, "suite.a"), source


def test_no_test_module_imports_another() -> None:
    crossings = _crossings()
    assert crossings == [], "share code through tests/helpers.py: " + "; ".join(crossings)
