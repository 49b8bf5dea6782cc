"""Read and write a field of a file (the genre, the BPM), changing nothing else, verified, and
put it back.

Where each format keeps its genre is its tag family's (``tagger.tagedit``,
one object per family, named by the ``tagger.formats`` record); how the audio
sits in the container is ``tagger.payload``'s.  This module brings an edit
onto a file without changing what the file *is*:

* A file whose structure makes an edit unsafe (size fields that disagree with
  the file, a damaged atom, FLAC metadata that does not end at a frame) is
  refused before anything is written: ``refusal`` says why, for ``--dry-run``.
* The edit is made on a temporary copy beside the file, journaled before it
  exists (``Temps``), so that a killed write leaves nothing behind once the
  next command runs.  The copy counts only when it passes every check: the
  container parses, the audio payload's bytes are identical, FFmpeg finds the
  same audio packets and still decodes the first and last, and the genre
  field reads back as written.  Otherwise the file is never touched and the
  reason is one line.
* What gives the bytes back (``Undo``: the original bytes of the changed
  region, with both versions' digests) goes to ``before_commit`` before the
  file changes; ``restore_bytes`` gives them back exactly.  A change too large
  to keep (an Ogg stream re-paged throughout) is written only when putting the
  field back on the copy was shown to give every byte back.
* If the file keeps its size and the change lies within one page, only the
  changed bytes are written, in place (one ``pwrite``, read back, ``fsync``):
  symlinks, hard links, owner, mode, extended attributes are untouched, and a
  killed process leaves the old bytes or the new ones.  Otherwise the copy
  gets the original's owner, group, mode and extended attributes (POSIX ACLs
  live there) and is renamed over it, atomically.  A symlink is followed: its
  target is written, the link stays a link.  A file with several hard links
  whose tag cannot change in place is skipped with that reason.

``read_field`` returns the raw genre field and how it sits in the file (the
exact frames or pairs, their positions, the ID3 version, the padding, whether
the tag container exists): small, JSON-ready, never pictures or audio.
``restore_field`` puts exactly that back, removing a container the write created.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from .errors import TagError
from .formats import BY_NAME, FORMATS, Format, sniff
from .payload import Demuxed, Unsafe, check, demuxed, digest_ranges
from .tagedit import GENRE, Field, TagFamily, check_values, field_of

__all__ = [
    "Field",
    "FileTags",
    "TagError",
    "Temps",
    "Undo",
    "Unsafe",
    "field_values",
    "file_digest",
    "give_id3v1_genre_back",
    "give_mtime_back",
    "plan",
    "read_field",
    "read_file_tags",
    "read_genres",
    "read_values",
    "refusal",
    "restore_bytes",
    "restore_field",
    "same_field",
    "same_value",
    "write_genres",
]

_PAGE = 4096
# Keys of a field that describe layout (padding, sizes), not the genre itself.
_LAYOUT = {"padding", "length", "size", "tag", "free", "fill", "declared", "udta", "values"}
# Where each family's raw field keeps its entries, as [position, hex] pairs.
_ENTRIES = ("frames", "pairs", "items", "descriptors")
_FAMILIES = {f.family.name: f.family for f in FORMATS if f.family is not None}
# The journal keeps the original bytes of the region an edit changed up to this size; a larger
# change (an Ogg file whose pages were renumbered) is undone by putting the field back, which
# the write checks gives back every byte before it counts.
UNDO_LIMIT = 16 << 20
TEMP_PREFIX = ".tagger-"
NOT_FOUND = "file not found (moved or deleted since the scan)"


def _family(fmt: Format) -> TagFamily:
    assert fmt.family is not None
    return fmt.family


def _format(path: str, fmt_name: str | None) -> Format:
    fmt = BY_NAME.get(fmt_name) if fmt_name else sniff(path)
    if fmt is None:
        if not os.path.exists(path):  # sniff reads nothing there either
            raise TagError(NOT_FOUND)
        raise TagError("not an audio format tagger knows, so no genre tag can be written")
    if fmt.family is None:
        raise TagError(f"{fmt.name.upper()} files have no tag that can hold a genre")
    return fmt


def read_genres(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The genre values as players show them (empty list if none), through mutagen.

    For MP3 this includes an ID3v1 genre: a file whose only genre is in ID3v1
    counts as having one (and is left alone without ``--overwrite``).
    """
    return read_values(path, GENRE, fmt)


