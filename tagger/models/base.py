"""The model interface every model class implements, and the prediction it returns.

Every model has a ``name``, a ``version``, its ``genres``, a ``kind``
(``multiclass`` or ``multilabel``, from its card: ``tagger.models.card``) and
the ``FeatureSpec`` of its input.  ``predict_tracks`` takes each track's
feature rows (one per 3-second slice), runs the net over all slices of all
tracks in batches, and pools each track's slice outputs by their mean.  Every
model class is interchangeable to the rest of tagger; the registry
(``tagger.models.registry``) says which kinds exist, the loader
(``tagger.models.loader``) loads them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..features import FeatureSpec
from ..inference import TENSORFLOW, Engine
from .card import ModelCard

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


@dataclass(frozen=True)
class LoadRequest:
    """What the loader gives a model class to load: its file (or card), its card, the
    threads its net may use, the precision asked for, and ``base``, the loaded model
    of its ``embedder_kind`` (None for a model with its own net)."""

    path: Path
    card: ModelCard
    threads: int | None = None
    precision: str = "auto"
    base: Model | None = None


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large logits."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Model(ABC):
    """The interface every genre model implements.

    A model class declares what the registry and the loader need to know of
    it: the ``model_class`` its cards name, whether its genre scores are
    independent (``multilabel``), and the kind whose net it runs on
    (``embedder_kind``: a head runs on musicnn's), which the loader loads first
    and passes in as ``base``.
    """

    model_class: ClassVar[str]
    multilabel: ClassVar[bool] = False
    embedder_kind: ClassVar[str | None] = None

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
    # Abstain under this top-genre probability (the card's, chosen on held-out tracks); a
    # model whose card has none never abstains.
    threshold: float = 0.0

    def __init__(self, request: LoadRequest):
        """Every class is loaded alike, from a ``LoadRequest``."""
        card = request.card
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

    def for_track(self, pred: TrackPrediction, path: str, album: str | None) -> TrackPrediction:
        """``pred`` given what else is known of the track: its path and album tag.  The audio
        alone decides for most models; a head trained on a library also weighs the tags of
        the album's tracks it learnt from (``HeadModel``)."""
        return pred

    def pooled_prediction(self, pooled: np.ndarray) -> TrackPrediction:
        """A track's prediction from its slice outputs' mean."""
        probs = self.to_genres(pooled)
        best = int(np.argmax(probs))
        return TrackPrediction(
            genre=self.genres[best],
            confidence=float(probs[best]),
            probabilities={g: round(float(p), 5) for g, p in zip(self.genres, probs)},
            uncertain=bool(probs[best] < self.threshold),
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
