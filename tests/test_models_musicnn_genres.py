"""``tagger.models.musicnn_genres``: MTT and MSD tags merged into genres."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import FIXTURES

from tagger.models.musicnn_genres import GENRES, MSD_LABELS, MTT_LABELS, merge_genres


# --- the musicnn genre merge ---------------------------------------------------------------
def _tags(**named: float) -> tuple[np.ndarray, np.ndarray]:
    mtt, msd = np.zeros(50), np.zeros(50)
    for key, value in named.items():
        net, _, tag = key.partition("_")
        labels, vec = (MTT_LABELS, mtt) if net == "mtt" else (MSD_LABELS, msd)
        vec[labels.index(tag.replace("_", " "))] = value
    return mtt, msd


@pytest.mark.slow
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


def test_classical_gates_every_msd_genre():
    mtt, msd = _tags(mtt_classical=0.9, msd_jazz=0.8, msd_ambient=0.7)
    scores = dict(zip(GENRES, merge_genres(mtt, msd)))
    assert max(scores, key=scores.get) == "classical"
    assert scores["jazz"] == pytest.approx(0.8 * 0.1)


def test_genres_both_nets_know_take_the_mean_and_tags_take_the_max():
    mtt, msd = _tags(mtt_rock=0.6, msd_hard_rock=0.2, msd_classic_rock=0.4)
    scores = dict(zip(GENRES, merge_genres(mtt, msd)))
    assert scores["rock"] == pytest.approx((0.6 + 0.4) / 2)
