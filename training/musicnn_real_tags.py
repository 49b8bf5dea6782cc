"""Record musicnn's pooled tag vectors on real recordings, for the genre-merge test.

    python training/musicnn_real_tags.py orchestral=DIR electronic=DIR OUT.npz

Stores only numbers (each track's mean MTT and MSD tag probabilities over the
patches a scan uses), never audio, so the test of ``musicnn_genres.merge_genres``
runs on what the real nets say about real music without shipping recordings.
The fixture in tests/ was made from two freely licensed game soundtracks that
Debian packages: Battle for Wesnoth's orchestral score (``wesnoth-1.16-music``,
41 tracks) and Endgame: Singularity's electronic score (``singularity-music``,
16 tracks).
"""

from __future__ import annotations

import sys

import numpy as np

from tagger.models import load_model, resolve
from tagger.walk import walk
from tagger.worker import track_input


def main(args: list[str]) -> None:
    *groups, out = args
    model = load_model(resolve("musicnn")[0])
    spec = model.spec
    kinds, names, vectors = [], [], []
    for group in groups:
        kind, folder = group.split("=", 1)
        for f in walk([folder]).files:
            _, x = track_input(f, spec)
            vectors.append(model.forward_batched(x).mean(axis=0))
            kinds.append(kind)
            names.append(f.name)
    np.savez_compressed(
        out, kinds=np.array(kinds), names=np.array(names), tags=np.array(vectors, dtype=np.float32)
    )
    print(f"wrote {out}: {len(names)} tracks")


if __name__ == "__main__":
    main(sys.argv[1:])
