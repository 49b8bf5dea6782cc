"""Models behind one small interface, and how a model name becomes a model.

Every model has a ``name``, a ``version``, its ``genres``, a ``kind``
(``multiclass``: one softmax over genres, so probabilities sum to one;
``multilabel``: one independent probability per genre) and the ``FeatureSpec``
of its input.  ``predict_tracks`` takes each track's feature rows (one per
3-second slice), runs the net over all slices of all tracks in batches, and
pools each track's slice outputs by their mean.  ResNet, MLP and musicnn are
interchangeable to everything else in tagger.

Resolution: ``resnet``/``mlp`` name the trained model in the user's model
folder (written by ``tagger retrain``) or else the shipped one; ``musicnn`` is
the shipped port of the pretrained musicnn taggers; anything else is a path to
a ``.keras`` file with its card (``.json``) beside it.  The default is the
ResNet when one is installed, else musicnn.
"""
from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import TaggerError
from .features import FeatureSpec
from .paths import shipped_models_dir, user_models_dir

TRAINABLE = ("resnet", "mlp")
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


class Model(ABC):
    """The interface every genre model implements."""

    name: str
    version: str
    genres: list[str]
    kind: str  # "multiclass" | "multilabel"
    spec: FeatureSpec
    card: dict

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """(n, *input_shape) slice inputs -> (n, k) raw outputs (probabilities or tag scores)."""

    def to_genres(self, raw: np.ndarray) -> np.ndarray:
        """(..., k) raw outputs -> (..., len(genres)) genre probabilities."""
        return raw

    def to_tags(self, raw: np.ndarray) -> dict[str, float] | None:
        """A track's pooled raw outputs as a tag dict, for models with a tag vocabulary."""
        return None

    def forward_batched(self, x: np.ndarray) -> np.ndarray:
        """``forward`` over any number of slices, ``BATCH`` at a time (bounded memory)."""
        return np.concatenate([np.asarray(self.forward(x[i:i + BATCH]))
                               for i in range(0, len(x), BATCH)])

    def predict_tracks(self, inputs: list[np.ndarray]) -> list[TrackPrediction]:
        """Predict several tracks at once: one batched pass over all their slices."""
        if not inputs:
            return []
        raw = self.forward_batched(np.concatenate(inputs).astype(np.float32, copy=False))
        bounds = np.cumsum([0] + [len(x) for x in inputs])
        preds = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            pooled = raw[a:b].mean(axis=0)
            probs = self.to_genres(pooled)
            best = int(np.argmax(probs))
            preds.append(TrackPrediction(
                genre=self.genres[best],
                confidence=float(probs[best]),
                probabilities={g: round(float(p), 5) for g, p in zip(self.genres, probs)},
                tags=self.to_tags(pooled),
            ))
        return preds


def compiled(net):
    """``net`` as one traced graph for any batch size (no retracing per batch shape)."""
    import tensorflow as tf

    sig = tf.TensorSpec([None, *net.input_shape[1:]], tf.float32)
    fn = tf.function(lambda x: net(x, training=False), input_signature=[sig])
    return lambda x: fn(x).numpy()


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable for large logits."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class KerasClassifier(Model):
    """A single-label classifier (ResNet or MLP) saved as ``.keras`` with a JSON card.

    The net outputs logits; the card's ``temperature`` (fitted on the
    validation split) scales them before the softmax, so confidences are
    calibrated without retraining.
    """

    kind = "multiclass"

    def __init__(self, path: Path, card: dict, threads: int | None = None):
        from .runtime import keras_module

        keras = keras_module(threads)
        try:
            self.net = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise TaggerError(f"cannot load model {path}: {str(exc).splitlines()[0]}") from None
        self._call = compiled(self.net)
        self.card = card
        self.name = card["name"]
        self.version = card["version"]
        self.genres = list(card["genres"])
        self.spec = FeatureSpec.from_dict(card["features"])
        self.temperature = float(card.get("temperature", 1.0))

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self._call(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x) / self.temperature)


class MusicnnModel(Model):
    """Both pretrained musicnn nets on one shared spectrogram, merged into genres."""

    kind = "multilabel"

    def __init__(self, folder: Path, card: dict, threads: int | None = None):
        from .musicnn_genres import GENRES
        from .nets.musicnn import build_musicnn
        from .runtime import keras_module

        keras = keras_module(threads)
        nets = []
        for key in ("mtt", "msd"):
            net = build_musicnn(len(card["nets"][key]["labels"]), name=f"musicnn_{key}")
            net.load_weights(folder / card["nets"][key]["file"])
            nets.append(net)
        inp = keras.Input(nets[0].input_shape[1:])
        self.net = keras.Model(inp, keras.layers.Concatenate()([n(inp) for n in nets]))
        self._call = compiled(self.net)
        self.card = card
        self.name = card["name"]
        self.version = card["version"]
        self.genres = list(GENRES)
        self.spec = FeatureSpec.from_dict(card["features"])

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._call(x)

    def to_genres(self, raw: np.ndarray) -> np.ndarray:
        from .musicnn_genres import merge_genres

        return merge_genres(raw[..., :50], raw[..., 50:])

    def to_tags(self, raw: np.ndarray) -> dict[str, float]:
        from .musicnn_genres import tag_dict

        return tag_dict(raw[:50], raw[50:])


