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

Dead filters: training (with weight decay) left many filters at ~1e-30, most
of them in the timbral convolutions that hold 80% of the multiply-adds (MSD's
7x67 layer keeps 17 of 204).  Such a filter outputs its bias everywhere, so
after ReLU, batch-norm and pooling it is one constant channel.
``prune_dead_filters`` builds the same net without them: their channels are
filled with those constants, in their places, and the outputs do not change
beyond float32 rounding, at 2.6x fewer multiply-adds.  Scans run the pruned
graph; the full one is what the checkpoint holds and what training would use.

Quiet filters: many more front-end filters are still decaying (MTT's 7x38
layer computes 150 filters, 81 of which can move their channel by under
1e-3).  A bound says how far: the inputs are the batch-normed log-mel
spectrogram, whose values lie within ``input_bound`` of zero for any audio
(log-mel is ``log10(1 + 10000 mel)``, at most 8), so a filter's pre-activation
stays within ``|kernel|_1 x input_bound`` of its bias, and after ReLU (which
shrinks distances), batch-norm (which scales them by ``|gamma| / sqrt(var +
eps)``) and pooling (a maximum: no larger) its channel stays within that
``swing`` of the dead constant.  ``prune_dead_filters(net, quiet=s)`` also
replaces every front-end filter whose swing is under ``s`` by that constant:
not the same outputs any more, but within a measured distance
(``benchmarks/musicnn_patches.py``), for about half the multiply-adds
of MTT's net.

One front-end for both nets (``shared_front``, the fast graph): MTT's and
MSD's front-ends read the same log-mel patch, each through its own input
batch-norm (a scale ``a`` and shift ``b``).  Folding that into each filter
(kernel ``a K``; the shift adds ``b`` times the kernel's taps that fall inside
the patch, a fixed (frames x filters) map, since the zero padding of the
edge frames holds no ``b``) lets one convolution per layer compute both nets'
live filters: fewer, fuller calls on the same input (output channels come in
blocks of 8 or 16, a layer of 14 filters costs nearly as much as one of 16).
And once most front-end channels are constants, carrying them through the
graph costs more than they are worth (the first mid-end layer reads all 561
channels, the back-end pools every one of them): they are folded into the
layers that read them, what they add to the first mid-end convolution as a
fixed (frames x filters) map before its ReLU (its zero padding makes the edge
frames see fewer of them), what they add through the back-end's pooling and
batch-norm into its first dense layer's bias.  The same arithmetic in another
order: outputs within float32 rounding of the pruned nets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

N_FRAMES, N_MELS = 187, 96
BN_EPSILON = 1e-3
# A filter is dead when the sum of its absolute weights is below this: on the
# net's inputs (log-mel under 10, batch-normed to |x| < 4) it moves its
# pre-activation by less than 1e-6, about float32's rounding of the outputs.
# Most dead filters sum to ~1e-28; a few, still decaying, to 1e-9..1e-7.
DEAD_L1 = 1e-7
# The shared front-end's convolutions compute a multiple of this many filters (the spare ones
# all zero, their channels never read): with a partly empty last block of output channels
# oneDNN's kernels ran the whole graph 1.14x slower in float32 on AVX2 (1.05x with blocks of
# 8), and no faster in bfloat16.
FILTER_BLOCK = 16
# log10(1 + 10000 mel) of any audio in [-1, 1] stays under 7 (a full-scale square
# wave reaches 6.9); the bound of the quiet-filter criterion uses 8.
LOGMEL_MAX = 8.0
FRONT = [  # (tf name, bn name, filters, kernel, padding, timbral)
    ("conv2d", "batch_normalization_1", 204, (7, 38), "valid", True),
    ("conv2d_1", "batch_normalization_2", 204, (7, 67), "valid", True),
    ("conv2d_2", "batch_normalization_3", 51, (128, 1), "same", False),
    ("conv2d_3", "batch_normalization_4", 51, (64, 1), "same", False),
    ("conv2d_4", "batch_normalization_5", 51, (32, 1), "same", False),
]
MID = [  # (tf name, bn name): 7-wide convolutions, 64 filters
    ("conv2d_5", "batch_normalization_6"),
    ("conv2d_6", "batch_normalization_7"),
    ("conv2d_7", "batch_normalization_8"),
]


def _bn(name: str) -> layers.BatchNormalization:
    # TF1's tf.layers.batch_normalization used epsilon 1e-3, as Keras does.
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


