"""Softmax heads on musicnn embeddings: the ``library`` and ``head`` model kinds.

A head is a linear softmax over a track's musicnn embedding (both nets'
penultimate layers, mean over patches; ``tagger.embeddings``), trained by
``tagger retrain --from-library`` on the genres a library's files already
carry (kind ``library``), or by ``tagger retrain --data DIR --model head`` on a
``<genre>/<files>`` folder (kind ``head``).  Its files: ``<name>.npz`` (plain
arrays, loaded without pickle) and the card ``<name>.json``, which names the
musicnn version whose embeddings it was trained on.

Two ways to use it:

* on audio, like any model: the musicnn net gives each patch's 500 columns, the
  pooled embedding goes through the head (``HeadModel``);
* on stored embeddings, with no audio and no TensorFlow at all
  (``predict_embeddings``): how a scan re-labels unchanged files.

A track whose calibrated confidence is under the card's ``threshold`` (chosen
on held-out tracks) is marked ``uncertain``: stored, listed by ``report``, not
written by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TaggerError
from .base import LoadRequest, Model, TrackPrediction, softmax
from .card import SOFTMAX_HEAD, ModelCard
from .musicnn import N_TAGS


@dataclass
class SoftmaxHead:
    """``softmax((((x - mean) / scale) @ weights + bias) / temperature)``."""

    genres: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (dim, classes)
    bias: np.ndarray  # (classes,)
    temperature: float = 1.0
    threshold: float = 0.0  # abstain below this calibrated confidence

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings -> (n, classes) calibrated probabilities."""
        return softmax(self.logits(x) / self.temperature)

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(
                f,
                genres=np.array(self.genres),
                mean=self.mean,
                scale=self.scale,
                weights=self.weights,
                bias=self.bias,
                temperature=np.float64(self.temperature),
                threshold=np.float64(self.threshold),
            )

    @classmethod
    def load(cls, path: Path) -> SoftmaxHead:
        try:
            with np.load(path, allow_pickle=False) as d:
                return cls(
                    genres=[str(g) for g in d["genres"]],
                    mean=d["mean"],
                    scale=d["scale"],
                    weights=d["weights"],
                    bias=d["bias"],
                    temperature=float(d["temperature"]),
                    threshold=float(d["threshold"]),
                )
        except (OSError, ValueError, KeyError) as exc:
            raise TaggerError(f"cannot load model {path}: {exc}") from None


def predict_embeddings(head: SoftmaxHead, embeddings: np.ndarray) -> list[TrackPrediction]:
    """Predictions from (n, dim) embeddings: one matrix product, no audio, no TensorFlow."""
    probs = head.probabilities(embeddings)
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(probs)), best]
    rounded = np.round(probs, 5).tolist()
    return [
        TrackPrediction(
            genre=head.genres[b],
            confidence=float(c),
            probabilities=dict(zip(head.genres, row)),
            uncertain=bool(c < head.threshold),
        )
        for b, c, row in zip(best.tolist(), conf.tolist(), rounded)
    ]


def embedder_of(card: ModelCard) -> str:
    """The musicnn version a head's card says it was trained on (``musicnn 0.1.0+tagger1``)."""
    try:
        return str(card.details["embedder"])
    except KeyError:
        raise TaggerError(f"model card of {card.name} does not name its embedder") from None


class HeadModel(Model):
    """A softmax head run on the musicnn embedding of decoded audio.

    The loader loads musicnn first (``embedder_kind``) and passes it in as
    ``base``: its net, engine and precision are the head's.
    """

    model_class = SOFTMAX_HEAD
    embedder_kind = "musicnn"

    def __init__(self, request: LoadRequest):
        super().__init__(request)
        card, base = request.card, request.base
        if base is None:
            raise TaggerError(
                f"model {card.name} runs on {self.embedder_kind}, which was not given"
            )
        self.head = SoftmaxHead.load(request.path)
        self.embedder = embedder_of(card)
        self.musicnn = base
        self.engine, self.fallback = base.engine, base.fallback
        if base.embedder != self.embedder:
            raise TaggerError(
                f"model {card.name} was trained on embeddings of {self.embedder}, but this "
                f"tagger has {base.embedder}; train it again (`tagger retrain`)"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.musicnn.forward(x)

    def to_genres(self, raw: np.ndarray) -> np.ndarray:
        return self.head.probabilities(raw[..., 2 * N_TAGS :])

    def to_tags(self, raw: np.ndarray) -> dict[str, float] | None:
        return self.musicnn.to_tags(raw)

    def to_embedding(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw[2 * N_TAGS :], dtype=np.float32)

    def pooled_prediction(self, pooled: np.ndarray) -> TrackPrediction:
        pred = predict_embeddings(self.head, self.to_embedding(pooled)[None, :])[0]
        pred.tags, pred.embedding = self.to_tags(pooled), self.to_embedding(pooled)
        pred.engine = str(self.engine)
        return pred
