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
