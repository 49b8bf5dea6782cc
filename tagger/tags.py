"""Read and write the genre in a file's own metadata, never leaving it half-written.

One reader and one writer per tag family, all through mutagen:

========  ==========================  ====================================
format    where the genre lives        several genres
========  ==========================  ====================================
mp3       ID3v2.4 ``TCON``             one frame, several values (v2.3:
                                       joined with a separator)
wav/aiff  their ID3 chunk, ``TCON``    as mp3
flac      Vorbis comment ``GENRE``     one comment per genre
ogg/opus  Vorbis comment ``GENRE``     one comment per genre
m4a       MP4 atom ``©gen``            several values
wma       ASF ``WM/Genre``             several values
========  ==========================  ====================================

A write goes to a temporary copy beside the file, which is flushed to disk and
then renamed over the original (``os.replace`` is atomic on one file system),
with the original's permission bits.  Killed at any instant, the path holds
either the old file or the new one.  Only metadata blocks change; the audio
frames are copied byte for byte.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from typing import Callable

import mutagen
from mutagen import id3
from mutagen.aiff import AIFF
from mutagen.asf import ASF
from mutagen.flac import FLAC
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from .walk import sniff_format


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason."""


def _id3_of(audio) -> id3.ID3 | None:
    return audio.tags if isinstance(audio.tags, id3.ID3) else None


def _read_id3(audio) -> list[str]:
    tags = _id3_of(audio)
    frame = tags.get("TCON") if tags is not None else None
    return [g for g in frame.genres if g] if frame else []


def _read_key(key: str) -> Callable:
    def read(audio) -> list[str]:
        if audio.tags is None:
            return []
        values = audio.tags.get(key) or []
        return [str(v) for v in values if str(v)]
    return read


_OPENERS: dict[str, tuple[Callable, Callable]] = {
    "mp3": (lambda p: mutagen.File(p), _read_id3),
    "wav": (WAVE, _read_id3),
    "aiff": (AIFF, _read_id3),
    "flac": (FLAC, _read_key("genre")),
    "ogg": (OggVorbis, _read_key("genre")),
    "opus": (OggOpus, _read_key("genre")),
    "m4a": (MP4, _read_key("\xa9gen")),
    "wma": (ASF, _read_key("WM/Genre")),
}


def _open(path: str, fmt: str | None):
    fmt = fmt or sniff_format(path)
    if fmt not in _OPENERS:
        raise TagError(f"no genre tag support for format {fmt or 'unknown'}")
    opener, reader = _OPENERS[fmt]
    try:
        audio = opener(path)
    except PermissionError:
        raise TagError("permission denied") from None
    except FileNotFoundError:
        raise TagError("file not found") from None
    except Exception as exc:  # mutagen raises many types for damaged headers
        raise TagError(f"cannot read tags: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if audio is None:
        raise TagError("not a file mutagen can tag")
    return fmt, audio, reader


def read_genres(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The genre values already in the file (empty list if none)."""
    _, audio, reader = _open(os.fspath(path), fmt)
    return reader(audio)


def _apply(fmt: str, audio, genres: list[str], id3v23: bool, sep: str, target: str) -> None:
    if fmt in ("mp3", "wav", "aiff"):
        if audio.tags is None:
            audio.add_tags()
        tags = audio.tags
        tags.delall("TCON")
        if genres:
            tags.add(id3.TCON(encoding=id3.Encoding.UTF8 if not id3v23 else id3.Encoding.UTF16,
                              text=genres))
        if fmt == "mp3":
            tags.save(target, v2_version=3 if id3v23 else 4, v23_sep=sep)
        else:
            audio.save(target, v2_version=3 if id3v23 else 4, v23_sep=sep)
        return
    key = {"flac": "genre", "ogg": "genre", "opus": "genre", "m4a": "\xa9gen", "wma": "WM/Genre"}[fmt]
    if audio.tags is None:
        audio.add_tags()
    if genres:
        audio.tags[key] = list(genres)
    elif key in audio.tags:
        del audio.tags[key]
    audio.save(target)


def write_genres(path: str | os.PathLike, genres: list[str], fmt: str | None = None,
                 id3v23: bool = False, sep: str = "; ") -> None:
    """Replace the file's genre values with ``genres`` (an empty list removes them), atomically."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TagError("file not found (moved or deleted since the scan)") from None
    except OSError as exc:
        raise TagError(exc.strerror or str(exc)) from None
    if not st.st_mode & stat.S_IWUSR or not os.access(path, os.W_OK):
        raise TagError("file is read-only")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tagger-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise TagError(f"cannot write in folder: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        shutil.copyfile(path, tmp)
        fmt, audio, _ = _open(tmp, fmt)
        _apply(fmt, audio, genres, id3v23, sep, tmp)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except TagError:
        raise
    except Exception as exc:
        raise TagError(f"cannot write tags: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
