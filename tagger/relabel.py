"""Re-label unchanged files from their stored embeddings: no decoding, no TensorFlow.

A head (``library``/``head`` model kinds) needs only a track's musicnn
embedding, which every musicnn-based scan stores.  When a scan with a head
finds a file whose size and mtime equal those it had when its embedding was
stored (by the musicnn version the head was trained on), the scanning process
predicts it from the database alone: one matrix product for the whole
library, then one ``UPDATE`` per track that changes the prediction columns and
nothing else.  The track's album (its stored album tag, else its folder) is
passed along: a head trained on the library counts the tags of the album's
tracks it learnt from as evidence (``tagger.models.head``).  Files that
changed, or were never embedded, go to the workers and are decoded as usual.

Results are never replaced unannounced: a scan runs the model the user named
(``--model``, config ``model``) or the default, and a head that is no better
than always answering the library's most common genre is never the default
(``tagger.models.registry.not_default``); when a head does re-label tracks
whose stored results another model made, the scan says so in one line
(``replaced_notice``) with the command that brings them back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .clock import now
from .models import ModelRef
from .models.head import HeadModel, SoftmaxHead, album_key, embedder_of, predict_embeddings
from .store import Store
from .worker import Item, TrackResult

# Rows per committed batch: a killed re-labelling keeps what it committed.
BATCH = 5000


def split_relabel(store: Store, ref: ModelRef, todo: list[Item]) -> tuple[list[Item], list[Item]]:
    """(files a head can re-label from stored embeddings, files to decode)."""
    if ref.model_class != HeadModel.model_class:
        return [], todo
    stored = store.embedded(embedder_of(ref.card))
    relabel = [item for item in todo if stored.get(item[0]) == (item[1], item[2])]
    decode = [item for item in todo if stored.get(item[0]) != (item[1], item[2])]
    return relabel, decode


def relabel(
    store: Store, ref: ModelRef, items: list[Item], scan_id: int
) -> Iterator[list[TrackResult]]:
    """Predict ``items`` from their stored embeddings and store the results, batch by batch."""
    if not items:
        return
    head = SoftmaxHead.load(Path(ref.path))
    by_path = {item[0]: item for item in items}
    rows, matrix = store.embedded_tracks(embedder_of(ref.card), ("path", "album"), set(by_path))
    keys = [album_key(row.path, row.album) for row in rows]
    paths = [row.path for row in rows]
    for start in range(0, len(rows), BATCH):
        end = start + BATCH
        preds = predict_embeddings(head, matrix[start:end], keys[start:end], paths[start:end])
        stamp = now()
        results = [
            TrackResult(
                *by_path[row.path],
                model=ref.name,
                model_version=ref.version,
                prediction=pred,
                scanned_at=stamp,
            )
            for row, pred in zip(rows[start:end], preds)
        ]
        store.put_relabelled(results, scan_id)
        yield results


def replaced_notice(store: Store, ref: ModelRef, items: list[Item]) -> str | None:
    """One line when re-labelling ``items`` with ``ref`` replaces results another model stored
    (which, and how to get them back), else None."""
    if not items:
        return None
    rows = store.tracks_at([item[0] for item in items], ("path", "model"))
    others = Counter(r.model for r in rows if r.model and r.model != ref.name)
    if not others:
        return None
    what = ", ".join(f"{n} of {model}" for model, n in others.most_common())
    back = " or ".join(f"`tagger scan PATH --model {m}`" for m in others)
    return (
        f"notice: {ref.name} re-labels {sum(others.values())} tracks from their stored "
        f"embeddings, replacing the results {what} stored ({back} analyses them again)"
    )
