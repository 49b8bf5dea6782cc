"""Scan throughput and start-up of every model, new code beside a baseline, in one run.

    python benchmarks/scan.py [--baseline REV] [--audio DIR ...] [--transcode mp3,flac,...]
                              [--tracks 24] [--jobs N] [--models resnet,mlp,musicnn] [--rounds 1]

Scans the same files with each model in fresh processes and prints, per
model and code version, tracks per second with warm workers, the seconds from
process start to the first stored result of a cold scan, and the rate of
decoding the same windows alone in the same pool (the floor no scan can
beat).  ``--baseline REV`` also runs the code of git revision REV (extracted
with ``git archive``) on the same files in the same run, so that the ratios
hold even on a shared machine; musicnn runs at ``--precision auto`` and
``float32``.  The header names the CPU's vector extensions; with
``ONEDNN_MAX_CPU_ISA=AVX2`` in the environment (OpenVINO and TensorFlow then
use AVX2 and FMA only, as on a CPU without AVX-512) the baseline runs at
``--precision float32``, which is what its ``auto`` chose on such a CPU
before the fast graph (``--baseline-precision auto`` runs its ``auto``).
Files: ``--audio`` folders (real recordings; ``--transcode`` re-encodes them
in turn into the formats given, once, under ``$TMPDIR/tagger-bench``, as a
library of mixed formats), else generated 4-minute tracks (half MP3, half
FLAC) under ``$TMPDIR/tagger-bench``.  The ResNet and MLP are the real
architectures with untrained weights (the cost of a forward pass does not
depend on the weights), installed as ``tagger retrain`` installs a model,
OpenVINO copy included.
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

ROOT = Path(__file__).resolve().parent.parent
T0 = time.time()  # process start, for the first-result time of --measure


def make_tracks(folder: Path, n: int, minutes: float) -> list[Path]:
    from tagger.training.synth import RECIPES, synth_track, write_audio

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    genres = list(RECIPES)
    for i in range(n):
        f = folder / f"track{i:03d}{'.mp3' if i % 2 == 0 else '.flac'}"
        if not f.exists():
            write_audio(f, synth_track(genres[i % len(genres)], minutes * 60, 44100, seed=i), 44100)
        files.append(f)
    return files


def transcode(files: list[Path], extensions: list[str], folder: Path) -> list[Path]:
    """Copies of ``files``, each in the next of ``extensions`` in turn (made once, then kept)."""
    import soundfile as sf

    from tagger.training.synth import write_audio

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        copy = folder / f"{i:03d} {f.stem}.{extensions[i % len(extensions)]}"
        if not copy.exists():
            y, sr = sf.read(f, dtype="float32")
            write_audio(copy.with_name("partial " + copy.name), y, sr).rename(copy)
        out.append(copy)
    return out


def untrained(kind: str, folder: Path) -> Path:
    """The real ResNet/MLP architecture, random weights, with a card marked as such."""
    from tagger.features import LOGMEL, SUMMARY
    from tagger.runtime import keras_module

    keras_module()
    from tagger.nets.mlp import build_mlp
    from tagger.nets.resnet import build_resnet

    spec = LOGMEL if kind == "resnet" else SUMMARY
    genres = [
        "blues",
        "classical",
        "country",
        "disco",
        "hiphop",
        "jazz",
        "metal",
        "pop",
        "reggae",
        "rock",
    ]
    from tagger.models import KINDS, card_for
    from tagger.training.train import Trained, install

    net = build_resnet(spec.input_shape(), 10) if kind == "resnet" else build_mlp(57, 10)
    card = card_for(KINDS[kind], "untrained", genres, synthetic=True, licence="benchmark only")
    return install(Trained(net, card), folder)  # as `tagger retrain` installs a model


def _decode_chunk(paths: list[str], spec) -> int:
    from tagger.decode import DecodeError, decode

    n = 0
    for p in paths:
        try:
            n += len(decode(p, spec.sr, spec.n_slices, spec.slice_seconds).windows)
        except DecodeError:  # silent or too short: a scan decodes it just as far
            pass
    return n


def decode_rate(files: list[Path], model: str, jobs: int) -> float:
    """Decode the same windows in the scan's own worker pool, chunked as a scan chunks."""
    from tagger.models import resolve
    from tagger.pool import LokyRunner

    spec = resolve(model)[0].spec
    runner = LokyRunner(jobs)
    paths = [str(f) for f in files]
    [f.result() for f in [runner.submit(_decode_chunk, [p], spec) for p in paths[: 2 * jobs]]]
    t0 = time.perf_counter()
    futures = [
        runner.submit(_decode_chunk, paths[i : i + 8], spec) for i in range(0, len(paths), 8)
    ]
    [f.result() for f in futures]
    runner.kill()
    return len(files) / (time.perf_counter() - t0)


