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

Two cases, each with its own calibration.  A track of an album none of whose
tracks the head learnt from is judged on the head's own answer, with the
temperature and threshold measured on whole albums held out.  A track of an
album some of whose tracks it learnt from (the untagged half of a half-tagged
album) has more to go on: the head heard its album-mates, and their tags are
evidence of its genre.  Its probabilities are the head's, multiplied by how
much more often the album's tags name each genre than the library does
(``album_evidence``), with a temperature, a weight for that evidence and a
threshold measured on tagged tracks held out within their album.  Predicting
from audio (``HeadModel``) is the same: the scan passes each decoded track's
path and album tag (``Model.for_track``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TaggerError
from ..genres import spelling_key
from .base import LoadRequest, Model, TrackPrediction, softmax
from .card import SOFTMAX_HEAD, ModelCard
from .musicnn import N_TAGS

# The album's tags are smoothed towards the library's genre shares by this many
# pseudo-tracks: one tag is evidence, not proof (and no genre gets probability 0).
ALBUM_PSEUDO_TRACKS = 1.0


def album_key(path: str, album: str | None) -> str:
    """The album a track belongs to, for training splits and album evidence: its album tag
    (compared by spelling), else its folder."""
    key = spelling_key(album) if album else ""
    return f"album:{key}" if key else f"folder:{os.path.dirname(path)}"


def album_evidence(counts: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """log(P(genre | the album's tags) / P(genre)): (n, classes) tag counts -> (n, classes).

    ``P(genre | tags)`` is the album's share of each genre, smoothed by
    ``ALBUM_PSEUDO_TRACKS`` towards the library's shares ``prior``; divided by
    ``prior`` it is what the album adds to what the head already knows (the
    head's own answer carries the library's shares).  0 for a track with no
    tagged album-mate.
    """
    counts = np.asarray(counts, np.float64)
    share = (counts + ALBUM_PSEUDO_TRACKS * prior) / (
        counts.sum(axis=1, keepdims=True) + ALBUM_PSEUDO_TRACKS
    )
    return np.log(share / prior)


@dataclass
class SoftmaxHead:
    """``softmax((((x - mean) / scale) @ weights + bias) / temperature)``.

    With the album fields (``tagger retrain --from-library``): for a track of
    one of ``album_keys``, ``softmax(logits / album_temperature + album_weight
    * album_evidence(...))`` and ``album_threshold`` instead.  ``trained``:
    path -> (label, out-of-fold prediction) of each track it learnt from, so
    that a track's own tag is never evidence for itself and reports can judge
    the head on tracks it did not learn from.
    """

    genres: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # (dim, classes)
    bias: np.ndarray  # (classes,)
    temperature: float = 1.0
    threshold: float = 0.0  # abstain below this calibrated confidence
    album_keys: list[str] = field(default_factory=list)
    album_counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (albums, classes)
    prior: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the library's genre shares
    album_temperature: float = 1.0
    album_weight: float = 0.0
    album_threshold: float = 0.0
    trained: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Albums whose tagged tracks all carry genres it left out (too few to learn): their tags say
    # the album's genre is one it cannot name, so it labels none of their tracks.
    foreign: list[str] = field(default_factory=list)

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings -> (n, classes) calibrated probabilities, as for an album the
        head never heard."""
        return softmax(self.logits(x) / self.temperature)

    def album_counts_of(self, keys: list[str], paths: list[str] | None = None) -> np.ndarray:
        """(n, classes) tags of each track's album-mates the head learnt from; a track it
        learnt from is not counted as its own album-mate."""
        out = np.zeros((len(keys), len(self.genres)))
        index = {k: i for i, k in enumerate(self.album_keys)}
        for n, key in enumerate(keys):
            if key in index:
                out[n] = self.album_counts[index[key]]
        for n, path in enumerate(paths or []):
            if path in self.trained and out[n].sum() > 0:
                out[n, self.trained[path][0]] -= 1
        return out

    def foreign_of(self, keys: list[str]) -> np.ndarray:
        """Per track of the albums ``keys``: whether its album is one of ``foreign``."""
        foreign = set(self.foreign)
        return np.array([k in foreign for k in keys], bool)

    def predict(
        self, x: np.ndarray, keys: list[str] | None = None, paths: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities, thresholds, known) for (n, dim) embeddings of tracks whose albums
        are ``keys`` (``album_key``; None: no album known).  ``known``: the track's album
        has tagged tracks the head learnt from (the second case of the module notes).  A
        track of a ``foreign`` album gets an infinite threshold: it abstains."""
        logits = self.logits(x)
        probs = softmax(logits / self.temperature)
        thresholds = np.full(len(probs), self.threshold)
        if keys is None or not self.album_keys:
            return probs, thresholds, np.zeros(len(probs), bool)
        counts = self.album_counts_of(keys, paths)
        known = counts.sum(axis=1) > 0
        thresholds[self.foreign_of(keys) & ~known] = np.inf
        if known.any():
            probs[known] = softmax(
                logits[known] / self.album_temperature
                + self.album_weight * album_evidence(counts[known], self.prior)
            )
            thresholds[known] = self.album_threshold
        return probs, thresholds, known

    def save(self, path: Path) -> None:
        paths = list(self.trained)
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
                album_keys=np.array(self.album_keys, dtype=str),
                album_counts=self.album_counts,
                prior=self.prior,
                album_calibration=np.array(
                    [self.album_temperature, self.album_weight, self.album_threshold]
                ),
                trained_paths=np.array(paths, dtype=str),
                trained_labels=np.array([self.trained[p] for p in paths], dtype=np.int32).reshape(
                    -1, 2
                ),
                foreign_albums=np.array(self.foreign, dtype=str),
            )

    @classmethod
    def load(cls, path: Path) -> SoftmaxHead:
        try:
            with np.load(path, allow_pickle=False) as d:
                head = cls(
                    genres=[str(g) for g in d["genres"]],
                    mean=d["mean"],
                    scale=d["scale"],
                    weights=d["weights"],
                    bias=d["bias"],
                    temperature=float(d["temperature"]),
                    threshold=float(d["threshold"]),
                )
                if "album_keys" in d.files:  # a head trained on a library
                    head.album_keys = [str(k) for k in d["album_keys"]]
                    head.album_counts, head.prior = d["album_counts"], d["prior"]
                    t, w, th = (float(v) for v in d["album_calibration"])
                    head.album_temperature, head.album_weight, head.album_threshold = t, w, th
                    head.trained = {
                        str(p): (int(label), int(oof))
                        for p, (label, oof) in zip(d["trained_paths"], d["trained_labels"])
                    }
                    if "foreign_albums" in d.files:  # heads learnt before it was kept: none
                        head.foreign = [str(k) for k in d["foreign_albums"]]
                return head
        except (OSError, ValueError, KeyError) as exc:
            raise TaggerError(f"cannot load model {path}: {exc}") from None


def predict_embeddings(
    head: SoftmaxHead,
    embeddings: np.ndarray,
    keys: list[str] | None = None,
    paths: list[str] | None = None,
) -> list[TrackPrediction]:
    """Predictions from (n, dim) embeddings: one matrix product, no audio, no TensorFlow.

    ``keys``: each track's ``album_key`` (the album's tags count as evidence);
    ``paths``: each track's path (its own tag does not).
    """
    probs, thresholds, _ = head.predict(embeddings, keys, paths)
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(probs)), best]
    rounded = np.round(probs, 5).tolist()
    return [
        TrackPrediction(
            genre=head.genres[b],
            confidence=float(c),
            probabilities=dict(zip(head.genres, row)),
            uncertain=bool(c < t),
        )
        for b, c, t, row in zip(best.tolist(), conf.tolist(), thresholds.tolist(), rounded)
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

    def for_track(self, pred: TrackPrediction, path: str, album: str | None) -> TrackPrediction:
        """A decoded track of an album the head learnt from is judged as a re-labelled one
        is: the album's tags count (``SoftmaxHead.predict``)."""
        if not self.head.album_keys or pred.embedding is None:
            return pred
        out = predict_embeddings(
            self.head, pred.embedding[None, :], [album_key(path, album)], [path]
        )[0]
        out.tags, out.embedding, out.engine = pred.tags, pred.embedding, pred.engine
        return out


def held_out_genres(path: Path) -> dict[str, str]:
    """Track path -> the genre a head trained without its album gave it, for every track the
    head at ``path`` learnt from (empty for a head trained on a genre folder).

    What a report compares with a track's own tag: the shipped head learnt
    that tag, so its own answer there agrees by construction.
    """
    head = SoftmaxHead.load(path)
    return {p: head.genres[oof] for p, (_, oof) in head.trained.items()}
