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
