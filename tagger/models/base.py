"""The model interface, its card, and the reference a scan passes to its workers.

Every model has a ``name``, a ``version``, its ``genres``, a ``kind``
(``multiclass``: one softmax over genres, so probabilities sum to one;
``multilabel``: one independent probability per genre) and the ``FeatureSpec``
of its input.  ``predict_tracks`` takes each track's feature rows (one per
3-second slice), runs the net over all slices of all tracks in batches, and
pools each track's slice outputs by their mean.  Every model kind is
interchangeable to the rest of tagger; the registry (``tagger.models.registry``)
says which kinds exist.

A model on disk is its files plus a JSON **card** (``<name>.json``): what data
it saw, how it was split and measured, the command that made it, its licence,
and ``model_class``, the loader that reads it.  Cards are read and written
here only (``read_card``/``write_card``).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TaggerError
from ..features import FeatureSpec
from ..inference import TENSORFLOW, Engine, engine_for

# Slices per forward pass: large enough to amortise the call, small enough
# to bound a worker's memory (musicnn's front-end holds ~9 MB per slice).
BATCH = 32


@dataclass
class TrackPrediction:
    """A track's pooled result: what the database stores."""

    genre: str
    confidence: float
    probabilities: dict[str, float]
    tags: dict[str, float] | None = None
    # True when the model abstains: its confidence is under the threshold its
    # card chose on held-out tracks; the genre is stored but not written.
    uncertain: bool = False
    # A fixed-length description of the track's sound (musicnn's penultimate
    # layers, mean over patches), for similarity and user-trained heads.
    embedding: np.ndarray | None = None
    # What ran the net ("openvino bfloat16"), so a scan can tell when a worker
    # had to fall back; not stored.
    engine: str | None = None


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large logits."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class ModelCard:
    """A model's card: the fields tagger needs to load and use it, and everything else.

    ``details`` keeps the rest of the JSON (accuracy, data, split, command,
    licence, ...) as written, so a card survives a read-write round trip.
    """

    name: str
    version: str
    model_class: str
    kind: str
    genres: list[str]
    spec: FeatureSpec
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, where: Path | str = "card") -> ModelCard:
        try:
            return cls(
                name=d["name"],
                version=str(d["version"]),
                # cards written before model_class existed: musicnn or a Keras classifier
                model_class=d.get("model_class")
                or ("musicnn" if d["name"] == "musicnn" else "keras-classifier"),
                kind=d.get("kind", "multiclass"),
                genres=list(d.get("genres") or []),
                spec=FeatureSpec.from_dict(d["features"]),
                details={k: v for k, v in d.items() if k not in _CORE},
            )
        except (KeyError, TypeError) as exc:
            raise TaggerError(f"model card {where} lacks {exc}") from None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "model_class": self.model_class,
            "kind": self.kind,
            "genres": self.genres,
            "features": self.spec.to_dict(),
            **self.details,
        }

    def get(self, key: str, default: Any = None) -> Any:
        """A card field by its JSON name (``accuracy``, ``licence``, ``synthetic``, ...)."""
        return self.to_dict().get(key, default)


_CORE = frozenset({"name", "version", "model_class", "kind", "genres", "features"})


def card_path(model_file: Path) -> Path:
    """``resnet.keras`` -> ``resnet.json``, ``library.npz`` -> ``library.json``.

    A card path is its own card path."""
    return model_file.with_suffix(".json")


