"""How well the library head learns real soundtracks, from the committed real embeddings.

    python benchmarks/library_real.py [--splits 20]

Uses ``tests/fixtures/real_embeddings.npz`` (91 tracks of five freely
licensed game soundtracks, embedded exactly as a scan stores them; see
``training/real_embeddings.py``).  Prints, for "half of each soundtrack
tagged by the user, the other half not": the head's own album-grouped
out-of-fold figures (what its card says, by track and by album: the same
out-of-fold predictions pooled per album as ``tagger write --album`` pools
them) and its accuracy on the untagged half, for the every-other-track split
the test uses and for ``--splits`` random halves; then how often
``similar``'s nearest neighbours come from the same soundtrack.  Runs in
seconds: no audio is decoded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tagger.embeddings import nearest
from tagger.training.from_library import (
    LibraryTrack,
    album_groups,
    make_labels,
    train_from_embeddings,
)

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "real_embeddings.npz"


def run(d: dict, tagged: np.ndarray) -> tuple[dict, float, float]:
    """(card figures, accuracy on the untagged half, share of it the head abstains on)."""
    tracks = [
        LibraryTrack(f"/music/{g}/{n}", g if t else None, a or None, e)
        for g, n, a, e, t in zip(d["groups"], d["names"], d["albums"], d["x"], tagged)
    ]
    labels = make_labels([t.tag_genre for t in tracks], min_tracks=4)
    trained = train_from_embeddings(d["x"], labels, album_groups(tracks), tracks=tracks)
    probs = trained.head.probabilities(d["x"][~tagged])
    pred = np.array(labels.genres)[probs.argmax(axis=1)]
    right = float((pred == d["groups"][~tagged]).mean())
    abstained = float((probs.max(axis=1) < trained.head.threshold).mean())
    return trained.evaluation, right, abstained


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--splits", type=int, default=20)
    args = ap.parse_args()
    with np.load(FIXTURE) as f:
        d = {k: f[k] for k in f.files}
    d["x"] = d["embeddings"].astype(np.float32)
    groups = d["groups"]
    print(
        f"{len(groups)} tracks: "
        + ", ".join(f"{g} {n}" for g, n in zip(*np.unique(groups, return_counts=True)))
    )
    every_other = np.zeros(len(groups), bool)
    for g in np.unique(groups):
        every_other[np.flatnonzero(groups == g)[::2]] = True
    ev, right, abstained = run(d, every_other)
    print(
        f"every other track tagged ({every_other.sum()} tagged, {(~every_other).sum()} not): "
        f"untagged half labelled {right:.1%} right; card: album-grouped out-of-fold accuracy "
        f"{ev['accuracy']:.3f}, macro-F1 {ev['macro_f1']:.3f}, ECE {ev['ece']:.3f}, "
        f"threshold {ev['threshold']:.2f} (abstains on {abstained:.0%} of the untagged half)"
    )
    a = ev["by_album"]
    print(
        f"  by album (the same out-of-fold predictions, pooled as `write --album` pools "
        f"them): {a['accuracy']:.3f} of {a['albums']} albums right; as `write --album` would "
        f"write: {a['album_mode_track_accuracy']:.3f} of tracks right ({a['written_as_one']} "
        f"albums as one genre) against {ev['accuracy']:.3f} track by track"
    )
    rng = np.random.default_rng(0)
    accs = []
    for _ in range(args.splits):
        tagged = np.zeros(len(groups), bool)
        for g in np.unique(groups):
            idx = rng.permutation(np.flatnonzero(groups == g))
            tagged[idx[: (len(idx) + 1) // 2]] = True
        accs.append(run(d, tagged)[1])
    print(
        f"{args.splits} random halves: untagged half labelled {np.mean(accs):.1%} right on "
        f"average (min {np.min(accs):.1%}, max {np.max(accs):.1%})"
    )
    first, top5 = [], []
    for i in range(len(groups)):
        idx, _ = nearest(d["x"][i], d["x"], 5, exclude=i)
        first.append(groups[idx[0]] == groups[i])
        top5.append(np.mean(groups[idx] == groups[i]))
    print(
        f"similar: nearest track from the same soundtrack for {np.mean(first):.1%} of tracks; "
        f"{np.mean(top5):.1%} of the 5 nearest"
    )


if __name__ == "__main__":
    main()
