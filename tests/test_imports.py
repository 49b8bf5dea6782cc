"""The package's import graph has no cycle: every module can be read (and loaded) on its own."""

from __future__ import annotations

from importgraph import cycles, import_graph


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "tagger.store" in graph["tagger.write"]  # at the top
    assert "tagger.models.keras_classifier" in graph["tagger.models.registry"]  # in a function


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []
