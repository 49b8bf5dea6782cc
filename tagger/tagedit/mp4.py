"""A field in MP4 (``ilst``): only its items change (``©gen``/``gnre``, ``tmpo``).

Every other item keeps its bytes and its place in the list.  The ``free``
atom beside ``ilst`` absorbs the change in size and stays where it was (with
the byte it was filled with); otherwise the enclosing atoms' sizes and the
chunk offset tables follow, through mutagen's own routines for that.  A file
without ``ilst`` gets one (mutagen's layout: ``meta`` with ``hdlr`` and
``ilst``, in ``udta``), and undo removes what was created.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, BinaryIO

from mutagen._util import delete_bytes, resize_bytes
from mutagen.mp4 import Atoms, MP4Tags

from ..errors import TagError
from . import GENRE, Field, TagFamily, check_values, field_named, field_of, named

if TYPE_CHECKING:
    from ..formats import Format


def _mutagen(name: str):
    """One of mutagen's private MP4 routines (atom sizes, chunk offsets, a new ``meta``)."""
    return getattr(MP4Tags(), f"_MP4Tags__{name}")


def _keys(field: str) -> tuple[bytes, ...]:
    """The item names ``field`` is read from; the first is the one written (an iTunes
    free-form item is named ``----:MEAN:NAME``)."""
    return tuple(k.encode("latin-1") for k in field_named(field).mp4)


def _children(item: bytes) -> list[bytes]:
    """The atoms inside an item (``mean``, ``name``, ``data``...); damaged: what parses."""
    out, pos = [], 8
    while pos + 8 <= len(item):
        size = int.from_bytes(item[pos : pos + 4], "big")
        if size < 8 or pos + size > len(item):
            break
        out.append(item[pos : pos + size])
        pos += size
    return out


def _is_key(item: bytes, key: bytes) -> bool:
    """Whether ``item`` is the one named ``key`` (a free-form one by its ``mean`` and ``name``)."""
    if not key.startswith(b"----:"):
        return item[4:8] == key
    if item[4:8] != b"----":
        return False
    names = {c[4:8]: c[12:] for c in _children(item) if c[4:8] in (b"mean", b"name")}
    return key == b"----:" + names.get(b"mean", b"") + b":" + names.get(b"name", b"")


def _item(key: bytes, data: bytes) -> bytes:
    """An item named ``key`` holding ``data`` (its data atoms)."""
    if not key.startswith(b"----:"):
        return _atom(key, data)
    mean, name = key[5:].split(b":", 1)
    version = b"\0" * 4
    return _atom(b"----", _atom(b"mean", version + mean) + _atom(b"name", version + name) + data)


_INTEGER = 21  # a data atom's type: a big-endian signed integer (``tmpo``)


def _items(ilst: bytes) -> list[bytes]:
    items, pos = [], 0
    while pos + 8 <= len(ilst):
        size = int.from_bytes(ilst[pos : pos + 4], "big")
        if size < 8 or pos + size > len(ilst):
            raise TagError("damaged MP4 item list")
        items.append(ilst[pos : pos + size])
        pos += size
    if pos != len(ilst):
        raise TagError("damaged MP4 item list")
    return items


def _atom(name: bytes, data: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(data), name) + data


def _free_beside(meta, ilst):
    """The ``free`` atom right before or after ``ilst`` inside ``meta`` (its padding), if any."""
    i = meta.children.index(ilst)
    for j in (i - 1, i + 1):
        if 0 <= j < len(meta.children) and meta.children[j].name == b"free":
            return meta.children[j]
    return None


def _scan(f: BinaryIO, name: str = GENRE) -> tuple:
    """(atoms, path to ilst or None, the items as bytes, the free atom beside it, the field)."""
    atoms = Atoms(f)
    try:
        apath = atoms.path(b"moov", b"udta", b"meta", b"ilst")
    except KeyError:
        apath = None
    field: Field = {"family": "mp4", "exists": apath is not None, "udta": b"moov.udta" in atoms}
    items: list[bytes] = []
    free = None
    if apath is not None:
        ilst = apath[-1]
        f.seek(ilst._dataoffset)
        items = _items(f.read(ilst.length - (ilst._dataoffset - ilst.offset)))
        free = _free_beside(apath[-2], ilst)
        field["free"] = free.length if free is not None else None
        if free is not None:  # the byte it is filled with (zeros, or ones from some encoders)
            f.seek(free._dataoffset)
            content = set(f.read(free.length - 8))
            field["fill"] = content.pop() if len(content) == 1 else 0
    keys = _keys(name)
    field["items"] = [
        [i, it.hex()] for i, it in enumerate(items) if any(_is_key(it, k) for k in keys)
    ]
    return atoms, apath, items, free, named(field, name)


class MP4Family(TagFamily):
    """MP4 (M4A, M4B): items of ``moov.udta.meta.ilst``."""

    name = "mp4"
    several = "values"

    def _genres_in(self, field: Field) -> list[str] | None:
        out: list[str] = []
        name = field_of(field)
        for _, h in field["items"]:
            item = bytes.fromhex(h)
            if not _is_key(item, _keys(name)[0]):
                return None  # a numeric gnre item
            pos = 8
            if item[4:8] == b"----":  # past its mean and name
                pos += sum(len(c) for c in _children(item) if c[4:8] in (b"mean", b"name"))
            while pos + 16 <= len(item):
                size = int.from_bytes(item[pos : pos + 4], "big")
                if size < 16 or item[pos + 4 : pos + 8] != b"data":
                    return None
                kind, value = (
                    int.from_bytes(item[pos + 8 : pos + 12], "big"),
                    item[pos + 16 : pos + size],
                )
                if kind == _INTEGER:
                    out.append(str(int.from_bytes(value, "big", signed=True)))
                else:
                    try:
                        out.append(value.decode("utf-8"))
                    except UnicodeDecodeError:
                        return None
                pos += size
        return out

    def read(self, f: BinaryIO, fmt: Format, field: str = GENRE) -> Field:
        """The field's items of ``ilst`` with their positions, and the padding beside it."""
        return _scan(f, field)[-1]

    def write(
        self,
        f: BinaryIO,
        fmt: Format,
        genres: list[str],
        id3v23: bool = False,
        sep: str = "; ",
        field: str = GENRE,
    ) -> Field:
        """Replace the field's items (one item, a value per genre; ``tmpo`` one 16-bit integer,
        as iTunes writes it); returns the field before."""
        if self.holds_number(field):
            check_values(field, genres)  # never an integer that wraps round
            values = [
                _INTEGER.to_bytes(4, "big") + b"\0" * 4 + int(v).to_bytes(2, "big") for v in genres
            ]
        else:
            values = [struct.pack(">2I", 1, 0) + g.encode("utf-8") for g in genres]
        item = _item(_keys(field)[0], b"".join(_atom(b"data", v) for v in values))
        return _change(
            f, lambda kept, at: kept[:at] + ([item] if genres else []) + kept[at:], None, field
        )

    def restore(self, f: BinaryIO, fmt: Format, field: Field, sep: str = "; ") -> None:
        """Put back the items ``write`` returned; remove the ``meta`` (and ``udta``) it created,
        when it holds nothing else."""
        name = field_of(field)
        if not field["exists"]:
            items = _scan(f, name)[2]
            if all(any(_is_key(it, k) for k in _keys(name)) for it in items):
                _remove_created(f, keep_udta=field.get("udta", True))
            else:  # another program added items since: they stay, in the list tagger made
                _change(f, lambda kept, at: kept, None, name)
            return

        def put_back(kept: list[bytes], at: int) -> list[bytes]:
            for i, h in sorted(field["items"]):
                kept.insert(min(i, len(kept)), bytes.fromhex(h))
            return kept

        _change(f, put_back, field, name)


def _change(f: BinaryIO, items_for, restore: Field | None, name: str = GENRE) -> Field:
    atoms, apath, items, free, field = _scan(f, name)
    keys = _keys(name)
    old = [i for i, it in enumerate(items) if any(_is_key(it, k) for k in keys)]
    kept = [it for i, it in enumerate(items) if i not in old]
    ilst_data = _atom(b"ilst", b"".join(items_for(kept, old[0] if old else len(kept))))
    if apath is None:
        _mutagen("save")(f, atoms, ilst_data, None)  # a new meta atom (and udta if needed)
        return field
    ilst = apath[-1]
    start = min(ilst.offset, free.offset) if free is not None else ilst.offset
    length = ilst.length + (free.length if free is not None else 0)
    if restore is not None:  # the padding as it was
        free_len, fill = restore.get("free"), restore.get("fill", 0)
    elif free is not None:  # the padding takes up the change where it can
        room = length - len(ilst_data)
        free_len, fill = (room if room >= 8 else 8 + 1024), field.get("fill", 0)
    else:
        free_len, fill = None, 0
    if free_len is None:
        region = ilst_data
    else:
        pad = _atom(b"free", bytes([fill]) * (free_len - 8))
        before = free is not None and free.offset < ilst.offset
        region = pad + ilst_data if before else ilst_data + pad
    resize_bytes(f, length, len(region), start)
    f.seek(start)
    f.write(region)
    delta = len(region) - length
    _mutagen("update_parents")(f, apath[:-1], delta)
    _mutagen("update_offsets")(f, atoms, delta, start)
    return field


def _remove_created(f: BinaryIO, keep_udta: bool) -> None:
    """Remove the ``meta`` atom a write created (and ``udta``, if it created that too)."""
    atoms = Atoms(f)
    try:
        udta = atoms.path(b"moov", b"udta")
        meta = atoms.path(b"moov", b"udta", b"meta")[-1]
    except KeyError:
        raise TagError("the MP4 tag tagger wrote is gone") from None
    keep_udta = keep_udta or len(udta[-1].children or []) > 1  # udta holds more now
    gone, parents = (meta, udta) if keep_udta else (udta[-1], udta[:-1])
    delete_bytes(f, gone.length, gone.offset)
    _mutagen("update_parents")(f, parents, -gone.length)
    _mutagen("update_offsets")(f, atoms, -gone.length, gone.offset)


FAMILY = MP4Family()