def read_values(path: str | os.PathLike, field: str, fmt: str | None = None) -> list[str]:
    """``field``'s values as players show them (empty list if none), through mutagen."""
    tag_format, tags = _open_tags(os.fspath(path), fmt)
    return _family(tag_format).values(tags, field)


def _open_tags(path: str, fmt: str | None) -> tuple[Format, Any]:
    """The file's format and its tag object (None when it has no tag)."""
    tag_format = _format(path, fmt)
    try:
        return tag_format, _family(tag_format).open(path, tag_format)
    except PermissionError:
        raise TagError("permission denied") from None
    except FileNotFoundError:
        raise TagError(NOT_FOUND) from None
    except TagError:
        raise
    except Exception:  # mutagen raises many types for damaged headers
        raise TagError(f"cannot read tags: the {tag_format.name} file's tags are damaged") from None


@dataclass
class FileTags:
    """The tags a scan records: genres, and the text fields above (first values)."""

    genres: list[str]
    album: str | None = None
    artist: str | None = None
    title: str | None = None
    album_artist: str | None = None
    compilation: bool = False

    def columns(self) -> dict[str, Any]:
        """What these tags give a track's row (``store.TAG_COLUMNS``): the genres joined by
        ``"; "``, the text fields a scan records; kept wherever a file's tags are read again
        (a scan, an undo), so the row holds the file's own tags, never tagger's undone ones."""
        return {
            "tag_genre": "; ".join(self.genres) or None,
            "album": self.album,
            "artist": self.artist,
            "album_artist": self.album_artist,
            "compilation": self.compilation,
        }


def read_file_tags(path: str | os.PathLike, fmt: str | None = None) -> FileTags:
    """Genres (as ``read_genres``) and the text fields of a file, opening it once.

    Album and artist keep each album on one side of a training split; album
    artist and the compilation flag group tracks into albums for album genres;
    the title is for playlists.
    """
    tag_format, tags = _open_tags(os.fspath(path), fmt)
    family = _family(tag_format)
    text = {
        name: next((v.strip() for v in family.values(tags, name) if v.strip()), None)
        for name in ("album", "artist", "title", "album_artist", "compilation")
    }
    return FileTags(
        family.values(tags, "genre"),
        text["album"],
        text["artist"],
        text["title"],
        text["album_artist"],
        (text["compilation"] or "").casefold() in ("1", "true", "yes"),
    )


# --- the file itself ---------------------------------------------------------------------------
def _real(path: str, writable: bool = True) -> tuple[str, os.stat_result]:
    try:
        real = os.path.realpath(path)  # a symlink is written at its target and stays a link
        st = os.stat(real)
    except FileNotFoundError:
        raise TagError(NOT_FOUND) from None
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


class Temps(Protocol):
    """Where temporary copies are recorded before they exist (the journal), so that a write
    killed at any moment leaves nothing behind once the next tagger command runs."""

    def add(self, path: str) -> None: ...

    def remove(self, path: str) -> None: ...


@dataclass(frozen=True)
class Undo:
    """What gives a written file's bytes back exactly: the original bytes of the changed region.

    The file was ``old_size`` bytes with digest ``old_digest`` and became ``new_size`` bytes
    with ``new_digest``; both share their first ``head`` and last ``tail`` bytes, and the
    original's bytes between them are ``data`` (None when the region was over
    ``UNDO_LIMIT``: then putting the field back was shown to give every byte back).
    ``old_mtime_ns`` is the original's modification time: backup tools and beets compare
    it, so an undo that gives every byte back gives it back too (None: journaled before
    tagger kept it).
    """

    old_size: int
    old_digest: str
    new_size: int
    new_digest: str
    head: int
    tail: int
    data: bytes | None
    old_mtime_ns: int | None = None


