"""The import layers of docs/architecture.md, read from the code (every import statement,
at module level or inside a function):

- the core, ``r2bench`` less ``r2bench.cli`` and ``r2bench.app``, imports nothing above it;
- the library packages ``datasets_builder``, ``reference_model`` and ``leaderboard`` import
  the core and themselves only, never each other nor the application;
- only the application (``r2bench.cli``, ``r2bench.app``) imports everything;
- no two modules import each other, directly or through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARIES = ("datasets_builder", "reference_model", "leaderboard")
APP = ("r2bench.cli", "r2bench.app", "r2bench.__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in ("r2bench", *LIBRARIES)
            for p in (REPO / pkg).rglob("*.py")}


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports (a name imported from a package counts as
    its submodule when it is one)."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            found.update(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod
                         for a in node.names)
    out = set()
    for m in found:
        while m and m not in modules:
            m = m.rpartition(".")[0]
        if m and m != name:
            out.add(m)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imported(m, p, modules) for m, p in modules.items()}


def _layer(module: str) -> str:
    return "app" if module.startswith(APP) else module.split(".")[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for m, deps in sorted(graph.items()):
        lm = _layer(m)
        allowed = {"r2bench"} | ({lm} if lm in LIBRARIES else set())
        if lm == "app":
            continue
        bad += [f"{m} -> {d}" for d in sorted(deps) if _layer(d) not in allowed]
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    graph = _graph()
    assert "reference_model.training.clips" in graph
    assert "r2bench.constraints" in graph["reference_model.training.clips"]
    assert "reference_model.shipped" in graph["r2bench.app.demo"]   # a lazy import counts too


def test_no_library_module_imports_a_package_above_it():
    assert upward_imports(_graph()) == []


def test_no_module_imports_itself_through_others():
    assert cycles(_graph()) == []


def test_the_checks_see_a_planted_upward_import_and_circle():
    graph = {m: set(d) for m, d in _graph().items()}
    graph["r2bench.scoring"].add("leaderboard.records")
    graph["reference_model.inference"].add("datasets_builder.build")
    assert upward_imports(graph) == ["r2bench.scoring -> leaderboard.records",
                                     "reference_model.inference -> datasets_builder.build"]
    graph["r2bench.errors"].add("r2bench.scoring")
    assert any({"r2bench.errors", "r2bench.scoring"} <= set(c) for c in cycles(graph))
