"""Tempo against annotated tempi, beside librosa's defaults, and what the tempo step costs a scan.

    python benchmarks/tempo.py [--audio ../shared/gtzan/dev]
                               [--annotations ../shared/gtzan/annotations/marchand2015-stats.csv]
                               [--rounds 3] [--json]

For every clip of ``--audio`` with an annotated tempo (GTZAN-Rhythm, Marchand
& Peeters 2015: the mean of the annotated beats' tempo) it prints Accuracy 1
(within 4% of the annotated tempo) and Accuracy 2 (within 4% of it or of twice,
half, three times or a third of it) for:

* ``librosa``: ``librosa.feature.tempo`` with its defaults on the whole clip
  at its own rate (the baseline);
* ``tagger``: ``tagger.tempo.of_track`` as a musicnn scan runs it, on the
  mel slices of the windows the worker decodes (the prior at 120 BPM);
* ``tagger, windows``: ``tagger.tempo.estimate`` on the same windows with its
  own STFT, as an MLP scan runs it;
* ``fast/slow prior``: the first, its prior's centre moved up to half an
  octave either way by the share of musicnn's ``fast`` in its ``fast`` and
  ``slow`` outputs (120·2^(share − ½)): the alternative the product was
  measured against.

A clip without an answer counts as wrong.  Cost: the scan's per-file work
(``tagger.worker.analyse_files``: decode, features, both nets, tempo, voice)
on the same clips with the tempo step and without it (replaced by nothing),
alternating for ``--rounds`` rounds on one thread, best round each; the ratio
is what tempo adds to a scan.  Prints the CPU and its vector extensions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "gtzan"
FACTORS = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)


def accuracies(est: float | None, ref: float) -> tuple[bool, bool]:
    """(Accuracy 1, Accuracy 2) of one estimate: within 4%, of the tempo or of a multiple."""
    if est is None:
        return False, False
    return abs(est - ref) <= 0.04 * ref, any(abs(est - ref * f) <= 0.04 * ref * f for f in FACTORS)


def annotated(path: Path) -> dict[str, float]:
    """``genre.000NN`` -> annotated mean tempo."""
    with open(path, newline="") as f:
        return {
            r["filename"].rsplit(".", 1)[0]: float(r["tempo mean"])
            for r in csv.DictReader(f)
            if r["tempo mean"]
        }


def cpu() -> str:
    from tagger.inference import cpu_flags

    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags() or set()
    vector = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
    return f"{name} ({' '.join(vector) or 'no vector extensions listed'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audio", type=Path, default=SHARED / "dev")
    ap.add_argument(
        "--annotations", type=Path, default=SHARED / "annotations" / "marchand2015-stats.csv"
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.audio.is_dir() or not args.annotations.is_file():
        sys.exit(f"no clips at {args.audio} or no annotations at {args.annotations}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import librosa
    import soundfile as sf

    from tagger import worker
    from tagger.models import resolve
    from tagger.tempo import PRIOR_BPM, Tempo, estimate, from_envelopes, mel_envelopes, of_track

    tempi = annotated(args.annotations)
    files = sorted(p for p in args.audio.rglob("*") if p.stem in tempi)
    ref, _ = resolve("musicnn")
    model = worker.MODELS.get(ref, threads=1)
    methods = ("librosa", "tagger", "tagger, windows", "fast/slow prior")
    hits: dict[str, list[tuple[bool, bool]]] = {m: [] for m in methods}
    clips = []
    tempo_seconds = 0.0
    for f in files:
        y, sr = sf.read(f, dtype="float32")
        y = y.mean(axis=1) if y.ndim > 1 else y
        lib = float(librosa.feature.tempo(y=y, sr=sr)[0])
        dec, x = worker.track_input(f, model.spec)
        tags = model.predict_tracks([x])[0].tags or {}
        t0 = time.perf_counter()
        ours = of_track(model.spec, x, dec.windows, dec.duration)
        tempo_seconds += time.perf_counter() - t0
        own_stft = estimate(dec.windows, model.spec.sr)
        fast, slow = tags.get("mtt:fast", 0.0), tags.get("mtt:slow", 0.0)
        share = fast / (fast + slow) if fast + slow > 0 else 0.5
        steered = from_envelopes(
            mel_envelopes(x), model.spec.sr / model.spec.hop, PRIOR_BPM * 2.0 ** (share - 0.5)
        )
        truth = tempi[f.stem]
        for m, est in zip(methods, (lib, ours.bpm, own_stft.bpm, steered.bpm)):
            hits[m].append(accuracies(est, truth))
        clips.append(
            {
                "clip": f.stem,
                "annotated": truth,
                "librosa": round(lib, 1),
                "tagger": ours.bpm,
                "reason": ours.reason,
                "windows": own_stft.bpm,
                "fast_slow": steered.bpm,
            }
        )

    # A scan's per-file work with the tempo step and without it, alternating.
    items = [(str(f), None, None) for f in files]
    with_tempo, without = [], []
    real = worker.of_track
    for _ in range(args.rounds):
        for timings, fn in ((with_tempo, real), (without, lambda *a: Tempo(None))):
            worker.of_track = fn
            t0 = time.perf_counter()
            worker.analyse_files(ref, items, timeout=None, threads=1)
            timings.append(time.perf_counter() - t0)
    worker.of_track = real

    n = len(files)
    table = {
        m: {
            "accuracy1": round(sum(a for a, _ in hits[m]) / n, 3),
            "accuracy2": round(sum(b for _, b in hits[m]) / n, 3),
        }
        for m in methods
    }
    out = {
        "clips": n,
        "audio": str(args.audio),
        "cpu": cpu(),
        "accuracy": table,
        "tempo_ms_per_track": round(1000 * tempo_seconds / n, 2),
        "scan_ms_per_track_with_tempo": round(1000 * min(with_tempo) / n, 1),
        "scan_ms_per_track_without_tempo": round(1000 * min(without) / n, 1),
        "scan_time_ratio": round(min(with_tempo) / min(without), 3),
        "per_clip": clips,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{n} annotated clips in {args.audio}; {out['cpu']}")
    print(f"{'method':18} {'Accuracy 1':>10} {'Accuracy 2':>10}")
    for m, row in table.items():
        print(f"{m:18} {row['accuracy1']:>10.1%} {row['accuracy2']:>10.1%}")
    print(
        f"tempo step: {out['tempo_ms_per_track']} ms a track; per-file scan work "
        f"{out['scan_ms_per_track_with_tempo']} ms with tempo, "
        f"{out['scan_ms_per_track_without_tempo']} ms without: ratio {out['scan_time_ratio']}"
    )


if __name__ == "__main__":
    main()
