"""Predict one file without the database: what ``tagger show`` prints."""
from __future__ import annotations

import os

from .analyse import track_input
from .decode import DecodeError
from .errors import TaggerError
from .model import ModelRef, TrackPrediction, resolve


def predict_file(path: str | os.PathLike, model: str | None = None
                 ) -> tuple[ModelRef, TrackPrediction, str | None]:
    """(model used, prediction, notice) for one file; decode failures are TaggerErrors."""
    if not os.path.isfile(path):
        raise TaggerError(f"no such file: {path}")
    ref, notice = resolve(model)
    loaded = ref.load()
    spec = loaded.spec
    try:
        _, x = track_input(path, spec)
    except DecodeError as exc:
        raise TaggerError(f"{path}: {exc}") from None
    return ref, loaded.predict_tracks([x])[0], notice


def top_k(probabilities: dict[str, float], k: int = 3) -> list[tuple[str, float]]:
    return sorted(probabilities.items(), key=lambda kv: -kv[1])[:k]