@dataclass(frozen=True)
class DeadFilters:
    """One layer's dead filters (see the module docstring) and the constant each outputs."""

    live: np.ndarray  # indices of the filters computed, ascending
    dead: np.ndarray  # indices of the others, ascending
    values: np.ndarray  # each dead channel's output: batch-norm of ReLU of its bias

    @classmethod
    def find(
        cls,
        kernel: np.ndarray,
        bias: np.ndarray,
        bn: list[np.ndarray],
        quiet: float = 0.0,
        input_bound: float = 0.0,
    ) -> DeadFilters:
        """From a conv layer's kernel and bias and its batch-norm's [gamma, beta, mean, var].

        With ``quiet`` > 0, a filter whose channel can move by less than
        ``quiet`` on inputs within ``input_bound`` of zero counts as dead too
        (``swing``, in the module docstring).
        """
        l1 = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
        gamma, beta, mean, var = bn
        swing = l1 * input_bound * np.abs(gamma) / np.sqrt(var + BN_EPSILON)
        is_dead = (l1 < DEAD_L1) | (swing < quiet)
        dead = np.flatnonzero(is_dead)
        values = (
            gamma[dead] * (np.maximum(bias[dead], 0) - mean[dead]) / np.sqrt(var[dead] + BN_EPSILON)
            + beta[dead]
        )
        return cls(np.flatnonzero(~is_dead), dead, values.astype(np.float32))


@keras.saving.register_keras_serializable(package="tagger")
class ConstantChannels(layers.Layer):
    """Puts the dead channels' constants back beside the live ones, in their original order."""

    def __init__(self, values, order, **kwargs):
        super().__init__(**kwargs)
        self.values = np.asarray(values, np.float32)
        self.order = np.asarray(order, np.int32)

    def call(self, x):
        shape = ops.shape(x)
        const = ops.broadcast_to(
            ops.convert_to_tensor(self.values, x.dtype), (shape[0], shape[1], len(self.values))
        )
        return ops.take(ops.concatenate([x, const], axis=-1), self.order, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.order))

    def get_config(self):
        values, order = self.values.tolist(), self.order.tolist()
        return {**super().get_config(), "values": values, "order": order}


@keras.saving.register_keras_serializable(package="tagger")
class ShiftMap(layers.Layer):
    """Adds a fixed (frames, channels) map to a (batch, frames, channels) input, each channel
    first multiplied by its ``scale`` where ``scaled``: what folded shifts and constants give
    a convolution (the module docstring)."""

    def __init__(self, scaled: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scaled = bool(scaled)

    def build(self, input_shape):
        self.shift = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="zeros", trainable=False, name="shift"
        )
        if self.scaled:
            self.scale = self.add_weight(
                shape=(input_shape[-1],), initializer="ones", trainable=False, name="scale"
            )

    def call(self, x):
        if self.scaled:
            x = x * ops.cast(self.scale, x.dtype)
        return x + ops.cast(self.shift, x.dtype)

    def get_config(self):
        return {**super().get_config(), "scaled": self.scaled}


