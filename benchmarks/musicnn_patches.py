"""How many musicnn patches per track are enough?  Agreement with the all-patches answer.

    python benchmarks/musicnn_patches.py FOLDER [FOLDER ...]

For every audio file under the folders, musicnn is run on every consecutive
3-second patch of the whole track (the "all patches" answer), then on the
subset a scan would use with n = 1, 3, 5, 10 patches spread over the track
(``tagger.decode.plan_windows``).  Prints, per n, how often the top genre
agrees with the all-patches top genre, and the mean absolute difference of the
genre probabilities.  Use real recordings: generated tones are not music.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from tagger.decode import plan_windows
from tagger.models import load_model, resolve
from tagger.walk import walk
from tagger.worker import track_input

COUNTS = (1, 3, 5, 10)


def main(folders: list[str]) -> None:
    model = load_model(resolve("musicnn")[0])
    spec = model.spec
    files = walk(folders).files
    agree = {n: 0 for n in COUNTS}
    diff = {n: [] for n in COUNTS}
    used = 0
    t0 = time.time()
    for f in files:
        dec, x = track_input(f, spec, 10_000)  # every consecutive patch
        raw = model.forward_batched(x)
        full = model.to_genres(raw.mean(axis=0))
        used += 1
        for n in COUNTS:
            starts = [s for s, _ in plan_windows(dec.duration, n, spec.slice_seconds)]
            idx = sorted({min(len(raw) - 1, int(round(s / spec.slice_seconds))) for s in starts})
            part = model.to_genres(raw[idx].mean(axis=0))
            agree[n] += int(np.argmax(part) == np.argmax(full))
            diff[n].append(float(np.abs(part - full).mean()))
    print(f"{used} tracks, {time.time() - t0:.0f} s")
    print("patches  top-genre agreement  mean |p - p_all|")
    for n in COUNTS:
        print(f"{n:7d}  {agree[n] / used:19.1%}  {np.mean(diff[n]):16.4f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["."])
