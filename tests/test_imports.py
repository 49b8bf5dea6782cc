"""The package's import graph has no cycle: every module can be read (and loaded) on its own."""

from __future__ import annotations

import subprocess
import sys

from importgraph import cycles, import_graph


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "tagger.store" in graph["tagger.write"]  # at the top
    assert "tagger.models.keras_classifier" in graph["tagger.models.registry"]  # in a function


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_public_names_are_the_modules_own_and_load_on_first_use(tmp_path):
    code = (
        "import sys, importlib, tagger\n"
        "assert not {'tagger.scan', 'tagger.store', 'tagger.write'} & set(sys.modules)\n"
        "for name in tagger.__all__:\n"
        "    if name != '__version__':\n"
        "        module = importlib.import_module('tagger.' + tagger._EXPORTS[name])\n"
        "        assert getattr(tagger, name) is getattr(module, name), name\n"
        "assert sorted(tagger._EXPORTS) == sorted(set(tagger.__all__) - {'__version__'})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_scan_stays_the_function_when_its_module_loads_first(tmp_path):
    code = (
        "import importlib\n"
        "module = importlib.import_module('tagger.scan')\n"
        "import tagger\n"
        "assert tagger.scan is module.scan, tagger.scan\n"
        "from tagger import scan\n"
        "assert scan is module.scan\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_a_scan_worker_imports_neither_the_database_nor_the_writers(tmp_path):
    """A worker starts with every scan; what it imports is what each start costs."""
    code = (
        "import sys, tagger.worker, tagger.models.loader, tagger.inference\n"
        "heavy = {'tagger.store', 'tagger.scan', 'tagger.write', 'tagger.report',\n"
        "         'sqlite_utils', 'joblib', 'tensorflow', 'typer'}\n"
        "assert not heavy & set(sys.modules), sorted(heavy & set(sys.modules))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
