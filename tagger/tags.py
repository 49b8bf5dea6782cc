"""Read and write the genre field of a file, changing nothing else, and put it back exactly.

Where each format keeps its genre is declared once in ``tagger.formats``; how
the field is edited, byte by byte, is one module per tag family in
``tagger.tagedit`` (ID3, Vorbis comments, MP4, ASF).  This module opens the
file and brings the edit onto it without changing what the file *is*:

* The edit is made on a temporary copy beside the file (named like it, but the
  format always comes from the sniffed ``Format``, never from a file name).
* If the file keeps its size (the tag's padding took up the change: the usual
  case) only the changed bytes are written back, in place, with one
  ``pwrite`` and an ``fsync``: symlinks, hard links, owner, group, mode,
  extended attributes and ACLs are untouched.  The changed bytes lie inside
  one page, so a killed process leaves the old bytes or the new ones.
* Otherwise the copy gets the original's owner, group, mode and extended
  attributes (POSIX ACLs live there) and is renamed over it, atomically.  A
  symlink is followed: its target is written, the link stays a link.  A file
  with several hard links is written in place when its size does not change,
  and otherwise skipped with that reason, since a rename would split it.

``read_field`` returns the raw genre field and how it sits in the file (the
exact frames or pairs, their positions, the ID3 version, the padding, whether
the tag container exists): small, JSON-ready, never pictures or audio.  The
journal keeps it; ``restore_field`` puts exactly that back, removing a
container the write created.
"""

from __future__ import annotations

import importlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import mutagen
import mutagen.id3

from .errors import TagError, one_line
from .formats import BY_NAME, Format, sniff
from .tagedit import Field, asf, id3, mp4, vorbis

__all__ = [
    "Field",
    "FileTags",
    "TagError",
    "plan",
    "read_field",
    "read_file_tags",
    "read_genres",
    "restore_field",
    "same_field",
    "write_genres",
]

_EDITORS = {"id3": id3, "vorbis": vorbis, "mp4": mp4, "asf": asf}
_PAGE = 4096
# Keys of a field that describe layout (padding, sizes), not the genre itself.
_LAYOUT = {"padding", "length", "size", "tag", "free", "fill", "declared", "udta", "values"}


def _editor(fmt: Format):
    """The ``tagger.tagedit`` module of the format's tag family."""
    return _EDITORS[fmt.tag_family or ""]


def _format(path: str, fmt_name: str | None) -> Format:
    fmt = BY_NAME.get(fmt_name) if fmt_name else sniff(path)
    if fmt is None or fmt.tag_family is None:
        raise TagError(f"no genre tag support for format {fmt.name if fmt else 'unknown'}")
    return fmt


def read_genres(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The genre values as players show them (empty list if none), through mutagen.

    For MP3 this includes an ID3v1 genre: a file whose only genre is in ID3v1
    counts as having one (and is left alone without ``--overwrite``).
    """
    return _genres(*_open_tags(os.fspath(path), fmt))


def _open_tags(path: str, fmt: str | None) -> tuple[Format, Any]:
    """The file's format and its mutagen tag object (None when it has no tag)."""
    tag_format = _format(path, fmt)
    module, _, cls = (tag_format.tag_class or "").rpartition(".")
    try:
        audio = getattr(importlib.import_module(module), cls)(path)
    except mutagen.id3.ID3NoHeaderError:  # a bare ID3 reader (ADTS AAC) on an untagged file
        return tag_format, None
    except PermissionError:
        raise TagError("permission denied") from None
    except FileNotFoundError:
        raise TagError("file not found") from None
    except Exception as exc:  # mutagen raises many types for damaged headers
        raise TagError(f"cannot read tags: {one_line(exc)}") from None
    return tag_format, audio if isinstance(audio, mutagen.id3.ID3) else audio.tags


def _genres(tag_format: Format, tags: Any) -> list[str]:
    if tag_format.tag_family == "id3":
        frame = tags.get("TCON") if tags is not None else None
        return [g for g in frame.genres if g] if frame else []
    if tag_format.tag_family == "vorbis":
        return [v for k, v in (tags or []) if k.lower() == "genre" and v]
    values = tags.get(tag_format.genre_key) if tags is not None else None
    if tag_format.tag_family == "mp4" and not values and tags is not None:
        values = tags.get("gnre")
    return [str(v) for v in values or [] if str(v)]


# The text fields a scan reads, per tag family, each a tuple of keys tried in turn:
# album and artist keep each album on one side of a training split; album artist
# and the compilation flag group tracks into albums for album genres; the title
# for playlists.
_TEXT_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "id3": {
        "album": ("TALB",),
        "artist": ("TPE1",),
        "title": ("TIT2",),
        "album_artist": ("TPE2",),
        "compilation": ("TCMP",),
    },
    "vorbis": {
        "album": ("album",),
        "artist": ("artist",),
        "title": ("title",),
        "album_artist": ("albumartist", "album artist", "album_artist"),
        "compilation": ("compilation",),
    },
    "mp4": {
        "album": ("\xa9alb",),
        "artist": ("\xa9ART",),
        "title": ("\xa9nam",),
        "album_artist": ("aART",),
        "compilation": ("cpil",),
    },
    "asf": {
        "album": ("WM/AlbumTitle",),
        "artist": ("Author",),
        "title": ("Title",),
        "album_artist": ("WM/AlbumArtist",),
        "compilation": ("WM/IsCompilation",),
    },
}


