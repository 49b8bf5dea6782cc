"""Every audio format tagger knows, one record each: the single table of formats.

A record says how a file of that format is recognised (extensions, and the
first bytes that prove it), which decoder reads it, its container (where the
audio payload lies), its tag family (``tagger.tagedit``: the keys and the
editor), and how tests and the synthetic-data generator write one.  ``walk``
finds candidates by extension, ``decode`` picks decoders, ``tags`` opens and
edits the genre, ``payload`` finds the audio, ``training.synth`` writes test
audio, all from this table: a new format is one new record.

Extensions lie (an Opus stream named ``.ogg``, an MP3 named ``.wav``), so the
format a file is decoded and tagged as is always the sniffed one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .tagedit import Several, TagFamily
from .tagedit.asf import FAMILY as ASF
from .tagedit.id3 import FAMILY as ID3
from .tagedit.mp4 import FAMILY as MP4
from .tagedit.vorbis import FAMILY as VORBIS

Decoder = Literal["soundfile", "av"]
# How the file is built around its audio (``tagger.payload`` reads each kind).
Container = Literal["mpeg", "adts", "flac", "ogg", "riff", "aiff", "mp4", "asf", "au"]


@dataclass(frozen=True)
class Format:
    """One audio format."""

    name: str
    extensions: tuple[str, ...]
    # True when the first 64 bytes prove the file is of this format.
    magic: Callable[[bytes], bool]
    # Decoders to try, in order; PyAV (FFmpeg) reads every format, so it is in every list.
    decoders: tuple[Decoder, ...]
    # mutagen class that opens the file ("module.Class"), or None: it reads ID3, MP4 and
    # ASF values and checks that a written file still parses.
    tag_class: str | None
    container: Container
    # The tag family (its keys and its byte-level editor); None: no tag to hold a genre.
    family: TagFamily | None
    # How test audio of this format is written: (library, format or codec, subtype or container).
    encoder: tuple[Decoder, str, str]

    @property
    def tag_family(self) -> str | None:
        return self.family.name if self.family else None

    @property
    def genre_key(self) -> str | None:
        return self.family.genre_key if self.family else None

    @property
    def several(self) -> Several | None:
        return self.family.several if self.family else None


def _mpeg_sync(head: bytes, layer_bits_zero: bool) -> bool:
    """An MPEG audio frame sync; ADTS AAC shares the sync word but has layer bits 00."""
    return (
        len(head) >= 2
        and head[0] == 0xFF
        and (head[1] & 0xE0) == 0xE0
        and ((head[1] & 0x06) == 0) == layer_bits_zero
    )


# Table order is sniffing order: the first record whose magic matches wins.
FORMATS: tuple[Format, ...] = (
    Format(
        "flac",
        (".flac",),
        lambda h: h.startswith(b"fLaC"),
        ("soundfile", "av"),
        "mutagen.flac.FLAC",
        "flac",
        VORBIS,
        encoder=("soundfile", "FLAC", "PCM_16"),
    ),
    Format(
        "opus",
        (".opus",),
        lambda h: h.startswith(b"OggS") and b"OpusHead" in h,
        ("av", "soundfile"),  # FFmpeg's Opus decoder: half libsndfile's time per track
        "mutagen.oggopus.OggOpus",
        "ogg",
        VORBIS,
        encoder=("soundfile", "OGG", "OPUS"),
    ),
    Format(
        "oggflac",
        (),
        lambda h: h.startswith(b"OggS") and b"fLaC" in h,
        ("av",),
        "mutagen.oggflac.OggFLAC",
        "ogg",
        VORBIS,
        encoder=("av", "flac", "ogg"),
    ),
    Format(
        "ogg",
        (".ogg", ".oga"),
        lambda h: h.startswith(b"OggS"),
        ("soundfile", "av"),
        "mutagen.oggvorbis.OggVorbis",
        "ogg",
        VORBIS,
        encoder=("soundfile", "OGG", "VORBIS"),
    ),
    Format(
        "wav",
        (".wav",),
        lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE",
        ("soundfile", "av"),
        "mutagen.wave.WAVE",
        "riff",
        ID3,
        encoder=("soundfile", "WAV", "PCM_16"),
    ),
    Format(
        "aiff",
        (".aif", ".aiff", ".aifc"),
        lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC"),
        ("soundfile", "av"),
        "mutagen.aiff.AIFF",
        "aiff",
        ID3,
        encoder=("soundfile", "AIFF", "PCM_16"),
    ),
    Format(
        "m4a",
        (".m4a", ".mp4", ".m4b"),
        lambda h: h[4:8] == b"ftyp",
        ("av",),
        "mutagen.mp4.MP4",
        "mp4",
        MP4,
        encoder=("av", "aac", "mp4"),
    ),
    Format(
        "wma",
        (".wma",),
        lambda h: h.startswith(bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")),
        ("av",),
        "mutagen.asf.ASF",
        "asf",
        ASF,
        encoder=("av", "wmav2", "asf"),
    ),
    Format(
        "au",
        (".au",),
        lambda h: h.startswith(b".snd"),
        ("soundfile", "av"),
        None,
        "au",
        None,
        encoder=("soundfile", "AU", "PCM_16"),
    ),
    Format(
        "mp3",
        (".mp3",),
        lambda h: h.startswith(b"ID3") or _mpeg_sync(h, False),
        ("soundfile", "av"),
        "mutagen.mp3.MP3",
        "mpeg",
        ID3,
        encoder=("soundfile", "MP3", "MPEG_LAYER_III"),
    ),
    # ADTS has no tag of its own; players and FFmpeg read an ID3v2 tag in front of it.
    Format(
        "aac",
        (".aac",),
        lambda h: _mpeg_sync(h, True),
        ("av",),
        "mutagen.id3.ID3",
        "adts",
        ID3,
        encoder=("av", "aac", "adts"),
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
