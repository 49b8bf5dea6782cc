"""musicnn's nets: time per patch at the batch a worker uses, against a batch of 32.

    python benchmarks/net_batch.py [--rounds 16]

One process, one thread, the shipped graph that ``--precision auto`` runs, 32
real patches (``tests/fixtures/musicnn_real_patches.npz``) in calls of
``NET_BATCH`` and of 32; the two alternate round by round, so load on a shared
machine falls on both alike.  Prints ms per patch (best and median) and the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from tagger.inference import open_openvino, vector_extensions
from tagger.models import resolve
from tagger.models.musicnn import NET_BATCH

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=16)
    args = ap.parse_args()
    x = np.load(ROOT / "tests" / "fixtures" / "musicnn_real_patches.npz")["patches"][:32]
    x = x.astype(np.float32)
    ref = resolve("musicnn")[0]
    entry, folder = ref.card.details["openvino"], Path(ref.card_file).parent
    nets = {b: open_openvino(entry, folder, "auto", 1) for b in (NET_BATCH, 32)}
    times: dict[int, list[float]] = {b: [] for b in nets}
    for r in range(args.rounds + 1):
        for b, net in nets.items():
            t0 = time.perf_counter()
            for i in range(0, len(x), b):
                net(x[i : i + b])
            if r:  # the first round warms up
                times[b].append(1000 * (time.perf_counter() - t0) / len(x))
    engine = next(iter(nets.values())).engine
    print(f"{engine}, one thread; CPU: {vector_extensions()}")
    for b, t in times.items():
        print(f"batch {b:2d}: {min(t):.1f} ms per patch at best, {np.median(t):.1f} median")
    ratio = np.median(np.array(times[32]) / np.array(times[NET_BATCH]))
    print(f"time per patch, batch 32 / batch {NET_BATCH}: {ratio:.2f} (median of rounds)")


if __name__ == "__main__":
    main()