def file_digest(path: str) -> str:
    """A digest of every byte of the file (what the journal compares before undoing)."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _common(a: BinaryIO, b: BinaryIO, limit: int, backwards: bool, sizes: tuple[int, int]) -> int:
    """Length of the common prefix (or suffix) of two open files, at most ``limit``."""
    chunk, done = 1 << 16, 0
    while done < limit:
        n = min(chunk, limit - done)
        if backwards:
            a.seek(sizes[0] - done - n)
            b.seek(sizes[1] - done - n)
        else:
            a.seek(done)
            b.seek(done)
        x, y = a.read(n), b.read(n)
        if x != y:
            if backwards:
                x, y = x[::-1], y[::-1]
            return done + next(i for i in range(n) if x[i] != y[i])
        done += n
    return done


def _undo_record(
    original: str, edited: str, old_digest: str, old_mtime_ns: int | None = None
) -> Undo:
    old_size, new_size = os.path.getsize(original), os.path.getsize(edited)
    with open(original, "rb") as a, open(edited, "rb") as b:
        head = _common(a, b, min(old_size, new_size), False, (old_size, new_size))
        tail = _common(a, b, min(old_size, new_size) - head, True, (old_size, new_size))
        length = old_size - head - tail
        a.seek(head)
        data = a.read(length) if length <= UNDO_LIMIT else None
    digest = file_digest(edited)
    return Undo(old_size, old_digest, new_size, digest, head, tail, data, old_mtime_ns)


def _new_temp(real: str, temps: Temps | None, trial: bool = False) -> str:
    """A temporary file beside ``real`` (same file system: an atomic rename), journaled first.

    A ``trial`` (``write --dry-run``) makes its copy in the system's temporary
    folder instead (``$TMPDIR``), so that the library's folders do not change.
    """
    folder, name = os.path.split(real)
    if trial:
        folder = tempfile.gettempdir()
    tmp = os.path.join(folder, f"{TEMP_PREFIX}{secrets.token_hex(4)}{os.path.splitext(name)[1]}")
    if temps is not None:
        temps.add(tmp)
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        if temps is not None:
            temps.remove(tmp)
        raise TagError(f"cannot write in the folder ({_strerror(exc)})") from None
    return tmp


def _drop_temp(tmp: str, temps: Temps | None) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    if temps is not None:
        temps.remove(tmp)


def _strerror(exc: OSError) -> str:
    return (exc.strerror or "input/output error").lower()


def _copy(src: str, dst: str) -> str:
    """Copy ``src`` onto ``dst``; returns the digest of the bytes copied."""
    h = hashlib.blake2b(digest_size=20)
    try:
        with open(src, "rb") as a, open(dst, "wb") as b:
            while block := a.read(1 << 20):
                h.update(block)
                b.write(block)
    except OSError as exc:
        raise TagError(
            f"cannot copy the file to edit it ({_strerror(exc)}); left unchanged"
        ) from None
    return h.hexdigest()


@dataclass(frozen=True)
class _Audio:
    """What must not change: the payload's digest and FFmpeg's view of the audio."""

    digest: str
    demuxed: Demuxed | None
    parses: bool  # mutagen's class for the format opens the file


def _audio(path: str, fmt: Format, demux: bool = True) -> _Audio:
    """The audio of ``path``; ``Unsafe`` when its structure is too damaged to edit safely.

    ``demux``: also FFmpeg's view (a write compares it; putting a journaled field back
    need not, since FFmpeg's view of the original is what it was)."""
    with open(path, "rb") as f:
        digest = digest_ranges(f, check(f, os.fstat(f.fileno()).st_size, fmt))
    try:
        _family(fmt).open(path, fmt)
        parses = True
    except Exception:  # mutagen raises many types for damaged headers
        parses = False
    return _Audio(digest, demuxed(path) if demux else None, parses)


