"""Single-label classifiers trained by ``tagger retrain``: the ResNet and the MLP.

Both are saved as ``<name>.keras`` (no pickled code; loaded with
``safe_mode=True``) with a JSON card beside them and, where OpenVINO is
installed, the same net as OpenVINO IR (``<name>.xml`` + ``.bin``), which scans
run without importing TensorFlow.  The net outputs logits; the
card's ``temperature`` (fitted on the validation split) scales them before the
softmax, so confidences are calibrated without retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import TaggerError, one_line
from ..features import FeatureSpec
from ..inference import TENSORFLOW, RuntimeUnavailable, open_openvino
from .base import LoadRequest, Model, compiled, softmax
from .card import KERAS_CLASSIFIER


class KerasClassifier(Model):
    """A ``.keras`` net with logits out; softmax after temperature scaling.

    Runs the OpenVINO copy ``tagger retrain`` made beside it (``tagger.inference``:
    bfloat16 where the CPU has it, unless ``precision="float32"``), else the
    ``.keras`` file on TensorFlow.
    """

    model_class = KERAS_CLASSIFIER

    def __init__(self, request: LoadRequest):
        super().__init__(request)
        card = request.card
        self.path, self.threads = request.path, request.threads
        self._net = None
        self.temperature = float(card.details.get("temperature", 1.0))
        self.threshold = float(card.details.get("threshold", 0.0))
        self._call: Callable[[np.ndarray], np.ndarray]
        entry = card.details.get("openvino")
        try:
            fast = open_openvino(entry, self.path.parent, request.precision, self.threads)
            self._call, self.engine, self.fallback = fast, fast.engine, None
        except RuntimeUnavailable as exc:
            # A model trained without OpenVINO has no copy: TensorFlow is its engine, no news.
            self.fallback = str(exc) if entry else None
            self._call, self.engine = compiled(self.net), TENSORFLOW

    @property
    def net(self) -> Any:
        """The Keras net, loaded on first use (a scan on OpenVINO never imports TensorFlow)."""
        if self._net is None:
            from ..runtime import keras_module

            keras = keras_module(self.threads)
            try:
                self._net = keras.saving.load_model(self.path, compile=False, safe_mode=True)
            except Exception as exc:
                raise TaggerError(f"cannot load model {self.path}: {one_line(exc)}") from None
        return self._net

    def forward(self, x: np.ndarray) -> np.ndarray:
        return softmax(self._call(x) / self.temperature)


def build_resnet(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
    """The residual CNN on log-mel slices (``tagger.nets.resnet``)."""
    from ..nets.resnet import build_resnet as build

    return build(spec.input_shape(), n_classes, width=width)


def build_mlp(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
    """The MLP on summary features, its scaler set from the training rows (inside the net)."""
    from ..nets.mlp import build_mlp as build

    return build(
        x_train.shape[1], n_classes, mean=x_train.mean(axis=0), variance=x_train.var(axis=0) + 1e-8
    )
