"""The musicnn port: parity with the original graph, the float16 fix, the genre merge."""

from __future__ import annotations

import numpy as np
import pytest
from tolerance import sigmoid_atol

from tagger.features import log_compress
from tagger.models.musicnn_genres import GENRES, MTT_LABELS

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


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


def test_multilabel_probabilities_are_independent(musicnn):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, (3, 187, 96)).astype(np.float32)
    pred = musicnn.predict_tracks([x])[0]
    assert musicnn.kind == "multilabel"
    assert set(pred.probabilities) == set(GENRES)
    assert all(0 <= p <= 1 for p in pred.probabilities.values())
    assert pred.genre == max(pred.probabilities, key=pred.probabilities.get)
    assert len(pred.tags) == 100 and "mtt:no vocals" in pred.tags
