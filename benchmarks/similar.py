"""``tagger similar`` over a million stored embeddings: query time, and recall against exact search.

    python benchmarks/similar.py [--tracks 1000000] [--queries 50] [--audio DIR ...]

Builds (under $TMPDIR/tagger-similar-bench, kept for the next run) a database in
which a musicnn scan stored ``--tracks`` embeddings, then the index a scan keeps
beside it (``tagger.similar.update_index``), and times ``tagger.similar.similar``
(the function behind the command, in this process: the database, the index and
the candidates' rows are read at each query) for ``--queries`` stored tracks.
Recall@10 is the share of the exact top 10 (cosine over every stored vector,
``tagger.embeddings.nearest``) that the answer holds.

The vectors are synthetic with the statistics of real ones: the mean and
covariance of musicnn's per-patch embeddings of the real recordings under
``--audio`` (default: the GTZAN development clips and Debian's game
soundtracks where present), drawn as 5,000 "styles" around which tracks lie
(a track is the mean of five patches of its style, as a scan averages five),
kept non-negative as the ReLU units are.  Placeholder files stand for the
queried tracks, so that ``similar`` finds them stored and unchanged.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scale import placeholders, store_results

from tagger.embeddings import CANDIDATES, INDEX_DIMS, load_index, nearest, pack_embedding
from tagger.inference import vector_extensions
from tagger.models import TrackPrediction, current_embedder, resolve
from tagger.similar import index_file, similar, update_index
from tagger.store import Store
from tagger.worker import TrackResult

QUERIES = 200  # placeholder files: the tracks queried
AUDIO = [
    "/work/shared/gtzan/dev",
    "../shared/gtzan/dev",
    "/usr/share/games/wesnoth/1.16/data/core/music",
    "/usr/share/games/singularity/music",
]


def patch_statistics(folders: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of musicnn's 400-wide per-patch embeddings of real recordings."""
    if cache.exists():
        data = np.load(cache)
        return data["mean"], data["cov"]
    from tagger.decode import DecodeError
    from tagger.models import load_model
    from tagger.walk import walk
    from tagger.worker import track_input

    model = load_model(resolve("musicnn")[0])
    rows = []
    for f in walk([d for d in folders if os.path.isdir(d)]).files:
        try:
            _, x = track_input(f, model.spec)
        except DecodeError:
            continue
        rows.append(model.forward_batched(x)[:, 100:])
    patches = np.concatenate(rows)
    print(f"embedding statistics from {len(patches)} patches of {len(rows)} real recordings")
    mean, cov = patches.mean(0), np.cov(patches, rowvar=False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, mean=mean, cov=cov)
    return mean, cov


def vectors(n: int, mean: np.ndarray, cov: np.ndarray, seed: int = 0) -> Iterator[np.ndarray]:
    """``n`` track embeddings, 10,000 at a time (see the module docstring)."""
    rng = np.random.default_rng(seed)
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.maximum(w, 0))  # cov = root @ root.T
    styles = mean + rng.normal(size=(5000, len(mean))) @ root.T
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        centre = styles[rng.integers(0, len(styles), m)]
        noise = rng.normal(size=(m * 5, len(mean))).astype(np.float32) @ root.T.astype(np.float32)
        patches = centre[:, None, :] + 0.5 * noise.reshape(m, 5, len(mean))
        yield np.maximum(patches, 0).mean(axis=1).astype(np.float32)


