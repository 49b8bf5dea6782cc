"""tagger: offline batch genre tagging for personal music libraries.

Everything the command line does is a function here, so scripts can do it too::

    import tagger
    summary = tagger.scan(["~/Music"], db="library.db")
    print(summary.scanned, summary.errors)

Data flows one way: walk -> decode -> features -> model -> store -> tags.
Training and evaluation live in ``tagger.training.retrain`` (``retrain``,
``evaluate``), kept out of this namespace so that scanning imports stay light.

The names below are imported on first use, not with the package (PEP 562): a
scan's worker processes import ``tagger.worker`` alone, and importing the
database, report and write layers beside it cost every worker's start about
a fifth of a second.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Each public name and the module that defines it.
_EXPORTS = {
    "BusyError": "errors",
    "Model": "models",
    "ModelRef": "models",
    "ScanOptions": "scan",
    "ScanSummary": "scan",
    "Settings": "config",
    "TaggerError": "errors",
    "TrackPrediction": "models",
    "TrackResult": "worker",
    "WriteOptions": "write",
    "available": "models",
    "build_report": "report",
    "list_tracks": "listing",
    "load_config": "config",
    "load_model": "models",
    "predict_file": "worker",
    "resolve": "models",
    "scan": "scan",
    "undo": "write",
    "write_tags": "write",
}

__all__ = [  # the names of _EXPORTS (a literal, which linters read)
    "BusyError",
    "Model",
    "ModelRef",
    "ScanOptions",
    "ScanSummary",
    "Settings",
    "TaggerError",
    "TrackPrediction",
    "TrackResult",
    "WriteOptions",
    "__version__",
    "available",
    "build_report",
    "list_tracks",
    "load_config",
    "load_model",
    "predict_file",
    "resolve",
    "scan",
    "undo",
    "write_tags",
]

if TYPE_CHECKING:
    from .config import Settings, load_config
    from .errors import BusyError, TaggerError
    from .listing import list_tracks
    from .models import (
        Model,
        ModelRef,
        TrackPrediction,
        available,
        load_model,
        resolve,
    )
    from .report import build_report
    from .scan import ScanOptions, ScanSummary, scan
    from .worker import TrackResult, predict_file
    from .write import WriteOptions, undo, write_tags


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """The package, whose ``scan`` stays the function when ``tagger.scan`` the module loads.

    Python binds each submodule to its package's attribute of the same name
    when the submodule is first imported; ``tagger.scan`` is the function, as
    it was when the package imported it eagerly.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
