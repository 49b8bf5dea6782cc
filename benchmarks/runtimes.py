"""musicnn's two nets under each runtime, side by side in one run.

    python benchmarks/runtimes.py [AUDIO_DIR ...] [--patches 32] [--rounds 2] [--reps 4]
    python benchmarks/runtimes.py --agreement [AUDIO_DIR ...]

Cuts ``--patches`` real 3-second patches from the audio under AUDIO_DIR
(default: the Debian soundtracks ``wesnoth-music`` and ``singularity-music``
when installed, else generated tracks) and runs them through both musicnn nets
(the 500-column graph: 100 tags + two 200-wide embeddings) with each engine:
TensorFlow (the Keras port, every filter as the checkpoints hold it: the
reference), TensorFlow without the dead filters, and OpenVINO float32 and
bfloat16 (the shipped graph, pruned), on 2 and 1 threads.  Every engine
runs in a fresh process, so the first column is the true start-up cost
(import + load + first call), as a scan worker pays it.
Rounds alternate the engines, so drift on a shared machine shows as spread
between rounds rather than as a bias against one engine.

Prints net-patches per second (one patch through one net), the ratio to
TensorFlow on 2 threads in the same round, and the largest absolute
difference from TensorFlow's outputs, for the tags and for the embeddings.
``--agreement`` instead runs every track's 5 scan patches through each engine
and counts how often the merged top genre matches TensorFlow's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ENGINES = [
    ("tensorflow", "float32"),
    ("tensorflow-pruned", "float32"),
    ("openvino", "float32"),
    ("openvino", "bfloat16"),
]
DEFAULT_AUDIO = [
    "/usr/share/games/wesnoth/1.16/data/core/music",
    "/usr/share/games/singularity/music",
]


def real_patches(folders: list[str], n: int) -> np.ndarray:
    """``n`` musicnn input patches, 5 per track, from the audio under ``folders``."""
    from tagger.features import MUSICNN
    from tagger.walk import walk
    from tagger.worker import track_input

    files = walk([f for f in folders if Path(f).is_dir()]).files if folders else []
    if not files:
        sys.path.insert(0, str(Path(__file__).parent))
        from scan import make_tracks

        files = make_tracks(Path(tempfile.gettempdir()) / "tagger-bench" / "4min", 8, 4.0)
    out: list[np.ndarray] = []
    for f in sorted(files):
        out.append(track_input(f, MUSICNN)[1])
        if sum(map(len, out)) >= n:
            break
    return np.concatenate(out)[:n]


def load(runtime: str, precision: str, threads: int):
    """A callable for the 500-column musicnn graph on the given engine."""
    from tagger.inference import OpenVinoNet
    from tagger.models import read_card
    from tagger.models.base import compiled
    from tagger.models.musicnn import build_combined
    from tagger.paths import shipped_models_dir

    folder = shipped_models_dir()
    card = read_card(folder / "musicnn.json")
    if runtime == "openvino":
        return OpenVinoNet(folder / card.details["openvino"]["file"], precision, threads)
    return compiled(build_combined(card, folder, threads, prune=runtime.endswith("pruned")))


def worker(runtime: str, precision: str, threads: int, patches: str, reps: int, out: str) -> None:
    """Runs in a fresh process: start-up, then ``reps`` timed passes over the patches."""
    t0 = time.perf_counter()
    net = load(runtime, precision, threads)
    x = np.load(patches)
    y = net(x)
    startup = time.perf_counter() - t0
    net(x)
    t1 = time.perf_counter()
    for _ in range(reps):
        net(x)
    rate = 2 * len(x) * reps / (time.perf_counter() - t1)
    np.save(out, y)
    print(json.dumps({"startup": startup, "rate": rate}))


def agreement(folders: list[str]) -> None:
    """Each real track's pooled result (the 5 patches a scan uses) on every engine, in one
    process: how often the merged top genre equals TensorFlow's, and the largest tag gap."""
    from tagger.decode import DecodeError
    from tagger.features import MUSICNN
    from tagger.models.musicnn_genres import merge_genres
    from tagger.walk import walk
    from tagger.worker import track_input

    engines = {(r, p): load(r, p, 2) for r, p in ENGINES}
    files = walk([f for f in folders if Path(f).is_dir()]).files
    same = dict.fromkeys(engines, 0)
    gap = dict.fromkeys(engines, 0.0)
    heard = 0
    for f in files:
        try:
            x = track_input(f, MUSICNN)[1]
        except DecodeError:  # silent or too short: no genre on any engine
            continue
        heard += 1
        pooled = {k: net(x).mean(axis=0) for k, net in engines.items()}
        ref = pooled[ENGINES[0]]
        top = merge_genres(ref[:50], ref[50:100]).argmax()
        for k, y in pooled.items():
            same[k] += int(merge_genres(y[:50], y[50:100]).argmax() == top)
            gap[k] = max(gap[k], float(np.abs(y[:100] - ref[:100]).max()))
    print(
        f"{heard} real tracks ({len(files) - heard} silent or too short left out), "
        "5 patches each, pooled as a scan pools them"
    )
    print("| engine | same top genre as TensorFlow | largest pooled tag difference |")
    print("| --- | --- | --- |")
    for (runtime, precision), n in same.items():
        print(f"| {runtime} {precision} | {n}/{heard} | {gap[(runtime, precision)]:.1e} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audio", nargs="*", default=DEFAULT_AUDIO)
    ap.add_argument("--patches", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--threads", default="2,1")
    ap.add_argument(
        "--agreement",
        action="store_true",
        help="instead: top-genre agreement with TensorFlow on every track",
    )
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.agreement:
        agreement(args.audio)
        return
    if args.worker:
        runtime, precision, threads, patches, reps, out = args.worker
        worker(runtime, precision, int(threads), patches, int(reps), out)
        return

    from tagger.inference import bfloat16_supported

    x = real_patches(args.audio, args.patches)
    threads = [int(t) for t in args.threads.split(",")]
    print(
        f"{len(x)} real patches x 2 nets, {os.cpu_count()} CPUs, "
        f"native bfloat16: {bfloat16_supported()}, {args.rounds} rounds x {args.reps} passes"
    )
    results: dict[tuple[str, str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        for r in range(args.rounds):
            order = ENGINES if r % 2 == 0 else ENGINES[::-1]
            for runtime, precision in order:
                for t in threads:
                    out = Path(tmp) / f"{runtime}-{precision}-{t}-{r}.npy"
                    proc = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--worker",
                            runtime,
                            precision,
                            str(t),
                            str(Path(tmp) / "x.npy"),
                            str(args.reps),
                            str(out),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    res = json.loads(proc.stdout.strip().splitlines()[-1])
                    res["y"] = np.load(out)
                    results.setdefault((runtime, precision, t), []).append(res)
    ref = results[("tensorflow", "float32", threads[0])][0]["y"]
    base = [res["rate"] for res in results[("tensorflow", "float32", threads[0])]]
    print(
        f"| runtime | threads | start-up s | net-patches/s | vs TensorFlow ({threads[0]} threads) "
        f"| max diff tags | max diff embeddings |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (runtime, precision, t), runs in results.items():
        rates = [res["rate"] for res in runs]
        ratio = [a / b for a, b in zip(rates, base)]
        y = runs[0]["y"]
        print(
            f"| {runtime} {precision} | {t} | "
            f"{min(res['startup'] for res in runs):.1f} | {_span(rates, '.0f')} | "
            f"{_span(ratio, '.2f')}x | {np.abs(y[:, :100] - ref[:, :100]).max():.1e} | "
            f"{np.abs(y[:, 100:] - ref[:, 100:]).max():.1e} |"
        )


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


if __name__ == "__main__":
    main()
