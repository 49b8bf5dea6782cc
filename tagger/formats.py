"""Every audio format tagger knows, one record each: the single table of formats.

A record says how a file of that format is recognised (extensions, and the
first bytes that prove it), which decoder reads it, where its genre tag lives
and how several genres sit there, and how tests and the synthetic-data
generator write one.  ``walk`` finds candidates by extension, ``decode`` picks
decoders, ``tags`` opens and edits the genre, ``training.synth`` writes test
audio, all from this table: a new format is one new record.

Extensions lie (an Opus stream named ``.ogg``, an MP3 named ``.wav``), so the
format a file is decoded and tagged as is always the sniffed one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Decoder = Literal["soundfile", "av"]
# Where a tag family keeps several genres: several values inside one field
# (ID3 TCON v2.4, MP4 ``©gen``, ASF ``WM/Genre``), or one ``GENRE=`` pair per
# genre (Vorbis comments).
Several = Literal["values", "pairs"]


@dataclass(frozen=True)
class Format:
    """One audio format."""

    name: str
    extensions: tuple[str, ...]
    # True when the first 64 bytes prove the file is of this format.
    magic: Callable[[bytes], bool]
    # Decoders to try, in order; PyAV (FFmpeg) reads every format, so it is in every list.
    decoders: tuple[Decoder, ...]
    # mutagen class that reads and writes the tags ("module.Class"), or None.
    tag_class: str | None
    # The tag family and the key that holds the genre in it.
    tag_family: Literal["id3", "vorbis", "mp4", "asf"] | None
    genre_key: str | None
    several: Several | None
    # How test audio of this format is written: (library, format or codec, subtype or container).
    encoder: tuple[Decoder, str, str]


def _mpeg_sync(head: bytes, layer_bits_zero: bool) -> bool:
    """An MPEG audio frame sync; ADTS AAC shares the sync word but has layer bits 00."""
    return (
        len(head) >= 2
        and head[0] == 0xFF
        and (head[1] & 0xE0) == 0xE0
        and ((head[1] & 0x06) == 0) == layer_bits_zero
    )


ID3: dict[str, Any] = dict(tag_family="id3", genre_key="TCON", several="values")
VORBIS: dict[str, Any] = dict(tag_family="vorbis", genre_key="GENRE", several="pairs")

# Table order is sniffing order: the first record whose magic matches wins.
FORMATS: tuple[Format, ...] = (
    Format(
        "flac",
        (".flac",),
        lambda h: h.startswith(b"fLaC"),
        ("soundfile", "av"),
        "mutagen.flac.FLAC",
        encoder=("soundfile", "FLAC", "PCM_16"),
        **VORBIS,
    ),
    Format(
        "opus",
        (".opus",),
        lambda h: h.startswith(b"OggS") and b"OpusHead" in h,
        ("av", "soundfile"),  # FFmpeg's Opus decoder: half libsndfile's time per track
        "mutagen.oggopus.OggOpus",
        encoder=("soundfile", "OGG", "OPUS"),
        **VORBIS,
    ),
    Format(
        "oggflac",
        (),
        lambda h: h.startswith(b"OggS") and b"fLaC" in h,
        ("av",),
        "mutagen.oggflac.OggFLAC",
        encoder=("av", "flac", "ogg"),
        **VORBIS,
    ),
    Format(
        "ogg",
        (".ogg", ".oga"),
        lambda h: h.startswith(b"OggS"),
        ("soundfile", "av"),
        "mutagen.oggvorbis.OggVorbis",
        encoder=("soundfile", "OGG", "VORBIS"),
        **VORBIS,
    ),
    Format(
        "wav",
        (".wav",),
        lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE",
        ("soundfile", "av"),
        "mutagen.wave.WAVE",
        encoder=("soundfile", "WAV", "PCM_16"),
        **ID3,
    ),
    Format(
        "aiff",
        (".aif", ".aiff", ".aifc"),
        lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"),
        ("soundfile", "av"),
        "mutagen.aiff.AIFF",
        encoder=("soundfile", "AIFF", "PCM_16"),
        **ID3,
    ),
    Format(
        "m4a",
        (".m4a", ".mp4", ".m4b"),
        lambda h: h[4:8] == b"ftyp",
        ("av",),
        "mutagen.mp4.MP4",
        tag_family="mp4",
        genre_key="\xa9gen",
        several="values",
        encoder=("av", "aac", "mp4"),
    ),
    Format(
        "wma",
        (".wma",),
        lambda h: h.startswith(bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")),
        ("av",),
        "mutagen.asf.ASF",
        tag_family="asf",
        genre_key="WM/Genre",
        several="values",
        encoder=("av", "wmav2", "asf"),
    ),
    Format(
        "au",
        (".au",),
        lambda h: h.startswith(b".snd"),
        ("soundfile", "av"),
        None,
        tag_family=None,
        genre_key=None,
        several=None,
        encoder=("soundfile", "AU", "PCM_16"),
    ),
    Format(
        "mp3",
        (".mp3",),
        lambda h: h.startswith(b"ID3") or _mpeg_sync(h, False),
        ("soundfile", "av"),
        "mutagen.mp3.MP3",
        encoder=("soundfile", "MP3", "MPEG_LAYER_III"),
        **ID3,
    ),
    # ADTS has no tag of its own; players and FFmpeg read an ID3v2 tag in front of it.
    Format(
        "aac",
        (".aac",),
        lambda h: _mpeg_sync(h, True),
        ("av",),
        "mutagen.id3.ID3",
        encoder=("av", "aac", "adts"),
        **ID3,
    ),
)

BY_NAME: dict[str, Format] = {f.name: f for f in FORMATS}
BY_EXTENSION: dict[str, Format] = {ext: f for f in FORMATS for ext in f.extensions}
AUDIO_EXTENSIONS: frozenset[str] = frozenset(BY_EXTENSION)
# Decoders for a file whose format could not be sniffed: let both try.
UNKNOWN_DECODERS: tuple[Decoder, ...] = ("soundfile", "av")


def is_audio_name(path: str | os.PathLike) -> bool:
    """True when the file's extension names a format tagger reads."""
    return os.path.splitext(os.fspath(path))[1].lower() in AUDIO_EXTENSIONS


def sniff_bytes(head: bytes) -> Format | None:
    """The format whose magic matches the first bytes of a file, None if none does."""
    return next((f for f in FORMATS if f.magic(head)), None)


def sniff(path: str | os.PathLike) -> Format | None:
    """The format of a file from its first 64 bytes, None if unknown or unreadable.

    An ID3v2 tag in front says nothing about what follows it (MP3 usually, but
    also ADTS AAC or FLAC): the bytes after the tag decide, MP3 when they match
    nothing else.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:3] == b"ID3" and len(head) >= 10 and not any(b & 0x80 for b in head[6:10]):
                f.seek(10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]))
                after = sniff_bytes(f.read(64))
                if after is not None and after.name != "mp3":
                    return after
    except OSError:
        return None
    return sniff_bytes(head)


def sniff_format(path: str | os.PathLike) -> str | None:
    """The sniffed format's name (``mp3``, ``flac``, ...), None if unknown."""
    fmt = sniff(path)
    return fmt.name if fmt else None


def by_extension(path: str | os.PathLike) -> Format | None:
    """The format a file name promises (tests and the generator write by extension)."""
    return BY_EXTENSION.get(os.path.splitext(os.fspath(path))[1].lower())
