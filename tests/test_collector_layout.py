"""The collector package's imports form no loop (function-level imports included), and no
module of it is a catch-all again."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "orchestrator" / "collector"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("orchestrator.collector."):
                found.add(node.module.rsplit(".", 1)[1])
            elif node.module == "orchestrator.collector":
                found.update(a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists())
    return found


def test_no_import_loop_in_the_collector() -> None:
    graph = {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "active"
        for dep in graph.get(node, set()):
            assert state.get(dep) != "active", " -> ".join([*path, node, dep])
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert max(sizes.values()) < 500, sizes
