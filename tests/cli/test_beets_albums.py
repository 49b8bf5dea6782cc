"""The beets plugin's album mode against a real beets: tagger's album pooling and rule.

The library is imported with ``beet import`` from real generated audio.  The
per-track results are then stored in the plugin's tagger database as a scan
stores them, for the very files beets holds (same size, mtime, model and
version, so the plugin's scan finds them unchanged and decodes nothing), with
chosen probabilities: each album's right answer is known.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from beets_rig import Beets, add_tracks
from conftest import raw_genres, store_scan

from tagger.models import TrackPrediction, resolve
from tagger.worker import TrackResult

pytestmark = pytest.mark.slow


CLASSICAL = {"classical": 0.7, "ambient": 0.2, "techno": 0.1}


AMBIENT = {"classical": 0.3, "ambient": 0.6, "techno": 0.1}


TECHNO = {"classical": 0.05, "ambient": 0.15, "techno": 0.8}


ALBUMS = {
    "Coherent": [CLASSICAL, CLASSICAL, CLASSICAL, AMBIENT],
    "Mixtape": [CLASSICAL, CLASSICAL, TECHNO, TECHNO],
    "Hits": [CLASSICAL, CLASSICAL, TECHNO],
}


def store_results(beets: Beets, probabilities: dict[str, dict]) -> None:
    """title -> probabilities, stored for beets' file of each title as a musicnn scan would."""
    ref = resolve("musicnn")[0]
    out = beets("ls", "-f", "$title\t$path").stdout
    paths = dict(line.split("\t") for line in out.splitlines())
    results = []
    for title, probs in probabilities.items():
        path = os.path.abspath(paths[title])
        st = Path(path).stat()
        best = max(probs, key=probs.__getitem__)
        results.append(
            TrackResult(
                path,
                st.st_size,
                st.st_mtime,
                ref.name,
                ref.version,
                duration=7.0,
                slices=3,
                prediction=TrackPrediction(best, probs[best], probs),
            )
        )
    store_scan(beets.tagger_db, results, ref.name, ref.version)


def test_album_mode_pools_albums_and_leaves_compilations_and_mixes_per_track(tmp_path):
    beets = Beets(tmp_path)
    for album, scores in ALBUMS.items():
        add_tracks(beets, album, [f"{album} {i}" for i in range(len(scores))])
    beets("modify", "-a", "-y", "-W", "album:Hits", "comp=1", "albumartist=Various Artists")
    store_results(
        beets,
        {f"{a} {i}": p for a, scores in ALBUMS.items() for i, p in enumerate(scores)},
    )

    pretend = beets("audiogenre", "-a", "-p")
    assert "Mixtape: per track: its tracks disagree: 2 of 4 voting tracks hear" in pretend.stderr
    assert (
        "Hits: per track: a compilation (3 of 3 tracks carry the compilation flag)"
        in pretend.stderr
    )
    assert "pretend: 1 album would change" in pretend.stderr
    assert all(not g for g in beets.genres().values())

    proc = beets("audiogenre", "-a")
    assert "1 album changed" in proc.stderr and "2 set per track" in proc.stderr
    albums = beets("ls", "-a", "-f", "$album\t$genres").stdout.splitlines()
    assert "Coherent\tClassical" in albums  # the pooled genre, though one track is ambient
    genres = beets.genres()
    assert [genres[f"Coherent {i}"] for i in range(4)] == ["Classical"] * 4
    assert [genres[f"Mixtape {i}"] for i in range(4)] == ["Classical"] * 2 + ["Techno"] * 2
    assert [genres[f"Hits {i}"] for i in range(3)] == ["Classical", "Classical", "Techno"]
    files = beets.files()
    assert raw_genres(files["Coherent 3"]) == ["Classical"]
    assert raw_genres(files["Mixtape 3"]) == ["Techno"]
    # every result came from the database: nothing was decoded
    assert [s["scanned"] for s in beets.scans()[-2:]] == [0, 0]
