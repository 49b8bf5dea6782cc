"""Where a track's time goes: decode, resample, features, nets, store; new code beside a baseline.

    python benchmarks/stages.py [--baseline REV] [--models musicnn,mlp] [AUDIO_DIR ...]
                                 [--tracks 16]

Runs each stage of a scan on the same real files in one process per code
version, on one thread (as each scan worker runs), and prints milliseconds
per track for every stage: decoding (reading and seeking, without the
resampling), resampling (soxr), the model's input features (spectrogram, or
the MLP's summary features), the net (musicnn: both nets, MTT and MSD, which
cost the same), and storing the result in SQLite.  Default audio: the Debian
soundtracks ``wesnoth-music`` and ``singularity-music``.  The MLP has
untrained weights (the cost of a forward pass does not depend on them).
``--baseline REV`` runs the code of git revision REV (``git archive``) on the
same files first; with ``ONEDNN_MAX_CPU_ISA=AVX2`` (an AVX2-only CPU, see
docs/speed.md) the baseline's musicnn runs in float32, as its ``auto`` did there.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtimes import DEFAULT_AUDIO
from scan import code_versions, untrained

STAGES = ("decode", "resample", "features", "nets", "store")


def profile(files: list[str], model: str, precision: str | None) -> dict:
    """Runs in a fresh process with one BLAS thread: ms per track for each stage."""
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    from tagger.decode import DecodeError, decode
    from tagger.features import extract
    from tagger.models import resolve
    from tagger.store import Store
    from tagger.worker import TrackResult

    threadpool_limits(1)
    ref = resolve(model)[0]
    if precision:
        ref = replace(ref, precision=precision)
    try:
        from tagger.models import load_model
    except ImportError:  # a baseline from before the loader module: the ref loads itself
        loaded = ref.load(1)
    else:
        loaded = load_model(ref, 1)
    spec = loaded.spec
    heard = []
    for f in files:  # files with no genre (silent, too short) have no net or store stage
        try:
            decode(f, spec.sr, spec.n_slices, spec.slice_seconds)
        except DecodeError:
            continue
        heard.append(f)
    files = heard
    loaded.forward_batched(  # warm caches and imports
        extract(decode(files[0], spec.sr, spec.n_slices, spec.slice_seconds).windows, spec)
    )
    total = dict.fromkeys(STAGES, 0.0)
    prof = cProfile.Profile()
    results = []
    for f in files:
        t0 = time.perf_counter()
        prof.enable()
        dec = decode(f, spec.sr, spec.n_slices, spec.slice_seconds)
        prof.disable()
        t1 = time.perf_counter()
        x = extract(dec.windows, spec)
        t2 = time.perf_counter()
        pred = loaded.predict_tracks([x])[0]
        t3 = time.perf_counter()
        total["decode"] += t1 - t0
        total["features"] += t2 - t1
        total["nets"] += t3 - t2
        st = os.stat(f)
        results.append(
            TrackResult(
                f,
                st.st_size,
                st.st_mtime,
                model=ref.name,
                model_version=ref.version,
                duration=dec.duration,
                format=dec.format,
                slices=len(x),
                prediction=pred,
            )
        )
    stats = pstats.Stats(prof)
    resample = sum(
        v[3]
        for k, v in stats.stats.items()  # type: ignore[attr-defined]
        if k[2] == "resample" and "soxr" in k[0]
    )
    total["resample"] = resample
    total["decode"] -= resample
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p.db")
        scan_id = store.start_scan(ref.name, ref.version, {})
        t0 = time.perf_counter()
        store.put_results(results, scan_id)
        total["store"] = time.perf_counter() - t0
        store.close()
    out = {k: 1000 * v / len(files) for k, v in total.items()}
    engine = getattr(loaded, "engine", None)
    out["engine"] = str(engine) if engine else "tensorflow float32"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audio", nargs="*", default=DEFAULT_AUDIO)
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--models", default="musicnn,mlp")
    ap.add_argument("--baseline", help="git revision to profile beside the working tree")
    ap.add_argument("--profile", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile:
        model, precision = args.profile
        print(json.dumps(profile(args.files, model, None if precision == "-" else precision)))
        return

    from tagger.walk import walk

    files = sorted(walk([a for a in args.audio if Path(a).is_dir()]).files)
    files = [str(f) for f in files[:: max(1, len(files) // args.tracks)][: args.tracks]]
    from tagger.inference import isa_cap, vector_extensions

    print(f"{len(files)} real files; ms per track, one thread; CPU: {vector_extensions()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        codes = code_versions(args.baseline, work)
        print(f"| model | code | engine | {' | '.join(STAGES)} | total |")
        print("| --- | --- | --- |" + " --- |" * (len(STAGES) + 1))
        for name in args.models.split(","):
            model = name if name == "musicnn" else str(untrained(name, work))
            for label, code in codes:
                precision = "auto" if label == "new" and name == "musicnn" else "-"
                if isa_cap() and name == "musicnn" and label != "new":
                    precision = "float32"  # what the baseline's auto chose without bfloat16
                proc = subprocess.run(
                    [sys.executable, __file__, "--profile", model, precision, "--files", *files],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(code)},
                    cwd=tmp,
                )
                if proc.returncode:
                    raise SystemExit(f"profiling {name} with {code} failed:\n{proc.stderr[-3000:]}")
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                cells = " | ".join(f"{res[s]:.1f}" for s in STAGES)
                print(
                    f"| {name} | {label} | {res['engine']} | {cells} | "
                    f"{sum(res[s] for s in STAGES):.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
