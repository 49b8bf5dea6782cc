"""The pretrained musicnn taggers (MTT and MSD nets) as one tagger model.

Both nets run on one shared 16 kHz spectrogram.  Per patch the combined net
gives 500 columns: MTT's 50 tags, MSD's 50 tags, then each net's penultimate
layer (``dense``, 200 ReLU units: MTT's, then MSD's).  Pooled over a track's
patches, the tags are stored as they are (``tags``) and become genre
probabilities by the card's genre rule (``musicnn_genres.genre_probabilities``:
priors from the nets' training data, a calibrated confidence, and an
``uncertain`` flag when no genre clearly wins); the 400 penultimate values
are the track's embedding, which similarity search and user-trained heads use.

The Keras graph (``build_combined``) is the source of truth; scans run the
same graph converted to OpenVINO when it can (``tagger.inference``: bfloat16
where the CPU has it, or float32), else the Keras graph on TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..inference import TENSORFLOW, RuntimeUnavailable, open_openvino
from .base import LoadRequest, Model, TrackPrediction, compiled
from .card import MUSICNN_NETS, ModelCard
from .musicnn_genres import GenreRule, genre_probabilities, tag_dict

N_TAGS = 50
EMBEDDING_UNITS = 200  # per net
OUTPUTS = 2 * N_TAGS + 2 * EMBEDDING_UNITS
# Patches per call of the net.  A compiled graph keeps buffers for the largest batch
# it has seen, ~10 MB a patch in bfloat16 and ~20 MB in float32 (32 patches: +680 MB
# in a worker), while a patch costs no more in a batch of 4 than of 32
# (``benchmarks/worker_memory.py``, ``benchmarks/net_batch.py``): small calls keep a
# worker lean.
NET_BATCH = 4


def build_combined(
    card: ModelCard,
    folder: Path,
    threads: int | None = None,
    prune: bool = True,
    quiet: float = 0.0,
):
    """The Keras graph: (n, 187, 96) patches -> (n, 500) [MTT tags, MSD tags, MTT emb, MSD emb].

    ``prune`` leaves out the nets' dead filters (``prune_dead_filters``): the
    same outputs at 2.6x fewer multiply-adds.  ``prune=False`` is the graph
    exactly as the checkpoints hold it.  ``quiet`` > 0 also leaves out the
    filters that cannot move their channel by that much, and runs both nets'
    front-ends as one with their constant channels folded into the layers that
    read them (``shared_front``: the fast graph).
    """
    from ..nets.musicnn import build_musicnn, prune_dead_filters, shared_front
    from ..runtime import keras_module

    keras = keras_module(threads)
    inp = keras.Input(card.spec.input_shape())
    nets = []
    for key in ("mtt", "msd"):
        net = build_musicnn(len(card.details["nets"][key]["labels"]), name=f"musicnn_{key}")
        net.load_weights(folder / card.details["nets"][key]["file"])
        nets.append(net)
    if prune and quiet > 0:
        return keras.Model(inp, keras.layers.Concatenate()(shared_front(nets, quiet)(inp)))
    tags, embeddings = [], []
    for key, net in zip(("mtt", "msd"), nets):
        if prune:
            net = prune_dead_filters(net)
        both = keras.Model(
            net.input,
            [net.output, net.get_layer("dense").output],
            name=f"musicnn_{key}_with_embedding",
        )
        t, e = both(inp)
        tags.append(t)
        embeddings.append(e)
    return keras.Model(inp, keras.layers.Concatenate()(tags + embeddings))


def embedder_id(card: ModelCard) -> str:
    """How stored embeddings name the net that made them: ``musicnn <card version>``."""
    return f"{card.name} {card.version}"


class MusicnnModel(Model):
    """Both pretrained musicnn nets, their tags read by the card's genre rule, with an embedding."""

    model_class = MUSICNN_NETS
    multilabel = True  # independent tag probabilities, merged into genres

    def __init__(self, request: LoadRequest):
        super().__init__(request)
        card = request.card
        self.rule = GenreRule.from_dict(card.details["genre_rule"])
        self.genres = list(self.rule.genres)
        self.embedder = embedder_id(card)
        self.folder, self.threads = request.path.parent, request.threads
        self._net = None
        self._call: Callable[[np.ndarray], np.ndarray]
        try:
            fast = open_openvino(
                card.details.get("openvino"), self.folder, request.precision, self.threads
            )
            self._call, self.engine, self.fallback = fast, fast.engine, None
        except RuntimeUnavailable as exc:
            self._call, self.engine, self.fallback = compiled(self.net), TENSORFLOW, str(exc)

    @property
    def net(self):
        """The Keras graph, built on first use (a scan on OpenVINO never imports TensorFlow)."""
        if self._net is None:
            self._net = build_combined(self.card, self.folder, self.threads)
        return self._net

    def forward(self, x: np.ndarray) -> np.ndarray:
        if len(x) <= NET_BATCH:
            return self._call(x)
        return np.concatenate(
            [self._call(x[i : i + NET_BATCH]) for i in range(0, len(x), NET_BATCH)]
        )

    def to_genres(self, raw: np.ndarray) -> np.ndarray:
        return genre_probabilities(raw[..., :N_TAGS], raw[..., N_TAGS : 2 * N_TAGS], self.rule)

    def pooled_prediction(self, pooled: np.ndarray) -> TrackPrediction:
        """The base prediction, flagged uncertain when its top genre holds under the
        rule's ``uncertain_below``."""
        pred = super().pooled_prediction(pooled)
        pred.uncertain = pred.confidence < self.rule.uncertain_below
        return pred

    def to_tags(self, raw: np.ndarray) -> dict[str, float]:
        return tag_dict(raw[:N_TAGS], raw[N_TAGS : 2 * N_TAGS])

    def to_embedding(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw[2 * N_TAGS :], dtype=np.float32)
