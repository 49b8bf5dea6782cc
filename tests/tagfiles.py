"""Real files of every format tagger writes, tagged the way taggers leave them, for write tests.

Audio from libsndfile (soundfile) and FFmpeg, tags from mutagen and FFmpeg,
in the layouts everyday taggers (Picard, iTunes, MP3Tag, beets, FFmpeg) leave:

* MP3: ID3v2.3 + ID3v1 with a small JPEG cover, MusicBrainz ``TXXX`` ids, a
  long ``COMM`` and ``USLT`` lyrics (frames over 127 bytes, whose v2.3 sizes
  are plain integers); ID3v2.4 with a large JPEG cover and the same frames;
  ID3v2.3 + APEv2; FFmpeg's own ID3v2.3 with an attached picture;
* FLAC with a large JPEG picture block, MusicBrainz ids and padding; Ogg
  Vorbis and Opus with ``METADATA_BLOCK_PICTURE`` covers (the Opus one large
  enough that its comment packet spans several pages); Ogg FLAC; Ogg with
  Theora video before its Vorbis audio;
* M4A with ``covr`` and freeform ``----:com.apple.iTunes:`` atoms, ``moov``
  after ``mdat`` (as encoders write it) and before (``-movflags +faststart``);
* WMA; WAV and AIFF with ID3 chunks.

Each carries a title, an artist and a genre, so a write has other tags to
leave alone.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import mutagen
import numpy as np
from mutagen import id3
from mutagen.flac import Picture
from mutagen.mp4 import MP4Cover, MP4FreeForm

from tagger.training.synth import synth_track, write_audio

SR = 22050
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


# What Picard writes from MusicBrainz (ids as TXXX frames / Vorbis pairs / iTunes freeform atoms).
MUSICBRAINZ = {
    "MusicBrainz Album Id": "2e4b3c5a-8a8e-4a7b-9f61-3b1f8d7c2a10",
    "MusicBrainz Artist Id": "b10bbbfc-cf9e-42e0-be17-e2c3e1d2600d",
    "MusicBrainz Release Track Id": "7f3e8a2c-41d6-4b0e-9a55-0c6f2e4d9b31",
}
LONG_COMMENT = "Ripped from the original CD, checked against AccurateRip. " * 5
LYRICS = "\n".join(
    f"line {i} of the song's lyrics, as a lyrics plugin stores them" for i in range(12)
)


def jpeg(side: int, seed: int) -> bytes:
    """A real JPEG cover of noise, ``side`` pixels square (noise: its size grows with ``side``)."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


SMALL_COVER = jpeg(24, 1)  # about 1 KB: a thumbnail
LARGE_COVER = jpeg(280, 2)  # about 70 KB: a cover as Picard embeds it


def _id3_frames(tags: id3.ID3, cover: bytes | None = None, utf16: bool = True) -> None:
    """Title, artist, album, genre and a comment; with a ``cover``, as Picard tags: MusicBrainz
    ids, a long comment and lyrics in UTF-16 (v2.3's choice; ``utf16`` False: v2.4's UTF-8)."""
    tags.add(id3.TIT2(encoding=3, text="Title"))
    tags.add(id3.TPE1(encoding=3, text="Artist"))
    tags.add(id3.TALB(encoding=3, text="Album"))
    tags.add(id3.TCON(encoding=3, text="Folk"))
    tags.add(id3.COMM(encoding=3, lang="eng", desc="", text="a comment"))
    if cover is None:
        return
    for desc, value in MUSICBRAINZ.items():
        tags.add(id3.TXXX(encoding=3, desc=desc, text=value))
    tags.add(id3.UFID(owner="http://musicbrainz.org", data=b"7f3e8a2c-41d6-4b0e-9a55-0c6f2e4d9b31"))
    wide = 1 if utf16 else 3
    tags.add(id3.COMM(encoding=wide, lang="eng", desc="Notes", text=LONG_COMMENT))
    tags.add(id3.USLT(encoding=wide, lang="eng", desc="", text=LYRICS))
    tags.add(id3.APIC(encoding=0, mime="image/jpeg", type=3, desc="Cover", data=cover))


def _picture(data: bytes) -> Picture:
    pic = Picture()
    pic.data, pic.mime, pic.type, pic.width, pic.height, pic.depth = data, "image/jpeg", 3, 1, 1, 24
    return pic


def _ffmpeg(path: Path, *args: str) -> Path:
    """Make ``path`` from a 1-second sine with FFmpeg's own muxers (its tags, its layout).

    The static ffmpeg that imageio-ffmpeg (the test extra) ships, so no system
    ffmpeg is needed.
    """
    sine = ["-f", "lavfi", "-i", f"sine=440:d=1:r={SR}"]
    subprocess.run([FFMPEG, "-v", "error", "-y", *sine, *args, path], check=True)
    return path


# The kinds ``make_files`` makes, by name.
KINDS = (
    "mp3-v24",
    "mp3-v23-v1",
    "mp3-v23-ape",
    "mp3-ffmpeg-v23",
    "flac",
    "vorbis",
    "opus",
    "oggflac",
    "theora-vorbis",
    "m4a",
    "m4a-faststart",
    "wma",
    "wav-id3",
    "aiff-id3",
)