@dataclass
class FileTags:
    """The tags a scan records: genres, and the text fields above (first values)."""

    genres: list[str]
    album: str | None = None
    artist: str | None = None
    title: str | None = None
    album_artist: str | None = None
    compilation: bool = False


def _first_text(tags: Any, keys: tuple[str, ...]) -> str | None:
    """The first non-blank value under the first of ``keys`` the tag holds."""
    for key in keys:
        values = tags.get(key) if tags is not None else None
        if values is not None and hasattr(values, "text"):  # an ID3 frame
            values = values.text
        if values is not None and not isinstance(values, list):  # MP4 cpil: a bare bool
            values = [values]
        text = next((str(v).strip() for v in (values or []) if str(v).strip()), None)
        if text is not None:
            return text
    return None


def read_file_tags(path: str | os.PathLike, fmt: str | None = None) -> FileTags:
    """Genres (as ``read_genres``) and the text fields of a file, opening it once."""
    tag_format, tags = _open_tags(os.fspath(path), fmt)
    keys = _TEXT_FIELDS.get(tag_format.tag_family or "", {})
    text = {name: _first_text(tags, k) for name, k in keys.items()}
    flag = (text.get("compilation") or "").casefold()
    return FileTags(
        _genres(tag_format, tags),
        text.get("album"),
        text.get("artist"),
        text.get("title"),
        text.get("album_artist"),
        flag in ("1", "true", "yes"),
    )


