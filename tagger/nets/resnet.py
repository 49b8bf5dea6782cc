"""The ResNet on 3-second log-mel slices, sized for CPU scanning and training.

A small residual CNN (the study's best architecture family) with a batch-norm
on the input instead of a fixed scaler, four residual stages with strided
downsampling, global average pooling and a linear output (logits; softmax and
temperature scaling happen outside the net so calibration can change without
retraining).
"""

from __future__ import annotations

import keras
from keras import layers, regularizers


def _block(x, filters: int, stride: int, l2: float):
    reg = regularizers.l2(l2)
    shortcut = x
    y = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, kernel_regularizer=reg
    )(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(y)
    y = layers.BatchNormalization()(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, kernel_regularizer=reg
        )(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def build_resnet(
    input_shape: tuple[int, ...],
    n_classes: int,
    width: int = 24,
    dropout: float = 0.3,
    l2: float = 1e-4,
) -> keras.Model:
    """(batch, frames, mels) -> (batch, n_classes) logits."""
    inp = keras.Input(input_shape, name="logmel")
    x = layers.Reshape((*input_shape, 1))(inp)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2D(width, 3, strides=(2, 2), padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for i, mult in enumerate((1, 2, 4, 8)):
        x = _block(x, width * mult, 1 if i == 0 else 2, l2)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    out = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inp, out, name="resnet")