def make_files(root: Path, seconds: float = 1.0) -> dict[str, Path]:
    """Write one file of each of ``KINDS`` into ``root``; name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    y = synth_track("bells", seconds, SR, 5)
    out: dict[str, Path] = {}

    mp3 = write_audio(root / "plain.mp3", y, SR)
    for name, version, v1, ape, cover in (
        ("mp3-v24", 4, 0, False, LARGE_COVER),
        ("mp3-v23-v1", 3, 2, False, SMALL_COVER),
        ("mp3-v23-ape", 3, 0, True, None),
    ):
        path = root / f"{name}.mp3"
        shutil.copy(mp3, path)
        tags = id3.ID3()
        _id3_frames(tags, cover, utf16=version == 3)
        if cover is None:
            tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="", data=_PNG))
        tags.save(path, v2_version=version, v1=v1)
        if ape:
            from mutagen.apev2 import APEv2

            a = APEv2()
            a["Title"] = "Title"
            a.save(path)
        out[name] = path
    mp3.unlink()
    cover = root / "cover.jpg"
    cover.write_bytes(SMALL_COVER)
    out["mp3-ffmpeg-v23"] = _ffmpeg(  # FFmpeg's own ID3v2.3: its frames, its padding, a TSSE
        root / "mp3-ffmpeg-v23.mp3",
        *("-i", str(cover), "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "copy"),
        *("-id3v2_version", "3", "-write_id3v1", "1"),
        *("-metadata", "title=Title", "-metadata", "artist=Artist", "-metadata", "genre=Folk"),
        *("-metadata:s:v", "title=Album cover", "-metadata:s:v", "comment=Cover (front)"),
    )
    cover.unlink()

    flac = write_audio(root / "flac-picture.flac", y, SR)
    f = mutagen.File(flac)
    f["TITLE"], f["ARTIST"], f["ALBUM"], f["GENRE"] = "Title", "Artist", "Album", "Folk"
    for key, value in MUSICBRAINZ.items():
        f[key.upper().replace(" ", "_")] = value
    f.add_picture(_picture(LARGE_COVER))
    f.save(padding=lambda info: 1024)
    out["flac"] = flac

    # Covers in Ogg: base64 of a FLAC picture block in METADATA_BLOCK_PICTURE; the Opus one
    # is large, so its comment packet spans several pages.
    for name, ext, picture in (("vorbis", ".ogg", SMALL_COVER), ("opus", ".opus", LARGE_COVER)):
        path = write_audio(root / f"{name}{ext}", y, SR)
        f = mutagen.File(path)
        f["TITLE"], f["ARTIST"], f["GENRE"] = "Title", "Artist", "Folk"
        f["MUSICBRAINZ_ALBUMID"] = MUSICBRAINZ["MusicBrainz Album Id"]
        block = base64.b64encode(_picture(picture).write()).decode("ascii")
        f["METADATA_BLOCK_PICTURE"] = [block]
        f.save()
        out[name] = path

    out["oggflac"] = _ffmpeg(root / "oggflac.oga", "-c:a", "flac", "-metadata", "genre=Folk")
    out["theora-vorbis"] = _ffmpeg(
        root / "theora-vorbis.ogg",
        *("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:d=1"),
        *("-map", "1:v", "-map", "0:a", "-c:v", "libtheora", "-c:a", "libvorbis"),
        *("-metadata:s:a", "genre=Folk"),
    )

    # M4A as iTunes and Picard leave it: a cover and freeform MusicBrainz atoms, with moov
    # after mdat (as encoders write it) and before it (FFmpeg's +faststart).
    m4a = write_audio(root / "m4a.m4a", y, SR)
    faststart = _ffmpeg(root / "m4a-faststart.m4a", "-c:a", "aac", "-movflags", "+faststart")
    for name, path in (("m4a", m4a), ("m4a-faststart", faststart)):
        f = mutagen.File(path)
        f["\xa9nam"], f["\xa9ART"], f["\xa9gen"] = "Title", "Artist", "Folk"
        f["covr"] = [MP4Cover(SMALL_COVER, imageformat=MP4Cover.FORMAT_JPEG)]
        for key, value in MUSICBRAINZ.items():
            f[f"----:com.apple.iTunes:{key}"] = [MP4FreeForm(value.encode())]
        f.save()
        out[name] = path

    wma = write_audio(root / "wma.wma", y, SR)
    f = mutagen.File(wma)
    f["Title"], f["Author"], f["WM/Genre"] = "Title", "Artist", "Folk"
    f.save()
    out["wma"] = wma

    for name, ext in (("wav-id3", ".wav"), ("aiff-id3", ".aiff")):
        path = write_audio(root / f"{name}{ext}", y, SR)
        f = mutagen.File(path)
        f.add_tags()
        _id3_frames(f.tags)
        f.save()
        out[name] = path
    return out
