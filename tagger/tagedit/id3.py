"""The genre in ID3v2 (MP3, WAV/AIFF chunks): frames replaced at the byte level, all else kept.

mutagen's ``ID3.save`` re-serialises every frame: it upgrades v2.3 to v2.4,
merges ID3v1 values into the tag, drops frames it cannot parse and
re-encodes text.  Here a tag is split into its raw frames; only ``TCON``
frames are replaced and every other frame keeps its exact bytes and place.
The tag keeps its size where its padding allows, so a write usually touches
only the bytes of the tag, and an undo that puts the original frames back
gives back the original bytes.

Every version is edited in its own form: v2.2's three-letter frames with
three-byte sizes, v2.3's plain 32-bit sizes, v2.4's sync-safe ones; v2.2 and
v2.3 hold several genres as one joined value.  The tag sits at the start of
an MP3, or in the ID3 chunk of a WAV or AIFF file (mutagen's chunk code moves
the chunks).  A v2.3/v2.4 tag this module declines (a CRC, an
unsynchronisation that does not re-encode identically) is refused; a
compressed v2.2 tag, which nothing can edit in place, is converted to v2.3 by
mutagen (announced by ``plan``), and the journal keeps the original tag, when
it is small and holds no picture, so that undo gives it back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import mutagen.id3
from mutagen._iff import IffFile
from mutagen._util import delete_bytes, resize_bytes
from mutagen.aiff import AIFFFile
from mutagen.wave import _WaveFile

from ..errors import TagError
from . import FIELDS, GENRE, Field, TagFamily, field_named, field_of, named
from .riff_info import read_info

if TYPE_CHECKING:
    from ..formats import Format

# The whole original tag is journaled only when a write must convert it, never one holding
# pictures, never a large one.
_WHOLE_TAG_LIMIT = 64 * 1024

GROW_PADDING = 1024  # room left for later edits when a tag must grow


class Unsupported(Exception):
    """A tag this module will not edit byte by byte (the message says why)."""


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _to_syncsafe(n: int) -> bytes:
    if n >= 1 << 28:
        raise Unsupported("would grow larger than ID3v2 allows")
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def unsync_decode(data: bytes) -> bytes:
    return data.replace(b"\xff\x00", b"\xff")


def unsync_encode(data: bytes) -> bytes:
    out = bytearray()
    for i, b in enumerate(data):
        out.append(b)
        if b == 0xFF and (i + 1 == len(data) or data[i + 1] >= 0xE0 or data[i + 1] == 0):
            out.append(0)
    return bytes(out)


@dataclass
class Tag:
    """An ID3v2 tag split into raw parts."""

    version: int  # 2, 3 or 4
    revision: int
    flags: int  # header flags byte
    extended: bytes  # extended header, as stored (after unsynchronisation is undone)
    frames: list[bytes]  # each frame with its header, exactly as stored
    junk: bytes  # non-zero bytes after the last frame (kept as they are)
    size: int  # the whole tag in bytes: header, body, footer
    syncsafe: bool  # v2.4 frame sizes as sync-safe integers (iTunes wrote plain ones)

    @property
    def frame_ids(self) -> list[bytes]:
        return [f[:3] if self.version == 2 else f[:4] for f in self.frames]


def tag_size(head: bytes) -> int | None:
    """Size of the whole tag whose first 10 bytes are ``head``, None if not an ID3v2 header."""
    if (
        len(head) < 10
        or head[:3] != b"ID3"
        or head[3] not in (2, 3, 4)
        or head[4] == 0xFF
        or any(b >= 0x80 for b in head[6:10])
    ):
        return None
    return 10 + _syncsafe(head[6:10]) + (10 if head[3] == 4 and head[5] & 0x10 else 0)


def _walk(body: bytes, version: int, syncsafe: bool) -> tuple[list[bytes], bytes]:
    hlen = 6 if version == 2 else 10
    frames, pos = [], 0
    while pos + hlen <= len(body):
        fid = body[pos : pos + (3 if version == 2 else 4)]
        if not all(48 <= c <= 57 or 65 <= c <= 90 for c in fid):
            break
        if version == 2:
            size = int.from_bytes(body[pos + 3 : pos + 6], "big")
        elif syncsafe:
            size = _syncsafe(body[pos + 4 : pos + 8])
        else:
            size = int.from_bytes(body[pos + 4 : pos + 8], "big")
        if pos + hlen + size > len(body):
            break
        frames.append(body[pos : pos + hlen + size])
        pos += hlen + size
    return frames, body[pos:]


def parse(data: bytes) -> Tag:
    """Split a whole tag (``data`` may run on past it) into its parts."""
    size = tag_size(data[:10])
    if size is None or size > len(data):
        raise Unsupported("is incomplete")
    version, revision, flags = data[3], data[4], data[5]
    footer = 10 if version == 4 and flags & 0x10 else 0
    stored = data[10 : size - footer]
    body = stored
    if version < 4 and flags & 0x80:
        body = unsync_decode(stored)
        if unsync_encode(body) != stored:
            raise Unsupported(
                "is unsynchronised in a way that does not re-encode to the same bytes"
            )
    if version == 2 and flags & 0x40:
        raise Unsupported("is a compressed ID3v2.2 tag")
    extended = b""
    if flags & 0x40:
        n = int.from_bytes(body[:4], "big") + 4 if version == 3 else _syncsafe(body[:4])
        if n < 6 or n > len(body):
            raise Unsupported("has a damaged extended header")
        extended, body = body[:n], body[n:]
        ext_flags = extended[4] if version == 3 else (extended[5] if len(extended) > 5 else 0)
        if (version == 3 and ext_flags & 0x80) or (version == 4 and ext_flags & 0x20):
            raise Unsupported("carries a checksum")
    # v2.3 frame sizes are plain 32-bit integers, v2.4's sync-safe (v2.2's three bytes); some
    # v2.4 writers (old iTunes) stored plain ones, so v2.4 keeps whichever walk covers more.
    frames, rest = _walk(body, version, version == 4)
    if version == 4:
        plain, plain_rest = _walk(body, version, False)
        if len(plain_rest.strip(b"\x00")) < len(rest.strip(b"\x00")):
            return Tag(
                version, revision, flags, extended, plain, plain_rest.rstrip(b"\x00"), size, False
            )
    return Tag(version, revision, flags, extended, frames, rest.rstrip(b"\x00"), size, version == 4)


def render(tag: Tag, size: int | None = None) -> bytes:
    """The tag as bytes, ``size`` long when it fits (padding fills the rest), else grown."""
    footer = 10 if tag.version == 4 and tag.flags & 0x10 else 0
    laid = _layout(tag, size, footer) or _layout(tag, None, footer)
    if laid is None:
        raise Unsupported("has an extended header whose padding size cannot be kept true")
    body, total, padding = laid
    header = b"ID3" + bytes([tag.version, tag.revision, tag.flags])
    header += _to_syncsafe(total - 10 - footer)
    out = header + body + b"\x00" * padding
    if footer:
        out += b"3DI" + header[3:]
    return out


def _layout(tag: Tag, size: int | None, footer: int) -> tuple[bytes, int, int] | None:
    """The stored body, the tag's whole size and its padding (None: no stable layout).

    A v2.3 extended header states the padding's size; in an unsynchronised tag
    that statement is unsynchronised too, so its bytes may change the length
    the padding must fill: the length is found again until the statement holds
    (a size that makes it flip back and forth is given up, and the tag grown).
    """
    unsync = tag.version < 4 and tag.flags & 0x80
    states_padding = tag.version == 3 and len(tag.extended) >= 10
    extended = tag.extended
    for _ in range(4):
        body = extended + b"".join(tag.frames) + tag.junk
        if unsync:
            body = unsync_encode(body)
        needed = 10 + len(body) + footer
        if footer:  # a tag with a footer may not have padding
            total = needed
        elif size is None or size < needed:
            total = needed + GROW_PADDING
        else:
            total = size
        padding = total - needed
        if not states_padding:
            return body, total, padding
        stated = extended[:6] + padding.to_bytes(4, "big") + extended[10:]
        if stated == extended:
            return body, total, padding
        extended = stated
    return None


def empty(version: int) -> Tag:
    """A new tag with no frames."""
    return Tag(version, 0, 0, b"", [], b"", 0, True)


# --- the genre frame (or another field's text frame) -------------------------------------------
# ID3v2.2's three-letter ids of the frames written
_V22 = {b"TCON": b"TCO", b"TBPM": b"TBP", b"TXXX": b"TXX"}


def _frame_id(field: str) -> bytes:
    """The ID3v2.3/2.4 frame ``field`` is written to (``TCON``; ``TXXX`` for a user's key)."""
    return field_named(field).id3[0].split(":", 1)[0].encode("ascii")


def _description(field: str) -> str | None:
    """The description that names a user's ``TXXX`` frame (``TXXX:KEY``), None for the rest."""
    key = field_named(field).id3[0]
    return key.split(":", 1)[1] if ":" in key else None


def _split_text(frame: bytes, at: int) -> tuple[str, list[str]] | None:
    """A text frame's encoding's codec name and its values (None: flags or bytes not ours)."""
    if len(frame) <= at or (at == 10 and frame[8:10] != b"\x00\x00"):
        return None  # frame flags (compression, unsynchronisation): not ours to read
    enc, text = frame[at], frame[at + 1 :]
    codec = ("latin-1", "utf-16", "utf-16-be", "utf-8")[enc] if enc < 4 else None
    if codec is None:
        return None
    try:
        return codec, [v.decode(codec) for v in _values(text, 2 if enc in (1, 2) else 1) if v]
    except UnicodeDecodeError:
        return None


def _values(text: bytes, width: int) -> list[bytes]:
    """A text frame's values, split at its NUL separators (two aligned bytes in UTF-16: a
    ``l\x00`` before the terminator ``\x00\x00`` that mutagen writes is no separator)."""
    if width == 1:
        return text.split(b"\x00")
    out, start = [], 0
    for i in range(0, len(text) - 1, 2):
        if text[i : i + 2] == b"\x00\x00":
            out.append(text[start:i])
            start = i + 2
    out.append(text[start:])
    return out


def genre_indices(tag: Tag, field: str = GENRE) -> list[int]:
    fid = _frame_id(field)
    gid = _V22.get(fid, fid) if tag.version == 2 else fid
    found = [i for i, f in enumerate(tag.frame_ids) if f == gid]
    desc = _description(field)
    if desc is None:
        return found
    at = _header_len(tag.version)
    out = []
    for i in found:
        parts = _split_text(tag.frames[i], at)
        if parts is not None and parts[1] and parts[1][0] == desc:
            out.append(i)
    return out


def _encode_text(values: list[str], encoding: int) -> bytes:
    if encoding == 0:
        return b"\x00".join(v.encode("latin-1") for v in values)
    if encoding == 1:
        return b"\x00\x00".join(v.encode("utf-16") for v in values)
    if encoding == 2:
        return b"\x00\x00".join(v.encode("utf-16-be") for v in values)
    return b"\x00".join(v.encode("utf-8") for v in values)


def _header_len(version: int) -> int:
    """A frame header's length: v2.2's id and size in 6 bytes, later versions' 10 (flags)."""
    return 6 if version == 2 else 10


def _encoding_for(tag: Tag, values: list[str], old_frame: bytes | None) -> int:
    """The old frame's encoding where it can hold the text, else the plainest that can."""
    allowed = (0, 1, 2, 3) if tag.version == 4 else (0, 1)
    text = "".join(values)
    latin = all(ord(c) < 256 for c in text)
    at = _header_len(tag.version)
    old = old_frame[at] if old_frame is not None and len(old_frame) > at else None
    if old is not None and old in allowed and (old != 0 or latin):
        enc = old
    else:
        enc = 0 if latin else (3 if tag.version == 4 else 1)
    # Frames of a v2.4 tag flagged as unsynchronised are read as such: a frame without 0xFF
    # bytes needs no unsynchronisation, and UTF-8 never has them.
    if tag.version == 4 and tag.flags & 0x80 and (enc in (1, 2) or (enc == 0 and "\xff" in text)):
        enc = 3
    return enc


def genre_frame(
    tag: Tag, genres: list[str], sep: str, old_frame: bytes | None, field: str = GENRE
) -> bytes:
    """A TCON (v2.2: TCO; or ``field``'s) frame for ``tag``'s version: v2.4 holds several
    values, v2.2 and v2.3 join them."""
    values = genres if tag.version == 4 else [sep.join(genres)]
    desc = _description(field)
    if desc is not None:  # TXXX: the description, then the value
        values = [desc, sep.join(genres)]
    enc = _encoding_for(tag, values, old_frame)
    data = bytes([enc]) + _encode_text(values, enc)
    if tag.version == 2:
        if len(data) >= 1 << 24:
            raise Unsupported("would grow larger than an ID3v2.2 frame allows")
        return _V22[_frame_id(field)] + len(data).to_bytes(3, "big") + data
    if tag.syncsafe and tag.version == 4:
        size = _to_syncsafe(len(data))
    else:
        size = len(data).to_bytes(4, "big")
    return _frame_id(field) + size + b"\x00\x00" + data


def replace_genre(
    tag: Tag, new_frames: list[bytes], positions: list[int] | None = None, field: str = GENRE
) -> Tag:
    """``tag`` with its genre frames swapped for ``new_frames``.

    The new frames go where the first old one was (or at ``positions``, the
    indices they had, for an undo), else after the last frame.
    """
    old = genre_indices(tag, field)
    kept = [f for i, f in enumerate(tag.frames) if i not in old]
    if positions is None:
        at = old[0] if old else len(kept)
        frames = kept[:at] + new_frames + kept[at:]
    else:
        frames = list(kept)
        for pos, frame in sorted(zip(positions, new_frames)):
            frames.insert(min(pos, len(frames)), frame)
    return Tag(
        tag.version, tag.revision, tag.flags, tag.extended, frames, tag.junk, tag.size, tag.syncsafe
    )


# --- the tag in the file ------------------------------------------------------------------
class _Place:
    """The ID3v2 tag's bytes in a file: at its start (MP3) or in its ID3 chunk (WAV/AIFF)."""

    def __init__(self, f: BinaryIO, fmt: Format):
        self.f, self.fmt = f, fmt
        self.iff: IffFile | None = None
        self.cid = "ID3"
        if fmt.container == "riff":
            f.seek(0)
            self.iff, self.cid = _WaveFile(f), "id3"
        elif fmt.container == "aiff":
            f.seek(0)
            self.iff = AIFFFile(f)

    def read(self) -> bytes | None:
        """The container's bytes (the tag and anything its chunk holds after it), None if none."""
        if self.iff is not None:
            return self.iff[self.cid].read() if self.cid in self.iff else None
        self.f.seek(0)
        size = tag_size(self.f.read(10))
        if size is None:
            return None
        self.f.seek(0)
        return self.f.read(size)

    def write(self, data: bytes | None) -> None:
        """Replace the container's bytes; None removes the container."""
        old = self.read()
        if self.iff is not None:
            if data is None:
                if old is not None:
                    self.iff.delete_chunk(self.cid)
                return
            if old is None:
                self.iff.insert_chunk(self.cid)
            chunk = self.iff[self.cid]
            if len(data) != chunk.data_size:
                chunk.resize(len(data))
            chunk.write(data)
            return
        old_size = len(old) if old is not None else 0
        if data is None:
            if old_size:
                delete_bytes(self.f, old_size, 0)
            return
        resize_bytes(self.f, old_size, len(data), 0)
        self.f.seek(0)
        self.f.write(data)


def _has_picture(tag_bytes: bytes) -> bool:
    from mutagen import id3 as mid3

    try:
        tags = mid3.ID3(io.BytesIO(tag_bytes))
    except Exception:
        return True  # cannot tell: assume it has one, never copy it
    return bool(tags.getall("APIC"))


def _converted(raw: bytes, version: int, sep: str) -> bytes:
    """A tag the byte-level editor declines, re-written by mutagen as ``version`` (3 or 4)."""
    from mutagen import id3 as mid3

    buf = io.BytesIO(raw)
    try:
        tags = mid3.ID3(buf)
        tags.save(
            buf,
            v1=mid3.ID3v1SaveOptions.REMOVE,
            v2_version=version,
            v23_sep=sep,
            padding=lambda info: max(info.padding, 0),
        )
    except Exception:
        raise TagError("cannot convert ID3 tag: the tag is damaged") from None
    return buf.getvalue()


def _mutagen_genres(tag_bytes: bytes, field: str = GENRE) -> list[str]:
    from mutagen import id3 as mid3

    try:
        frame = mid3.ID3(io.BytesIO(tag_bytes)).get(_frame_id(field).decode())
    except Exception:
        return []
    return list(frame.text) if frame else []


def _refusal(field: Field) -> str | None:
    """Why a tag is not edited: one the byte-level editor declines would be rewritten whole
    (a compressed v2.2 tag, which nothing can edit in place, is converted instead)."""
    if "unsupported" in field and field.get("version") != 2:
        return (
            f"refused: the ID3 tag {field['unsupported']}, which tagger cannot edit "
            "without rewriting it"
        )
    return None


def _field(container: bytes | None, name: str = GENRE) -> Field:
    """``name``'s frames in the tag in ``container``, with what a write will need to undo."""
    return named(_frames(container, name), name)


def _frames(container: bytes | None, name: str) -> Field:
    if container is None:
        return {"family": "id3", "exists": False}
    tag_bytes = container[: tag_size(container[:10]) or len(container)]
    field: Field = {
        "family": "id3",
        "exists": True,
        "version": tag_bytes[3],
        "size": len(tag_bytes),
    }
    try:
        tag = parse(tag_bytes)
    except Unsupported as exc:
        tag, field["unsupported"] = None, str(exc)
    if tag is not None:
        field["frames"] = [[i, tag.frames[i].hex()] for i in genre_indices(tag, name)]
        return field
    # A write converts this tag (a compressed v2.2 one, to v2.3): keep the whole tag when it
    # is small and holds no picture, else only its genre values.
    if len(tag_bytes) <= _WHOLE_TAG_LIMIT and not _has_picture(tag_bytes):
        field["tag"] = tag_bytes.hex()
    else:
        field["values"] = _mutagen_genres(tag_bytes, name)
    return field


class ID3Family(TagFamily):
    """ID3v2: MP3 and ADTS AAC (a tag in front), WAV and AIFF (an ``ID3`` chunk)."""

    name = "id3"
    several = "values"

    def open(self, path: str, fmt: Format) -> Any:
        try:
            audio = self.mutagen_file(path, fmt)
        except mutagen.id3.ID3NoHeaderError:  # a bare ID3 reader (ADTS AAC) on an untagged file
            return None
        tags = audio if isinstance(audio, mutagen.id3.ID3) else audio.tags
        if fmt.container == "riff":
            with open(path, "rb") as f:
                info = read_info(f)
            if info:
                return _SideTags(tags, {k: [v] for k, v in info.items()}, "info")
        if fmt.name == "mp3":
            ape = _read_ape(path)
            if ape:
                return _SideTags(tags, ape, "ape")
        return tags

    def values(self, tags: Any, field: str) -> list[str]:
        if isinstance(tags, _SideTags):  # ID3's, else those of the tag beside it
            key = getattr(field_named(field), tags.column)
            return self.values(tags.id3, field) or tags.texts.get(key or "", [])
        if field == "genre":  # TCON's genres: "(17)" and ID3v1 numbers as names
            frame = tags.get(self.genre_key) if tags is not None else None
            return [g for g in frame.genres if g] if frame else []
        return super().values(tags, field)

    def joins(self, field: Field) -> bool:
        return field.get("version") in (2, 3)

    def _genres_in(self, field: Field) -> list[str] | None:
        if "frames" not in field:
            return None
        out: list[str] = []
        at = _header_len(field["version"])
        described = _description(field_of(field)) is not None  # TXXX: skip the description
        for _, hexframe in field["frames"]:
            parts = _split_text(bytes.fromhex(hexframe), at)
            if parts is None:
                return None
            out += parts[1][1 if described else 0 :]
        return out

    def read(self, f: BinaryIO, fmt: Format, field: str = GENRE) -> Field:
        """The raw field (its frames) of the file's ID3v2 tag."""
        return _field(_Place(f, fmt).read(), field)

    def plan(self, f: BinaryIO, fmt: Format) -> str | None:
        """What a write changes beyond the genre frames, in words (None: nothing)."""
        field = self.read(f, fmt)
        if field.get("version") == 2 and "frames" not in field:
            return "compressed ID3v2.2 tag will become ID3v2.3"
        return None

    def refuse(self, f: BinaryIO, fmt: Format) -> str | None:
        field = self.read(f, fmt)
        return _refusal(field)

    def write(
        self,
        f: BinaryIO,
        fmt: Format,
        genres: list[str],
        id3v23: bool,
        sep: str,
        field: str = GENRE,
    ) -> Field:
        """Replace the field's frames (a new tag when there is none); returns the field before."""
        name = field
        place = _Place(f, fmt)
        container = place.read()
        raw = _field(container, name)
        refused = _refusal(raw)
        if refused:
            raise TagError(refused)
        if container is None:
            tag = empty(3 if id3v23 else 4)
            size, rest = None, b""
        else:
            tag_bytes = container[: raw["size"]]
            rest = container[len(tag_bytes) :]
            if "frames" in raw:
                tag = parse(tag_bytes)
                if tag.junk:  # a damaged frame or a wrong tag size: what it is, no one knows
                    raise TagError(
                        f"refused: the ID3 tag holds {len(tag.junk):,} bytes that are not "
                        "frames, so the edit could move them"
                    )
            else:  # a compressed v2.2 tag becomes v2.3, through mutagen (see ``plan``)
                tag = parse(_converted(tag_bytes, 3, sep))
            size = tag.size
        old = [tag.frames[i] for i in genre_indices(tag, name)]
        new = [genre_frame(tag, genres, sep, old[0] if old else None, name)] if genres else []
        place.write(render(replace_genre(tag, new, None, name), size) + rest)
        return raw

    def restore(self, f: BinaryIO, fmt: Format, field: Field, sep: str) -> None:
        """Put back the field ``write`` returned, exactly; remove a tag the write created (when
        it holds nothing else: another program may have added frames since)."""
        place = _Place(f, fmt)
        name = field_of(field)
        container = place.read()
        if not field["exists"]:
            _remove_created(place, container, name)
            return
        if container is None:
            raise TagError("the ID3 tag tagger wrote is gone")
        tag_len = tag_size(container[:10]) or len(container)
        rest = container[tag_len:]
        if "tag" in field:
            place.write(bytes.fromhex(field["tag"]) + rest)
            return
        try:
            tag = parse(container[:tag_len])
        except Unsupported as exc:
            raise TagError(f"cannot restore the genre: {exc}") from None
        frames = [bytes.fromhex(h) for _, h in field.get("frames", [])]
        places = [i for i, _ in field.get("frames", [])]
        values = field.get("values")
        if values is None and tag.version != field["version"]:
            # Re-saved in another version since (beets and Picard save v2.4 unless told):
            # the values, in a frame of the tag's own version.
            values = self._genres_in(field)
            if values is None:
                raise TagError(
                    f"cannot restore the {name}: the ID3 tag is now v2.{tag.version}, and its "
                    f"old v2.{field['version']} frame cannot be read"
                )
            places = places[:1]
        if values is not None:  # converted without a copy of the tag: the values, not the bytes
            same_header = _header_len(field["version"]) == _header_len(tag.version)
            old_frame = frames[0] if frames and same_header else None  # its text encoding
            frames = [genre_frame(tag, values, sep, old_frame, name)] if values else []
        place.write(render(replace_genre(tag, frames, places or None, name), field["size"]) + rest)


@dataclass(frozen=True)
class _SideTags:
    """A file's ID3 tag (mutagen's, None when it has none) and the texts of the tag kept
    beside it, read where ID3 does not hold a field: a WAV file's INFO chunk (``column``
    ``info``), an MP3's APEv2 tag (``ape``), each key of that column in the field table."""

    id3: Any
    texts: dict[str, list[str]]
    column: str


def _read_ape(path: str) -> dict[str, list[str]]:
    """An MP3's APEv2 text items (MP3Tag and foobar2000 write one, often with no ID3 genre
    beside it), keyed as ``FIELDS``' ``ape`` column spells them; empty when there is none
    or it cannot be read (a damaged APE tag is not tagger's to judge: ID3 still counts)."""
    import mutagen.apev2

    try:
        ape = mutagen.apev2.APEv2(path)
    except (mutagen.MutagenError, OSError, ValueError):
        return {}
    keys = {f.ape.casefold(): f.ape for f in FIELDS if f.ape}
    out = {}
    for key, value in ape.items():
        if key.casefold() in keys and isinstance(value, mutagen.apev2.APETextValue):
            texts = [t for t in value if t.strip()]
            if texts:
                out[keys[key.casefold()]] = texts
    return out


def _remove_created(place: _Place, container: bytes | None, name: str) -> None:
    """Undo a write that created the tag: the tag goes, unless it holds other frames now (a
    title another program added since), which stay, in a tag without the field's frames."""
    if container is None:
        return
    tag_len = tag_size(container[:10]) or len(container)
    try:
        tag = parse(container[:tag_len])
    except Unsupported:
        tag = None
    if tag is None or len(genre_indices(tag, name)) == len(tag.frames):
        place.write(None)
        return
    place.write(render(replace_genre(tag, [], None, name), tag.size) + container[tag_len:])


FAMILY = ID3Family()
