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

from .errors import BusyError, TaggerError
from .scan import ScanSummary, scan
from .predict import predict_file
from .model import Model, ModelRef, TrackPrediction, available, resolve
from .report import build_report
from .write import WriteOptions, undo, write_tags

__all__ = ["scan", "ScanSummary", "predict_file", "write_tags", "WriteOptions", "undo",
           "build_report", "Model", "ModelRef", "TrackPrediction", "available", "resolve",
           "TaggerError", "BusyError", "__version__"]
