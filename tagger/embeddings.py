"""Track embeddings as stored (float16 bytes) and exact cosine search over them.

A track's embedding is musicnn's two penultimate layers (200 ReLU units per
net), averaged over the patches a scan decodes: 400 numbers.  Stored as
float16 they take 800 bytes a track (80 MB for 100,000 tracks); float16 keeps
about three significant digits, far finer than the differences between
tracks (the head's accuracy and the similarity ranking are unchanged, tested).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DTYPE = np.dtype("<f2")


def pack_embedding(vector: np.ndarray) -> bytes:
    """A float vector -> little-endian float16 bytes."""
    return np.asarray(vector, dtype=np.float32).astype(DTYPE).tobytes()


def unpack_embeddings(blobs: list[bytes]) -> np.ndarray:
    """Stored blobs (all of one length) -> an (n, dim) float32 matrix, in one pass."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    dim = len(blobs[0]) // DTYPE.itemsize
    if any(len(b) != len(blobs[0]) for b in blobs):
        raise ValueError("stored embeddings of different lengths")
    return np.frombuffer(b"".join(blobs), dtype=DTYPE).reshape(len(blobs), dim).astype(np.float32)


def normalised(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def nearest(
    query: np.ndarray, matrix: np.ndarray, top: int, exclude: int | Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine similarities) of the ``top`` rows of ``matrix`` most similar to ``query``.

    Exact: one matrix-vector product over every row (100,000 x 400 is 40
    million multiply-adds) and the rows' norms, then a partial sort: ~50 ms.
    ``exclude`` leaves out a row or rows (the query track itself, its copies).
    """
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))  # no normalised copy of the matrix
    sims = (matrix @ normalised(query.astype(np.float32))) / np.maximum(norms, 1e-12)
    left_out = np.unique(np.asarray([] if exclude is None else exclude, dtype=np.intp))
    sims[left_out] = -np.inf
    top = min(top, len(sims) - len(left_out))
    if top <= 0:
        return np.zeros(0, int), np.zeros(0, np.float32)
    idx = np.argpartition(-sims, top - 1)[:top]
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return idx, sims[idx]


# --- the similarity index ---------------------------------------------------------
# Exact search reads every stored vector (800 MB at a million tracks) from SQLite; the
# index keeps each one's projection on the ``INDEX_DIMS`` principal directions of the
# library's (unit-length) embeddings in a file beside the database, scanned in one
# matrix-vector product.  Its ``CANDIDATES`` best are then ranked exactly on their
# stored vectors (benchmarks/similar.py: recall@10 against exact search).
INDEX_DIMS = 32
CANDIDATES = 256
FIT_ROWS = 20_000  # the principal directions are fitted on at most this many vectors
_MAGIC = b"TAGGERIX1\n"


@dataclass(frozen=True)
class ProjectedIndex:
    """Stored embeddings projected to a few dimensions, keyed by their ``embeddings`` rowid
    and the file mtime each was made from (a rescanned file's row may reuse its rowid)."""

    embedder: str
    basis: np.ndarray  # (dim, INDEX_DIMS): the principal directions
    rowids: np.ndarray  # (n,) int64, ascending
    stamps: np.ndarray  # (n,) float64: each row's mtime
    projected: np.ndarray  # (n, INDEX_DIMS) float32: unit-length vectors @ basis
    fitted_on: int  # how many vectors the basis was fitted on

    @property
    def last_rowid(self) -> int:
        return int(self.rowids[-1]) if len(self.rowids) else 0

    def candidates(self, query: np.ndarray, n: int = CANDIDATES) -> np.ndarray:
        """The rowids of the ``n`` rows whose projections are most similar to ``query``'s."""
        if not len(self.rowids):
            return np.zeros(0, np.int64)
        scores = self.projected @ (normalised(np.asarray(query, np.float32)) @ self.basis)
        return np.asarray(self.rowids[top_rows(scores, n)], dtype=np.int64)

    def current(self, rowids: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        """Which of the stored rows (``rowids`` ascending, their ``stamps``) this index holds
        as they are now: a boolean mask over ``rowids``."""
        at = np.clip(np.searchsorted(self.rowids, rowids), 0, max(len(self.rowids) - 1, 0))
        if not len(self.rowids):
            return np.zeros(len(rowids), bool)
        same = self.stamps[at]
        return (self.rowids[at] == rowids) & (
            (same == stamps) | (np.isnan(same) & np.isnan(stamps))
        )


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """The indices of the ``n`` highest ``scores`` (in no order), exactly.

    A partial sort of a million scores takes tens of milliseconds; instead a
    threshold from an evenly strided sample keeps the few rows above it, and
    only those are partially sorted.  When fewer than ``n`` rows pass (the
    sample misled), every row is.
    """
    if n >= len(scores):
        return np.arange(len(scores))
    step = max(1, len(scores) // 20_000)
    sample = scores[::step]
    k = min(len(sample), 4 * n // step + 1)  # about 4n rows of all are at or above it
    threshold = np.partition(sample, len(sample) - k)[len(sample) - k]
    above = np.flatnonzero(scores >= threshold)
    if len(above) < n:
        above = np.arange(len(scores))
    return above[np.argpartition(-scores[above], n - 1)[:n]]


def fit_basis(vectors: np.ndarray, dims: int = INDEX_DIMS) -> np.ndarray:
    """(dim, dims) principal directions of unit-length ``vectors`` (uncentred: they keep
    dot products, hence cosines, as closely as ``dims`` directions can): the leading
    eigenvectors of their (dim, dim) Gram matrix."""
    x = normalised(np.asarray(vectors, np.float32))
    if len(x) > FIT_ROWS:
        x = x[np.random.default_rng(0).choice(len(x), FIT_ROWS, replace=False)]
    _, v = np.linalg.eigh((x.T @ x).astype(np.float64))
    basis = np.zeros((x.shape[1], dims), np.float32)
    top = v[:, ::-1][:, : min(dims, len(x))]
    basis[:, : top.shape[1]] = top
    return basis


def updated_index(
    embedder: str,
    rowids: np.ndarray,
    stamps: np.ndarray,
    vectors_of: Callable[[np.ndarray | None], tuple[np.ndarray, np.ndarray]],
    old: ProjectedIndex | None = None,
) -> ProjectedIndex | None:
    """The index of the stored rows (``rowids`` ascending, their ``stamps``), or None when
    ``old`` already is it.

    ``vectors_of(rowids)`` reads those rows' vectors (``None``: every row).  The
    rows ``old`` holds as they are keep their projections and ``old`` its basis,
    unless the basis was fitted on under half as many vectors as there now are
    (and fewer than ``FIT_ROWS``): then every vector is read and projected afresh.
    """
    if old is not None and old.embedder == embedder and not _needs_refit(old, len(rowids)):
        keep = old.current(rowids, stamps)
        if keep.all() and len(old.rowids) == len(rowids):
            return None
        new_ids, vectors = vectors_of(rowids[~keep])
        basis = old.basis
        held = np.isin(old.rowids, rowids[keep])
        ids = np.concatenate([old.rowids[held], new_ids])
        projected = np.concatenate([old.projected[held], _project(vectors, basis)])
        fitted_on = old.fitted_on
    else:
        ids, vectors = vectors_of(None)
        basis = fit_basis(vectors) if len(vectors) else np.zeros((0, INDEX_DIMS), np.float32)
        projected, fitted_on = _project(vectors, basis), len(vectors)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    at = np.searchsorted(rowids, ids)
    return ProjectedIndex(
        embedder, basis, ids, stamps[at], projected[order].astype(np.float32), fitted_on
    )


def _project(vectors: np.ndarray, basis: np.ndarray) -> np.ndarray:
    if not len(vectors):
        return np.zeros((0, basis.shape[1]), np.float32)
    return (normalised(np.asarray(vectors, np.float32)) @ basis).astype(np.float32)


def _needs_refit(old: ProjectedIndex, total: int) -> bool:
    return old.fitted_on < FIT_ROWS and total > 2 * max(old.fitted_on, 1)


def save_index(path: Path, index: ProjectedIndex) -> None:
    """Write ``index`` to ``path`` atomically (a header line, then the four arrays)."""
    head = json.dumps(
        {
            "embedder": index.embedder,
            "dim": int(index.basis.shape[0]),
            "dims": int(index.basis.shape[1]),
            "n": len(index.rowids),
            "fitted_on": index.fitted_on,
        }
    ).encode()
    header = _MAGIC + head + b"\n"
    header += b" " * (-len(header) % 64)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(index.basis, "<f4").tobytes())
        f.write(np.ascontiguousarray(index.rowids, "<i8").tobytes())
        f.write(np.ascontiguousarray(index.stamps, "<f8").tobytes())
        f.write(np.ascontiguousarray(index.projected, "<f4").tobytes())
    os.replace(tmp, path)


def load_index(path: Path) -> ProjectedIndex | None:
    """The index at ``path``, memory-mapped; None where there is none or it is unreadable."""
    try:
        with open(path, "rb") as f:
            if f.read(len(_MAGIC)) != _MAGIC:
                return None
            meta = json.loads(f.readline())
            offset = f.tell() + (-f.tell() % 64)
        dim, dims, n = meta["dim"], meta["dims"], meta["n"]
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        basis = np.frombuffer(raw, "<f4", dim * dims, offset).reshape(dim, dims)
        offset += 4 * dim * dims
        rowids = np.frombuffer(raw, "<i8", n, offset)
        stamps = np.frombuffer(raw, "<f8", n, offset + 8 * n)
        projected = np.frombuffer(raw, "<f4", n * dims, offset + 16 * n).reshape(n, dims)
    except (OSError, ValueError, KeyError):
        return None
    return ProjectedIndex(meta["embedder"], basis, rowids, stamps, projected, meta["fitted_on"])
