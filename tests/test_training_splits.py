"""``tagger.training.splits``: train/valid/test splits never share a track."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger.training.data import Track
from tagger.training.splits import Split, assert_disjoint, filtered_split, fold_splits, random_split

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


SHARED_SPLITS = Path(__file__).resolve().parents[2] / "shared" / "gtzan" / "splits"


def _tracks(ids):
    return [Track(i, i.split("/")[0], f"/x/{i}.wav") for i in ids]


def test_no_track_crosses_train_and_test():
    tracks = _tracks([f"{g}/{g}.{i:05d}" for g in ("a", "b", "c") for i in range(20)])
    for split in [random_split(tracks, seed=s) for s in range(3)] + fold_splits(tracks, 5):
        assert_disjoint(split)
        all_ids = [t.id for side in (split.train, split.valid, split.test) for t in side]
        assert sorted(all_ids) == sorted(t.id for t in tracks)
    tests = [t.id for f in fold_splits(tracks, 5) for t in f.test]
    assert sorted(tests) == sorted(t.id for t in tracks)  # each track tested exactly once
    with pytest.raises(AssertionError):
        assert_disjoint(Split("bad", tracks[:10], [], tracks[9:12]))


@pytest.mark.skipif(not SHARED_SPLITS.is_dir(), reason="../shared/gtzan/splits not present")
def test_fault_filtered_lists_are_by_track_and_disjoint():
    ids = []
    for side in ("train", "valid", "test"):
        ids += (SHARED_SPLITS / f"{side}_filtered.txt").read_text().split()
    split = filtered_split(_tracks(ids), SHARED_SPLITS)
    assert (len(split.train), len(split.valid), len(split.test)) == (443, 197, 290)