def read_card(path: Path) -> ModelCard:
    try:
        return ModelCard.from_dict(json.loads(path.read_text()), path)
    except FileNotFoundError:
        raise TaggerError(f"model card not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise TaggerError(f"cannot read model card {path}: {exc}") from None


def write_card(folder: Path, card: ModelCard | dict) -> Path:
    """Write ``<folder>/<name>.json`` atomically; the one place cards are written."""
    data = card.to_dict() if isinstance(card, ModelCard) else card
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{data['name']}.json"
    tmp = folder / f".{data['name']}.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


class Model(ABC):
    """The interface every genre model implements."""

    name: str
    version: str
    genres: list[str]
    kind: str  # "multiclass" | "multilabel"
    spec: FeatureSpec
    card: ModelCard
    # "<name> <version>" of the net whose embedding ``to_embedding`` returns
    # (for a head: the musicnn it runs on), None for models without one.
    embedder: str | None = None
    engine: Engine = TENSORFLOW
    fallback: str | None = None  # why not the fast runtime, where a model has one

    def __init__(self, card: ModelCard):
        self.card = card
        self.name = card.name
        self.version = card.version
        self.genres = list(card.genres)
        self.kind = card.kind
        self.spec = card.spec

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """(n, *input_shape) slice inputs -> (n, k) raw outputs (probabilities or tag scores)."""

    def to_genres(self, raw: np.ndarray) -> np.ndarray:
        """(..., k) raw outputs -> (..., len(genres)) genre probabilities."""
        return raw

    def to_tags(self, raw: np.ndarray) -> dict[str, float] | None:
        """A track's pooled raw outputs as a tag dict, for models with a tag vocabulary."""
        return None

    def to_embedding(self, raw: np.ndarray) -> np.ndarray | None:
        """A track's pooled raw outputs -> its embedding, for models that give one."""
        return None

    def forward_batched(self, x: np.ndarray) -> np.ndarray:
        """``forward`` over any number of slices, ``BATCH`` at a time (bounded memory)."""
        return np.concatenate(
            [np.asarray(self.forward(x[i : i + BATCH])) for i in range(0, len(x), BATCH)]
        )

    def predict_tracks(self, inputs: list[np.ndarray]) -> list[TrackPrediction]:
        """Predict several tracks at once: one batched pass over all their slices."""
        if not inputs:
            return []
        raw = self.forward_batched(np.concatenate(inputs).astype(np.float32, copy=False))
        bounds = np.cumsum([0] + [len(x) for x in inputs])
        return [
            self.pooled_prediction(raw[a:b].mean(axis=0)) for a, b in zip(bounds[:-1], bounds[1:])
        ]

    def pooled_prediction(self, pooled: np.ndarray) -> TrackPrediction:
        """A track's prediction from its slice outputs' mean."""
        probs = self.to_genres(pooled)
        best = int(np.argmax(probs))
        return TrackPrediction(
            genre=self.genres[best],
            confidence=float(probs[best]),
            probabilities={g: round(float(p), 5) for g, p in zip(self.genres, probs)},
            tags=self.to_tags(pooled),
            embedding=self.to_embedding(pooled),
            engine=str(self.engine),
        )


def compiled(net) -> Callable[[np.ndarray], np.ndarray]:
    """``net`` as one traced graph for any batch size (no retracing per batch shape)."""
    import tensorflow as tf

    sig = tf.TensorSpec([None, *net.input_shape[1:]], tf.float32)
    fn = tf.function(lambda x: net(x, training=False), input_signature=[sig])
    return lambda x: fn(x).numpy()


@dataclass(frozen=True)
class ModelRef:
    """What the scanning process needs to know about a model without loading it.

    Workers call ``load()``; the main process never imports TensorFlow.
    ``card_file`` is the card; ``path`` what the user named (a ``.keras``
    file, or the card itself).
    """

    name: str
    version: str
    kind: str
    genres: tuple[str, ...]
    spec: FeatureSpec
    path: str
    card_file: str
    model_class: str
    source: str  # user | shipped | file
    precision: str = "auto"  # auto | float32 (tagger.inference); ignored without a choice

    @classmethod
    def of(
        cls, card: ModelCard, path: Path, card_file: Path, source: str, version: str | None = None
    ) -> ModelRef:
        return cls(
            card.name,
            version or card.version,
            card.kind,
            tuple(card.genres),
            card.spec,
            str(path),
            str(card_file),
            card.model_class,
            source,
        )

    @property
    def card(self) -> ModelCard:
        return read_card(Path(self.card_file))

    def engine(self) -> tuple[Engine, str | None]:
        """What will run this model's net here, and why not OpenVINO (None when it is or
        the model has no converted graph); decided without loading anything heavy.  A
        head runs on musicnn's net, so musicnn's graph decides."""
        card = self.card
        if card.details.get("embedder") and "openvino" not in card.details:
            from .registry import resolve

            return replace(resolve("musicnn")[0], precision=self.precision).engine()
        return engine_for(card.details.get("openvino"), Path(self.card_file).parent, self.precision)

    def load(self, threads: int | None = None) -> Model:
        """The model, loaded once per process (workers reuse it for every chunk)."""
        from ..runtime import stderr_silenced
        from .registry import loader

        key = (self.path, self.version, self.precision)
        if key not in _LOADED:
            with stderr_silenced():  # TensorFlow's start-up logging
                model = loader(self.model_class)(
                    Path(self.path), self.card, threads, self.precision
                )
                model.version = self.version
                # Trace the graph now, so the first file pays no extra cost.
                model.forward(np.zeros((1, *model.spec.input_shape()), np.float32))
            _LOADED[key] = model
        return _LOADED[key]


_LOADED: dict[tuple[str, str, str], Model] = {}
