"""tagger: offline batch genre tagging for personal music libraries.

Everything the command line does is a function here, so scripts can do it too::

    import tagger
    summary = tagger.scan(["~/Music"], db="library.db")
    print(summary.scanned, summary.errors)

Data flows one way: walk -> decode -> features -> model -> store -> tags.
Training and evaluation live in ``tagger.training.retrain`` (``retrain``,
``evaluate``), kept out of this namespace so that scanning imports stay light.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import Settings, load_config
from .errors import BusyError, TaggerError
from .listing import list_tracks
from .models import Model, ModelRef, TrackPrediction, available, load_model, resolve
from .report import build_report
from .scan import ScanOptions, ScanSummary, scan
from .worker import TrackResult, predict_file
from .write import WriteOptions, undo, write_tags

__all__ = [
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
