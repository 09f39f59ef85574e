"""The package's imports go one way (docs/architecture.md, "Invariants and boundaries"):
no loop between its modules, function-level imports included; nothing imports the CLI; only
the CLI imports the dashboard."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "orchestrator"
# Subpackages count as one unit each (their __main__ apart: an entry point); the package's
# __init__ only re-exports the collector.
UNITS = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "orchestrator" or len(parts) < 2:
        return None
    return parts[1]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue
        unit = rel.parts[0] if rel.parts[0] in UNITS else rel.stem
        if rel.name == "__main__.py":  # an entry point sits above its own package
            unit = f"{unit}.__main__"
        deps = graph.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "orchestrator":
                    names = [f"orchestrator.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                target = _unit(name)
                if (
                    target
                    and target != unit
                    and (PACKAGE / target).exists() | (PACKAGE / f"{target}.py").exists()
                ):
                    deps.add(target)
    return graph


def test_no_import_loop_between_modules() -> None:
    graph = _graph()
    assert {"migrations", "manifest", "dbversions", "dashboard", "demo"} <= set(graph)
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "active"
        for dep in sorted(graph.get(node, set())):
            assert state.get(dep) != "active", " -> ".join([*path, node, dep])
            if dep not in state:
                visit(dep, [*path, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_only_the_cli_imports_the_cli_and_the_dashboard() -> None:
    graph = _graph()
    assert {u for u, deps in graph.items() if "cli" in deps} == set()
    assert {u for u, deps in graph.items() if "dashboard" in deps} == {"cli"}
