"""Re-label unchanged files from their stored embeddings: no decoding, no TensorFlow.

A head (``library``/``head`` model kinds) needs only a track's musicnn
embedding, which every musicnn-based scan stores.  When a scan with a head
finds a file whose size and mtime equal those it had when its embedding was
stored (by the musicnn version the head was trained on), the scanning process
predicts it from the database alone: one matrix product for the whole
library, then one ``UPDATE`` per track that changes the prediction columns and
nothing else.  Files that changed, or were never embedded, go to the workers
and are decoded as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .clock import now
from .models import ModelRef
from .models.head import HeadModel, SoftmaxHead, embedder_of, predict_embeddings
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
    rows, matrix = store.embedded_tracks(embedder_of(ref.card), ("path",), set(by_path))
    for start in range(0, len(rows), BATCH):
        preds = predict_embeddings(head, matrix[start : start + BATCH])
        stamp = now()
        results = [
            TrackResult(
                *by_path[row.path],
                model=ref.name,
                model_version=ref.version,
                prediction=pred,
                scanned_at=stamp,
            )
            for row, pred in zip(rows[start : start + BATCH], preds)
        ]
        store.put_relabelled(results, scan_id)
        yield results
