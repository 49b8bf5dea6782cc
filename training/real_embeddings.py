"""Record musicnn embeddings of real recordings, for the learn-your-genres tests.

    python training/real_embeddings.py tests/fixtures/real_embeddings.npz

Stores only numbers: each track's embedding exactly as a scan stores it
(musicnn's two penultimate layers, mean over the scan's 5 patches, float16),
with the soundtrack it belongs to, its album and artist tags, and its file
name; never audio.  The tests train the ``library`` head on half of each
soundtrack and label the other half through the real CLI, without shipping
recordings.  The recordings are freely licensed game soundtracks packaged by
Debian (``apt-get install wesnoth-1.16-music singularity-music
fretsonfire-songs-muldjord fretsonfire-songs-sectoid hyperrogue-music
planetblupi-music-ogg``):

* Battle for Wesnoth, orchestral score (GPL-2+), 40 tracks (``silence.ogg`` left out);
* Endgame: Singularity, electronic (CC BY-SA), 16 tracks;
* Frets on Fire songs by Muldjord and Sectoid, metal (CC BY-SA / GPL), 8 songs;
* HyperRogue, ambient/chiptune game music (CC BY-SA), 17 tracks;
* Planet Blupi, children's game music (GPL-3), 10 tracks.

Two other soundtracks were tried and left out because each mixes several
styles (Colobot, Drascula): a soundtrack is not a genre (docs/models.md).

    python training/real_embeddings.py /tmp/held-back.npz --held-back

records, the same way, soundtracks kept out of the tests and of every choice
made while developing the library head, for ``benchmarks/head.py
--embeddings`` (``apt-get install warzone2100-music nexuiz-music
ufoai-music``; the last two ship their music as a zip, ``.pk3``, unpacked to
a temporary folder): Warzone 2100 (three albums, one folder each: the album),
Nexuiz (electronic, industrial) and UFO: Alien Invasion (orchestral,
ambient).  A file without an album tag gets its folder's name as its album.
"""

from __future__ import annotations

import glob
import sys

import numpy as np

from tagger.models import load_model, resolve, with_precision
from tagger.tags import read_file_tags
from tagger.worker import track_input

SOUNDTRACKS = {
    "wesnoth": "/usr/share/games/wesnoth/1.16/data/core/music/*.ogg",
    "singularity": "/usr/share/games/singularity/music/**/*.ogg",
    "fretsonfire": "/usr/share/games/fretsonfire/data/songs/*/*/song.ogg",
    "hyperrogue": "/usr/share/hyperrogue/music/*.ogg",
    "blupi": "/usr/share/planetblupi/music/*.ogg",
}
LEFT_OUT = ("silence.ogg",)  # Wesnoth's 'silence' track is silence


def soundtrack_files() -> dict[str, list[str]]:
    """The recordings of each soundtrack that are installed, sorted."""
    return {
        name: sorted(f for f in glob.glob(pattern, recursive=True) if not f.endswith(LEFT_OUT))
        for name, pattern in SOUNDTRACKS.items()
    }


HELD_BACK = {
    "warzone2100": "/usr/share/games/warzone2100/music/albums/*/*.opus",
    "nexuiz": "/usr/share/games/nexuiz/data/music.pk3",
    "ufoai": "/usr/share/games/ufoai/base/0music.pk3",
}


def held_back_files(where: str) -> dict[str, list[str]]:
    """The held-back recordings that are installed (zips unpacked under ``where``), sorted."""
    import zipfile

    out = {}
    for name, pattern in HELD_BACK.items():
        if pattern.endswith(".pk3"):
            try:
                with zipfile.ZipFile(pattern) as z:
                    members = [m for m in z.namelist() if m.endswith(".ogg")]
                    z.extractall(f"{where}/{name}", members)
            except FileNotFoundError:
                members = []
            out[name] = sorted(f"{where}/{name}/{m}" for m in members)
        else:
            out[name] = sorted(glob.glob(pattern))
    return out


def fixture_name(path: str) -> str:
    """A recording's name in the fixture: its file name (``<artist>_<song>_song.ogg`` for
    Frets on Fire, whose songs are all called ``song.ogg``)."""
    if "/songs/" in path:
        return path.split("/songs/")[-1].replace("/", "_")
    return path.rsplit("/", 1)[-1]


def main(out: str, held_back: bool = False) -> None:
    import tempfile

    # float32: what the tests compare a fresh scan with (bfloat16 moves embeddings by ~0.1)
    model = load_model(with_precision(resolve("musicnn")[0], "float32")[0])
    groups, names, albums, artists, vectors = [], [], [], [], []
    with tempfile.TemporaryDirectory() as unpacked:
        sources = held_back_files(unpacked) if held_back else soundtrack_files()
        for group, files in sources.items():
            for f in files:
                _, x = track_input(f, model.spec)
                vectors.append(model.predict_tracks([x])[0].embedding)
                tags = read_file_tags(f)
                groups.append(group)
                names.append(fixture_name(f))
                folder = f.rsplit("/", 2)[-2] if held_back else ""
                albums.append(tags.album or folder)
                artists.append(tags.artist or "")
    np.savez_compressed(
        out,
        groups=np.array(groups),
        names=np.array(names),
        albums=np.array(albums),
        artists=np.array(artists),
        embeddings=np.array(vectors, dtype=np.float16),
        embedder=np.array(model.embedder),
    )
    print(f"wrote {out}: {len(names)} tracks")


if __name__ == "__main__":
    main(sys.argv[1], "--held-back" in sys.argv[2:])
