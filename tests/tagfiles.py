"""Real files of every format tagger writes, tagged the way taggers leave them, for write tests.

Audio from libsndfile (soundfile) and FFmpeg, tags from mutagen: MP3 with
ID3v2.4, with ID3v2.3 + ID3v1, with ID3v2.3 + APEv2; FLAC with a picture and
padding; Ogg Vorbis; Opus; Ogg FLAC; Ogg with Theora video before its Vorbis
audio; M4A; WMA; WAV and AIFF with ID3 chunks.  Each carries a title, an
artist, an album and a genre, so a write has other tags to leave alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import mutagen
from mutagen import id3

from tagger.training.synth import synth_track, write_audio

SR = 22050
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _id3_frames(tags: id3.ID3) -> None:
    tags.add(id3.TIT2(encoding=3, text="Title"))
    tags.add(id3.TPE1(encoding=3, text="Artist"))
    tags.add(id3.TALB(encoding=3, text="Album"))
    tags.add(id3.TCON(encoding=3, text="Folk"))
    tags.add(id3.COMM(encoding=3, lang="eng", desc="", text="a comment"))


def _ffmpeg(path: Path, *args: str) -> Path:
    """Make ``path`` from a 1-second sine with FFmpeg's own muxers (its tags, its layout).

    The static ffmpeg that imageio-ffmpeg (the test extra) ships, so no system
    ffmpeg is needed.
    """
    sine = ["-f", "lavfi", "-i", f"sine=440:d=1:r={SR}"]
    subprocess.run([FFMPEG, "-v", "error", "-y", *sine, *args, path], check=True)
    return path


def make_files(root: Path, seconds: float = 1.0) -> dict[str, Path]:
    """Write one file of each kind into ``root``; name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    y = synth_track("bells", seconds, SR, 5)
    out: dict[str, Path] = {}

    mp3 = write_audio(root / "plain.mp3", y, SR)
    for name, version, v1, ape in (
        ("mp3-v24", 4, 0, False),
        ("mp3-v23-v1", 3, 2, False),
        ("mp3-v23-ape", 3, 0, True),
    ):
        path = root / f"{name}.mp3"
        shutil.copy(mp3, path)
        tags = id3.ID3()
        _id3_frames(tags)
        tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="", data=_PNG))
        tags.save(path, v2_version=version, v1=v1)
        if ape:
            from mutagen.apev2 import APEv2

            a = APEv2()
            a["Title"] = "Title"
            a.save(path)
        out[name] = path
    mp3.unlink()

    flac = write_audio(root / "flac-picture.flac", y, SR)
    f = mutagen.File(flac)
    f["TITLE"], f["ARTIST"], f["ALBUM"], f["GENRE"] = "Title", "Artist", "Album", "Folk"
    pic = mutagen.flac.Picture()
    pic.data, pic.mime, pic.type = _PNG, "image/png", 3
    f.add_picture(pic)
    f.save(padding=lambda info: 1024)
    out["flac"] = flac

    for name, ext in (("vorbis", ".ogg"), ("opus", ".opus")):
        path = write_audio(root / f"{name}{ext}", y, SR)
        f = mutagen.File(path)
        f["TITLE"], f["ARTIST"], f["GENRE"] = "Title", "Artist", "Folk"
        f.save()
        out[name] = path

    out["oggflac"] = _ffmpeg(root / "oggflac.oga", "-c:a", "flac", "-metadata", "genre=Folk")
    out["theora-vorbis"] = _ffmpeg(
        root / "theora-vorbis.ogg",
        *("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:d=1"),
        *("-map", "1:v", "-map", "0:a", "-c:v", "libtheora", "-c:a", "libvorbis"),
        *("-metadata:s:a", "genre=Folk"),
    )

    for name, ext in (("m4a", ".m4a"), ("wma", ".wma")):
        path = write_audio(root / f"{name}{ext}", y, SR)
        f = mutagen.File(path)
        if name == "m4a":
            f["\xa9nam"], f["\xa9ART"], f["\xa9gen"] = "Title", "Artist", "Folk"
        else:
            f["Title"], f["Author"], f["WM/Genre"] = "Title", "Artist", "Folk"
        f.save()
        out[name] = path

    for name, ext in (("wav-id3", ".wav"), ("aiff-id3", ".aiff")):
        path = write_audio(root / f"{name}{ext}", y, SR)
        f = mutagen.File(path)
        f.add_tags()
        _id3_frames(f.tags)
        f.save()
        out[name] = path
    return out
