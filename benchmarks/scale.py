"""Scale: a 100,000-row database and a 20,000-file tree, without decoding anything.

    python benchmarks/scale.py [--files 20000] [--rows 100000]

Builds (under $TMPDIR/tagger-scale) a folder tree of tiny placeholder audio
files and a database whose rows already hold a result for each of them (plus
80,000 rows elsewhere in the library), then times: the walk alone, an
incremental scan that finds nothing changed (what every re-run of
`tagger scan ~/Music` costs), and `tagger report`.  The baseline printed
beside them is a bare `os.walk` + `os.stat` of the same tree in the same run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tagger.models import ModelRef, TrackPrediction, resolve
from tagger.report import build_report
from tagger.scan import scan
from tagger.store import Store
from tagger.walk import walk
from tagger.worker import TrackResult


def placeholders(root: Path, n: int, album_size: int, albums_per_artist: int) -> list[Path]:
    """``n`` tiny files no decoder accepts, in ``artistNNN/albumNN/trackNN.mp3`` folders."""
    files = []
    for i in range(n):
        artist, album = divmod(i // album_size, albums_per_artist)
        d = root / f"artist{artist:03d}" / f"album{album:02d}"
        d.mkdir(parents=True, exist_ok=True)
        f = d / f"track{i % album_size:02d}.mp3"
        if not f.exists():
            f.write_bytes(b"ID3" + bytes(64))
        files.append(f)
    return files


def build(root: Path, db: Path, n_files: int, n_rows: int) -> list[Path]:
    files = placeholders(root, n_files, 20, 10)
    if db.exists():
        return files
    ref = resolve("musicnn")[0]
    genres = ["rock", "pop", "jazz", "classical", "electronic", "hiphop"]

    def results() -> Iterator[TrackResult]:
        for i in range(n_rows):
            if i < len(files):
                st = files[i].stat()
                path, size, mtime = str(files[i]), st.st_size, st.st_mtime
            else:
                path, size, mtime = f"/elsewhere/library/{i:06d}.flac", 1000, 0.0
            g = genres[i % len(genres)]
            yield TrackResult(
                path,
                size,
                mtime,
                ref.name,
                ref.version,
                duration=200.0,
                format="mp3",
                slices=5,
                tag_genre=genres[(i * 7) % len(genres)] if i % 3 == 0 else None,
                prediction=TrackPrediction(g, 0.5 + (i % 50) / 100, {g: 0.6}),
            )

    store_results(db, ref, results(), "scale")
    return files


def store_results(db: Path, ref: ModelRef, results: Iterable[TrackResult], name: str) -> None:
    """``results`` committed as one finished scan, 5,000 rows a transaction (bounded memory)."""
    store = Store(db)
    scan_id = store.start_scan(ref.name, ref.version, {"benchmark": name})
    batch: list[TrackResult] = []
    for result in results:
        batch.append(result)
        if len(batch) == 5000:
            store.put_results(batch, scan_id)
            batch = []
    store.put_results(batch, scan_id)
    store.finish_scan(scan_id, "finished", {})
    store.close()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    base = Path(tempfile.gettempdir()) / "tagger-scale" / f"{args.files}-{args.rows}"
    root, db = base / "Music", base / "library.db"
    t, files = timed(lambda: build(root, db, args.files, args.rows))
    print(f"{len(files)} files, {args.rows} rows in {db} [{t:.0f} s to prepare]")

    def bare():
        n = 0
        for dp, _, fs in os.walk(root):
            for f in fs:
                os.stat(os.path.join(dp, f))
                n += 1
        return n

    t_bare, n = timed(bare)
    t_walk, res = timed(lambda: walk([root]))
    assert len(res.files) == n == len(files)
    t_scan, summary = timed(lambda: scan([str(root)], db=db, model="musicnn", progress=False))
    assert summary.scanned == 0 and summary.skipped == len(files), summary
    t_report, rep = timed(lambda: build_report(db))
    assert rep.totals.tracks == args.rows
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"{'step':<28}{'seconds':>9}{'x bare walk+stat':>18}")
    for name, t in [
        ("bare os.walk + stat", t_bare),
        ("tagger walk", t_walk),
        ("no-change rescan", t_scan),
        ("report (100k rows)", t_report),
    ]:
        print(f"{name:<28}{t:>9.2f}{t / t_bare:>18.1f}")


if __name__ == "__main__":
    main()
