"""``tagger.nets.musicnn``: the net's size, and its dead filters left out for less work."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES
from tolerance import scaled, sigmoid_atol

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def test_architecture_has_the_checkpoint_size(full_graph):
    nets = [layer for layer in full_graph.layers if layer.name.startswith("musicnn_")]
    assert len(nets) == 2
    for net in nets:
        assert net.count_params() == 792_079


def test_pruned_graph_gives_the_full_graphs_outputs_for_far_less_work(musicnn, full_graph, parity):
    """Leaving out the dead filters changes nothing beyond float32 rounding: on the parity
    patches and on real music, every tag and embedding value matches the full graph."""
    from tagger.models.base import compiled
    from tagger.nets.musicnn import find_dead, multiply_adds

    real = np.load(FIXTURES / "musicnn_real_patches.npz")["patches"].astype(np.float32)
    x = np.concatenate([parity["patches"], real])
    full, pruned = compiled(full_graph)(x), compiled(musicnn.net)(x)
    # Two float32 evaluations of the same sums in other orders (tolerance.MUSICNN_RTOL); a dead
    # filter left out moves a pre-activation by under DEAD_L1 x |input| = 4e-7, far below it.
    np.testing.assert_allclose(pruned[:, :100], full[:, :100], atol=sigmoid_atol(full[:, :100]))
    np.testing.assert_allclose(pruned[:, 100:], full[:, 100:], atol=scaled(full[:, 100:]))
    dead = find_dead(full_graph.get_layer("musicnn_msd_with_embedding"))
    assert len(dead["conv2d_1"].live) < 204 // 4  # MSD's 7x67 layer is mostly dead
    assert multiply_adds(full_graph) > 2.5 * multiply_adds(musicnn.net)
    assert musicnn.card.details["openvino"]["pruned"]["multiply_adds_per_patch"] == {
        "checkpoint": multiply_adds(full_graph),
        "converted": multiply_adds(musicnn.net),
    }


def test_a_quiet_filter_is_one_whose_channel_cannot_swing_by_the_threshold():
    """The swing bound (module docstring): |kernel|_1 x input bound x |gamma| / sqrt(var + eps)."""
    from tagger.nets.musicnn import BN_EPSILON, DeadFilters

    kernel = np.zeros((7, 38, 1, 3), np.float32)
    kernel[0, 0, 0, :] = [1e-9, 0.02, 2.0]  # dead, quiet at a swing under 0.1, loud
    bias = np.array([0.5, -0.2, 0.1], np.float32)
    gamma, beta = np.array([1.0, 2.0, 1.0]), np.array([0.1, 0.2, 0.3])
    mean, var = np.array([0.4, 0.0, 0.0]), np.array([1.0, 1.0, 1.0]) - BN_EPSILON
    bn = [w.astype(np.float32) for w in (gamma, beta, mean, var)]
    assert DeadFilters.find(kernel, bias, bn).dead.tolist() == [0]
    # filter 1 swings by at most 0.02 x 1.6 x 2 = 0.064 on inputs within 1.6 of zero
    quiet = DeadFilters.find(kernel, bias, bn, quiet=0.1, input_bound=1.6)
    assert quiet.dead.tolist() == [0, 1] and quiet.live.tolist() == [2]
    # each stands for batch-norm of ReLU of its bias: (0.5 - 0.4) + 0.1, and 2 x 0 + 0.2
    np.testing.assert_allclose(quiet.values, [0.2, 0.2], rtol=1e-6)
    assert DeadFilters.find(kernel, bias, bn, quiet=0.05, input_bound=1.6).dead.tolist() == [0]


def test_the_input_bound_covers_the_loudest_audio():
    """The loudest signals a file can hold (full-scale square waves: the most power within
    [-1, 1]; sines at 0 dBFS: all of theirs in one band) stay under ``LOGMEL_MAX``."""
    from tagger.features import MUSICNN, extract
    from tagger.nets.musicnn import LOGMEL_MAX

    sr = MUSICNN.sr
    t = np.arange(int(MUSICNN.slice_seconds * sr)) / sr
    for f0 in (50.0, 440.0, 3000.0):
        sine = np.sin(2 * np.pi * f0 * t).astype(np.float32)
        for x in (np.sign(sine), sine):
            assert extract([x], MUSICNN).max() < LOGMEL_MAX


def test_the_shared_front_end_changes_only_the_rounding(musicnn, parity):
    """The fast graph runs both nets' front-ends as one convolution per layer (each net's input
    batch-norm folded into its filters, its shift a fixed map because of the zero padding) and
    folds the constant channels into the layers that read them: the same sums in another order
    as each net pruned on its own, tags and embeddings, on the parity patches and real music,
    for fewer multiply-adds (its spare filters aside)."""
    import keras

    from tagger.models.base import compiled
    from tagger.nets.musicnn import (
        FILTER_BLOCK,
        FRONT,
        build_musicnn,
        find_dead,
        multiply_adds,
        prune_dead_filters,
        shared_front,
    )

    real = np.load(FIXTURES / "musicnn_real_patches.npz")["patches"].astype(np.float32)
    x = np.concatenate([parity["patches"], real])
    nets = []
    for key in ("mtt", "msd"):
        nets.append(build_musicnn(50, name=key))
        nets[-1].load_weights(musicnn.folder / musicnn.card.details["nets"][key]["file"])
    shared = shared_front(nets, quiet=0.1)
    out = compiled(keras.Model(shared.input, keras.layers.Concatenate()(shared.output)))(x)
    for i, net in enumerate(nets):
        alone = prune_dead_filters(net, quiet=0.1)
        both = keras.Model(alone.input, [alone.output, alone.get_layer("dense").output])
        tags, embedding = (np.asarray(y) for y in both(x, training=False))
        assert np.abs(tags - 0.5).max() > 0.1  # real tags, not all at one value
        np.testing.assert_allclose(
            out[:, 50 * i : 50 * i + 50], tags, atol=sigmoid_atol(tags), rtol=0
        )
        np.testing.assert_allclose(
            out[:, 100 + 200 * i : 300 + 200 * i], embedding, atol=scaled(embedding), rtol=0
        )
    # Each shared layer computes every live filter of both nets, rounded up to whole blocks
    # with all-zero spare filters whose channels nothing reads.
    spare_adds = 0
    for f in FRONT:
        layer = shared.get_layer(f[0])
        live = sum(len(find_dead(n, 0.1)[f[0]].live) for n in nets)
        width = layer.output.shape[-1]
        assert width == -(-live // FILTER_BLOCK) * FILTER_BLOCK
        assert not np.any(layer.get_weights()[0][..., live:])
        spare_adds += (width - live) * int(np.prod(layer.output.shape[1:-1])) * np.prod(f[3])
    alone = sum(multiply_adds(prune_dead_filters(n, 0.1)) for n in nets)
    assert multiply_adds(shared) - spare_adds < alone
