"""musicnn (Pons & Serra, 2019) re-implemented in Keras 3.

Built from the paper and the variable names and shapes of the published
checkpoints (792,079 values per net).  Layer names are the TensorFlow 1 names
of the checkpoint (``conv2d_3``, ``batch_normalization_7``, ...) so that the
converter in ``training/convert_musicnn.py`` maps weights one to one.

Shapes, for one 3-second patch of 187 frames x 96 mel bands:

* front-end: input batch-norm; timbral convolutions of 7x38 and 7x67 (time x
  frequency, 204 filters each, time padded by 3, "valid") and temporal
  convolutions of 128, 64 and 32 frames x 1 band (51 filters each, "same"),
  each conv -> ReLU -> batch-norm -> max over all frequencies; concatenated to
  187 x 561.
* mid-end: three 7-wide convolutions with 64 filters over all channels, the
  second and third with residual connections.
* back-end: max and mean over time of front- and mid-end outputs (753 channels,
  interleaved max/mean as the original flattens them: 1,506 values),
  batch-norm, dense 200 + ReLU, batch-norm, dense 50, sigmoid.
"""

from __future__ import annotations

import keras
from keras import layers

N_FRAMES, N_MELS = 187, 96


def _bn(name: str) -> layers.BatchNormalization:
    # TF1's tf.layers.batch_normalization used epsilon 1e-3, as Keras does.
    return layers.BatchNormalization(epsilon=1e-3, name=name)


def build_musicnn(n_tags: int = 50, name: str = "musicnn") -> keras.Model:
    """One musicnn tagger: (batch, 187, 96) log-mel patches -> (batch, n_tags) sigmoid."""
    inp = keras.Input((N_FRAMES, N_MELS), name="mel")
    x = layers.Reshape((N_FRAMES, N_MELS, 1))(inp)
    x = _bn("batch_normalization")(x)

    branches = []
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    conv_specs = [  # (tf name, bn name, filters, kernel, padding, input)
        ("conv2d", "batch_normalization_1", 204, (7, 38), "valid", padded),
        ("conv2d_1", "batch_normalization_2", 204, (7, 67), "valid", padded),
        ("conv2d_2", "batch_normalization_3", 51, (128, 1), "same", x),
        ("conv2d_3", "batch_normalization_4", 51, (64, 1), "same", x),
        ("conv2d_4", "batch_normalization_5", 51, (32, 1), "same", x),
    ]
    for conv_name, bn_name, filters, kernel, padding, src in conv_specs:
        y = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=conv_name)(src)
        y = _bn(bn_name)(y)
        freq = N_MELS - kernel[1] + 1
        y = layers.MaxPooling2D(pool_size=(1, freq))(y)
        branches.append(layers.Reshape((N_FRAMES, filters))(y))
    front = layers.Concatenate(axis=-1)(branches)  # (187, 561)

    mids = [front]
    h = front
    for i, (conv_name, bn_name) in enumerate(
        [
            ("conv2d_5", "batch_normalization_6"),
            ("conv2d_6", "batch_normalization_7"),
            ("conv2d_7", "batch_normalization_8"),
        ]
    ):
        y = layers.ZeroPadding1D(3)(h)
        y = layers.Conv1D(64, 7, padding="valid", activation="relu", name=conv_name)(y)
        y = _bn(bn_name)(y)
        h = y if i == 0 else layers.Add()([y, h])
        mids.append(h)
    feat = layers.Concatenate(axis=-1)(mids)  # (187, 753)

    mx = layers.Reshape((-1, 1))(layers.GlobalMaxPooling1D()(feat))
    mean = layers.Reshape((-1, 1))(layers.GlobalAveragePooling1D()(feat))
    pooled = layers.Flatten()(layers.Concatenate(axis=-1)([mx, mean]))  # max0, mean0, max1, ...
    z = _bn("batch_normalization_9")(pooled)
    z = layers.Dense(200, activation="relu", name="dense")(z)
    z = _bn("batch_normalization_10")(z)
    out = layers.Dense(n_tags, activation="sigmoid", name="dense_1")(z)
    return keras.Model(inp, out, name=name)
