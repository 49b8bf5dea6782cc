"""The MLP on the 57 summary features of the original study.

The standardisation is a Keras ``Normalization`` layer whose mean and variance
are set from the training split, so the scaler travels inside the model file
as plain numbers, not as a pickled scikit-learn object.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, regularizers


def build_mlp(
    n_features: int,
    n_classes: int,
    mean: np.ndarray | None = None,
    variance: np.ndarray | None = None,
    hidden: tuple[int, ...] = (256, 128, 64),
    dropout: float = 0.3,
    l2: float = 1e-4,
) -> keras.Model:
    """(batch, n_features) -> (batch, n_classes) logits."""
    inp = keras.Input((n_features,), name="summary")
    norm = (
        layers.Normalization(mean=mean, variance=variance, name="scaler")
        if mean is not None
        else layers.Normalization(name="scaler")
    )
    x = norm(inp)
    for units in hidden:
        x = layers.Dense(units, kernel_regularizer=regularizers.l2(l2))(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(dropout)(x)
    out = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out, name="mlp")
