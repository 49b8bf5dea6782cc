"""``tagger.training.metrics``: calibration by temperature scaling."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.training import metrics

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 2000)
    logits = rng.normal(0, 1, (2000, 4))
    logits[np.arange(2000), labels] += 1.0
    hot = logits * 6  # an overconfident net
    t = metrics.fit_temperature(hot, labels)
    assert 4 < t < 8
    assert (
        metrics.ece(metrics.softmax(hot / t), labels)
        < metrics.ece(metrics.softmax(hot), labels) / 3
    )


def test_a_model_no_better_than_its_test_splits_most_common_genre_is_not_made_the_default():
    """What ``retrain --data`` writes into the card as ``not_default``: 2 of 8 test tracks right
    on four genres of two tracks each is what always answering one genre gets."""
    from tagger.training.metrics import majority_baseline, no_better_than_baseline

    genres = ["Ambient", "Electronic", "Metal", "Orchestral"]
    matrix = [[0, 0, 2, 0], [0, 0, 2, 0], [0, 0, 2, 0], [0, 0, 2, 0]]  # says Metal to all
    base, genre = majority_baseline(matrix, genres)
    assert (base, genre) == (0.25, "Ambient")  # the first of the tied most common genres
    why = no_better_than_baseline(0.25, base, genre, "test track accuracy")
    assert (
        why == "its test track accuracy, 0.250, is no better than always answering Ambient (0.250)"
    )
    assert no_better_than_baseline(0.375, base, genre, "test track accuracy") is None
    assert majority_baseline([[5, 1], [0, 2]], ["Rock", "Jazz"]) == (0.75, "Rock")
