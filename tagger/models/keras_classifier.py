"""Single-label classifiers trained by ``tagger retrain``: the ResNet and the MLP.

Both are saved as ``<name>.keras`` (no pickled code; loaded with
``safe_mode=True``) with a JSON card beside them.  The net outputs logits; the
card's ``temperature`` (fitted on the validation split) scales them before the
softmax, so confidences are calibrated without retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TaggerError, one_line
from ..features import FeatureSpec
from .base import Model, ModelCard, compiled, softmax


class KerasClassifier(Model):
    """A ``.keras`` net with logits out; softmax after temperature scaling.

    Runs on TensorFlow in float32 whatever ``precision`` asks: these nets are
    small next to the cost of their features.
    """

    def __init__(
        self, path: Path, card: ModelCard, threads: int | None = None, precision: str = "auto"
    ):
        from ..runtime import keras_module

        super().__init__(card)
        keras = keras_module(threads)
        try:
            self.net = keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise TaggerError(f"cannot load model {path}: {one_line(exc)}") from None
        self._call = compiled(self.net)
        self.temperature = float(card.details.get("temperature", 1.0))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return softmax(self._call(x) / self.temperature)


def build_resnet(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
    """The residual CNN on log-mel slices (``tagger.nets.resnet``)."""
    from ..nets.resnet import build_resnet as build

    return build(spec.input_shape(), n_classes, width=width)


def build_mlp(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
    """The MLP on summary features, its scaler set from the training slices."""
    from ..nets.mlp import build_mlp as build

    return build(
        x_train.shape[1], n_classes, mean=x_train.mean(axis=0), variance=x_train.var(axis=0) + 1e-8
    )
