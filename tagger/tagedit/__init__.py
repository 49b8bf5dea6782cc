"""One object per tag family (ID3, Vorbis comments, MP4, ASF), each editing only the field asked.

As mediafile declares each field once with every format's key, ``FIELDS``
declares each field tagger reads (genre, album, artist, title, album artist,
compilation) or writes (genre, bpm) once, with every family's keys beside it
(a tuple of keys tried in turn; a written field's first key is the one
written) and the families that hold its value as a number rather than text
(MP4's ``tmpo`` is an integer atom); a new field (a mood or grouping tag) is
one line there, and a family's ``keys`` are its column of that table.  Every
family implements the same editor interface on a binary file object of the
format ``fmt`` (a ``tagger.formats.Format``, which names its family); each
method takes the field it edits by name (``field="genre"`` unless said), and
a raw field of any other field than the genre carries its name (``"field":
"bpm"``), so that undo puts each field back where it belongs:

* ``read(f, fmt) -> Field``: the raw genre field and how it sits in the file
  (the exact frames/pairs/items as hex, their positions, the tag version and
  padding, whether the tag container exists): what the journal keeps;
* ``plan(f, fmt) -> str | None``: what a write changes beyond the genre (an
  ID3v2.2 tag becomes v2.3), for ``--dry-run``; ``refuse(f, fmt)``: why it
  will not edit this tag at all (it would have to rewrite it whole);
* ``write(f, fmt, genres, id3v23, sep) -> Field``: replace the genre values,
  keeping every other byte of the tags; returns the field as it was;
* ``restore(f, fmt, field, sep)``: put that field back exactly, removing a tag
  container the write created;
* ``verify(f, fmt, genres, sep) -> str | None``: after a write, why the field
  does not hold exactly ``genres`` (None when it does), read from the bytes.

``values(path, fmt, field)`` reads a field as players show it (through
mutagen, which also merges an MP3's ID3v1 genre).  ``tagger.tags`` takes care
of the file itself (a verified copy, in place or renamed, symlinks, owner).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal

from ..errors import TagError

if TYPE_CHECKING:
    from ..formats import Format

Field = dict[str, Any]  # JSON-ready: bytes as hex strings
# Where a family keeps several genres: several values inside one field (ID3 TCON v2.4, MP4
# ``©gen``, ASF ``WM/Genre``), or one ``GENRE=`` pair per genre (Vorbis comments).
Several = Literal["values", "pairs"]


@dataclass(frozen=True)
class TagField:
    """One field tagger reads, with its keys in every family (each tried in turn)."""

    name: str
    id3: tuple[str, ...]
    vorbis: tuple[str, ...]
    mp4: tuple[str, ...]
    asf: tuple[str, ...]
    numbers: tuple[str, ...] = ()  # the families whose key holds an integer, not text
    # A field whose values are whole numbers: the range every family is held to.
    whole: tuple[int, int] | None = None
    # Its id in a WAV file's LIST/INFO chunk, read where the ID3 chunk has none (never written:
    # ``tagedit.riff_info``).
    info: str | None = None
    # Its key in an MP3's APEv2 tag (MP3Tag, foobar2000), read where ID3 has none (never
    # written, as the INFO chunk).
    ape: str | None = None


# mp4 ``gnre``: iTunes' numeric genre; Vorbis comments spell the album artist three ways.
FIELDS = (
    TagField(
        "genre", ("TCON",), ("GENRE",), ("\xa9gen", "gnre"), ("WM/Genre",), info="IGNR", ape="Genre"
    ),
    TagField(
        "album", ("TALB",), ("ALBUM",), ("\xa9alb",), ("WM/AlbumTitle",), info="IPRD", ape="Album"
    ),
    TagField(
        "artist", ("TPE1",), ("ARTIST",), ("\xa9ART",), ("Author",), info="IART", ape="Artist"
    ),
    TagField("title", ("TIT2",), ("TITLE",), ("\xa9nam",), ("Title",), info="INAM", ape="Title"),
    TagField(
        "album_artist",
        ("TPE2",),
        ("ALBUMARTIST", "ALBUM ARTIST", "ALBUM_ARTIST"),
        ("aART",),
        ("WM/AlbumArtist",),
    ),
    TagField("compilation", ("TCMP",), ("COMPILATION",), ("cpil",), ("WM/IsCompilation",)),
    # ID3's TBPM is a whole number as text (the ID3v2 standard); MP4's tmpo a 16-bit integer,
    # signed as its data atom's type says (mutagen, like iTunes, reads 65535 as -1): 0 to
    # 32767 in every format, so that one BPM is written alike everywhere or refused alike.
    TagField(
        "bpm",
        ("TBPM",),
        ("BPM",),
        ("tmpo",),
        ("WM/BeatsPerMinute",),
        numbers=("mp4",),
        whole=(0, 32767),
    ),
)
BY_NAME = {f.name: f for f in FIELDS}
GENRE = "genre"
VOICE = "voice"  # written only under a key the user names: the field ``voice:KEY``


def field_named(name: str) -> TagField:
    """The declared field ``name``, or the voice field under the user's key (``voice:KEY``):
    a TXXX frame, a Vorbis comment, an iTunes free-form MP4 item, an ASF attribute of that
    name (there is no standard voice field)."""
    if name in BY_NAME:
        return BY_NAME[name]
    kind, _, key = name.partition(":")
    if kind != VOICE or not key:
        raise KeyError(name)
    return TagField(
        name, (f"TXXX:{key}",), (key.upper(),), (f"----:com.apple.iTunes:{key}",), (key,)
    )


def check_values(field: str, values: list[str]) -> None:
    """Refuse ``values`` that cannot be written into ``field`` in any family (a BPM that is not
    a whole number in the field's range): ``TagError`` with the cause in one line."""
    if problem := _value_problem(field, values):
        raise TagError(f"not written: {problem}; left unchanged")


def _value_problem(field: str, values: list[str]) -> str | None:
    """Why ``values`` cannot be written into ``field``, or None when they can."""
    spec = field_named(field)
    if spec.whole is None:
        return None
    low, high = spec.whole
    for value in values:
        if not (value.isascii() and value.isdigit()):
            return f"the {field} value {value!r} is not a whole number ({low} to {high})"
        if not low <= int(value) <= high:
            return (
                f"the {field} value {value} is out of range ({low} to {high}, the most MP4's tmpo "
                f"holds; every format is held to it)"
            )
    return None


def named(raw: Field, field: str) -> Field:
    """``raw`` labelled with the field it holds (a genre field stays as it always was)."""
    return raw if field == GENRE else {**raw, "field": field}


def field_of(raw: Field) -> str:
    """The name of the field a raw field holds."""
    return str(raw.get("field", GENRE))


def _text(value: Any) -> str:
    """A tag value as text (an MP4 free-form value is bytes, UTF-8 by iTunes' convention)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class TagFamily(ABC):
    """A tag family: its key for each field, and the byte-level genre editor."""

    name: ClassVar[str]  # its column in ``FIELDS``
    several: ClassVar[Several]

    @property
    def keys(self) -> Mapping[str, tuple[str, ...]]:
        """Field name -> this family's keys for it."""
        return {f.name: getattr(f, self.name) for f in FIELDS}

    @property
    def genre_key(self) -> str:
        return self.keys["genre"][0]

    def key(self, field: str) -> str:
        """The key this family writes ``field`` under."""
        return str(getattr(field_named(field), self.name)[0])

    def holds_number(self, field: str) -> bool:
        """Whether this family stores ``field`` as an integer rather than text."""
        return self.name in field_named(field).numbers

    @staticmethod
    def mutagen_file(path: str, fmt: Format) -> Any:
        """The file opened by the format's mutagen class; mutagen's errors propagate."""
        module, _, cls = (fmt.tag_class or "").rpartition(".")
        return getattr(importlib.import_module(module), cls)(path)

    def open(self, path: str, fmt: Format) -> Any:
        """The file's mutagen tag object (None when it has none); mutagen errors propagate."""
        return self.mutagen_file(path, fmt).tags

    def values(self, tags: Any, field: str) -> list[str]:
        """The text values under the first of ``field``'s keys the tag holds (empty if none)."""
        for key in getattr(field_named(field), self.name):
            found = tags.get(key) if tags is not None else None
            if found is not None and hasattr(found, "text"):  # an ID3 frame
                found = found.text
            if found is not None and not isinstance(found, list):  # MP4 cpil: a bare bool
                found = [found]
            values = [_text(v) for v in found or [] if _text(v)]
            if values:
                return values
        return []

    @abstractmethod
    def read(self, f: BinaryIO, fmt: Format, field: str = GENRE) -> Field: ...

    def plan(self, f: BinaryIO, fmt: Format) -> str | None:
        return None

    def refuse(self, f: BinaryIO, fmt: Format) -> str | None:
        """Why this family will not edit the file's tag (it would rewrite more than the genre)."""
        return None

    @abstractmethod
    def write(
        self,
        f: BinaryIO,
        fmt: Format,
        genres: list[str],
        id3v23: bool,
        sep: str,
        field: str = GENRE,
    ) -> Field: ...

    @abstractmethod
    def restore(self, f: BinaryIO, fmt: Format, field: Field, sep: str) -> None: ...

    def genres_of(self, field: Field) -> list[str] | None:
        """The genre values a raw field holds, decoded from its bytes (None: cannot tell)."""
        return self._genres_in(field) if field.get("exists") else []

    @abstractmethod
    def _genres_in(self, field: Field) -> list[str] | None:
        """``genres_of`` a field whose tag container exists."""

    def verify(
        self, f: BinaryIO, fmt: Format, genres: list[str], sep: str, field: str = GENRE
    ) -> str | None:
        """Why the file's ``field`` is not exactly ``genres`` (its values) after a write, None
        if it is."""
        raw = self.read(f, fmt, field)
        found = self.genres_of(raw)
        if found is None:
            return None
        wanted = [sep.join(genres)] if genres and self.joins(raw) else list(genres)
        if found != wanted:
            what = "genre" if field == GENRE else field
            return f"the {what} reads back as {found!r}, not as written"
        return None

    def joins(self, field: Field) -> bool:
        """True when this field holds several genres as one joined value (ID3v2.3)."""
        return False