def _check(path: str, fmt: Format, before: _Audio) -> str | None:
    """Why the edited copy at ``path`` is not safe to keep (None: its audio is intact)."""
    try:
        after = _audio(path, fmt, before.demuxed is not None)
    except Unsafe as exc:
        return f"not written: the edit would damage the file's structure ({exc})"
    if after.digest != before.digest:
        return "not written: the edit would have changed the audio bytes"
    if before.parses and not after.parses:
        return "not written: the edited tags would not read back"
    decoded = before.demuxed and (before.demuxed.first_decodes or before.demuxed.last_decodes)
    if before.demuxed is not None and decoded:  # FFmpeg found audio: it must find the same
        if after.demuxed is None or after.demuxed.digest != before.demuxed.digest:
            return "not written: a player would no longer find the same audio packets"
        if (before.demuxed.first_decodes, before.demuxed.last_decodes) != (
            after.demuxed.first_decodes,
            after.demuxed.last_decodes,
        ):
            return "not written: the first or last audio packet would no longer decode"
    return None


def _edit_file(
    path: str,
    fmt_name: str | None,
    change: Callable[[BinaryIO, Format], Field],
    expect: Callable[[BinaryIO, Format], str | None],
    temps: Temps | None,
    before_commit: Callable[[Undo], None] | None,
    undo_check: Callable[[str, Format, bool], None] | None = None,
    demux: bool = True,
    trial: bool = False,
) -> Field:
    """Run ``change`` on a copy of the file, verify it, then bring the result onto the file.

    The file itself is not touched until the copy passed every check: its
    structure still parses, its audio payload is byte-identical, FFmpeg finds
    the same packets and decodes the first and last, and ``expect`` finds the
    field as intended.  A file whose structure makes any edit unsafe is refused
    before a copy is made.  A ``trial`` makes every check and stops before the
    file: it raises the ``TagError`` the write would, and changes nothing.
    """
    real, st = _real(path)
    if trial and not os.access(os.path.dirname(real), os.W_OK | os.X_OK):
        raise TagError("cannot write in the folder (permission denied)")
    fmt = _format(real, fmt_name)
    before = _audio(real, fmt, demux)  # Unsafe: refused before anything is written
    tmp = _new_temp(real, None if trial else temps, trial)
    try:
        old_digest = _copy(real, tmp)
        try:
            with open(tmp, "rb+") as f:
                field = change(f, fmt)
                problem = expect(f, fmt)
        except TagError:
            raise
        except OSError as exc:
            raise TagError(f"cannot write tags ({_strerror(exc)}); left unchanged") from None
        except Exception:  # mutagen, struct: a structure the editor cannot follow
            raise TagError(
                f"not written: the {fmt.name} file's tag structure is damaged; left unchanged"
            ) from None
        problem = problem or _check(tmp, fmt, before)
        if problem:
            raise TagError(problem)
        undo = _undo_record(real, tmp, old_digest, st.st_mtime_ns)
        if undo.head == undo.old_size == undo.new_size:
            return field  # nothing changed
        if undo.data is None and undo_check is not None:
            undo_check(tmp, fmt, trial)
        in_place = _in_place(st, undo)
        if trial:
            return field
        if before_commit is not None:
            before_commit(undo)
        _bring(real, tmp, st, undo, in_place)
        return field
    finally:
        _drop_temp(tmp, None if trial else temps)


def _in_place(st: os.stat_result, undo: Undo) -> bool:
    """True when the change is written into the file itself, False when the copy replaces it.

    In place: the size is kept and the change lies within one page, or hard links
    forbid a rename; a file with several hard links that must be replaced is refused.
    """
    end = undo.new_size - undo.tail
    if undo.old_size == undo.new_size and (
        undo.head // _PAGE == (end - 1) // _PAGE or st.st_nlink > 1
    ):
        return True
    if st.st_nlink > 1:
        raise TagError(
            f"has {st.st_nlink} hard links and its tag has no room to change in "
            "place; skipped so that the links stay one file"
        )
    return False


