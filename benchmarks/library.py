"""Learning the user's genres at library scale, without decoding anything.

    python benchmarks/library.py [--tracks 100000] [--labelled 10000] [--genres 20]

Builds (under $TMPDIR/tagger-library-bench) a tree of tiny placeholder files
and a database in which a musicnn scan has stored every file's embedding
(clustered by genre: the speed of what follows does not depend on the
numbers), ``--labelled`` of them carrying a genre tag, grouped in albums of
10.  Then times, in one run:

* ``retrain --from-library``: 5 album-grouped folds plus the final head;
* ``scan --model library``: every file re-labelled from its stored embedding,
  against the baseline of the same scan finding nothing to do (walk, stat,
  compare with the database) measured right after;
* ``similar``: one query over every stored embedding (reading them from the
  database, then the exact search alone).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from scale import placeholders, store_results

from tagger.models import TrackPrediction, current_embedder, resolve
from tagger.scan import scan
from tagger.similar import similar
from tagger.store import Store
from tagger.training.from_library import retrain_from_library
from tagger.worker import TrackResult


def build(root: Path, db: Path, n: int, labelled: int, n_genres: int) -> list[Path]:
    files = placeholders(root, n, 10, 50)
    for old in db.parent.glob(db.name + "*"):  # a fresh database: every run re-labels
        old.unlink()
    ref = resolve("musicnn")[0]
    embedder = current_embedder()
    rng = np.random.default_rng(0)
    centres = np.abs(rng.normal(0, 1, (n_genres, 400))).astype(np.float32)

    def results() -> Iterator[TrackResult]:
        for i, f in enumerate(files):
            album = i // 10
            g = album % n_genres
            vec = np.maximum(centres[g] + rng.normal(0, 0.8, 400), 0)
            st = f.stat()
            yield TrackResult(
                str(f),
                st.st_size,
                st.st_mtime,
                ref.name,
                ref.version,
                duration=200.0,
                format="mp3",
                slices=5,
                tag_genre=f"Genre {g:02d}" if i < labelled else None,
                album=f"Album {album}",
                prediction=TrackPrediction("rock", 0.3, {"rock": 0.3}, embedding=vec),
                embedder=embedder,
            )

    store_results(db, ref, results(), "library")
    return files


def timed(fn):
    """(result, wall seconds); the CPU seconds of this process go to ``CPU``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    CPU.append(time.process_time() - c0)
    return out, time.perf_counter() - t0


# CPU seconds of each timed step: on a shared machine, wall time measures the
# neighbours too; everything timed here runs in this one process.
CPU: list[float] = []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--labelled", type=int, default=10_000)
    ap.add_argument("--genres", type=int, default=20)
    args = ap.parse_args()
    base = Path(tempfile.gettempdir()) / "tagger-library-bench"
    os.environ["TAGGER_HOME"] = str(base / "home")
    root, db = base / "Music", base / "library.db"
    files, t_build = timed(lambda: build(root, db, args.tracks, args.labelled, args.genres))
    print(f"setup: {len(files)} files, database {db.stat().st_size / 1e6:.0f} MB ({t_build:.0f} s)")

    card, t_train = timed(lambda: retrain_from_library(db, min_tracks=5))
    a = card["accuracy"]
    print(
        f"retrain --from-library: {a['tracks']} labelled tracks, {len(card['genres'])} genres, "
        f"{t_train:.1f} s wall, {CPU[-1]:.1f} s CPU (5 folds + final head; held-out accuracy "
        f"{a['accuracy']:.3f})"
    )

    s, t_relabel = timed(lambda: scan([str(root)], db=db, model="library", progress=False))
    assert s.relabelled == len(files) and s.errors == 0, s
    s2, t_noop = timed(lambda: scan([str(root)], db=db, model="library", progress=False))
    assert s2.skipped == len(files)
    print(
        f"scan --model library: {s.relabelled} re-labelled in {t_relabel:.1f} s wall, "
        f"{CPU[-2]:.1f} s CPU; the same scan with nothing to do: {t_noop:.1f} s wall, "
        f"{CPU[-1]:.1f} s CPU (x{t_relabel / t_noop:.1f} wall)"
    )

    query = str(files[len(files) // 2])
    r, t_similar = timed(lambda: similar(query, db, 10))
    cpu_similar = CPU[-1]
    store = Store(db, create=False)
    _, matrix = store.embedded_tracks(current_embedder())
    store.close()
    from tagger.embeddings import nearest

    nearest(matrix[0], matrix, 10, exclude=0)  # first touch of the matrix's pages
    _, t_search = timed(lambda: nearest(matrix[1], matrix, 10, exclude=1))
    print(
        f"similar: {r['searched']} tracks searched in {t_similar:.2f} s wall, "
        f"{cpu_similar:.2f} s CPU "
        f"(of which the exact search {t_search * 1000:.0f} ms, the rest reading the database)"
    )


if __name__ == "__main__":
    main()
