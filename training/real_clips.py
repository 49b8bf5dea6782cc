"""Cut short clips of real recordings, for the tests that must hear real music end to end.

    python training/real_clips.py tests/fixtures/real_clips

Three freely licensed game soundtracks packaged by Debian (``apt-get install
wesnoth-1.16-music singularity-music fretsonfire-songs-muldjord
fretsonfire-songs-sectoid``), of three genres no model confuses: Battle for
Wesnoth's orchestral score (GPL-2+), Endgame: Singularity's electronic music
(CC BY-SA 3.0) and Frets on Fire's metal songs by Muldjord and Sectoid
(CC BY-SA 3.0 / GPL).  Six recordings of each, 6 seconds from the middle of
each (where the music is in full swing), mono at 22,050 Hz in Ogg Vorbis:
about 30 KB a clip, so the suite carries real audio wherever it runs, with
the licences beside it (``LICENSE`` in the output folder).  FFmpeg (the
static one of the test extra's imageio-ffmpeg) cuts and encodes; the clips
carry no tags, so a test sets every tag it relies on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import mutagen
from real_embeddings import fixture_name, soundtrack_files

CLIPS = {"wesnoth": 6, "singularity": 6, "fretsonfire": 6}
SECONDS = 6.0
LICENCES = {
    "wesnoth": "Battle for Wesnoth music (Debian wesnoth-1.16-music), GPL-2+, "
    "copyright the Battle for Wesnoth project's composers",
    "singularity": "Endgame: Singularity music by Max McCracken (Debian singularity-music), "
    "CC BY-SA 3.0, https://creativecommons.org/licenses/by-sa/3.0/",
    "fretsonfire": "Frets on Fire songs by Muldjord and Sectoid (Debian "
    "fretsonfire-songs-muldjord, fretsonfire-songs-sectoid), CC BY-SA 3.0 / GPL",
}


def duration(path: str) -> float:
    return float(mutagen.File(path).info.length)


def main(out: str) -> None:
    root = Path(out)
    lines = ["Clips of freely licensed recordings, cut by training/real_clips.py.", ""]
    for group, files in soundtrack_files().items():
        if group not in CLIPS:
            continue
        if len(files) < CLIPS[group]:
            sys.exit(f"{group}: {len(files)} recordings installed, {CLIPS[group]} needed")
        (root / group).mkdir(parents=True, exist_ok=True)
        chosen = files[:: len(files) // CLIPS[group]][: CLIPS[group]]
        lines.append(f"{group}/: {LICENCES[group]}")
        for f in chosen:
            name = fixture_name(f).replace(" ", "_")
            lines.append(f"  {name}: {SECONDS:g} s from {f}")
            start = max(0.0, duration(f) / 2 - SECONDS / 2)
            cut = ["-ss", f"{start:.2f}", "-t", str(SECONDS), "-i", f, "-map", "0:a:0"]
            mono = ["-map_metadata", "-1", "-ac", "1", "-ar", "22050"]
            vorbis = ["-c:a", "libvorbis", "-q:a", "2", str(root / group / name)]
            subprocess.run(
                [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *cut, *mono, *vorbis],
                check=True,
            )
    (root / "LICENSE").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
