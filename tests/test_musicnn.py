"""The musicnn port: parity with the original graph, the float16 fix, the genre merge."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tolerance import U32, scaled, sigmoid_atol

from tagger.features import MUSICNN, extract, log_compress
from tagger.models import resolve
from tagger.models.musicnn_genres import GENRES, MSD_LABELS, MTT_LABELS, merge_genres

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def musicnn():
    """The float32 path (OpenVINO float32 where installed): the one held to the original graph."""
    return replace(resolve("musicnn")[0], precision="float32").load()


@pytest.fixture(scope="module")
def parity():
    return np.load(FIXTURES / "musicnn_parity.npz")


@pytest.fixture(scope="module")
def full_graph(musicnn):
    """The graph exactly as the checkpoints hold it, dead filters and all."""
    from tagger.models.musicnn import build_combined

    return build_combined(musicnn.card, musicnn.folder, prune=False)


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


def test_port_matches_the_original_graph(musicnn, parity):
    """The Keras port, and the float32 runtime that scans use, both match the TF1 graph."""
    from tagger.models.base import compiled

    for raw in (compiled(musicnn.net)(parity["patches"]), musicnn.forward(parity["patches"])):
        for got, ref in (
            (raw[:, :50], parity["mtt_reference"]),
            (raw[:, 50:100], parity["msd_reference"]),
        ):
            # The TF1 graph's float32 sums in its own order (tolerance.sigmoid_atol).
            np.testing.assert_allclose(got, ref, atol=sigmoid_atol(ref), rtol=0)


def test_spectrogram_matches_the_recorded_input(parity):
    """tagger's own feature code still produces the inputs the references were made from."""
    from tagger.training.synth import fixed_signals

    patches = np.concatenate(
        [extract([s.astype(np.float32)], MUSICNN) for s in fixed_signals().values()]
    )
    # The STFT is float64 (negligible); the mel sum of 257 non-negative float32 products is off
    # by at most 257·u of its value (and |X|² by 4·u more), twice over for the recording's own;
    # log10(1 + C·m) turns a relative error r of m into an absolute one under r / ln 10; log10's
    # own rounding adds u of the patch's value.
    atol = 2 * (257 + 4) * U32 / np.log(10) + 2 * U32 * np.abs(parity["patches"]).max()
    np.testing.assert_allclose(patches, parity["patches"], atol=atol, rtol=0)


def test_loud_input_gives_music_dependent_tags(musicnn, parity):
    """The package's float16 rounding turns loud frames into inf and every such patch into one
    constant tag vector; the port's float32 compression keeps the music."""
    f16 = parity["float16_patches"]
    assert np.isinf(f16).any()
    np.testing.assert_allclose(
        parity["mtt_float16_reference"][0], parity["mtt_float16_reference"][1]
    )
    assert MTT_LABELS[int(np.argmax(parity["mtt_float16_reference"][0]))] == "guitar"
    loud = [list(parity["names"]).index(n) for n in parity["loud_names"]]
    patches = parity["patches"][loud]
    assert np.isfinite(patches).all()
    tags = musicnn.forward(patches)[:, :100]
    assert np.abs(tags[0] - tags[1]).max() > 0.1  # two different loud signals, two answers
    assert np.isfinite(log_compress(np.array([1e30], np.float32))).all()


def test_merge_on_real_recordings():
    """Pooled tag vectors of real soundtracks (see training/musicnn_real_tags.py)."""
    d = np.load(FIXTURES / "musicnn_real_tags.npz")
    tags, kinds = d["tags"], d["kinds"]
    merged = np.array(GENRES)[merge_genres(tags[:, :50], tags[:, 50:]).argmax(axis=1)]
    orchestral = Counter(merged[kinds == "orchestral"])
    electronic = Counter(merged[kinds == "electronic"])
    assert (kinds == "orchestral").sum() == 41 and (kinds == "electronic").sum() == 16
    assert orchestral.most_common(1)[0][0] == "classical" and orchestral["classical"] >= 25
    assert electronic["electronic"] + electronic["techno"] >= 12
    # MSD alone has no classical tag and calls most of the symphony ambient:
    msd_only = Counter(np.array(MSD_LABELS)[tags[kinds == "orchestral", 50:].argmax(axis=1)])
    assert msd_only["classical"] == 0
    assert orchestral["ambient"] < 15
    assert "reggae" not in GENRES and "disco" not in GENRES


def test_multilabel_probabilities_are_independent(musicnn):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (3, 187, 96)).astype(np.float32)
    pred = musicnn.predict_tracks([x])[0]
    assert musicnn.kind == "multilabel"
    assert set(pred.probabilities) == set(GENRES)
    assert all(0 <= p <= 1 for p in pred.probabilities.values())
    assert pred.genre == max(pred.probabilities, key=pred.probabilities.get)
    assert len(pred.tags) == 100 and "mtt:no vocals" in pred.tags
