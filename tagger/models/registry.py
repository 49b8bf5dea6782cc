"""The registry of model kinds, and how a model name or path becomes a ``ModelRef``.

Each kind is one ``ModelKind`` entry: its name, what it is, the loader class
its cards name, the ``FeatureSpec`` it is trained and scanned with, how its net
is built for training (trainable kinds), and where a shipped copy lives.
Resolution, ``tagger models``, training and the benchmarks read this table;
adding a model kind is one module with its loader plus one entry here.

Resolution: a registered name means the user's trained copy (written by
``tagger retrain`` into the user model folder), else the shipped one; anything
else is a path to a model file with its card beside it.  Which class loads a
model comes from its card (``model_class``), never from its name.  Without
``--model`` the default is the installed kind with the lowest ``default_rank``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TaggerError
from ..features import LOGMEL, MUSICNN, SUMMARY, FeatureSpec
from ..inference import Engine, check_precision
from ..paths import shipped_models_dir, unreachable, user_models_dir
from .base import Model, ModelCard, ModelRef, card_path, read_card

# (spec, n_classes, training inputs, width) -> an uncompiled Keras model
Builder = Callable[[FeatureSpec, int, np.ndarray, int], Any]
# (model file or card, card, threads, precision) -> a loaded model
Loader = Callable[[Path, ModelCard, "int | None", str], Model]


@dataclass(frozen=True)
class ModelKind:
    """One kind of model tagger can train, ship or load."""

    name: str
    title: str  # as written in prose: "ResNet"
    description: str
    model_class: str  # the loader (``LOADERS`` key) its cards name
    spec: FeatureSpec
    file_suffix: str  # the model file beside the card: ".keras", or ".json" (card only)
    build: Builder | None = None
    default_rank: int | None = None  # lower is preferred as the default; None: never default
    how_to_get: str = ""

    @property
    def trainable(self) -> bool:
        return self.build is not None


def _keras_classifier() -> Loader:
    from .keras_classifier import KerasClassifier

    return KerasClassifier


def _musicnn() -> Loader:
    from .musicnn import MusicnnModel

    return MusicnnModel


def _head() -> Loader:
    from .head import HeadModel

    return HeadModel


# model_class -> the class that loads it; imported lazily so that resolving a
# model in the scanning process never imports TensorFlow.
LOADERS: dict[str, Callable[[], Loader]] = {
    "keras-classifier": _keras_classifier,
    "musicnn": _musicnn,
    "softmax-head": _head,
}


def _builder(name: str) -> Builder:
    def build(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
        from . import keras_classifier

        return getattr(keras_classifier, f"build_{name}")(spec, n_classes, x_train, width)

    return build


# Listed in this order by `tagger models`.
KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind(
            "musicnn",
            "musicnn",
            "pretrained musicnn taggers (MTT + MSD), genres merged",
            "musicnn",
            MUSICNN,
            ".json",
            default_rank=9,
            how_to_get="shipped with tagger",
        ),
        ModelKind(
            "resnet",
            "ResNet",
            "residual CNN on 3-second log-mel slices",
            "keras-classifier",
            LOGMEL,
            ".keras",
            build=_builder("resnet"),
            default_rank=1,
            how_to_get="train it with `tagger retrain --data DIR --model resnet`",
        ),
        ModelKind(
            "mlp",
            "MLP",
            "MLP on 57 summary features per 3-second slice",
            "keras-classifier",
            SUMMARY,
            ".keras",
            build=_builder("mlp"),
            how_to_get="train it with `tagger retrain --data DIR --model mlp`",
        ),
        # A head the user trained on their own library speaks their genre names: it
        # is preferred over everything else once it exists.
        ModelKind(
            "library",
            "library head",
            "softmax head on musicnn embeddings, trained on the genre tags of your own library",
            "softmax-head",
            MUSICNN,
            ".npz",
            default_rank=0,
            how_to_get="train it with `tagger retrain --from-library`",
        ),
        ModelKind(
            "head",
            "musicnn head",
            "softmax head on musicnn embeddings, trained on a <genre>/<files> folder",
            "softmax-head",
            MUSICNN,
            ".npz",
            default_rank=2,
            how_to_get="train it with `tagger retrain --data DIR --model head`",
        ),
    )
}


def loader(model_class: str) -> Loader:
    if model_class not in LOADERS:
        raise TaggerError(
            f"unknown model class {model_class!r} in a model card "
            f"(this tagger knows {', '.join(LOADERS)})"
        )
    return LOADERS[model_class]()


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def ref_for_file(path: Path, source: str) -> ModelRef:
    """A model file (or card) and its card -> ModelRef.

    A model file's version carries a hash of its bytes, so a retrained file
    under the same card version is never mistaken for the old one.
    """
    card_file = card_path(path)
    card = read_card(card_file)
    version = card.version if path == card_file else f"{card.version}+{_file_hash(path)}"
    return ModelRef.of(card, path, card_file, source, version)


def installed(name: str) -> Path | None:
    """The model file of a registered kind, user folder first, else None.

    Models whose card says they were trained on synthetic data are skipped:
    they can be used by path, never under a registered name.
    """
    kind = KINDS[name]
    for folder in (user_models_dir(), shipped_models_dir()):
        path = folder / f"{name}{kind.file_suffix}"
        try:
            present = path.is_file() and card_path(path).is_file()
        except OSError:  # a folder we may not enter: say which, never skip it silently
            raise TaggerError(
                f"cannot read the model folder {folder}: {unreachable(path) or 'permission denied'}"
            ) from None
        if present and not read_card(card_path(path)).get("synthetic"):
            return path
    return None


def _ref_for_kind(name: str) -> ModelRef | None:
    path = installed(name)
    if path is None:
        return None
    return ref_for_file(path, "user" if path.parent == user_models_dir() else "shipped")


def default_kind() -> tuple[str, str]:
    """(name of the default model, why it is the default)."""
    ranked = sorted((k.default_rank, k.name) for k in KINDS.values() if k.default_rank is not None)
    for _, name in ranked:
        if installed(name):
            rank = KINDS[name].default_rank
            better = [
                k.title
                for k in KINDS.values()  # in the registry's order
                if k.default_rank is not None and rank is not None and k.default_rank < rank
            ]
            why = (
                "a model you trained on your own library's genres"
                if name == "library"
                else "the preferred model"
                if not better
                else f"no trained {', '.join(better[:-1])}{' or ' if len(better) > 1 else ''}"
                f"{better[-1]} is installed"
            )
            return name, why
    raise TaggerError(
        "no model is installed (the shipped musicnn files are missing: reinstall tagger)"
    )


def resolve(model: str | os.PathLike | None = None) -> tuple[ModelRef, str | None]:
    """A model name or path -> (ModelRef, notice for stderr or None).

    The notice says, when no model was named and the default is not the
    preferred kind, which model is used and how to get a better one.
    """
    if model is None:
        name, why = default_kind()
        notice = None
        if name == "musicnn":  # only the fallback is announced; a trained default is chosen
            notice = (  # two short lines: what runs, then what would do better
                f"notice: using the shipped pretrained musicnn taggers ({why})\n"
                f"hint: after a scan, `tagger retrain --from-library` learns your library's "
                f"own genres"
            )
        return resolve(name)[0], notice
    text = os.fspath(model)
    if text in KINDS:
        ref = _ref_for_kind(text)
        if ref is None:
            raise TaggerError(
                f"no trained {text} model is installed; {KINDS[text].how_to_get}, "
                f"or use --model musicnn"
            )
        return ref, None
    path = Path(text).expanduser()
    if not path.is_file():
        raise TaggerError(f"no such model: {text} (use {', '.join(KINDS)} or a model file)")
    return ref_for_file(path.resolve(), "file"), None


def with_precision(ref: ModelRef, precision: str | None) -> tuple[ModelRef, Engine, str | None]:
    """``ref`` set to run at ``precision``, the engine that will run it, and a notice when
    the fast runtime cannot (the model then runs on TensorFlow)."""
    try:
        ref = replace(ref, precision=check_precision(precision))
    except ValueError as exc:
        raise TaggerError(str(exc)) from None
    engine, why = ref.engine()
    return ref, engine, fallback_notice(ref.name, why)


def fallback_notice(name: str, why: str | None) -> str | None:
    """The one line that says a model runs on TensorFlow instead of its converted graph."""
    if not why:
        return None
    return f"notice: {name} runs on TensorFlow, not OpenVINO ({why}): slower start-up and scans"


def available() -> list[ModelRef]:
    """Every installed model of a registered kind, for ``tagger models``."""
    return [ref for ref in map(_ref_for_kind, KINDS) if ref is not None]


def card_for(kind: ModelKind, version: str, genres: list[str], **details: Any) -> ModelCard:
    """A new card for a model of ``kind`` (training and conversion write these)."""
    return ModelCard(
        name=kind.name,
        version=version,
        model_class=kind.model_class,
        kind="multilabel" if kind.model_class == "musicnn" else "multiclass",
        genres=genres,
        spec=kind.spec,
        details={"architecture": kind.description, **details},
    )
