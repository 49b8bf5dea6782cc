"""A field in ASF (WMA): only its descriptors change (``WM/Genre``, ``WM/BeatsPerMinute``).

The extended content description object is edited as bytes: every other
descriptor keeps its bytes and place, every other header object is copied as
it is.  A padding object in the header extension absorbs the change in size;
otherwise the header grows and the file properties object's file-size field
moves by as much (relative to its stored value, which some writers get wrong).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from mutagen._util import resize_bytes

from ..errors import TagError
from . import GENRE, Field, TagFamily, field_of, named

if TYPE_CHECKING:
    from ..formats import Format

_ASF_FILE_PROPERTIES = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
_ASF_EXT_CONTENT = bytes.fromhex("40a4d0d207e3d21197f000a0c95ea850")
_ASF_HEADER_EXT = bytes.fromhex("b503bf5f2ea9cf118ee300c00c205365")
_ASF_PADDING = bytes.fromhex("74d40618dfca0945a4ba9aabcb96aae8")


def _objects(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 24 <= len(data):
        size = int.from_bytes(data[pos + 16 : pos + 24], "little")
        if size < 24 or pos + size > len(data):
            raise TagError("damaged ASF header")
        out.append(data[pos : pos + size])
        pos += size
    return out


def _object(guid: bytes, body: bytes) -> bytes:
    return guid + (24 + len(body)).to_bytes(8, "little") + body


def _descriptors(body: bytes) -> list[bytes]:
    count, pos, out = int.from_bytes(body[:2], "little"), 2, []
    for _ in range(count):
        n = int.from_bytes(body[pos : pos + 2], "little")
        vlen = int.from_bytes(body[pos + 4 + n : pos + 6 + n], "little")
        out.append(body[pos : pos + 6 + n + vlen])
        pos += 6 + n + vlen
    return out


def _is_genre(descriptor: bytes, key: str) -> bool:
    n = int.from_bytes(descriptor[:2], "little")
    return descriptor[2 : 2 + n].decode("utf-16-le", "replace").rstrip("\x00") == key


def _descriptor(key: str, value: str) -> bytes:
    name = (key + "\x00").encode("utf-16-le")
    data = (value + "\x00").encode("utf-16-le")
    return (
        len(name).to_bytes(2, "little")
        + name
        + b"\x00\x00"  # type 0: a string
        + len(data).to_bytes(2, "little")
        + data
    )


def _scan(f: BinaryIO, key: str) -> tuple[bytes, list[bytes], int | None, Field]:
    """(header object, its child objects, the extended content object's index, the field)."""
    f.seek(0)
    head = f.read(30)
    size = int.from_bytes(head[16:24], "little")
    header = head + f.read(size - 30)
    children = _objects(header[30:])
    ecd = next((i for i, o in enumerate(children) if o[:16] == _ASF_EXT_CONTENT), None)
    descriptors = _descriptors(children[ecd][24:]) if ecd is not None else []
    field: Field = {
        "family": "asf",
        "exists": ecd is not None,
        "descriptors": [[i, d.hex()] for i, d in enumerate(descriptors) if _is_genre(d, key)],
    }
    return header, children, ecd, field


class ASFFamily(TagFamily):
    """ASF (WMA): descriptors of the extended content description object."""

    name = "asf"
    several = "values"

    def _genres_in(self, field: Field) -> list[str] | None:
        out = []
        for _, h in field["descriptors"]:
            d = bytes.fromhex(h)
            n = int.from_bytes(d[:2], "little")
            if d[2 + n : 4 + n] != b"\x00\x00":
                return None  # not a string descriptor
            try:
                out.append(d[6 + n :].decode("utf-16-le").rstrip("\x00"))
            except UnicodeDecodeError:
                return None
        return out

    def read(self, f: BinaryIO, fmt: Format, field: str = GENRE) -> Field:
        """The field's descriptors with their positions."""
        return named(_scan(f, self.key(field))[-1], field)

    def write(
        self,
        f: BinaryIO,
        fmt: Format,
        genres: list[str],
        id3v23: bool = False,
        sep: str = "; ",
        field: str = GENRE,
    ) -> Field:
        """Replace the field's descriptors (one per value); returns the field before."""
        return named(_change(f, self.key(field), genres, None), field)

    def restore(self, f: BinaryIO, fmt: Format, field: Field, sep: str = "; ") -> None:
        """Put back the descriptors ``write`` returned; remove the object it created."""
        _change(f, self.key(field_of(field)), None, field)


def _change(f: BinaryIO, key: str, genres: list[str] | None, restore: Field | None) -> Field:
    """Swap the ``key`` descriptors of the extended content description object.

    Every other object and attribute keeps its bytes; a padding object in the
    header extension absorbs the change in size where it can; otherwise the
    header and the file-size field of the file properties object follow.
    """
    header, children, ecd, field = _scan(f, key)
    descriptors = _descriptors(children[ecd][24:]) if ecd is not None else []
    old = [i for i, d in enumerate(descriptors) if _is_genre(d, key)]
    kept = [d for i, d in enumerate(descriptors) if i not in old]
    if restore is not None:
        for i, h in sorted(restore["descriptors"]):
            kept.insert(min(i, len(kept)), bytes.fromhex(h))
        new_desc = kept
    else:
        at = old[0] if old else len(kept)
        new_desc = kept[:at] + [_descriptor(key, g) for g in genres or []] + kept[at:]
    body = len(new_desc).to_bytes(2, "little") + b"".join(new_desc)
    new_children = list(children)
    if restore is not None and not restore["exists"] and not new_desc:
        if ecd is not None:  # created by the write, and nothing else was added since
            new_children.pop(ecd)
    elif ecd is None:
        new_children.append(_object(_ASF_EXT_CONTENT, body))
    else:
        new_children[ecd] = _object(_ASF_EXT_CONTENT, body)
    delta = sum(map(len, new_children)) - sum(map(len, children))
    new_children = _absorb(new_children, delta)
    count = int.from_bytes(header[24:28], "little") + len(new_children) - len(children)
    new_body = b"".join(new_children)
    new_header = (
        header[:16]
        + (30 + len(new_body)).to_bytes(8, "little")
        + count.to_bytes(4, "little")
        + header[28:30]
        + new_body
    )
    grow = len(new_header) - len(header)
    if grow:  # the file-size field moves by as much (kept relative: some writers get it wrong)
        new_children = [
            o[:40] + (int.from_bytes(o[40:48], "little") + grow).to_bytes(8, "little") + o[48:]
            if o[:16] == _ASF_FILE_PROPERTIES
            else o
            for o in new_children
        ]
        new_header = new_header[:30] + b"".join(new_children)
    resize_bytes(f, len(header), len(new_header), 0)
    f.seek(0)
    f.write(new_header)
    return field


def _absorb(children: list[bytes], delta: int) -> list[bytes]:
    """Let the header extension's padding object take up ``delta`` bytes, if it has them."""
    out = []
    for o in children:
        if o[:16] == _ASF_HEADER_EXT and delta:
            inner = _objects(o[46:])
            pad = next((i for i, x in enumerate(inner) if x[:16] == _ASF_PADDING), None)
            if pad is not None and len(inner[pad]) - 24 - delta >= 0:
                inner[pad] = _object(_ASF_PADDING, b"\x00" * (len(inner[pad]) - 24 - delta))
                data = b"".join(inner)
                o = (
                    o[:16]
                    + (46 + len(data)).to_bytes(8, "little")
                    + o[24:42]
                    + len(data).to_bytes(4, "little")
                    + data
                )
                delta = 0
        out.append(o)
    return out


FAMILY = ASFFamily()
