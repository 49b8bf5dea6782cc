"""Train/valid/test splits by TRACK, never by slice.

Splitting 3-second slices at random puts slices of one track on both sides
and measures memory, not genre recognition (the likely reason the original
study's ResNet scored 88.83%).  Every split here assigns whole tracks, and
``assert_disjoint`` is called by training on every split it uses.

* ``filtered``: Kereliuk & Sturm's fault-filtered lists (443/197/290 tracks,
  repeated artists kept on one side), read from ``splits/`` in the data folder
  or from ``--split-dir``.
* ``random``: stratified by genre, seeded.
* ``folds``: K-fold cross-validation, stratified by genre, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError

from .data import Track


@dataclass
class Split:
    name: str
    train: list[Track]
    valid: list[Track]
    test: list[Track]

    def describe(self) -> dict:
        return {
            "name": self.name,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
        }


def assert_disjoint(split: Split) -> None:
    """No track (and so no slice of a track) on two sides of a split."""
    sides = [{t.id for t in side} for side in (split.train, split.valid, split.test)]
    for i in range(3):
        for j in range(i + 1, 3):
            shared = sides[i] & sides[j]
            if shared:
                raise AssertionError(
                    f"split {split.name}: tracks on two sides: {sorted(shared)[:5]}"
                )


def find_split_dir(data_dir: Path, split_dir: Path | None) -> Path | None:
    for cand in ([split_dir] if split_dir else []) + [data_dir / "splits"]:
        if cand and (cand / "train_filtered.txt").is_file():
            return cand
    return None


def filtered_split(tracks: list[Track], split_dir: Path) -> Split:
    by_id = {t.id: t for t in tracks}
    sides = []
    for side in ("train", "valid", "test"):
        ids = [
            line.strip()
            for line in (split_dir / f"{side}_filtered.txt").read_text().splitlines()
            if line.strip()
        ]
        sides.append([by_id[i] for i in ids if i in by_id])
    if not all(sides):
        raise TaggerError(
            f"the split lists in {split_dir} name none of the tracks found "
            f"(is this GTZAN?); use --split random"
        )
    split = Split("filtered", *sides)
    assert_disjoint(split)
    return split


def _by_genre(tracks: list[Track], seed: int) -> dict[str, list[Track]]:
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Track]] = {}
    for t in tracks:
        groups.setdefault(t.genre, []).append(t)
    return {g: [ts[i] for i in rng.permutation(len(ts))] for g, ts in sorted(groups.items())}


def random_split(
    tracks: list[Track], seed: int = 0, valid: float = 0.15, test: float = 0.2
) -> Split:
    """Stratified by genre and seeded: the same call gives the same split."""
    tr, va, te = [], [], []
    for ts in _by_genre(tracks, seed).values():
        n_te = max(1, round(test * len(ts)))
        n_va = max(1, round(valid * len(ts)))
        te += ts[:n_te]
        va += ts[n_te : n_te + n_va]
        tr += ts[n_te + n_va :]
    split = Split(f"random(seed={seed})", tr, va, te)
    assert_disjoint(split)
    return split


def fold_splits(tracks: list[Track], k: int, seed: int = 0, valid: float = 0.15) -> list[Split]:
    """K stratified folds; each fold is the test set once, validation comes from the rest."""
    if k < 2:
        raise TaggerError("--folds needs at least 2 folds")
    folds: list[list[Track]] = [[] for _ in range(k)]
    for ts in _by_genre(tracks, seed).values():
        for i, t in enumerate(ts):
            folds[i % k].append(t)
    splits = []
    for i in range(k):
        rest = [t for j, f in enumerate(folds) if j != i for t in f]
        va, tr = [], []
        for ts in _by_genre(rest, seed + i + 1).values():
            n_va = max(1, round(valid * len(ts)))
            va += ts[:n_va]
            tr += ts[n_va:]
        split = Split(f"fold {i + 1}/{k} (seed={seed})", tr, va, folds[i])
        assert_disjoint(split)
        splits.append(split)
    return splits


def make_split(
    tracks: list[Track], kind: str | None, data_dir: Path, split_dir: Path | None, seed: int
) -> Split:
    """``filtered`` when split lists are present (the default), else ``random``."""
    found = find_split_dir(data_dir, split_dir)
    if kind is None:
        kind = "filtered" if found else "random"
    if kind == "filtered":
        if not found:
            raise TaggerError(
                f"no split lists (train_filtered.txt ...) in {data_dir / 'splits'}; "
                "give --split-dir or use --split random"
            )
        return filtered_split(tracks, found)
    if kind == "random":
        return random_split(tracks, seed)
    raise TaggerError(f"unknown split {kind!r} (filtered or random)")
