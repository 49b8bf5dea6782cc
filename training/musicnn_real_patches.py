"""Record one musicnn input patch per real track, for the runtime parity tests.

    python training/musicnn_real_patches.py orchestral=DIR electronic=DIR OUT.npz

Stores, per track, the middle one of the 5 log-mel patches a scan computes
(187 frames x 96 bands, float16: 36 KB a track), so that tests can compare the
float32 Keras port with the OpenVINO bfloat16 graph on real music without
shipping audio.  The fixture in tests/ was made from two freely licensed game
soundtracks that Debian packages: Battle for Wesnoth's orchestral score
(``wesnoth-1.16-music``, GPL-2+, 41 tracks) and Endgame: Singularity's
electronic score (``singularity-music``, CC BY-SA 3.0, Max McCracken, 16
tracks); the patches are a derived work under those licences
(``tests/fixtures/musicnn_real_patches.LICENSE``).
"""

from __future__ import annotations

import sys

import numpy as np

from tagger.features import MUSICNN
from tagger.walk import walk
from tagger.worker import track_input


def main(args: list[str]) -> None:
    *groups, out = args
    kinds, names, patches = [], [], []
    for group in groups:
        kind, folder = group.split("=", 1)
        for f in sorted(walk([folder]).files):
            _, x = track_input(f, MUSICNN)
            patches.append(x[len(x) // 2])
            kinds.append(kind)
            names.append(f.name)
    np.savez_compressed(
        out,
        kinds=np.array(kinds),
        names=np.array(names),
        patches=np.array(patches, dtype=np.float16),
    )
    print(f"wrote {out}: {len(names)} patches")


if __name__ == "__main__":
    main(sys.argv[1:])
