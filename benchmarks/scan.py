"""Scan throughput of every model against the decode-only floor, measured in one run.

    python benchmarks/scan.py [--tracks 24] [--jobs N] [--minutes 4]

Generates 4-minute tracks (half MP3, half FLAC) once under
``$TMPDIR/tagger-bench``, then for each model scans them into a fresh database
with warm workers and prints tracks per second beside the rate of decoding the
same windows alone with the same number of workers (the floor no scan can
beat).  The ResNet and MLP are the real architectures with untrained weights:
the cost of a forward pass does not depend on the weights.  Ratios, not
absolute rates, are comparable between runs on shared machines.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tagger.decode import decode
from tagger.features import FeatureSpec
from tagger.models import KINDS, card_for, resolve, write_card
from tagger.pool import LokyRunner
from tagger.scan import scan
from tagger.training.synth import RECIPES, synth_track, write_audio


def make_tracks(folder: Path, n: int, minutes: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    genres = list(RECIPES)
    for i in range(n):
        f = folder / f"track{i:03d}{'.mp3' if i % 2 == 0 else '.flac'}"
        if not f.exists():
            write_audio(f, synth_track(genres[i % len(genres)], minutes * 60, 44100, seed=i), 44100)
        files.append(f)
    return files


def untrained(kind: str, folder: Path) -> Path:
    """The real architecture of a trainable kind, random weights, with a card marked as such."""
    from tagger.runtime import keras_module

    keras_module()
    spec = KINDS[kind].spec
    genres = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
              "reggae", "rock"]
    net = KINDS[kind].build(spec, len(genres), np.zeros((2, *spec.input_shape()), np.float32))
    path = folder / f"{kind}.keras"
    net.save(path)
    write_card(folder, card_for(KINDS[kind], "untrained", genres, synthetic=True,
                                licence="benchmark only"))
    return path


def _decode_chunk(paths: list[str], spec: FeatureSpec) -> int:
    return sum(len(decode(p, spec.sr, spec.n_slices, spec.slice_seconds).windows) for p in paths)


def decode_rate(files: list[Path], spec: FeatureSpec, jobs: int) -> float:
    """Decode the same windows in the scan's own worker pool, chunked as a scan chunks."""
    runner = LokyRunner(jobs)
    paths = [str(f) for f in files]
    [f.result() for f in [runner.submit(_decode_chunk, [p], spec) for p in paths[:2 * jobs]]]
    t0 = time.perf_counter()
    futures = [runner.submit(_decode_chunk, paths[i:i + 8], spec) for i in range(0, len(paths), 8)]
    [f.result() for f in futures]
    return len(files) / (time.perf_counter() - t0)


def scan_rate(files: list[Path], model: str, jobs: int, work: Path) -> float:
    warm = work / f"warm-{Path(model).stem}.db"
    # Start every worker (TensorFlow import, model load, librosa's JIT: ~7 s each,
    # once per scan) so that the timed scan measures the steady state.
    scan([str(f) for f in files[:2 * jobs]], db=warm, model=model, jobs=jobs, progress=False,
         chunk_size=1)
    t0 = time.perf_counter()
    summary = scan([str(f) for f in files], db=work / f"{Path(model).stem}.db", model=model,
                   jobs=jobs, progress=False)
    seconds = time.perf_counter() - t0
    assert summary.errors == 0, summary.error_files
    return summary.scanned / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--models", default="resnet,mlp,musicnn")
    args = ap.parse_args()
    data = Path(tempfile.gettempdir()) / "tagger-bench" / f"{args.minutes:g}min"
    t0 = time.time()
    files = make_tracks(data, args.tracks, args.minutes)
    print(f"{len(files)} tracks of {args.minutes:g} min (MP3 + FLAC) in {data} "
          f"[{time.time() - t0:.0f} s to prepare], {args.jobs} jobs, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"{'model':<9}{'tracks/s':>10}{'decode floor':>14}{'ratio':>8}")
        for name in args.models.split(","):
            model = str(untrained(name, work)) if KINDS[name].trainable else name
            spec = resolve(model)[0].spec
            floor = decode_rate(files, spec, args.jobs)
            rate = scan_rate(files, model, args.jobs, work)
            print(f"{name:<9}{rate:>10.2f}{floor:>14.2f}{rate / floor:>8.0%}   "
                  f"({spec.n_slices} windows of {spec.slice_seconds:g} s at {spec.sr} Hz)")


if __name__ == "__main__":
    main()