@dataclass(frozen=True)
class ModelRef:
    """What the scanning process needs to know about a model without loading it.

    Workers call ``load()``; the main process never imports TensorFlow.
    """

    name: str
    version: str
    kind: str
    genres: tuple[str, ...]
    spec: FeatureSpec
    path: str           # the .keras file, or the musicnn card
    source: str         # user | shipped | file

    def load(self, threads: int | None = None) -> Model:
        from .runtime import stderr_silenced

        key = (self.path, self.version)
        if key not in _LOADED:
            card = self.card
            with stderr_silenced():  # TensorFlow's start-up logging
                if self.name == "musicnn":
                    model: Model = MusicnnModel(Path(self.path).parent, card, threads)
                else:
                    model = KerasClassifier(Path(self.path), card, threads)
                    model.version = self.version
                # Trace the graph now, so the first file pays no extra cost.
                model.forward(np.zeros((1, *model.spec.input_shape()), np.float32))
            _LOADED[key] = model
        return _LOADED[key]

    @property
    def card(self) -> dict:
        return read_card(Path(self.path) if self.name == "musicnn" else card_path(Path(self.path)))


_LOADED: dict[tuple[str, str], Model] = {}


def card_path(model_file: Path) -> Path:
    """``resnet.keras`` -> ``resnet.json``."""
    return model_file.with_name(model_file.name.removesuffix(".keras") + ".json")


def read_card(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise TaggerError(f"model card not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise TaggerError(f"cannot read model card {path}: {exc}") from None


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def _ref_for_file(path: Path, source: str) -> ModelRef:
    card = read_card(card_path(path))
    try:
        return ModelRef(
            name=card["name"], version=f"{card['version']}+{_file_hash(path)}",
            kind=card.get("kind", "multiclass"), genres=tuple(card["genres"]),
            spec=FeatureSpec.from_dict(card["features"]), path=str(path), source=source)
    except KeyError as exc:
        raise TaggerError(f"model card {card_path(path)} lacks {exc}") from None


def _musicnn_ref() -> ModelRef:
    from .musicnn_genres import GENRES

    path = shipped_models_dir() / "musicnn.json"
    card = read_card(path)
    return ModelRef("musicnn", card["version"], "multilabel", tuple(GENRES),
                    FeatureSpec.from_dict(card["features"]), str(path), "shipped")


def installed(name: str) -> Path | None:
    """The ``.keras`` file for a trainable model name, user folder first, else None.

    Models whose card says they were trained on synthetic data are skipped:
    they can be used by path, never under a default name.
    """
    for folder in (user_models_dir(), shipped_models_dir()):
        p = folder / f"{name}.keras"
        if p.is_file() and card_path(p).is_file() and not read_card(card_path(p)).get("synthetic"):
            return p  # a model trained on generated signals is never a default
    return None


def resolve(model: str | os.PathLike | None = None) -> tuple[ModelRef, str | None]:
    """A model name or path -> (ModelRef, notice for stderr or None)."""
    if model is None:
        if installed("resnet"):
            return resolve("resnet")[0], None
        return _musicnn_ref(), ("notice: no trained ResNet is installed; using the pretrained "
                                "musicnn taggers (train the ResNet with `tagger retrain --data DIR`)")
    text = os.fspath(model)
    if text == "musicnn":
        return _musicnn_ref(), None
    if text in TRAINABLE:
        path = installed(text)
        if path is None:
            raise TaggerError(
                f"no trained {text} model is installed; train one with "
                f"`tagger retrain --data DIR --model {text}`, or use --model musicnn")
        source = "user" if path.parent == user_models_dir() else "shipped"
        return _ref_for_file(path, source), None
    path = Path(text).expanduser()
    if not path.is_file():
        raise TaggerError(f"no such model: {text} (use resnet, mlp, musicnn or a .keras file)")
    return _ref_for_file(path.resolve(), "file"), None


def available() -> list[ModelRef]:
    """Every installed model, for ``tagger models``."""
    refs = [_musicnn_ref()]
    for name in TRAINABLE:
        path = installed(name)
        if path:
            refs.append(resolve(name)[0])
    return refs