def build(db: Path, root: Path, n: int, mean: np.ndarray, cov: np.ndarray) -> list[Path]:
    """The placeholder files and the database: the first ``QUERIES`` rows through the store as
    a scan stores them, the rest (``put_results`` takes ~1 ms a row) as the same rows in bulk."""
    files = placeholders(root, QUERIES, 20, 10)
    if db.exists():
        return files
    ref = resolve("musicnn")[0]
    embedder = current_embedder()
    blocks = vectors(n, mean, cov)
    first = next(blocks)
    results = [
        TrackResult(
            str(f),
            f.stat().st_size,
            f.stat().st_mtime,
            ref.name,
            ref.version,
            duration=200.0,
            format="flac",
            slices=5,
            prediction=TrackPrediction("rock", 0.5, {"rock": 0.5}, embedding=vec),
            embedder=embedder,
        )
        for f, vec in zip(files, first)
    ]
    store_results(db, ref, results, "similar")
    conn = sqlite3.connect(db)
    i = len(files)
    for block in itertools.chain([first[len(files) :]], blocks):
        paths = [f"/elsewhere/library/{j:07d}.flac" for j in range(i, i + len(block))]
        conn.executemany(
            "INSERT INTO tracks (path, size, mtime, model, model_version, genre, confidence, "
            "duration, format, slices, status, missing, scan_id) "
            "VALUES (?, 1000, 0.0, ?, ?, 'rock', 0.5, 200.0, 'flac', 5, 'ok', 0, 1)",
            [(p, ref.name, ref.version) for p in paths],
        )
        conn.executemany(
            "INSERT INTO embeddings (path, embedder, size, mtime, vector) "
            "VALUES (?, ?, 1000, 0.0, ?)",
            [(p, embedder, pack_embedding(v)) for p, v in zip(paths, block)],
        )
        conn.commit()
        i += len(block)
    conn.close()
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--audio", nargs="*", default=AUDIO)
    ap.add_argument("--reuse-index", action="store_true", help="keep the index a run built")
    args = ap.parse_args()
    base = Path(tempfile.gettempdir()) / "tagger-similar-bench"
    mean, cov = patch_statistics(args.audio, base / "patch-statistics.npz")
    db, root = base / f"{args.tracks}" / "library.db", base / f"{args.tracks}" / "Music"
    t0 = time.perf_counter()
    files = build(db, root, args.tracks, mean, cov)
    print(f"{args.tracks} stored embeddings in {db} [{time.perf_counter() - t0:.0f} s to build]")
    print(f"CPU: {vector_extensions()}, {os.cpu_count()} CPUs")
    store = Store(db)
    t0 = time.perf_counter()
    if not args.reuse_index:
        index_file(db).unlink(missing_ok=True)
    update_index(store)
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    update_index(store)  # a scan that stored nothing new
    again = time.perf_counter() - t0
    index = load_index(index_file(db))
    assert index is not None and len(index.rowids) == args.tracks
    print(
        f"index: {INDEX_DIMS} dimensions, {CANDIDATES} candidates ranked exactly; "
        f"{'checked' if args.reuse_index else 'built'} in {built:.1f} s, "
        f"updated with nothing new in {again:.2f} s"
    )
    queried = files[: min(args.queries, QUERIES)]
    similar(queried[0], db)  # warm: imports, the page cache
    times, answers = [], []
    for f in queried:  # timed before the exact search holds every vector in memory
        t0 = time.perf_counter()
        answers.append(similar(f, db))
        times.append(time.perf_counter() - t0)
    rows, matrix = store.embedded_tracks(current_embedder())
    store.close()
    position = {r.path: j for j, r in enumerate(rows)}
    recalls = []
    for f, answer in zip(queried, answers):
        j = position[str(f)]
        exact, _ = nearest(matrix[j], matrix, 10, exclude=j)
        got = {position[r.path] for r in answer.results}
        recalls.append(len(got & set(exact.tolist())) / 10)
    ms = 1000 * np.array(times)
    print(
        f"| stored embeddings | queries | median ms | 90th percentile ms | max ms | recall@10 "
        f"mean | recall@10 min |\n| --- | --- | --- | --- | --- | --- | --- |\n"
        f"| {args.tracks:,} | {len(times)} | {np.median(ms):.0f} | {np.quantile(ms, 0.9):.0f} | "
        f"{ms.max():.0f} | {np.mean(recalls):.3f} | {min(recalls):.1f} |"
    )


if __name__ == "__main__":
    main()
