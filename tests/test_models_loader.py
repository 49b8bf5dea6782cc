"""tagger.models.loader: loading a resolved model, the cache a worker keeps, and the
package's layering (the loader reads the registry; nothing in tagger.models imports
in a circle)."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from tagger.models import ModelCache, load_model, planned_engine, resolve

PACKAGE = Path(__file__).resolve().parent.parent / "tagger" / "models"


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module -> the modules of ``folder``'s package it imports, at any depth of its code
    (an import inside a function is an edge too: it is a dependency all the same)."""
    pkg = folder.name
    names = {f.stem for f in folder.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for f in folder.glob("*.py"):
        me = pkg if f.stem == "__init__" else f.stem
        edges: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level == 1:  # from .x import y / from . import x
                    if module:
                        edges.add(module.split(".")[0] if module.split(".")[0] in names else pkg)
                    else:
                        edges |= {a.name if a.name in names else pkg for a in node.names}
                elif node.level == 0 and module.startswith(f"tagger.{pkg}"):
                    rest = module.split(".")[2:]
                    if rest and rest[0] in names:
                        edges.add(rest[0])
                    else:
                        edges |= {a.name if a.name in names else pkg for a in node.names}
            elif isinstance(node, ast.Import):
                for a in node.names:
                    parts = a.name.split(".")
                    if parts[:2] == ["tagger", pkg]:
                        edges.add(parts[2] if len(parts) > 2 and parts[2] in names else pkg)
        edges.discard(me)
        graph[me] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_models_package_has_no_import_cycle_and_the_loader_sits_above_the_registry():
    graph = import_graph(PACKAGE)
    assert {"base", "card", "registry", "loader", "head", "musicnn"} <= set(graph)
    assert cycles(graph) == []
    assert "registry" in graph["loader"]
    below_loader = {"base", "card", "registry", "head", "musicnn", "keras_classifier"}
    assert all("loader" not in graph[m] for m in below_loader)
    assert all("registry" not in graph[m] for m in ("base", "card", "head", "musicnn"))


def test_the_cycle_check_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import A\n")
    (pkg / "a.py").write_text("from .b import B\nA = 1\n")
    (pkg / "b.py").write_text("def f():\n    from .a import A\n    return A\nB = 2\n")
    assert cycles(import_graph(pkg)) == [["a", "b"]]


def test_a_cache_loads_each_model_once_per_precision():
    ref = replace(resolve("musicnn")[0], precision="float32")
    cache = ModelCache()
    first = cache.get(ref)
    assert cache.get(ref) is first
    assert cache.get(replace(ref, precision="auto")) is not first
    # without a cache every load is a model of its own, the same model all the same
    fresh = load_model(ref)
    assert fresh is not first and fresh.version == first.version == ref.version
    assert str(fresh.engine) == str(first.engine) == str(planned_engine(ref)[0])
