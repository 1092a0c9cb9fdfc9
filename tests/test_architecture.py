"""The import graph: no circles among labelloop's modules, and layers that import downward."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("annotate", "learners", "datasets")
# Lower layers never import higher ones. Within annotate, subpackages in this order.
LAYERS = {
    "labelloop.datasets": 0,
    "labelloop.learners": 1,
    "labelloop.annotate.errors": 2,
    "labelloop.annotate.failpoints": 2,
    "labelloop.annotate.config": 3,
    "labelloop.annotate.state": 4,
    "labelloop.annotate.labelstudio": 5,
    "labelloop.annotate.loop": 6,
    "labelloop.annotate.simulation": 7,
    "labelloop.annotate.reporting": 8,
    "labelloop.annotate.cli": 9,
    "labelloop.annotate": 10,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["labelloop", *parts])


def _graph() -> dict[str, set[str]]:
    """Map each module to the project modules it imports, at any depth of its code."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import module` imports that module; `from pkg import name`, pkg.
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in files
                    else node.module
                    for alias in node.names
                ]
            for target in targets:
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def _layer(module: str) -> int:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def test_the_graph_sees_the_packages() -> None:
    graph = _graph()
    assert "labelloop.annotate.loop.cycle" in graph
    assert "labelloop.annotate.labelstudio.sync" in graph["labelloop.annotate.loop.cycle"]


def test_no_import_circles() -> None:
    graph = _graph()
    done: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            circles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_imports_flow_down_the_layers() -> None:
    upward = [
        f"{a} -> {b}"
        for a, targets in _graph().items()
        for b in targets
        if _layer(b) > _layer(a) and not (a.endswith("__init__") or b.startswith(a + "."))
    ]
    assert upward == []


def test_no_module_imports_the_folders_by_their_bare_names() -> None:
    bare = []
    for pkg in (*PACKAGES, "tests", "bench"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                bare += [f"{path}: {n}" for n in names if n.split(".")[0] in PACKAGES]
    assert bare == []