@keras.saving.register_keras_serializable(package="tagger")
class ChannelRange(layers.Layer):
    """Channels ``start`` to ``stop`` (one net's share of a shared layer)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def _unit(src, conv, bn_name: str, pool, dead: DeadFilters | None):
    """conv (ReLU) -> batch-norm -> pool, computing only the live filters where ``dead`` says."""
    if dead is None or not len(dead.dead):
        return pool(_bn(bn_name)(conv(None)(src)))
    y = pool(_bn(bn_name)(conv(len(dead.live))(src)))
    order = np.argsort(np.concatenate([dead.live, dead.dead]))
    return ConstantChannels(dead.values, order)(y)


def build_musicnn(
    n_tags: int = 50, name: str = "musicnn", dead: Mapping[str, DeadFilters] | None = None
) -> keras.Model:
    """One musicnn tagger: (batch, 187, 96) log-mel patches -> (batch, n_tags) sigmoid.

    ``dead`` (conv layer name -> its dead filters) builds the pruned net; use
    ``prune_dead_filters`` rather than passing it by hand.
    """
    dead = dead or {}
    inp = keras.Input((N_FRAMES, N_MELS), name="mel")
    x = layers.Reshape((N_FRAMES, N_MELS, 1))(inp)
    x = _bn("batch_normalization")(x)

    branches = []
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    for conv_name, bn_name, filters, kernel, padding, timbral in FRONT:

        def conv(n, filters=filters, kernel=kernel, padding=padding, conv_name=conv_name):
            return layers.Conv2D(
                n or filters, kernel, padding=padding, activation="relu", name=conv_name
            )

        def pool(y, kernel=kernel):
            y = layers.MaxPooling2D(pool_size=(1, N_MELS - kernel[1] + 1))(y)
            return layers.Reshape((N_FRAMES, y.shape[-1]))(y)

        src = padded if timbral else x
        branches.append(_unit(src, conv, bn_name, pool, dead.get(conv_name)))
    front = layers.Concatenate(axis=-1)(branches)  # (187, 561)
    return keras.Model(inp, _rest(front, n_tags, dead)[0], name=name)


def _rest(front, n_tags: int, dead: Mapping[str, DeadFilters], fold: bool = False):
    """Mid-end and back-end on the front-end's channels (only its live ones where ``fold``):
    the tags, and the penultimate layer (the embedding)."""
    mids = [front]
    h = front
    for i, (conv_name, bn_name) in enumerate(MID):

        def conv1d(n, conv_name=conv_name, shifted=fold and i == 0):
            if not shifted:
                return layers.Conv1D(n or 64, 7, activation="relu", name=conv_name)
            conv = layers.Conv1D(n or 64, 7, name=conv_name)
            shift, relu = ShiftMap(name=f"{conv_name}_constants"), layers.ReLU()
            return lambda src: relu(shift(conv(src)))

        y = _unit(layers.ZeroPadding1D(3)(h), conv1d, bn_name, lambda y: y, dead.get(conv_name))
        h = y if i == 0 else layers.Add()([y, h])
        mids.append(h)
    feat = layers.Concatenate(axis=-1)(mids)  # (187, 753), fewer where folded

    mx = layers.Reshape((-1, 1))(layers.GlobalMaxPooling1D()(feat))
    mean = layers.Reshape((-1, 1))(layers.GlobalAveragePooling1D()(feat))
    pooled = layers.Flatten()(layers.Concatenate(axis=-1)([mx, mean]))  # max0, mean0, max1, ...
    z = _bn("batch_normalization_9")(pooled)
    embedding = layers.Dense(200, activation="relu", name="dense")(z)
    z = _bn("batch_normalization_10")(embedding)
    return layers.Dense(n_tags, activation="sigmoid", name="dense_1")(z), embedding


def _input_norm(net: keras.Model) -> tuple[float, float]:
    """The net's input batch-norm as ``scale * x + shift``."""
    g, b, m, v = (float(w[0]) for w in net.get_layer("batch_normalization").get_weights())
    scale = g / np.sqrt(v + BN_EPSILON)
    return scale, b - m * scale


def input_bound(net: keras.Model) -> float:
    """The largest magnitude of the front-end's input (the batch-normed log-mel) for any audio."""
    scale, shift = _input_norm(net)
    return max(abs(scale * x + shift) for x in (0.0, LOGMEL_MAX))


def find_dead(net: keras.Model, quiet: float = 0.0) -> dict[str, DeadFilters]:
    """Each conv layer's dead filters, by layer name, in a net with its weights loaded.

    ``quiet`` > 0 adds the front-end's quiet filters (the module docstring); the
    mid-end's inputs have no such bound, so only its dead filters are left out.
    """
    dead = {}
    bound = input_bound(net)
    for conv_name, bn_name in [(f[0], f[1]) for f in FRONT] + MID:
        kernel, bias = net.get_layer(conv_name).get_weights()
        bn = net.get_layer(bn_name).get_weights()
        front = conv_name in {f[0] for f in FRONT}
        dead[conv_name] = (
            DeadFilters.find(kernel, bias, bn, quiet, bound)
            if front and quiet
            else DeadFilters.find(kernel, bias, bn)
        )
    return dead


def multiply_adds(net: keras.Model) -> int:
    """Multiply-adds of one patch through ``net``'s convolutions and dense layers."""
    total = 0
    for layer in net.layers:
        if isinstance(layer, layers.Conv1D | layers.Conv2D | layers.Dense):
            kernel = layer.get_weights()[0]
            total += int(np.prod(layer.output.shape[1:-1], dtype=np.int64)) * kernel.size
        elif isinstance(layer, keras.Model):
            total += multiply_adds(layer)
    return total


def prune_dead_filters(net: keras.Model, quiet: float = 0.0) -> keras.Model:
    """``net`` (weights loaded) rebuilt without its dead filters: the same outputs, less work.

    ``quiet`` > 0 also leaves out the front-end filters that cannot move their
    channel by ``quiet`` (the module docstring): outputs within a measured
    distance, fewer multiply-adds still.
    """
    dead = find_dead(net, quiet)
    pruned = build_musicnn(net.get_layer("dense_1").units, net.name, dead)
    _copy_weights(pruned, net, dead)
    return pruned


