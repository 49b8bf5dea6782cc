"""The library head on half-tagged real soundtracks: how much of the untagged half it labels,
and how much of that right, against the calibration it had before, in one run.

    python benchmarks/head.py [--embeddings NPZ] [--splits 20] [--target 0.9] [--json]

Uses an embeddings file made by ``training/real_embeddings.py`` (default:
``tests/fixtures/real_embeddings.npz``, 91 tracks of five freely licensed game
soundtracks, embedded exactly as a scan stores them).  Each soundtrack is one
genre with a name of the user's; half of each soundtrack's tracks carry it
(every other track in file order, then ``--splits`` random halves), and the
head is trained as ``tagger retrain --from-library`` trains it
(``train_from_embeddings``) on the tagged half.  On the untagged half it
prints: the share whose top genre is right, the share it labels (does not
abstain on) and the share of those labels that are right, for

* **before**: one calibration from folds that hold out whole albums, applied
  to every track (the shipped head then was the average of those fold heads);
* **now**: that calibration for tracks of albums with no tagged track, and
  for tracks of albums it learnt from, the calibration from folds within
  albums with the album-mates' tags as evidence (``SoftmaxHead.predict``, as
  a scan re-labels them).

and how many untagged tracks fell in each case.  Runs in seconds: no audio
is decoded.  Figures pooled over the splits; ``min`` is the worst split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "real_embeddings.npz"


def tally(pred: np.ndarray, truth: np.ndarray, abstain: np.ndarray) -> dict:
    labelled = ~abstain
    return {
        "tracks": len(truth),
        "top_right": int((pred == truth).sum()),
        "labelled": int(labelled.sum()),
        "labelled_right": int((pred == truth)[labelled].sum()),
    }


def run(d: dict, tagged: np.ndarray, target: float) -> dict:
    """Train on the tagged tracks; judge both rules on the untagged ones."""
    from tagger.models import softmax
    from tagger.models.head import album_key
    from tagger.training.from_library import (
        LibraryTrack,
        _out_of_fold,
        album_groups,
        grouped_folds,
        make_labels,
        train_from_embeddings,
    )
    from tagger.training.head import average_heads

    paths = [f"/music/{g}/{n}" for g, n in zip(d["groups"], d["names"])]
    tracks = [
        LibraryTrack(p, d["user"][i] if tagged[i] else None, d["albums"][i] or None, d["x"][i])
        for i, p in enumerate(paths)
        if tagged[i]
    ]
    labels = make_labels([t.tag_genre for t in tracks], min_tracks=4)
    groups = album_groups(tracks)
    trained = train_from_embeddings(d["x"][tagged], labels, groups, target=target, tracks=tracks)
    head, ev = trained.head, trained.evaluation
    rest = np.flatnonzero(~tagged)
    x, truth = d["x"][rest], d["user"][rest]
    genres = np.array(labels.genres)
    keys = [album_key(paths[i], d["albums"][i] or None) for i in rest]
    probs, thresholds, known = head.predict(x, keys)
    now = tally(genres[probs.argmax(axis=1)], truth, probs.max(axis=1) < thresholds)
    # Before: the average of the album-grouped fold heads, one calibration for every track.
    fold, _ = grouped_folds(labels.y, groups)
    _, heads = _out_of_fold(d["x"][tagged], labels.y, fold, labels.genres)
    old = softmax(average_heads(heads).logits(x) / ev["temperature"])
    before = tally(genres[old.argmax(axis=1)], truth, old.max(axis=1) < ev["threshold"])
    cases = {}
    for case, sel in (("known_album", known), ("unseen_album", ~known)):
        cases[case] = tally(
            genres[probs[sel].argmax(axis=1)], truth[sel], probs[sel].max(axis=1) < thresholds[sel]
        )
    return {"before": before, "now": now, "cases": cases, "known_album": ev.get("known_album")}


def shares(t: dict) -> dict:
    return {
        "top_right_share": round(t["top_right"] / t["tracks"], 4) if t["tracks"] else None,
        "labelled_share": round(t["labelled"] / t["tracks"], 4) if t["tracks"] else None,
        "labels_right_share": (
            round(t["labelled_right"] / t["labelled"], 4) if t["labelled"] else None
        ),
    }


def add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + v for k, v in b.items()}


def cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        name = next(ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln)
        flags = next(ln.split(":", 1)[1].split() for ln in info.splitlines() if "flags" in ln)
        vector = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
        return f"{name} ({', '.join(vector) or 'no AVX2'}), {os.cpu_count()} CPUs"
    except (OSError, StopIteration):
        return platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--embeddings", type=Path, default=FIXTURE)
    ap.add_argument("--splits", type=int, default=20, help="random halves after every-other")
    ap.add_argument("--target", type=float, default=None, help="default: retrain's")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tagger.training.head import TARGET_PRECISION

    target = args.target or TARGET_PRECISION
    started = time.time()
    with np.load(args.embeddings) as f:
        d = {k: f[k] for k in f.files}
    d["x"] = d["embeddings"].astype(np.float32)
    d["user"] = np.array([f"{g.title()} Music" for g in d["groups"]])  # a name of the user's
    groups = d["groups"]
    halves = []
    every_other = np.zeros(len(groups), bool)
    for g in np.unique(groups):
        every_other[np.flatnonzero(groups == g)[::2]] = True
    halves.append(("every other track", every_other))
    rng = np.random.default_rng(args.seed)
    for n in range(args.splits):
        tagged = np.zeros(len(groups), bool)
        for g in np.unique(groups):
            idx = rng.permutation(np.flatnonzero(groups == g))
            tagged[idx[: (len(idx) + 1) // 2]] = True
        halves.append((f"random half {n + 1}", tagged))
    rows, pooled = [], {"before": {}, "now": {}, "known_album": {}, "unseen_album": {}}
    for name, tagged in halves:
        r = run(d, tagged, target)
        rows.append({"split": name, **r})
        for k in ("before", "now"):
            pooled[k] = add(pooled[k], r[k])
        for k, v in r["cases"].items():
            pooled[k] = add(pooled[k], v)
    worst = {
        k: {
            m: min((v for r in rows if (v := shares(r[k])[m]) is not None), default=None)
            for m in shares(rows[0][k])
        }
        for k in ("before", "now")
    }
    result = {
        "command": "python benchmarks/head.py " + " ".join(sys.argv[1:]),
        "machine": cpu(),
        "embeddings": str(args.embeddings),
        "tracks": len(groups),
        "soundtracks": dict(zip(*map(list, np.unique(groups, return_counts=True)))),
        "target_precision": target,
        "splits": len(halves),
        "pooled": {k: v | shares(v) for k, v in pooled.items()},
        "worst_split": worst,
        "every_other": rows[0],
        "seconds": round(time.time() - started, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2, default=int))
        return
    counts = ", ".join(f"{g} {n}" for g, n in result["soundtracks"].items())
    print(f"{len(groups)} tracks ({counts}); {result['machine']}")
    print(
        f"half of each soundtrack tagged, {len(halves)} splits (every other track, then "
        f"{args.splits} random halves); target precision {target}; untagged half:"
    )
    print(f"  {'rule':<34} {'top right':>10} {'labelled':>10} {'labels right':>13}  worst split")
    for k, title in (
        ("before", "before: whole albums held out"),
        ("now", "now: both cases"),
        ("known_album", "  of which albums it learnt from"),
        ("unseen_album", "  of which albums it never heard"),
    ):
        p = result["pooled"][k]
        s = shares(p)
        w = worst.get(k)
        cells = [f"{v:.1%}" if v is not None else "-" for v in s.values()]
        tail = (
            "  " + " / ".join(f"{v:.1%}" if v is not None else "-" for v in w.values()) if w else ""
        )
        print(
            f"  {title:<34} {cells[0]:>10} {cells[1]:>10} {cells[2]:>13}{tail}"
            f"   ({p.get('tracks', 0)} tracks)"
        )
    e = rows[0]
    print(
        f"every other track: before {e['before']['top_right']}/{e['before']['tracks']} right, "
        f"labels {e['before']['labelled']} ({e['before']['labelled_right']} right); now "
        f"labels {e['now']['labelled']} ({e['now']['labelled_right']} right); "
        + ", ".join(f"{k} {v['tracks']}" for k, v in e["cases"].items())
    )
    print(f"\n[{result['seconds']} s] {result['command']}")


if __name__ == "__main__":
    main()
