"""``tagger.relabel``: a head re-labels unchanged files from their stored embeddings alone."""

from __future__ import annotations

import numpy as np
from conftest import rows
from soundtracks import USER_NAMES, half_tagged, real_fixture, store_real_library

from tagger.models import resolve
from tagger.models.head import SoftmaxHead, album_key, predict_embeddings
from tagger.relabel import relabel, split_relabel
from tagger.store import Store
from tagger.training.from_library import retrain_from_library

PREDICTION = ("genre", "confidence", "probabilities", "uncertain", "model", "model_version")


def test_unchanged_files_are_predicted_from_the_database_and_only_their_predictions_change(
    tmp_path,
):
    d = real_fixture()
    genres = [USER_NAMES[g] if t else None for g, t in zip(d["groups"], half_tagged(d["groups"]))]
    db = tmp_path / "lib.db"
    files = store_real_library(tmp_path / "Music", db, genres)
    card = retrain_from_library(db, out_dir=tmp_path / "models")
    head = resolve(card["path"])[0]
    changed = files[0]
    changed.write_bytes(changed.read_bytes() + b"more")  # its stored embedding is stale now
    items = [(str(f), f.stat().st_size, f.stat().st_mtime) for f in files]
    before = {r["path"]: r for r in rows(db)}

    store = Store(db)
    try:
        assert split_relabel(store, resolve("musicnn")[0], items) == ([], items)  # not a head
        again, decode = split_relabel(store, head, items)
        assert decode == [items[0]] and again == items[1:]
        scan_id = store.start_scan(head.name, head.version, {})
        batches = list(relabel(store, head, again, scan_id))
    finally:
        store.close()

    results = {r.path: r for batch in batches for r in batch}
    assert sorted(results) == sorted(path for path, _, _ in again)
    after = {r["path"]: r for r in rows(db)}
    paths = [str(f) for f in files[1:]]
    want = predict_embeddings(  # the same rows, in file order, straight from the head
        SoftmaxHead.load(head.path),
        d["embeddings"][1:].astype(np.float32),
        [album_key(p, a or None) for p, a in zip(paths, d["albums"][1:])],
        paths,
    )
    for (path, _, _), pred in zip(again, want):
        assert results[path].prediction.genre == pred.genre == after[path]["genre"], path
        assert after[path]["model"] == head.name
        others = set(after[path]) - set(PREDICTION) - {"scanned_at", "scan_id"}
        assert {k: after[path][k] for k in others} == {k: before[path][k] for k in others}
    assert after[str(changed)] == before[str(changed)]  # left for the workers to decode
