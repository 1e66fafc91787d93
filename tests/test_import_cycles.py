"""No import circle in the server package.

Every module of `typilot_lsp` is parsed (never imported) and each `import` / `from ... import`
of another `typilot_lsp` module is an edge, wherever it is written: at the top, or deferred
inside a function (a deferred import is still a circle, only a hidden one). Imports under
`if TYPE_CHECKING:` are for type checkers only and are left out. A circle fails the test with
every module on it and the line of each import.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import typilot_lsp

PACKAGE = "typilot_lsp"
ROOT = Path(typilot_lsp.__file__).parent

Edges = dict[str, dict[str, str]]
"""module -> {imported module -> where (file:line)}"""


def module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement outside `if TYPE_CHECKING:` blocks (their `else:` counts)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from runtime_imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from runtime_imports(node)


def imported_modules(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in known)
        return
    if node.level:  # relative: from the importer's package
        base = importer if is_package else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source not in known:
        return
    submodules = [f"{source}.{alias.name}" for alias in node.names]
    named = [name for name in submodules if name in known]
    yield from named  # `from pkg import submodule`
    if len(named) < len(submodules):
        yield source  # a name defined in `source` itself


def import_graph() -> Edges:
    files = module_files()
    known = set(files)
    graph: Edges = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges = graph.setdefault(module, {})
        for node in runtime_imports(tree):
            for target in imported_modules(node, module, path.name == "__init__.py", known):
                if target != module:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                    edges.setdefault(target, where)
    return graph


def find_cycles(graph: Edges) -> list[list[str]]:
    """One circle through each group of modules that import each other (each path closed:
    its last module is its first)."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        cycle = _cycle_from(start, graph)
        if cycle is None:
            done.add(start)
            continue
        cycles.append(cycle)
        done.update(cycle)
    return cycles


def _cycle_from(start: str, graph: Edges) -> list[str] | None:
    """The shortest path from `start` back to itself, if any (breadth first)."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph.get(module, {})):
                if target == start:
                    path = [start]
                    while module != start:
                        path.append(module)
                        module = parents[module]
                    return [start, *reversed(path[1:]), start]
                if target not in parents:
                    parents[target] = module
                    following.append(target)
        frontier = following
    return None


def describe(cycle: list[str], graph: Edges) -> str:
    steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return "\n    ".join(steps)


def test_the_server_package_has_no_import_circle() -> None:
    graph = import_graph()
    assert graph.get("typilot_lsp.server")  # the walk found it
    cycles = find_cycles(graph)
    assert not cycles, "import circles in typilot_lsp:\n  " + "\n  ".join(
        describe(cycle, graph) for cycle in cycles
    )


def reachable(graph: Edges, start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for target in graph.get(stack.pop(), {}):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def test_only_the_composition_root_imports_the_features() -> None:
    graph = import_graph()
    for module in ("typilot_lsp.server", "typilot_lsp.feature"):
        features = {
            name
            for name in reachable(graph, module)
            if name.startswith("typilot_lsp.features") or name == "typilot_lsp.setup"
        }
        assert not features, f"{module} imports {sorted(features)}"
    assert "typilot_lsp.features.runs" in graph["typilot_lsp.setup"]


def test_a_circle_is_found_and_named_with_its_lines() -> None:
    graph: Edges = {
        "p.a": {"p.b": "a.py:3"},
        "p.b": {"p.c": "b.py:5"},
        "p.c": {"p.a": "c.py:9", "p.d": "c.py:10"},
        "p.d": {},
    }
    (cycle,) = find_cycles(graph)
    assert cycle == ["p.a", "p.b", "p.c", "p.a"]
    assert describe(cycle, graph).split("\n    ") == [
        "p.a -> p.b (a.py:3)",
        "p.b -> p.c (b.py:5)",
        "p.c -> p.a (c.py:9)",
    ]
    assert find_cycles({"p.a": {"p.b": "x"}, "p.b": {}}) == []


def test_type_checking_imports_are_left_out_and_deferred_ones_counted() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from p import typed\n"
        "else:\n"
        "    from p import fallback\n"
        "def f():\n"
        "    from p import deferred\n"
    )
    names = [
        alias.name
        for node in runtime_imports(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "p"
        for alias in node.names
    ]
    assert names == ["fallback", "deferred"]