# --- the file itself ---------------------------------------------------------------------------
def _real(path: str, writable: bool = True) -> tuple[str, os.stat_result]:
    try:
        real = os.path.realpath(path)  # a symlink is written at its target and stays a link
        st = os.stat(real)
    except FileNotFoundError:
        raise TagError("file not found (moved or deleted since the scan)") from None
    except OSError as exc:
        raise TagError(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise TagError("not a regular file")
    if writable and (not st.st_mode & stat.S_IWUSR or not os.access(real, os.W_OK)):
        raise TagError("file is read-only")
    return real, st


def _copy_identity(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, group, mode and extended attributes (POSIX ACLs live there) of ``src`` on ``dst``."""
    try:
        os.chown(dst, st.st_uid, st.st_gid)
    except PermissionError:
        mine = os.stat(dst)
        if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
            raise TagError(
                "cannot keep the file's owner and group (not permitted); left unchanged"
            ) from None
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(src)
    except OSError:
        names = []
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError as exc:
            raise TagError(
                f"cannot keep extended attribute {name} ({exc.strerror}); left unchanged"
            ) from None


def _common_prefix(x: bytes, y: bytes) -> int:
    """Length of the longest common prefix of two byte strings of equal length (bisection)."""
    lo, hi = 0, len(x)  # x[:lo] == y[:lo]; the first difference lies before hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[lo:mid] == y[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _changed_range(a: BinaryIO, b: BinaryIO, size: int) -> tuple[int, int] | None:
    """The first and one-past-last differing offsets of two files of ``size`` bytes."""
    chunk = 1 << 20
    lo = None
    for start in range(0, size, chunk):
        a.seek(start)
        b.seek(start)
        x, y = a.read(chunk), b.read(chunk)
        if x != y:
            lo = start + _common_prefix(x, y)
            break
    if lo is None:
        return None
    for end in range(size, lo, -chunk):
        start = max(lo, end - chunk)
        a.seek(start)
        b.seek(start)
        x, y = a.read(end - start), b.read(end - start)
        if x != y:
            return lo, end - _common_prefix(x[::-1], y[::-1])
    return lo, lo + 1


def _edit_file(
    path: str, fmt_name: str | None, change: Callable[[BinaryIO, Format], Field]
) -> Field:
    """Run ``change`` on a copy of the file, then bring the result onto the real file."""
    real, st = _real(path)
    fmt = _format(real, fmt_name)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=".tagger-", suffix=os.path.splitext(real)[1], dir=os.path.dirname(real)
        )
    except OSError as exc:
        raise TagError(f"cannot write in folder: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        shutil.copyfile(real, tmp)
        with open(tmp, "rb+") as f:
            try:
                field = change(f, fmt)
            except TagError:
                raise
            except Exception as exc:  # mutagen, struct: a damaged structure
                raise TagError(f"cannot write tags: {one_line(exc)}") from None
        if os.path.getsize(tmp) == st.st_size:
            with open(real, "rb") as a, open(tmp, "rb") as b:
                span = _changed_range(a, b, st.st_size)
                if span is None:
                    return field
                b.seek(span[0])
                data = b.read(span[1] - span[0])
            if span[0] // _PAGE == (span[1] - 1) // _PAGE or st.st_nlink > 1:
                fd = os.open(real, os.O_WRONLY)
                try:
                    os.pwrite(fd, data, span[0])
                    os.fsync(fd)
                finally:
                    os.close(fd)
                return field
        if st.st_nlink > 1:
            raise TagError(
                f"has {st.st_nlink} hard links and its tag has no room to change in "
                "place; skipped so that the links stay one file"
            )
        _copy_identity(real, tmp, st)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, real)
        return field
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- the API -----------------------------------------------------------------------------------
def read_field(path: str | os.PathLike, fmt: str | None = None) -> Field:
    """The raw genre field and how it sits in the file (what the journal keeps)."""
    real, _ = _real(os.fspath(path), writable=False)
    tag_format = _format(real, fmt)
    try:
        with open(real, "rb") as f:
            return _editor(tag_format).read(f, tag_format)
    except TagError:
        raise
    except Exception as exc:  # mutagen, struct: a damaged structure
        raise TagError(f"cannot read tags: {one_line(exc)}") from None


def plan(path: str | os.PathLike, fmt: str | None = None) -> str | None:
    """What a write would change beyond the genre field (for ``--dry-run``), None if nothing."""
    real, _ = _real(os.fspath(path), writable=False)
    tag_format = _format(real, fmt)
    try:
        with open(real, "rb") as f:
            return _editor(tag_format).plan(f, tag_format)
    except (mutagen.MutagenError, OSError, ValueError):
        return None


def write_genres(
    path: str | os.PathLike,
    genres: list[str],
    fmt: str | None = None,
    id3v23: bool = False,
    sep: str = "; ",
) -> Field:
    """Replace the file's genre values with ``genres`` (an empty list removes them).

    Returns the raw field as it was before (what ``restore_field`` puts back).
    """

    def change(f: BinaryIO, tag_format: Format) -> Field:
        return _editor(tag_format).write(f, tag_format, list(genres), id3v23, sep)

    return _edit_file(os.fspath(path), fmt, change)


def restore_field(
    path: str | os.PathLike, field: Field, fmt: str | None = None, sep: str = "; "
) -> None:
    """Put back the raw genre field ``read_field``/``write_genres`` returned, exactly."""

    def change(f: BinaryIO, tag_format: Format) -> Field:
        if field.get("family") != tag_format.tag_family:
            raise TagError(
                f"journaled {field.get('family')} tag, but the file now holds "
                f"{tag_format.tag_family}"
            )
        _editor(tag_format).restore(f, tag_format, field, sep)
        return field

    _edit_file(os.fspath(path), fmt, change)


def same_field(a: Field, b: Field) -> bool:
    """True when two fields hold the same genre bytes (layout aside)."""
    return {k: v for k, v in a.items() if k not in _LAYOUT} == {
        k: v for k, v in b.items() if k not in _LAYOUT
    }