def shared_front(nets: list[keras.Model], quiet: float) -> keras.Model:
    """The nets (weights loaded), each without its dead and quiet filters, as one graph with one
    front-end (the module docstring): (batch, 187, 96) patches -> each net's tags, then each
    net's embedding.  Within float32 rounding of ``prune_dead_filters(net, quiet)``."""
    dead = [find_dead(net, quiet) for net in nets]
    centre = _centre(nets)
    inp = keras.Input((N_FRAMES, N_MELS), name="mel")
    x = layers.Reshape((N_FRAMES, N_MELS, 1))(layers.Rescaling(1.0, offset=-centre)(inp))
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    fronts: list[list] = [[] for _ in nets]
    weights = {}
    for conv_name, bn_name, _, kernel, padding, timbral in FRONT:
        counts = [len(d[conv_name].live) for d in dead]
        width = -(-sum(counts) // FILTER_BLOCK) * FILTER_BLOCK
        y = layers.Conv2D(width, kernel, padding=padding, name=conv_name)(padded if timbral else x)
        y = layers.MaxPooling2D(pool_size=(1, y.shape[2]))(y)  # then the rest, on 187 frames
        y = layers.Reshape((N_FRAMES, width))(y)
        y = _bn(bn_name)(layers.ReLU()(ShiftMap(True, name=f"{conv_name}_shift")(y)))
        for i, stop in enumerate(np.cumsum(counts)):
            fronts[i].append(ChannelRange(stop - counts[i], stop)(y))
        weights.update(_shared_weights(nets, dead, conv_name, bn_name, width, centre))
    outputs = []
    for net, d, branches in zip(nets, dead, fronts):
        front = keras.Input((N_FRAMES, sum(b.shape[-1] for b in branches)))
        rest = keras.Model(
            front, _rest(front, net.get_layer("dense_1").units, d, True), name=net.name
        )
        _copy_weights(rest, net, d, _folded_weights(net, d))
        outputs.append(rest(layers.Concatenate(axis=-1)(branches)))
    shared = keras.Model(inp, [o[0] for o in outputs] + [o[1] for o in outputs])
    for name, w in weights.items():
        shared.get_layer(name).set_weights(w)
    return shared


def _centre(nets: list[keras.Model]) -> float:
    """The log-mel value the shared front-end subtracts first: the mean of the values each
    net's input batch-norm maps to zero.  Without it the convolutions would sum log-mels of
    2 to 8 that the shift then cancels, which costs bfloat16 (8 bits) precision."""
    return float(np.mean([-shift / scale for scale, shift in map(_input_norm, nets)]))


def _shared_weights(
    nets, dead, conv_name: str, bn_name: str, width: int, centre: float
) -> dict[str, list]:
    """One shared front-end layer's kernel, shift map and batch-norm: each net's live filters,
    its input batch-norm folded in (the module docstring).

    The maximum over frequency is taken straight after the convolution, the ReLU and
    batch-norm after it, on 187 values a channel instead of up to 96 times as many: ReLU never
    lowers an order, so a channel whose batch-norm keeps the order gives the same maximum; one
    whose batch-norm reverses it needs the minimum, so its kernel and bias are negated (``max
    -c = -min c``) and ``scale`` -1 turns it back.  The convolution's bias is the shift of the
    frames whose taps all fall inside the patch; the map adds what differs at the edge frames
    (zero elsewhere, so in bfloat16 the other frames are rounded no more often than before).
    """
    kernels, biases, shifts, signs, norms = [], [], [], [], []
    taps = nets[0].get_layer(conv_name).kernel.shape[0]
    frames = np.arange(N_FRAMES)[:, None] - (taps - 1) // 2 + np.arange(taps)  # frame read
    inside = ((frames >= 0) & (frames < N_FRAMES)).astype(np.float64)  # (187, taps)
    for net, d in zip(nets, dead):
        live = d[conv_name].live
        scale, shift = _input_norm(net)
        shift += scale * centre  # on the log-mel less the centre
        kernel, bias = net.get_layer(conv_name).get_weights()
        kernel = kernel[..., live].astype(np.float64)
        norm = [w[live] for w in net.get_layer(bn_name).get_weights()]
        sign = np.where(norm[0] < 0, -1.0, 1.0)
        kernels.append(sign * scale * kernel)
        edge = shift * (inside - 1) @ kernel.sum(axis=(1, 2))  # taps in the zero padding
        biases.append(sign * (bias[live] + shift * kernel.sum(axis=(0, 1, 2))))
        shifts.append(edge)
        signs.append(sign)
        norms.append(norm)
    spare = width - sum(len(k) for k in biases)  # filters that only fill the last block
    kernels.append(np.zeros((*kernels[0].shape[:-1], spare)))
    biases.append(np.zeros(spare))
    shifts.append(np.zeros((N_FRAMES, spare)))
    signs.append(np.ones(spare))
    norms.append([np.ones(spare), np.zeros(spare), np.zeros(spare), np.ones(spare)])
    return {
        conv_name: [
            np.concatenate(kernels, axis=-1).astype(np.float32),
            np.concatenate(biases).astype(np.float32),
        ],
        f"{conv_name}_shift": [
            np.concatenate(shifts, axis=-1).astype(np.float32),
            np.concatenate(signs).astype(np.float32),
        ],
        bn_name: [np.concatenate(w) for w in zip(*norms)],
    }


def _copy_weights(
    target: keras.Model, net: keras.Model, dead: Mapping[str, DeadFilters], folded=None
) -> None:
    """``net``'s weights into ``target``'s layers of the same names: only the live filters'
    where ``dead`` leaves some out, ``folded``'s (layer name -> weights) where given."""
    by_bn = {f[1]: f[0] for f in FRONT} | {bn: conv for conv, bn in MID}
    folded = folded or {}
    for layer in target.layers:
        if not layer.weights:
            continue
        if layer.name in folded:
            layer.set_weights(folded[layer.name])
            continue
        weights = net.get_layer(layer.name).get_weights()
        unit = dead.get(layer.name) or dead.get(by_bn.get(layer.name, ""))
        if unit is not None:  # keep the live filters' kernel, bias and batch-norm
            weights = [w[..., unit.live] for w in weights]
        layer.set_weights(weights)


def _folded_weights(net: keras.Model, dead: Mapping[str, DeadFilters]) -> dict[str, list]:
    """The weights of the layers that read the front-end's channels, its constants folded in:
    the first mid-end convolution (live inputs only, plus its ``ShiftMap``), the back-end's
    batch-norm (live channels' rows) and first dense layer (live rows, constants in the bias)."""
    width = sum(f[2] for f in FRONT)
    value = np.full(width, np.nan, np.float64)  # each front-end channel's constant, NaN if live
    offset = 0
    for conv_name, _, filters, *_ in FRONT:
        value[offset + dead[conv_name].dead] = dead[conv_name].values
        offset += filters
    live, const = np.flatnonzero(np.isnan(value)), np.flatnonzero(~np.isnan(value))
    conv_name = MID[0][0]
    kernel, bias = net.get_layer(conv_name).get_weights()  # (7, 561, 64), (64,)
    out = dead[conv_name].live
    per_tap = np.einsum("kco,c->ko", kernel[:, const][..., out], value[const])
    shift = np.zeros((N_FRAMES, len(out)))  # in the bias, but for the edge frames' difference
    for k in range(kernel.shape[0]):  # tap k reads frame t + k - 3: zero padding outside
        lo, hi = max(0, 3 - k), min(N_FRAMES, N_FRAMES + 3 - k)
        shift[:lo] -= per_tap[k]
        shift[hi:] -= per_tap[k]
    # Back-end rows: channel c pools to rows 2c (max) and 2c + 1 (mean); a constant's are both it.
    rows = np.stack([2 * np.arange(width + 3 * 64), 2 * np.arange(width + 3 * 64) + 1], 1)
    keep = np.concatenate([rows[live], rows[width:]]).ravel()
    gone = rows[const].ravel()
    gamma, beta, mean, var = net.get_layer("batch_normalization_9").get_weights()
    z = gamma[gone] * (np.repeat(value[const], 2) - mean[gone]) / np.sqrt(var[gone] + BN_EPSILON)
    dense, dense_bias = net.get_layer("dense").get_weights()
    return {
        conv_name: [kernel[:, live][..., out], (bias[out] + per_tap.sum(0)).astype(np.float32)],
        f"{conv_name}_constants": [shift.astype(np.float32)],
        "batch_normalization_9": [w[keep] for w in (gamma, beta, mean, var)],
        "dense": [dense[keep], (dense_bias + (z + beta[gone]) @ dense[gone]).astype(np.float32)],
    }
