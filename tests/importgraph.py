"""The tagger package's import graph, read from its source (shared by the layering tests).

Every import that runs counts, at the top of a module or inside a function
(a lazy import still ties the two modules together); imports under
``if TYPE_CHECKING:`` only name types for the checker and never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tagger

ROOT = Path(tagger.__file__).parent


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for f in root.rglob("*.py"):
        parts = f.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the modules of the package at ``root`` that it imports when it runs."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                named = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                graph[mod] |= set(named) or ({target} & mods.keys())
            elif isinstance(node, ast.Import):
                graph[mod] |= {a.name for a in node.names} & mods.keys()
        graph[mod].discard(mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def subpackage_graph(package: str) -> dict[str, set[str]]:
    """The graph inside ``tagger.<package>``, by short names (the package itself by its own)."""

    def short(module: str) -> str:
        return package if module == f"tagger.{package}" else module.rsplit(".", 1)[-1]

    inside = f"tagger.{package}"
    return {
        short(m): {short(t) for t in targets if t == inside or t.startswith(f"{inside}.")}
        for m, targets in import_graph().items()
        if m == inside or m.startswith(f"{inside}.")
    }
