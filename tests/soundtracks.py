"""Real embeddings of five freely licensed game soundtracks (fixtures/real_embeddings.npz,
see training/real_embeddings.py), and a real database holding them as a musicnn scan stores
them, for placeholder files no decoder accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import store_scan

from tagger.models import TrackPrediction, current_embedder, resolve
from tagger.worker import TrackResult

FIXTURE = Path(__file__).parent / "fixtures" / "real_embeddings.npz"


# What a user might call each soundtrack: none of these is a genre tagger knows.
USER_NAMES = {
    "wesnoth": "Orchestral Score",
    "singularity": "synthwave",
    "fretsonfire": "Death Metal",
    "hyperrogue": "Dungeon Synth",
    "blupi": "Kinderlieder",
}


def real_fixture() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as d:
        return {k: d[k] for k in d.files}


def half_tagged(groups: np.ndarray) -> np.ndarray:
    """Every other track of each group (in file order) carries the user's genre."""
    tagged = np.zeros(len(groups), bool)
    for g in set(groups.tolist()):
        tagged[np.flatnonzero(groups == g)[::2]] = True
    return tagged


def store_library(
    root: Path,
    db: Path,
    names: list[str],
    groups: list[str],
    albums: list[str],
    genres: list[str | None],
    vectors: np.ndarray,
) -> list[Path]:
    """A real database holding what a musicnn scan stores, for placeholder files under ``root``.

    The files hold bytes no decoder accepts: a scan that decoded any of them
    would record an error.  Each row's size and mtime are the file's.
    """
    results, files = [], []
    for i, (name, group, album, genre, vec) in enumerate(
        zip(names, groups, albums, genres, vectors)
    ):
        f = root / group / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"not audio " * (100 + i))
        results.append(
            musicnn_result(
                f, vec, format="ogg", duration=60.0, slices=5, tag_genre=genre, album=album or None
            )
        )
        files.append(f)
    store_scan(db, results, "musicnn", current_embedder())
    return files


def musicnn_result(f: Path, vector: np.ndarray, **fields) -> TrackResult:
    """What a musicnn scan returns for ``f`` as it is now, with ``vector`` as its embedding."""
    embedder = current_embedder()
    st = f.stat()
    return TrackResult(
        str(f),
        st.st_size,
        st.st_mtime,
        "musicnn",
        resolve("musicnn")[0].version,  # the installed musicnn's: its results are current
        prediction=TrackPrediction(
            "ambient", 0.3, {"ambient": 0.3}, embedding=np.asarray(vector, np.float32)
        ),
        embedder=embedder,
        **fields,
    )


def store_real_library(root: Path, db: Path, genres: list[str | None]) -> list[Path]:
    """``store_library`` of the whole real fixture (its names, soundtracks and albums), each
    track tagged with ``genres`` in fixture order."""
    d = real_fixture()
    return store_library(
        root,
        db,
        d["names"].tolist(),
        d["groups"].tolist(),
        d["albums"].tolist(),
        genres,
        d["embeddings"].astype(np.float32),
    )
