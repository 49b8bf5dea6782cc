"""tagger.models.loader: loading a resolved model, the cache a worker keeps, and the
package's layering (the loader reads the registry; nothing in tagger.models imports
in a circle)."""

from __future__ import annotations

from dataclasses import replace

from importgraph import cycles, import_graph, subpackage_graph

from tagger.models import ModelCache, load_model, planned_engine, resolve


def test_the_models_package_has_no_import_cycle_and_the_loader_sits_above_the_registry():
    graph = subpackage_graph("models")
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
    assert cycles(import_graph(pkg)) == [["models.a", "models.b"]]


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
