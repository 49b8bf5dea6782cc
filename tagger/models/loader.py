"""Loading a resolved model, and which engine will run it.

The registry (``tagger.models.registry``) says what a model is; this module
makes it run: which engine (OpenVINO or TensorFlow) and precision its net gets
here, the one-line notice when it cannot have the fast one, and loading it
with the model it runs on loaded first (a head runs on musicnn's net).
``ModelCache`` keeps loaded models for whoever loads many times in one
process: a scan's worker loads its model once for every chunk it is given.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import TaggerError
from ..inference import Engine, check_precision, engine_for
from ..runtime import stderr_silenced
from .base import LoadRequest, Model
from .registry import LOADERS, ModelRef, loader_class, resolve


def base_ref(ref: ModelRef) -> ModelRef | None:
    """The model ``ref``'s net belongs to (musicnn, for a head) at its precision, or None."""
    cls = LOADERS.get(ref.model_class)
    if cls is None or cls.embedder_kind is None:
        return None
    return replace(resolve(cls.embedder_kind)[0], precision=ref.precision)


def planned_engine(ref: ModelRef) -> tuple[Engine, str | None]:
    """What will run ``ref``'s net here, and why not OpenVINO (None when it is or the model
    has no converted graph); decided without loading anything heavy.  A head runs on
    musicnn's net, so musicnn's graph decides."""
    base = base_ref(ref)
    if base is not None:
        return planned_engine(base)
    card = ref.card
    return engine_for(card.details.get("openvino"), Path(ref.card_file).parent, ref.precision)


def fallback_notice(name: str, why: str | None) -> str | None:
    """The one line that says a model runs on TensorFlow instead of its converted graph."""
    if not why:
        return None
    return f"notice: {name} runs on TensorFlow, not OpenVINO ({why}): slower start-up and scans"


def with_precision(ref: ModelRef, precision: str | None) -> tuple[ModelRef, Engine, str | None]:
    """``ref`` set to run at ``precision``, the engine that will run it, and a notice when
    the fast runtime cannot (the model then runs on TensorFlow)."""
    try:
        ref = replace(ref, precision=check_precision(precision))
    except ValueError as exc:
        raise TaggerError(str(exc)) from None
    engine, why = planned_engine(ref)
    return ref, engine, fallback_notice(ref.name, why)


def load_model(ref: ModelRef, threads: int | None = None, cache: ModelCache | None = None) -> Model:
    """The model ``ref`` names, its graph traced so the first file pays no extra cost.

    The model it runs on is loaded first, through ``cache`` when one is given
    (so a head and musicnn in one process share one musicnn)."""
    cls = loader_class(ref.model_class)
    base = base_ref(ref)
    embedder = None
    if base is not None:
        embedder = cache.get(base, threads) if cache else load_model(base, threads)
    with stderr_silenced():  # TensorFlow's start-up logging
        model = cls(LoadRequest(Path(ref.path), ref.card, threads, ref.precision, embedder))
        model.version = ref.version
        model.forward(np.zeros((1, *model.spec.input_shape()), np.float32))
    return model


class ModelCache:
    """Loaded models by file, version and precision, each loaded once.

    Loading costs seconds (a TensorFlow import, a graph compiled); a worker
    process analyses many chunks with the same model, so it keeps one cache
    for its whole life.
    """

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, str], Model] = {}

    def get(self, ref: ModelRef, threads: int | None = None) -> Model:
        key = (ref.path, ref.version, ref.precision)
        if key not in self._models:
            self._models[key] = load_model(ref, threads, self)
        return self._models[key]
