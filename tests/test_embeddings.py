"""``tagger.embeddings``: the stored float16 vectors and the exact nearest-neighbour search."""

from __future__ import annotations

import numpy as np
from soundtracks import real_fixture
from tolerance import U16

from tagger.embeddings import nearest, pack_embedding, unpack_embeddings


def test_float16_storage_keeps_the_ranking():
    d = real_fixture()
    x32 = d["embeddings"].astype(np.float32)
    x16 = unpack_embeddings([pack_embedding(v) for v in x32])
    assert len(pack_embedding(x32[0])) == 800
    # Rounding to float16 moves a value by at most 2^-11 of it (2^-25 below its normal range).
    assert np.abs(x16 - x32).max() <= U16 * np.abs(x32).max() + 2.0**-25
    for i in range(0, len(x32), 7):
        assert list(nearest(x32[i], x32, 5, i)[0]) == list(nearest(x16[i], x16, 5, i)[0])
