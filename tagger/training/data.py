"""Find the tracks of a genre collection (GTZAN or any ``<genre>/<files>`` folder).

Layouts understood, genres always taken from folder names:

* ``DIR/genres/<genre>/<genre>.000NN.au``          (the original GTZAN archive)
* ``DIR/genres_original/<genre>/<genre>.000NN.wav`` (the Kaggle copy)
* ``DIR/<genre>/<any audio files>``                 (any collection)

A track's id is ``<genre>/<file stem>`` (``jazz/jazz.00054``), the form the
fault-filtered split lists use.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError
from tagger.formats import is_audio_name

# Unreadable in every public GTZAN copy.
KNOWN_CORRUPT = frozenset({"jazz/jazz.00054"})
SYNTHETIC_MARKER = "SYNTHETIC"


@dataclass(frozen=True)
class Track:
    id: str
    genre: str
    path: str


def genre_root(data_dir: Path) -> Path:
    for name in ("genres", "genres_original"):
        if (data_dir / name).is_dir():
            return data_dir / name
    return data_dir


def find_tracks(data_dir: str | os.PathLike) -> list[Track]:
    """Every audio file under ``<genre>/`` folders, sorted, known-corrupt files skipped."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise TaggerError(f"no such data folder: {data_dir}")
    root = genre_root(data_dir)
    tracks = []
    for genre_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if genre_dir.name == "splits":
            continue
        for f in sorted(genre_dir.rglob("*")):
            if f.is_file() and is_audio_name(f.name):
                tid = f"{genre_dir.name}/{_stem(f.name)}"
                if tid in KNOWN_CORRUPT:
                    warnings.warn(
                        f"skipping {f}: known to be corrupt in every GTZAN copy", stacklevel=2
                    )
                    continue
                tracks.append(Track(tid, genre_dir.name, str(f)))
    if not tracks:
        raise TaggerError(f"no audio files in <genre>/ folders under {data_dir}")
    return tracks


def _stem(name: str) -> str:
    """``blues.00012.wav`` -> ``blues.00012`` (only the audio extension goes)."""
    return os.path.splitext(name)[0] if is_audio_name(name) else name


def is_synthetic(data_dir: str | os.PathLike) -> bool:
    """True for generated data (``training.synth.make_dataset`` leaves a marker file)."""
    d = Path(data_dir).expanduser()
    return (d / SYNTHETIC_MARKER).exists() or (genre_root(d) / SYNTHETIC_MARKER).exists()
