"""Does a scan's answer hold with less work?  The fast graph, and stopping early over patches.

    python benchmarks/musicnn_patches.py [FOLDER ...]

For every audio file under the folders (default: the GTZAN development clips,
the real clips of the test fixtures and Debian's game soundtracks, where
present), the scan's patches (5, spread over the track) run through:

* the exact graph in float32: a full analysis, the reference;
* what ``--precision auto`` runs on this CPU (the fast graph: quiet filters
  left out too; bfloat16 where the CPU has it and no ``ONEDNN_MAX_CPU_ISA``
  cap rules it out);
* the fast graph in float32;
* where the CPU has bfloat16, the exact graph in bfloat16 (what ``auto`` ran
  before the fast graph).

Per engine: the share of tracks with the reference's top genre, the largest
difference of any raw tag (the 100 tag probabilities pooled over the track)
and the share of tracks within 0.05 on every raw tag, and the nets' time per
track on one thread (engines alternate, ratios to the reference in the same
run).  Then the early stop: how close the mean of the first k patches (in the
order middle-out: 1st, 5th, 3rd, 2nd, 4th) comes to the mean of all 5, and
how many tracks a "stop when the k patches agree within t on every tag" rule
would stop early without any track's raw tags moving by more than 0.05.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tagger.decode import DecodeError
from tagger.inference import OpenVinoNet, vector_extensions
from tagger.models import load_model, resolve
from tagger.walk import walk
from tagger.worker import track_input

DEFAULT = [
    "/work/shared/gtzan/dev",
    "../shared/gtzan/dev",
    str(Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_clips"),
    "/usr/share/games/wesnoth/1.16/data/core/music",
    "/usr/share/games/singularity/music",
    "/usr/share/games/fretsonfire/data/songs",
]
ORDER = [0, 4, 2, 1, 3]
TOLERANCE = 0.05


def main(folders: list[str]) -> None:
    ref = resolve("musicnn")[0]
    exact = load_model(replace(ref, precision="float32"), threads=1)
    auto = load_model(replace(ref, precision="auto"), threads=1)
    folder = Path(ref.card_file).parent
    fast32 = OpenVinoNet(folder / ref.card.details["openvino"]["fast"]["file"], "float32", 1)
    engines = {
        f"exact graph, {exact.engine.precision} (full analysis)": exact.forward,
        f"what auto runs: {auto.engine}": auto.forward,
        "fast graph, float32": fast32,
    }
    if auto.engine.precision == "bfloat16":  # what auto ran before the fast graph
        xml = folder / ref.card.details["openvino"]["file"]
        engines["exact graph, bfloat16"] = OpenVinoNet(xml, "bfloat16", 1)
    folders = list(dict.fromkeys(os.path.realpath(d) for d in folders if os.path.isdir(d)))
    files = walk(folders).files
    raw: dict[str, list[np.ndarray]] = {name: [] for name in engines}
    seconds = {name: 0.0 for name in engines}
    t0 = time.time()
    for f in files:
        try:
            _, x = track_input(f, exact.spec)
        except DecodeError:
            continue
        x = x.astype(np.float32)
        for name, net in engines.items():
            t = time.perf_counter()
            raw[name].append(np.asarray(net(x))[:, :100])
            seconds[name] += time.perf_counter() - t
    n = len(raw[next(iter(raw))])
    print(
        f"{n} tracks from {', '.join(folders)} "
        f"[{time.time() - t0:.0f} s]; CPU: {vector_extensions()}"
    )
    reference = [r.mean(0) for r in raw[next(iter(raw))]]
    top = [int(np.argmax(exact.to_genres(p))) for p in reference]
    base = seconds[next(iter(seconds))]
    print(
        "| engine | same top genre | largest raw-tag difference | tracks within 0.05 "
        "| nets ms/track, 1 thread | speed vs full analysis |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    for name in engines:
        pooled = [r.mean(0) for r in raw[name]]
        gaps = np.array([np.abs(p - q).max() for p, q in zip(pooled, reference)])
        same = np.mean([int(np.argmax(exact.to_genres(p))) == t for p, t in zip(pooled, top)])
        print(
            f"| {name} | {same:.1%} | {gaps.max():.4f} | {np.mean(gaps <= TOLERANCE):.1%} | "
            f"{1000 * seconds[name] / n:.0f} | {base / seconds[name]:.2f}x |"
        )
    full = [r for r in raw[next(iter(raw))] if len(r) == 5]
    patches = np.stack(full)  # (tracks, 5, 100)
    mean = patches.mean(1)
    print(f"\nEarly stop, {len(full)} tracks with 5 patches (the reference's outputs):")
    print(
        "| patches run | tracks within 0.05 | largest raw-tag difference "
        "| stopped by the best rule |"
    )
    print("| --- | --- | --- | --- |")
    for k in (1, 2, 3, 4):
        part = patches[:, ORDER[:k]]
        gap = np.abs(part.mean(1) - mean).max(1)
        spread = (part.max(1) - part.min(1)).max(1)
        best = 0.0
        for t in np.unique(spread):  # the loosest agreement rule that keeps every track
            if gap[spread <= t].max() <= TOLERANCE:
                best = float(np.mean(spread <= t))
        print(f"| {k} | {np.mean(gap <= TOLERANCE):.1%} | {gap.max():.3f} | {best:.1%} |")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