def measure(files: list[str], model: str, jobs: int, work: Path, precision: str | None) -> dict:
    """Runs in a fresh process: a cold scan (start-up), then a timed scan with warm workers."""
    from tagger.scan import scan

    first: list[float] = []
    options = {"precision": precision} if precision else {}

    def on_results(results) -> None:
        if not first and any(getattr(r, "error", None) is None for r in results):
            first.append(time.time() - T0)

    cold = scan(
        files[: 2 * jobs],
        db=work / "cold.db",
        model=model,
        jobs=jobs,
        progress=False,
        on_results=on_results,
        **options,
    )
    t0 = time.perf_counter()
    summary = scan(files, db=work / "warm.db", model=model, jobs=jobs, progress=False, **options)
    seconds = time.perf_counter() - t0
    assert summary.errors == 0 and cold.errors == 0, summary.error_files
    return {
        "rate": summary.scanned / seconds,
        "first_result": first[0],
        "engine": getattr(summary, "engine", None) or "tensorflow float32",
    }


def run_variant(
    code: Path, files: list[Path], model: str, jobs: int, precision: str | None
) -> dict:
    """``measure`` in a fresh interpreter that imports tagger from ``code``."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            model,
            "--work",
            tmp,
            "--jobs",
            str(jobs),
            *(["--precision", precision] if precision else []),
            "--files",
            *map(str, files),
        ]
        env = {**os.environ, "PYTHONPATH": str(code)}
        proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp)
        if proc.returncode:
            raise SystemExit(f"measuring {model} with {code} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def code_versions(baseline: str | None, work: Path) -> list[tuple[str, Path]]:
    """(label, source tree) of each code version to measure: ``baseline`` first, then this one.

    The baseline is the tree of that git revision, extracted (not checked out)
    under ``work``.
    """
    if not baseline:
        return [("new", ROOT)]
    into = work / "baseline"
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", baseline], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return [(baseline, into), ("new", ROOT)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--audio", nargs="*", help="folders of real recordings to scan instead")
    ap.add_argument("--transcode", help="re-encode the real files into these formats, in turn")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--models", default="resnet,mlp,musicnn")
    ap.add_argument("--baseline", help="git revision to measure beside the working tree")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every measurement")
    ap.add_argument(
        "--baseline-precision",
        help="musicnn's precision for the baseline (default: auto, float32 under an ISA cap)",
    )
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--precision", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(
            json.dumps(
                measure(args.files, args.measure, args.jobs, Path(args.work), args.precision)
            )
        )
        return

    from tagger.walk import walk

    t0 = time.time()
    if args.audio:
        files = sorted(walk(args.audio).files)[: args.tracks]
        what = f"{len(files)} real files from {', '.join(args.audio)}"
        if args.transcode:
            formats = args.transcode.split(",")
            data = Path(tempfile.gettempdir()) / "tagger-bench" / f"real-{'-'.join(formats)}"
            files = transcode(files, formats, data)
            what += f", re-encoded in turn as {', '.join(formats)} in {data}"
    else:
        data = Path(tempfile.gettempdir()) / "tagger-bench" / f"{args.minutes:g}min"
        files = make_tracks(data, args.tracks, args.minutes)
        what = f"{len(files)} generated tracks of {args.minutes:g} min (MP3 + FLAC) in {data}"
    from tagger.inference import isa_cap, vector_extensions

    print(f"{what} [{time.time() - t0:.0f} s to prepare], {args.jobs} jobs, {os.cpu_count()} CPUs")
    print(f"CPU: {vector_extensions()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        codes = code_versions(args.baseline, work)
        print(
            f"| model | code | engine | tracks/s | vs {codes[0][0]} | first result s "
            f"| decode floor tracks/s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name in args.models.split(","):
            model = name if name == "musicnn" else str(untrained(name, work))
            floor = decode_rate(files, model, args.jobs)
            # An AVX2-only CPU has no bfloat16: there the baseline's auto was float32.
            first = "float32" if isa_cap() and name == "musicnn" else None
            if args.baseline_precision and name == "musicnn":
                first = args.baseline_precision
            variants = [(label, code, first) for label, code in codes]
            if name == "musicnn":
                variants = [*variants[:-1], ("new", ROOT, "auto"), ("new", ROOT, "float32")]
            for _ in range(args.rounds):
                base_rate = None  # the first variant of each round
                for label, code, precision in variants:
                    res = run_variant(code, files, model, args.jobs, precision)
                    base_rate = base_rate or res["rate"]
                    print(
                        f"| {name} | {label} | {res['engine']} | {res['rate']:.2f} | "
                        f"{res['rate'] / base_rate:.2f}x | {res['first_result']:.1f} | "
                        f"{floor:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
