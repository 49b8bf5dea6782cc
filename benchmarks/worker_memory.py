"""Resident memory of one scan worker: a fresh process that analyses files as a worker does.

    python benchmarks/worker_memory.py [--model musicnn] [--precision auto] [--code DIR]
                                       FILE_OR_FOLDER ...

Runs ``tagger.worker.analyse_files`` in a fresh interpreter on the files in
chunks of 8, as a scan's worker does, and prints its resident set size
(psutil: RSS, and USS, the memory no other process shares) after start-up,
after the model is loaded and at the end, and whether TensorFlow was imported.
``--code DIR`` imports tagger from DIR instead (another revision's tree, e.g.
extracted with ``git archive REV | tar -x -C DIR``), to compare in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mib(info) -> tuple[float, float]:
    return round(info.rss / 2**20, 1), round(info.uss / 2**20, 1)


def measure(model: str, precision: str, files: list[str]) -> dict:
    """In the fresh process: RSS/USS (MiB) at each step, as a worker sees them."""
    import psutil

    from tagger.models import resolve, with_precision
    from tagger.pool import init_worker
    from tagger.worker import MODELS, analyse_files

    me = psutil.Process()
    init_worker(1)
    out = {"start": mib(me.memory_full_info())}
    ref, engine, _ = with_precision(resolve(model)[0], precision)
    MODELS.get(ref, 1)
    out["model loaded"] = mib(me.memory_full_info())
    peak = 0.0
    for i in range(0, len(files), 8):
        items = [(f, None, None) for f in files[i : i + 8]]
        results = analyse_files(ref, items, 120.0, 1)
        assert all(r.error is None for r in results), [r.error for r in results]
        peak = max(peak, me.memory_full_info().rss / 2**20)
    out["after files"] = mib(me.memory_full_info())
    out["peak rss"] = round(peak, 1)
    out["engine"] = str(engine)
    out["tensorflow imported"] = "tensorflow" in sys.modules
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="musicnn")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--code", default=str(ROOT), help="import tagger from this tree")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.model, args.precision, args.paths)))
        return
    from tagger.inference import vector_extensions
    from tagger.walk import walk

    files = [os.fspath(f) for f in sorted(walk(args.paths).files)]
    command = [sys.executable, __file__, "--measure", "--model", args.model]
    proc = subprocess.run(
        [*command, "--precision", args.precision, *files],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": args.code},
    )
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{len(files)} files, one worker of {args.code}, CPU: {vector_extensions()}; "
        f"{res.pop('engine')}"
    )
    print(
        f"TensorFlow imported: {res.pop('tensorflow imported')}; peak RSS {res.pop('peak rss')} MiB"
    )
    print("| step | RSS MiB | USS MiB |\n| --- | --- | --- |")
    for step, (rss, uss) in res.items():
        print(f"| {step} | {rss} | {uss} |")


if __name__ == "__main__":
    main()
