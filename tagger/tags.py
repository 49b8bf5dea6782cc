"""Read and write the genre in a file's own metadata, never leaving it half-written.

Where each format keeps its genre, and how several genres sit there, is
declared once in ``tagger.formats``; this module reads and edits that field
through mutagen, with one code path per tag family (ID3, Vorbis comments, MP4,
ASF).

A write goes to a temporary copy beside the file, which is flushed to disk and
then renamed over the original (``os.replace`` is atomic on one file system),
with the original's permission bits.  Killed at any instant, the path holds
either the old file or the new one.  Only metadata blocks change; the audio
frames are copied byte for byte.
"""
from __future__ import annotations

import importlib
import os
import shutil
import stat
import tempfile

from mutagen import id3

from .errors import one_line
from .formats import BY_NAME, Format, sniff
from .formats import sniff_format as sniff_name


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason."""


def _id3_of(audio) -> id3.ID3 | None:
    return audio.tags if isinstance(audio.tags, id3.ID3) else None


def _read(fmt: Format, audio) -> list[str]:
    """The genre values of an open file, in the tag family ``fmt`` names."""
    if fmt.tag_family == "id3":
        tags = _id3_of(audio)
        frame = tags.get("TCON") if tags is not None else None
        return [g for g in frame.genres if g] if frame else []
    if audio.tags is None:
        return []
    values = audio.tags.get(fmt.genre_key) or []
    return [str(v) for v in values if str(v)]


def _open(path: str, fmt_name: str | None):
    fmt = BY_NAME.get(fmt_name) if fmt_name else sniff(path)
    if fmt is None or fmt.tag_class is None:
        raise TagError(f"no genre tag support for format {fmt.name if fmt else 'unknown'}")
    module, _, cls = fmt.tag_class.rpartition(".")
    try:
        audio = getattr(importlib.import_module(module), cls)(path)
    except PermissionError:
        raise TagError("permission denied") from None
    except FileNotFoundError:
        raise TagError("file not found") from None
    except Exception as exc:  # mutagen raises many types for damaged headers
        raise TagError(f"cannot read tags: {one_line(exc)}") from None
    if audio is None:
        raise TagError("not a file mutagen can tag")
    return fmt, audio


def read_genres(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The genre values already in the file (empty list if none)."""
    tag_format, audio = _open(os.fspath(path), fmt)
    return _read(tag_format, audio)


def _apply(fmt: Format, audio, genres: list[str], id3v23: bool, sep: str, target: str) -> None:
    if fmt.tag_family == "id3":
        if audio.tags is None:
            audio.add_tags()
        tags = audio.tags
        tags.delall("TCON")
        if genres:
            tags.add(id3.TCON(encoding=id3.Encoding.UTF8 if not id3v23 else id3.Encoding.UTF16,
                              text=genres))
        audio.save(target, v2_version=3 if id3v23 else 4, v23_sep=sep)
        return
    key = fmt.genre_key
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
        tag_format, audio = _open(tmp, fmt or sniff_name(path))
        _apply(tag_format, audio, genres, id3v23, sep, tmp)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except TagError:
        raise
    except Exception as exc:
        raise TagError(f"cannot write tags: {one_line(exc)}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
