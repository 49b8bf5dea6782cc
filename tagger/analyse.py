"""The per-file work of a scan: decode -> features -> model, for a chunk of files.

This runs inside worker processes (joblib/loky or Dask).  It never touches the
database or the files' tags: it returns plain row dicts, and the scanning
process alone writes them.  The model is loaded once per worker (``ModelRef.load``
caches it) and applied to all tracks of the chunk in one batch.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator

import numpy as np

from .errors import one_line
from .decode import Decoded, DecodeError, decode
from .features import FeatureSpec, extract
from .model import ModelRef
from .store import now
from .tags import TagError, read_genres


class FileTimeout(BaseException):
    """Raised by the per-file alarm.

    A BaseException, like KeyboardInterrupt: it arrives asynchronously, and
    the decoders' ``except Exception`` fallbacks (try the next backend) must
    not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``FileTimeout`` in this thread after ``seconds`` (main thread only).

    This stops a decoder looping in Python; one stuck inside native code is
    stopped by the scanning process, which kills the worker (see ``scan``).
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise FileTimeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def track_input(path: str | os.PathLike, spec: FeatureSpec,
                n_slices: int | None = None) -> tuple[Decoded, np.ndarray]:
    """A file's decoded windows and the model input ``spec`` makes of them.

    The one place where decoding and feature extraction meet, for scans,
    ``tagger show``, training and the benchmarks alike.  ``n_slices``
    overrides the spec's window count (training reads every slice).
    """
    dec = decode(path, spec.sr, n_slices or spec.n_slices, spec.slice_seconds)
    return dec, extract(dec.windows, spec)


def new_row(ref: ModelRef, path: str, size: int | None, mtime: float | None,
            error: str | None = None) -> dict:
    """A complete ``tracks`` row with no result yet (or only an error)."""
    return {"path": path, "size": size, "mtime": mtime, "model": ref.name,
            "model_version": ref.version, "scanned_at": now(), "error": error, "missing": 0,
            "genre": None, "confidence": None, "probabilities": None, "tags": None,
            "duration": None, "format": None, "slices": None, "tag_genre": None}


def analyse_files(ref: ModelRef, items: list[tuple[str, int, float]],
                  timeout: float | None = 120.0, threads: int | None = None) -> list[dict]:
    """Rows for ``tracks`` for each (path, size, mtime); failures become ``error`` rows."""
    model = ref.load(threads)
    spec = model.spec
    rows: list[dict] = []
    inputs, owners = [], []
    for path, size, mtime in items:
        row = new_row(ref, path, size, mtime)
        try:
            with time_limit(timeout):
                dec, x = track_input(path, spec)
            row.update(duration=round(dec.duration, 3), format=dec.format, slices=len(x))
            inputs.append(x)
            owners.append(row)
        except DecodeError as exc:
            row["error"] = str(exc)
        except FileTimeout:
            row["error"] = f"timed out after {timeout:g} s"
        except MemoryError:
            row["error"] = "out of memory while decoding"
        except Exception as exc:  # one bad file must never stop the others
            row["error"] = f"{type(exc).__name__}: {one_line(exc)}"
        if row["error"] is None:
            try:
                row["tag_genre"] = "; ".join(read_genres(path, row["format"])) or None
            except TagError:
                pass  # an unreadable tag block does not make the audio unusable
        rows.append(row)
    if inputs:
        try:
            preds = model.predict_tracks(inputs)
        except Exception as exc:
            for row in owners:
                row["error"] = f"model failed: {one_line(exc)}"
        else:
            for row, pred in zip(owners, preds):
                row.update(genre=pred.genre, confidence=round(pred.confidence, 5),
                           probabilities=pred.probabilities, tags=pred.tags)
    return rows


def worker_threads(jobs: int) -> int:
    """TensorFlow threads per worker so that all workers together fill the CPUs once."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))
