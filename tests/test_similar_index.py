"""The similarity index a scan keeps beside the database: what it holds, and that a query
through it finds what exact search finds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES, store_scan
from soundtracks import musicnn_result

from tagger.embeddings import CANDIDATES, load_index, nearest
from tagger.similar import index_file, similar, update_index
from tagger.store import Store


def clustered(n: int, seed: int) -> np.ndarray:
    """Non-negative vectors around 40 centres with a few strong directions, as embeddings are."""
    rng = np.random.default_rng(seed)
    basis = np.abs(rng.normal(size=(12, 400)))
    centres = np.abs(rng.normal(size=(40, 12))) * 2
    z = centres[rng.integers(0, 40, n)] + 0.6 * rng.normal(size=(n, 12))
    return np.maximum(z @ basis + 0.3 * rng.normal(size=(n, 400)), 0).astype(np.float32)


def library(tmp_path, vectors: np.ndarray):
    """Files stored by a musicnn scan with ``vectors`` as their embeddings; the query files are
    real placeholders (``similar`` checks that they are stored and unchanged)."""
    root = tmp_path / "Music"
    root.mkdir()
    files = []
    for i in range(len(vectors)):
        f = root / f"{i:04d}.mp3"
        f.write_bytes(b"ID3" + i.to_bytes(4, "big") + bytes(60))
        files.append(f)
    db = tmp_path / "lib.db"
    store_scan(db, [musicnn_result(f, v, format="mp3") for f, v in zip(files, vectors)], "musicnn")
    return files, db


def update(db) -> None:
    store = Store(db)
    try:
        update_index(store)
    finally:
        store.close()


def test_queries_through_the_index_find_the_exact_top_ten(tmp_path):
    vectors = clustered(3 * CANDIDATES, seed=0)  # more tracks than candidates: a real cut
    files, db = library(tmp_path, vectors)
    update(db)
    index = load_index(index_file(db))
    assert index is not None and len(index.rowids) == len(files)
    stored = vectors.astype(np.float16).astype(np.float32)  # as the database holds them
    hits = []
    for j in range(0, len(files), 37):
        exact, _ = nearest(stored[j], stored, 10, exclude=j)
        got = similar(files[j], db).results
        assert similar(files[j], db).searched == len(files)
        hits.append(len({int(r.path[-8:-4]) for r in got} & set(exact.tolist())) / 10)
    assert np.mean(hits) >= 0.95


def test_the_index_follows_the_stored_embeddings(tmp_path):
    """Rows stored after the index was written are searched all the same; an update re-reads
    only changed rows (a rescanned file gets a new vector under the same key) and drops
    forgotten ones."""
    vectors = clustered(50, seed=1)
    files, db = library(tmp_path, vectors)
    update(db)
    first = load_index(index_file(db))
    assert first is not None
    # a new track, stored after the update, that sounds exactly like track 7
    extra = tmp_path / "Music" / "late.mp3"
    extra.write_bytes(b"ID3" + bytes(64))
    store_scan(db, [musicnn_result(extra, vectors[7], format="mp3")], "musicnn")
    answer = similar(files[7], db)
    assert answer.results[0].path == str(extra) and answer.searched == 51
    update(db)
    second = load_index(index_file(db))
    assert second is not None and len(second.rowids) == 51
    np.testing.assert_array_equal(second.basis, first.basis)  # extended, not refitted
    np.testing.assert_array_equal(second.projected[:50], first.projected)
    # track 3 rescanned: another vector under its key
    files[3].write_bytes(files[3].read_bytes() + b"\0")
    store_scan(db, [musicnn_result(files[3], vectors[20], format="mp3")], "musicnn")
    update(db)
    third = load_index(index_file(db))
    assert third is not None and len(third.rowids) == 51
    assert similar(files[20], db).results[0].path == str(files[3])
    store = Store(db)
    with store.transaction():
        store.conn.execute("DELETE FROM embeddings WHERE path = ?", [str(files[5])])
    update_index(store)
    store.close()
    fourth = load_index(index_file(db))
    assert fourth is not None and len(fourth.rowids) == 50


@pytest.mark.slow
def test_a_scan_writes_the_index(tmp_path):
    from tagger.scan import scan

    clip = FIXTURES / "real_clips" / "wesnoth" / "sad.ogg"
    db = tmp_path / "lib.db"
    summary = scan([clip], db=db, jobs=1, progress=False, keep_workers=False)
    assert summary.scanned == 1
    index = load_index(index_file(db))
    assert index is not None and len(index.rowids) == 1


def test_top_rows_is_exact_even_where_the_sample_misleads():
    from tagger.embeddings import top_rows

    rng = np.random.default_rng(3)
    for n in (7, 300, 200_000):
        scores = rng.normal(size=n).astype(np.float32)
        for k in (1, 10, 256):
            want = set(np.argsort(-scores, kind="stable")[: min(k, n)].tolist())
            assert set(top_rows(scores, k).tolist()) == want
    # the strided sample (every 10th row here) holds the best rows: fewer than 256 pass its
    # threshold, and every row is looked at
    scores = np.zeros(200_000, np.float32)
    scores[::10] = np.arange(20_000, dtype=np.float32) + 1.0
    assert set(top_rows(scores, 256).tolist()) == set(range(199_990, 0, -10)[:256])