def _bring(real: str, tmp: str, st: os.stat_result, undo: Undo, in_place: bool) -> None:
    """Put the verified copy's bytes onto the file: in place (``_in_place``), else a rename.

    In place, only the changed span is written (one ``pwrite``), then read back;
    a span that does not read back is overwritten with the original bytes at once.
    """
    end = undo.new_size - undo.tail
    if in_place:
        with open(tmp, "rb") as b:
            b.seek(undo.head)
            data = b.read(end - undo.head)
        with open(real, "rb") as a:
            a.seek(undo.head)
            original = a.read(end - undo.head)
        fd = os.open(real, os.O_RDWR)
        try:
            os.pwrite(fd, data, undo.head)
            os.fsync(fd)
            if os.pread(fd, len(data), undo.head) != data:
                os.pwrite(fd, original, undo.head)
                os.fsync(fd)
                raise TagError("not written: the file did not read back as written; put back")
        except OSError as exc:
            raise TagError(f"cannot write the file ({_strerror(exc)})") from None
        finally:
            os.close(fd)
        return
    _copy_identity(real, tmp, st)
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, real)
        dir_fd = os.open(os.path.dirname(real), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise TagError(f"cannot write the file ({_strerror(exc)}); left unchanged") from None


# --- the API -----------------------------------------------------------------------------------
def _reading(path: str | os.PathLike, fmt: str | None, what: Callable[[BinaryIO, Format], Any]):
    real, _ = _real(os.fspath(path), writable=False)
    tag_format = _format(real, fmt)
    try:
        with open(real, "rb") as f:
            return what(f, tag_format)
    except TagError:
        raise
    except OSError as exc:
        raise TagError(f"cannot read the file ({_strerror(exc)})") from None
    except Exception:  # mutagen, struct: a damaged structure
        raise TagError(f"cannot read tags: the {tag_format.name} file's tags are damaged") from None


def read_field(path: str | os.PathLike, fmt: str | None = None, field: str = GENRE) -> Field:
    """The raw field (the genre unless said) and how it sits in the file (what the journal
    keeps)."""
    return _reading(path, fmt, lambda f, tf: _family(tf).read(f, tf, field))


def refusal(path: str | os.PathLike, fmt: str | None = None) -> str | None:
    """Why a write to this file would be refused before touching it (None: it would be tried)."""
    try:
        real, st = _real(os.fspath(path), writable=False)
        tag_format = _format(real, fmt)
        with open(real, "rb") as f:
            check(f, st.st_size, tag_format)
            refused = _family(tag_format).refuse(f, tag_format)
        if refused:
            return refused
    except TagError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read the file ({_strerror(exc)})"
    except Exception:  # mutagen, struct: a damaged structure
        return f"cannot read tags: the {tag_format.name} file's tags are damaged"
    return None


def plan(path: str | os.PathLike, fmt: str | None = None) -> str | None:
    """What a write would change beyond the genre field (for ``--dry-run``), None if nothing."""
    try:
        return _reading(path, fmt, lambda f, tf: _family(tf).plan(f, tf))
    except TagError:
        return None


def write_genres(
    path: str | os.PathLike,
    genres: list[str],
    fmt: str | None = None,
    id3v23: bool = False,
    sep: str = "; ",
    temps: Temps | None = None,
    before_commit: Callable[[Undo], None] | None = None,
    trial: bool = False,
    field: str = GENRE,
) -> Field:
    """Replace the file's genre values (``field``'s) with ``genres`` (an empty list removes them).

    Verified before it counts (see ``_edit_file``); ``before_commit`` receives
    what gives the bytes back, before the file changes.  Returns the raw field
    as it was before (what ``restore_field`` puts back).  ``trial``
    (``write --dry-run``): every step and check of the write on a copy outside
    the library, raising what the write would raise; the file is not touched.
    """
    genres = list(genres)
    check_values(field, genres)  # before the file is opened: nothing to undo
    field_before: list[Field] = []

    def change(f: BinaryIO, tag_format: Format) -> Field:
        field_before.append(_family(tag_format).write(f, tag_format, genres, id3v23, sep, field))
        return field_before[0]

    def expect(f: BinaryIO, tag_format: Format) -> str | None:
        problem = _family(tag_format).verify(f, tag_format, genres, sep, field)
        return f"not written: {problem}" if problem else None

    def undo_check(tmp: str, tag_format: Format, trial: bool) -> None:
        """Putting the field back on the edited copy must give every original byte back."""
        real = os.path.realpath(os.fspath(path))
        _restores_exactly(tmp, real, field_before[0], tag_format, sep, temps, trial)

    return _edit_file(
        os.fspath(path), fmt, change, expect, temps, before_commit, undo_check, trial=trial
    )


def _restores_exactly(
    edited: str,
    original: str,
    field: Field,
    fmt: Format,
    sep: str,
    temps: Temps | None,
    trial: bool,
) -> None:
    if trial:
        temps = None
    copy = _new_temp(original, temps, trial)
    try:
        _copy(edited, copy)
        with open(copy, "rb+") as f:
            _family(fmt).restore(f, fmt, field, sep)
        if file_digest(copy) != file_digest(original):
            raise TagError("not written: undo could not give this file back byte for byte")
    except TagError:
        raise
    except Exception:
        raise TagError("not written: undo could not give this file back byte for byte") from None
    finally:
        _drop_temp(copy, temps)


def give_id3v1_genre_back(
    path: str | os.PathLike, written: list[str], before: list[str]
) -> str | None:
    """After an undo of an MP3's genre: where another tagger copied the genre tagger wrote
    into the file's ID3v1 tag since (``tagger.tagedit.id3v1``), that copy goes back to the
    genre the file had before (``before``: its values then, ID3v1's own where ID3v2 had
    none; none when ID3v1 cannot hold it).  An ID3v1 genre that names anything else is the
    file's own and stays.  Returns the genre it gave back ("" for none), None when it
    changed nothing: also when the file cannot be read or written here, since the genre
    itself is back already and this is the other tagger's copy of it."""
    from .tagedit import id3v1

    if not written:
        return None
    old = id3v1.index_of(before[0] if before else None)
    try:
        real, _ = _real(os.fspath(path))
        fmt = sniff(real)
        now = id3v1.genre_index(real) if fmt is not None and fmt.name == "mp3" else None
        if now is None or now == old:
            return None
        if (id3v1.name_of(now) or "").casefold() != written[0].casefold():
            return None  # the file's own ID3v1 genre, not a copy of tagger's
        id3v1.set_genre_index(real, now, old)
    except (OSError, TagError):
        return None
    return id3v1.name_of(old) or ""


def restore_field(
    path: str | os.PathLike,
    field: Field,
    fmt: str | None = None,
    sep: str = "; ",
    temps: Temps | None = None,
) -> None:
    """Put back the raw genre field ``read_field``/``write_genres`` returned, exactly.

    In a file another program re-saved since, the field's entries go back
    among that program's (where they were, as near as its order allows) and
    its changes stay; a tag container the write created is removed only when
    it holds nothing else.  An ID3 tag re-saved in another version gets the
    field's values in a frame of its own version.  Verified like a write:
    the audio is untouched and the field reads back with its old values (its
    exact entries, where the tag's version is the journaled one).
    """

    def change(f: BinaryIO, tag_format: Format) -> Field:
        if field.get("family") != tag_format.tag_family:
            raise TagError(
                f"journaled {field.get('family')} tag, but the file now holds "
                f"{tag_format.tag_family}"
            )
        _family(tag_format).restore(f, tag_format, field, sep)
        return field

    def expect(f: BinaryIO, tag_format: Format) -> str | None:
        now = _family(tag_format).read(f, tag_format, field_of(field))
        if same_field(now, field) or _put_back(now, field):
            return None
        return f"not restored: the {field_of(field)} did not read back"

    _edit_file(os.fspath(path), fmt, change, expect, temps, None, demux=False)


def restore_bytes(path: str | os.PathLike, undo: Undo, temps: Temps | None = None) -> bool:
    """Give back the bytes ``undo`` holds, when the file is exactly what the write left.

    Returns False (the file untouched) when the file changed since or the
    journal holds no bytes; the result is checked against the original's digest.
    """
    real, st = _real(os.fspath(path))
    if undo.data is None or st.st_size != undo.new_size or file_digest(real) != undo.new_digest:
        return False
    tmp = _new_temp(real, temps)
    try:
        try:
            with open(real, "rb") as a, open(tmp, "wb") as b:
                _copy_range(a, b, 0, undo.head)
                b.write(undo.data)
                _copy_range(a, b, undo.new_size - undo.tail, undo.tail)
        except OSError as exc:
            raise TagError(f"cannot write the file ({_strerror(exc)}); left unchanged") from None
        if file_digest(tmp) != undo.old_digest:
            raise TagError("not restored: the journaled bytes do not give the original back")
        back = _undo_record(real, tmp, undo.new_digest)
        _bring(real, tmp, st, back, _in_place(st, back))
    finally:
        _drop_temp(tmp, temps)
    return True


def give_mtime_back(path: str | os.PathLike, undo: Undo, verified: bool = False) -> bool:
    """Set the file's modification time back to the original's, when it holds the original's
    exact bytes (``verified``: the caller just checked that); True when it did."""
    if undo.old_mtime_ns is None:
        return False
    real, st = _real(os.fspath(path), writable=False)
    if not verified and (st.st_size != undo.old_size or file_digest(real) != undo.old_digest):
        return False
    try:
        os.utime(real, ns=(st.st_atime_ns, undo.old_mtime_ns))
    except OSError:
        return False  # bytes are what count; an mtime that cannot be set is left as it is
    return True


def _copy_range(a: BinaryIO, b: BinaryIO, start: int, length: int) -> None:
    a.seek(start)
    while length > 0:
        block = a.read(min(1 << 20, length))
        if not block:
            break
        b.write(block)
        length -= len(block)


def same_field(a: Field, b: Field) -> bool:
    """True when two fields hold the same genre bytes (layout aside)."""
    return {k: v for k, v in a.items() if k not in _LAYOUT} == {
        k: v for k, v in b.items() if k not in _LAYOUT
    }


def _entries(field: Field) -> list[str]:
    """The field's frames, pairs, items or descriptors as bytes (hex), their places aside."""
    return [h for key in _ENTRIES for _, h in field.get(key, [])]


def field_values(field: Field) -> list[str] | None:
    """The values a raw field holds, decoded from its bytes (None: they cannot be told)."""
    family = _FAMILIES.get(str(field.get("family")))
    return family.genres_of(field) if family is not None else None


def same_value(a: Field, b: Field) -> bool:
    """True when two raw fields of one file hold the same values.

    This, not the bytes, tells whether something else changed a field tagger
    wrote: another tagger re-saving the file (mutagen re-encodes an ID3 text
    frame, ends it with a NUL, moves an MP4 item or a Vorbis pair when it adds
    another) keeps the field's value though its bytes or place change.  A
    field whose bytes cannot be decoded is compared by its bytes (places aside).
    """
    if a.get("family") != b.get("family") or field_of(a) != field_of(b):
        return False
    va, vb = field_values(a), field_values(b)
    if va is not None and vb is not None:
        return va == vb
    return bool(a.get("exists")) == bool(b.get("exists")) and _entries(a) == _entries(b)


def _put_back(now: Field, field: Field) -> bool:
    """Whether ``restore_field`` gave ``field`` back: its values, and its exact entries unless
    the tag's version changed since (an ID3 tag re-saved as another version holds the values
    in frames of its own version)."""
    if not same_value(now, field):
        return False
    return now.get("version") != field.get("version") or _entries(now) == _entries(field)
