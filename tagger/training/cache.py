"""Extracted features on disk, so a second training run starts in seconds.

Keyed by the file (absolute path, size, mtime) and the exact ``FeatureSpec``:
change the audio or any feature setting and the entry is simply not found.
Extraction goes through ``tagger.decode`` and ``tagger.features``, the same
code a scan uses.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.decode import DecodeError
from tagger.features import FeatureSpec
from tagger.paths import cache_dir
from tagger.worker import track_input

from .data import Track

# Training sees every consecutive 3-second slice of a 30-second clip.
TRAIN_SLICES = 10


def default_cache_dir() -> Path:
    return cache_dir() / "features"


def cache_key(path: str, spec: FeatureSpec) -> str:
    st = os.stat(path)
    raw = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{spec.key()}|{TRAIN_SLICES}"
    return hashlib.sha1(raw.encode()).hexdigest()


def _extract_one(path: str, spec: FeatureSpec, target: Path) -> np.ndarray | str:
    try:
        _, x = track_input(path, spec, TRAIN_SLICES)
    except DecodeError as exc:
        # Remember failures too, so a second run does not decode a bad file again.
        target.parent.mkdir(parents=True, exist_ok=True)
        target.with_suffix(".err").write_text(str(exc))
        return str(exc)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, x)
    os.replace(tmp, target)
    return x


@dataclass
class Loaded:
    features: dict[str, np.ndarray]  # track id -> (slices, ...)
    decoded: int  # cache misses: files decoded in this call
    skipped: dict[str, str]  # track id -> why it was left out


def load_features(
    tracks: list[Track], spec: FeatureSpec, cache_dir: Path | None = None, jobs: int | None = None
) -> Loaded:
    """Features of every track, from the cache where present, else extracted in parallel."""
    from joblib import Parallel, delayed

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    out: dict[str, np.ndarray] = {}
    todo = []
    skipped = {}
    for t in tracks:
        target = cache / spec.kind / f"{cache_key(t.path, spec)}.npy"
        if target.exists():
            out[t.id] = np.load(target)
        elif target.with_suffix(".err").exists():
            skipped[t.id] = target.with_suffix(".err").read_text()
            warnings.warn(f"skipping {t.path}: {skipped[t.id]}", stacklevel=2)
        else:
            todo.append((t, target))
    results = (
        Parallel(n_jobs=jobs or os.cpu_count() or 1)(
            delayed(_extract_one)(t.path, spec, target) for t, target in todo
        )
        if todo
        else []
    )
    for (t, _), res in zip(todo, results):
        if isinstance(res, str):
            warnings.warn(f"skipping {t.path}: {res}", stacklevel=2)
            skipped[t.id] = res
        else:
            out[t.id] = res
    return Loaded(out, len(todo), skipped)
