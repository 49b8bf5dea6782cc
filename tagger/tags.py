"""Read and write the genre field of a file, changing nothing else, and put it back exactly.

Where each format keeps its genre is declared once in ``tagger.formats``.  A
write edits only that field, at the byte level, in each tag family:

* **ID3v2** (MP3, and the ID3 chunk of WAV/AIFF): only the ``TCON`` frames
  are replaced (``tagger.id3edit``); every other frame keeps its bytes, the
  version stays (v2.3 stays v2.3), the ID3v1 block and APEv2 tags are never
  touched.  v2.2, which nothing writes any more, becomes v2.3.  A file with no
  ID3v2 tag gets one holding only the genre (v2.4, or v2.3 with ``id3v23``).
* **Vorbis comments** (FLAC block, Ogg Vorbis/Opus packet): only the
  ``GENRE`` pairs are replaced, in place, with the key spelled as it was; the
  vendor string, every other pair and its position stay.  FLAC's other
  blocks (pictures, STREAMINFO, ...) are copied byte for byte.
* **MP4** (``ilst``): only the ``©gen``/``gnre`` items; every other item
  keeps its bytes and order.  **ASF**: only ``WM/Genre``.

Tags keep their size where their padding allows, so most writes change only
the tag's bytes inside the file and are done in place with one ``pwrite``
(atomic for a killed process): symlinks, hard links, owner, group, mode,
extended attributes and ACLs are untouched.  A write that changes the file's
size is made on a temporary copy beside the real file (a symlink is
followed), which gets the original's owner, group, mode and extended
attributes (ACLs included) and is renamed over it; a file with several hard
links is then skipped, since a rename would split them.

``read_field`` returns the raw genre field and how it sat in the file (the
exact frames or pairs, their positions, the ID3 version, whether the tag
container existed): small, JSON-ready, never pictures or audio.  The journal
keeps it; ``restore_field`` puts exactly that back, removing a container the
write created.
"""
from __future__ import annotations

import importlib
import io
import os
import shutil
import stat
import struct
import tempfile
from typing import Any, BinaryIO, Callable

import mutagen
from mutagen._util import delete_bytes, resize_bytes

from . import id3edit
from .errors import one_line
from .formats import BY_NAME, Format, sniff

Field = dict[str, Any]  # the raw genre field, JSON-ready (bytes as hex)

# The whole original tag is journaled only when a write must convert it (ID3v2.2, or a tag
# the byte-level editor declines): never one holding pictures, never a large one.
_WHOLE_TAG_LIMIT = 64 * 1024


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason."""


# --- opening ---------------------------------------------------------------------------------
def _format(path: str, fmt_name: str | None) -> Format:
    fmt = BY_NAME.get(fmt_name) if fmt_name else sniff(path)
    if fmt is None or fmt.tag_family is None:
        raise TagError(f"no genre tag support for format {fmt.name if fmt else 'unknown'}")
    return fmt


def _mutagen(fmt: Format, path: str):
    """The file through the format's mutagen class (named by the format, never by file name)."""
    module, _, cls = (fmt.tag_class or "").rpartition(".")
    try:
        audio = getattr(importlib.import_module(module), cls)(path)
    except PermissionError:
        raise TagError("permission denied") from None
    except FileNotFoundError:
        raise TagError("file not found") from None
    except Exception as exc:  # mutagen raises many types for damaged headers
        raise TagError(f"cannot read tags: {one_line(exc)}") from None
    return audio


def read_genres(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The genre values in the file as a player shows them (empty list if none).

    For MP3 this is mutagen's view, which includes an ID3v1 genre: a file whose
    only genre is in ID3v1 counts as having one.
    """
    path = os.fspath(path)
    tag_format = _format(path, fmt)
    audio = _mutagen(tag_format, path)
    if tag_format.tag_family == "id3":
        frame = audio.tags.get("TCON") if audio.tags is not None else None
        return [g for g in frame.genres if g] if frame else []
    if tag_format.tag_family == "vorbis":
        return [v for k, v in (audio.tags or []) if k.lower() == "genre" and v]
    values = audio.tags.get(tag_format.genre_key) if audio.tags is not None else None
    if tag_format.tag_family == "mp4" and not values and audio.tags is not None:
        values = audio.tags.get("gnre")
    return [str(v) for v in values or [] if str(v)]


# --- ID3v2, where it sits ------------------------------------------------------------------
class _Id3Place:
    """The ID3v2 tag's bytes in a file: at its start (MP3) or in its ID3 chunk (WAV/AIFF)."""

    def __init__(self, f: BinaryIO, fmt: Format):
        self.f, self.fmt = f, fmt
        self.iff = None
        if fmt.name in ("wav", "aiff"):
            from mutagen.aiff import AIFFFile
            from mutagen.wave import _WaveFile

            f.seek(0)
            self.iff, self.cid = (_WaveFile(f), "id3") if fmt.name == "wav" else (AIFFFile(f), "ID3")

    def read(self) -> bytes | None:
        """The container's bytes (the tag and anything its chunk holds after it), None if none."""
        if self.iff is not None:
            return self.iff[self.cid].read() if self.cid in self.iff else None
        self.f.seek(0)
        size = id3edit.tag_size(self.f.read(10))
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
    from mutagen import id3

    try:
        tags = id3.ID3(io.BytesIO(tag_bytes))
    except Exception:
        return True  # cannot tell: assume it has one, never copy it
    return bool(tags.getall("APIC"))


def _converted(raw: bytes, version: int, sep: str) -> bytes:
    """A tag the byte-level editor declines, re-written by mutagen as ``version`` (3 or 4)."""
    from mutagen import id3

    buf = io.BytesIO(raw)
    try:
        tags = id3.ID3(buf)
        tags.save(buf, v1=id3.ID3v1SaveOptions.REMOVE, v2_version=version, v23_sep=sep,
                  padding=lambda info: max(info.padding, 0))
    except Exception as exc:
        raise TagError(f"cannot convert ID3 tag: {one_line(exc)}") from None
    return buf.getvalue()


def _mutagen_genres(tag_bytes: bytes) -> list[str]:
    from mutagen import id3

    try:
        frame = id3.ID3(io.BytesIO(tag_bytes)).get("TCON")
    except Exception:
        return []
    return list(frame.text) if frame else []


def _id3_field(container: bytes | None) -> Field:
    """The genre frames of the tag in ``container``, with what a write will need to undo."""
    if container is None:
        return {"family": "id3", "exists": False}
    tag_bytes = container[:id3edit.tag_size(container[:10]) or len(container)]
    field: Field = {"family": "id3", "exists": True, "version": tag_bytes[3], "size": len(tag_bytes)}
    try:
        tag = id3edit.parse(tag_bytes)
    except id3edit.Unsupported as exc:
        tag, field["unsupported"] = None, str(exc)
    if tag is not None and tag.version != 2:
        field["frames"] = [[i, tag.frames[i].hex()] for i in id3edit.genre_indices(tag)]
        return field
    # A write converts this tag (v2.2 -> v2.3, or through mutagen): keep the whole tag when it
    # is small and holds no picture, else only its genre values.
    if len(tag_bytes) <= _WHOLE_TAG_LIMIT and not _has_picture(tag_bytes):
        field["tag"] = tag_bytes.hex()
    else:
        field["values"] = _mutagen_genres(tag_bytes)
    return field


def _id3_plan(container: bytes | None) -> str | None:
    field = _id3_field(container)
    if field.get("version") == 2:
        return "ID3v2.2 tag will become ID3v2.3"
    if "unsupported" in field:
        return f"ID3 tag will be rewritten by mutagen ({field['unsupported']})"
    return None


def _id3_write(f: BinaryIO, fmt: Format, genres: list[str], id3v23: bool, sep: str) -> Field:
    place = _Id3Place(f, fmt)
    container = place.read()
    field = _id3_field(container)
    if container is None:
        tag = id3edit.empty(3 if id3v23 else 4)
        size, rest = None, b""
    else:
        tag_bytes = container[:field["size"]]
        rest = container[len(tag_bytes):]
        if "frames" in field:
            tag = id3edit.parse(tag_bytes)
        else:  # v2.2 becomes v2.3; a tag the byte-level editor declines keeps its version
            version = 3 if field["version"] == 2 else field["version"]
            tag = id3edit.parse(_converted(tag_bytes, version, sep))
        size = tag.size
    old = [tag.frames[i] for i in id3edit.genre_indices(tag)]
    new = [id3edit.genre_frame(tag, genres, sep, old[0] if old else None)] if genres else []
    place.write(id3edit.render(id3edit.replace_genre(tag, new), size) + rest)
    return field


def _id3_restore(f: BinaryIO, fmt: Format, field: Field, sep: str) -> None:
    place = _Id3Place(f, fmt)
    if not field["exists"]:
        place.write(None)
        return
    container = place.read()
    if container is None:
        raise TagError("the ID3 tag tagger wrote is gone")
    tag_len = id3edit.tag_size(container[:10]) or len(container)
    rest = container[tag_len:]
    if "tag" in field:
        place.write(bytes.fromhex(field["tag"]) + rest)
        return
    try:
        tag = id3edit.parse(container[:tag_len])
    except id3edit.Unsupported as exc:
        raise TagError(f"cannot restore the genre: {exc}") from None
    if "values" in field:  # converted without a copy of the tag: the values, not the bytes
        values = field["values"]
        frames = [id3edit.genre_frame(tag, values, sep, None)] if values else []
        positions = None
    else:
        frames = [bytes.fromhex(h) for _, h in field["frames"]]
        positions = [i for i, _ in field["frames"]]
    place.write(id3edit.render(id3edit.replace_genre(tag, frames, positions), field["size"]) + rest)


# --- Vorbis comments ---------------------------------------------------------------------------
def _split_vorbis(block: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(vendor string with its length, the raw pairs, what follows them)."""
    n = int.from_bytes(block[:4], "little")
    pos = 4 + n
    count = int.from_bytes(block[pos:pos + 4], "little")
    pos += 4
    pairs = []
    for _ in range(count):
        n = int.from_bytes(block[pos:pos + 4], "little")
        if pos + 4 + n > len(block):
            raise TagError("damaged Vorbis comment block")
        pairs.append(block[pos + 4:pos + 4 + n])
        pos += 4 + n
    return block[:4 + int.from_bytes(block[:4], "little")], pairs, block[pos:]


def _join_vorbis(vendor: bytes, pairs: list[bytes], after: bytes) -> bytes:
    return vendor + struct.pack("<I", len(pairs)) + b"".join(
        struct.pack("<I", len(p)) + p for p in pairs) + after


def _is_genre(pair: bytes) -> bool:
    return pair.split(b"=", 1)[0].lower() == b"genre"


def _vorbis_edit(block: bytes | None, genres: list[str] | None, restore: list | None,
                 framing: bool) -> bytes:
    """A comment block with its genre pairs replaced (``genres``) or put back (``restore``)."""
    if block is None:
        block = _join_vorbis(struct.pack("<I", 6) + b"tagger", [], b"\x01" if framing else b"")
    vendor, pairs, after = _split_vorbis(block)
    old = [i for i, p in enumerate(pairs) if _is_genre(p)]
    kept = [p for i, p in enumerate(pairs) if i not in old]
    if restore is not None:
        for i, hexpair in sorted(restore):
            kept.insert(min(i, len(kept)), bytes.fromhex(hexpair))
        return _join_vorbis(vendor, kept, after)
    key = pairs[old[0]].split(b"=", 1)[0] if old else b"GENRE"
    at = old[0] if old else len(kept)
    new = [key + b"=" + g.encode("utf-8") for g in genres or []]
    return _join_vorbis(vendor, kept[:at] + new + kept[at:], after)


def _vorbis_field(block: bytes | None, **layout) -> Field:
    if block is None:
        return {"family": "vorbis", "exists": False, **layout}
    _, pairs, _ = _split_vorbis(block)
    return {"family": "vorbis", "exists": True, **layout,
            "pairs": [[i, p.hex()] for i, p in enumerate(pairs) if _is_genre(p)]}


def _fit(data: bytes, length: int | None, pad_ok: Callable[[bytes], bool]) -> bytes:
    """``data`` padded with zeros (or its zero padding trimmed) to ``length`` when possible."""
    if length is None:
        return data
    if len(data) < length:
        return data + b"\x00" * (length - len(data))
    core = data.rstrip(b"\x00")
    if len(data) > length and pad_ok(core) and len(core) <= length:
        return core + b"\x00" * (length - len(core))
    return data


# FLAC: metadata blocks edited as bytes; every block but the comment and padding kept as is.
def _real_size(kind: int, data: bytes, declared: int) -> int:
    """The true length of a comment or picture block whose declared size some writers get wrong.

    FLAC's reference decoder (and mutagen) parse these blocks by their contents;
    so does this, and keeps the wrong declared size as it was.
    """
    try:
        if kind == 4:
            pos = 4 + int.from_bytes(data[:4], "little")
            count = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
            for _ in range(count):
                pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
        elif kind == 6:
            pos = 4
            for _ in range(2):  # MIME type, description
                pos += 4 + int.from_bytes(data[pos:pos + 4], "big")
            pos += 16
            pos += 4 + int.from_bytes(data[pos:pos + 4], "big")
        else:
            return declared
    except (IndexError, ValueError):
        return declared
    return pos if pos <= len(data) else declared


def _flac_blocks(f: BinaryIO) -> tuple[int, int, list[list]]:
    """(offset of ``fLaC``, metadata length, blocks as [kind, data, declared size])."""
    f.seek(0)
    start = id3edit.tag_size(f.read(10)) or 0
    f.seek(start)
    if f.read(4) != b"fLaC":
        raise TagError("not a FLAC stream")
    rest = f.read()
    blocks, pos = [], 0
    while True:
        head = rest[pos:pos + 4]
        if len(head) < 4:
            raise TagError("truncated FLAC metadata")
        declared = int.from_bytes(head[1:], "big")
        kind = head[0] & 0x7F
        size = declared
        if kind in (4, 6):
            size = _real_size(kind, rest[pos + 4:pos + 4 + max(declared, 1 << 24)], declared)
        if pos + 4 + size > len(rest):
            raise TagError("truncated FLAC metadata")
        blocks.append([kind, rest[pos + 4:pos + 4 + size], declared])
        pos += 4 + size
        if head[0] & 0x80:
            return start, pos, blocks


def _flac_rewrite(f: BinaryIO, start: int, old_len: int, blocks: list[list]) -> None:
    out = bytearray()
    for i, (kind, data, declared) in enumerate(blocks):
        out += bytes([kind | (0x80 if i == len(blocks) - 1 else 0)])
        out += (declared if declared is not None else len(data)).to_bytes(3, "big") + data
    resize_bytes(f, old_len, len(out), start + 4)
    f.seek(start + 4)
    f.write(out)


def _flac_field(blocks: list[list]) -> Field:
    vc = next((b for b in blocks if b[0] == 4), None)
    pad = next((b for b in blocks if b[0] == 1), None)
    layout = {"padding": len(pad[1]) if pad else None}
    if vc is not None and vc[2] != len(vc[1]):
        layout["declared"] = vc[2]  # a wrong size, given back on undo
    return _vorbis_field(vc[1] if vc else None, **layout)


def _flac_change(f: BinaryIO, edit: Callable[[bytes | None], bytes | None],
                 padding: int | None, declared: int | None = None) -> Field:
    start, old_len, blocks = _flac_blocks(f)
    vc = next((b for b in blocks if b[0] == 4), None)
    pad = next((b for b in blocks if b[0] == 1), None)
    field = _flac_field(blocks)
    new = edit(vc[1] if vc else None)
    if new is None:
        blocks = [b for b in blocks if b is not vc]
    elif vc is None:
        blocks.insert(1, [4, new, None])
    else:
        vc[1], vc[2] = new, declared
    if pad is not None:
        others = sum(4 + len(b[1]) for b in blocks if b is not pad) + 4
        want = padding if padding is not None else old_len - others
        pad[1], pad[2] = b"\x00" * (want if want >= 0 else 1024), None
    _flac_rewrite(f, start, old_len, blocks)
    return field


# Ogg: the comment packet edited as bytes, re-paged by mutagen (which renumbers and checksums).
_OGG_COMMENT = {b"\x01vorbis": (b"\x03vorbis", True), b"OpusHead": (b"OpusTags", False)}


def _ogg_comment(f: BinaryIO) -> tuple[list, list[bytes], bytes, bool]:
    """(the pages holding the comment packet, their packets, the packet's magic, framing bit)."""
    from mutagen.ogg import OggPage

    f.seek(0)
    first = OggPage(f)
    magic = next((m for m in _OGG_COMMENT if first.packets and first.packets[0].startswith(m)), None)
    if magic is None:
        raise TagError("Ogg stream without Vorbis or Opus comments")
    prefix, framing = _OGG_COMMENT[magic]
    page = first
    while not (page.serial == first.serial and page.packets and page.packets[0].startswith(prefix)):
        page = OggPage(f)
    old_pages = [page]
    while not (old_pages[-1].complete or len(old_pages[-1].packets) > 1):
        page = OggPage(f)
        if page.serial == old_pages[0].serial:
            old_pages.append(page)
    return old_pages, OggPage.to_packets(old_pages, strict=False), prefix, framing


def _ogg_change(f: BinaryIO, edit: Callable[[bytes | None], bytes | None],
                length: int | None) -> Field:
    from mutagen.ogg import OggPage

    old_pages, packets, prefix, framing = _ogg_comment(f)
    old = packets[0][len(prefix):]
    field = _vorbis_field(old, length=len(packets[0]))
    new = edit(old)
    target = length if length is not None else len(packets[0])
    packets[0] = _fit(prefix + new, target, lambda core: core.endswith(b"\x01") if framing else True)
    new_pages = OggPage._from_packets_try_preserve(packets, old_pages)
    OggPage.replace(f, old_pages, new_pages)
    return field


def _vorbis_write(f: BinaryIO, fmt: Format, genres: list[str]) -> Field:
    framing = fmt.name == "ogg"
    edit = lambda block: _vorbis_edit(block, genres, None, framing)  # noqa: E731
    if fmt.name == "flac":
        return _flac_change(f, edit, None)
    return _ogg_change(f, edit, None)


def _vorbis_restore(f: BinaryIO, fmt: Format, field: Field) -> None:
    framing = fmt.name == "ogg"

    def edit(block: bytes | None) -> bytes | None:
        if not field["exists"]:
            return None if fmt.name == "flac" else _vorbis_edit(block, None, [], framing)
        return _vorbis_edit(block, None, field["pairs"], framing)

    if fmt.name == "flac":
        _flac_change(f, edit, field.get("padding"), field.get("declared"))
    else:
        _ogg_change(f, edit, field.get("length"))


# --- MP4 --------------------------------------------------------------------------------------
_MP4_GENRE = (b"\xa9gen", b"gnre")


def _mp4_items(ilst: bytes) -> list[bytes]:
    items, pos = [], 0
    while pos + 8 <= len(ilst):
        size = int.from_bytes(ilst[pos:pos + 4], "big")
        if size < 8 or pos + size > len(ilst):
            raise TagError("damaged MP4 item list")
        items.append(ilst[pos:pos + size])
        pos += size
    if pos != len(ilst):
        raise TagError("damaged MP4 item list")
    return items


def _atom(name: bytes, data: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(data), name) + data


def _mp4_free(meta, ilst):
    """The ``free`` atom right before or after ``ilst`` inside ``meta`` (its padding), if any."""
    i = meta.children.index(ilst)
    for j in (i - 1, i + 1):
        if 0 <= j < len(meta.children) and meta.children[j].name == b"free":
            return meta.children[j]
    return None


def _mp4_read(f: BinaryIO) -> tuple:
    """(atoms, path to ilst or None, the items as bytes, the free atom beside it, the field)."""
    from mutagen.mp4 import Atoms

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
        items = _mp4_items(f.read(ilst.length - (ilst._dataoffset - ilst.offset)))
        free = _mp4_free(apath[-2], ilst)
        field["free"] = free.length if free is not None else None
        if free is not None:  # the byte it is filled with (zeros, or ones from some encoders)
            f.seek(free._dataoffset)
            content = set(f.read(free.length - 8))
            field["fill"] = content.pop() if len(content) == 1 else 0
    field["items"] = [[i, it.hex()] for i, it in enumerate(items) if it[4:8] in _MP4_GENRE]
    return atoms, apath, items, free, field


def _mp4_change(path: str, fmt: Format, genres: list[str] | None, restore: Field | None) -> Field:
    """Swap the genre items of the ``ilst`` atom; every other item keeps its bytes and place.

    The ``free`` atom beside the list absorbs the change in size where it can
    (so the file keeps its size), and stays where it was; otherwise the
    enclosing atoms and the chunk offsets are updated (mutagen's own routines).
    """
    from mutagen.mp4 import MP4Tags

    with open(path, "rb+") as f:
        atoms, apath, items, free, field = _mp4_read(f)
        if apath is not None:
            ilst = apath[-1]
        old = [i for i, it in enumerate(items) if it[4:8] in _MP4_GENRE]
        kept = [it for i, it in enumerate(items) if i not in old]
        if restore is not None:
            for i, h in sorted(restore["items"]):
                kept.insert(min(i, len(kept)), bytes.fromhex(h))
            new_items, free_len = kept, restore.get("free")
            fill = restore.get("fill", 0)
        else:
            at = old[0] if old else len(kept)
            genre = _atom(b"\xa9gen", b"".join(_atom(b"data", struct.pack(">2I", 1, 0)
                                                     + g.encode("utf-8")) for g in genres or []))
            new_items, free_len = kept[:at] + ([genre] if genres else []) + kept[at:], None
            fill = field.get("fill", 0)
        ilst_data = _atom(b"ilst", b"".join(new_items))
        tags = MP4Tags()
        if apath is None:
            tags._MP4Tags__save(f, atoms, ilst_data, None)  # a new meta atom (udta if needed)
            return field
        start = min(ilst.offset, free.offset) if free is not None else ilst.offset
        length = ilst.length + (free.length if free is not None else 0)
        if free is not None and restore is None:
            room = length - len(ilst_data)
            free_len = room if room >= 8 else 8 + 1024
        if free_len is None:
            region = ilst_data
        else:
            pad = _atom(b"free", bytes([fill]) * (free_len - 8))
            region = pad + ilst_data if free is not None and free.offset < ilst.offset \
                else ilst_data + pad
        resize_bytes(f, length, len(region), start)
        f.seek(start)
        f.write(region)
        delta = len(region) - length
        tags._MP4Tags__update_parents(f, apath[:-1], delta)
        tags._MP4Tags__update_offsets(f, atoms, delta, start)
    return field


# --- ASF ----------------------------------------------------------------------------------------
_ASF_FILE_PROPERTIES = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
_ASF_EXT_CONTENT = bytes.fromhex("40a4d0d207e3d21197f000a0c95ea850")
_ASF_HEADER_EXT = bytes.fromhex("b503bf5f2ea9cf118ee300c00c205365")
_ASF_PADDING = bytes.fromhex("74d40618dfca0945a4ba9aabcb96aae8")


def _asf_objects(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos + 24 <= len(data):
        size = int.from_bytes(data[pos + 16:pos + 24], "little")
        if size < 24 or pos + size > len(data):
            raise TagError("damaged ASF header")
        out.append(data[pos:pos + size])
        pos += size
    return out


def _asf_object(guid: bytes, body: bytes) -> bytes:
    return guid + (24 + len(body)).to_bytes(8, "little") + body


def _asf_descriptors(body: bytes) -> list[bytes]:
    count, pos, out = int.from_bytes(body[:2], "little"), 2, []
    for _ in range(count):
        n = int.from_bytes(body[pos:pos + 2], "little")
        vlen = int.from_bytes(body[pos + 4 + n:pos + 6 + n], "little")
        out.append(body[pos:pos + 6 + n + vlen])
        pos += 6 + n + vlen
    return out


def _asf_is_genre(descriptor: bytes, key: str) -> bool:
    n = int.from_bytes(descriptor[:2], "little")
    return descriptor[2:2 + n].decode("utf-16-le", "replace").rstrip("\x00") == key


def _asf_descriptor(key: str, value: str) -> bytes:
    name = (key + "\x00").encode("utf-16-le")
    data = (value + "\x00").encode("utf-16-le")
    return len(name).to_bytes(2, "little") + name + b"\x00\x00" + len(data).to_bytes(2, "little") + data


def _asf_read(f: BinaryIO, key: str) -> tuple[bytes, list[bytes], int | None, Field]:
    """(header object, its child objects, the extended content object's index, the field)."""
    f.seek(0)
    head = f.read(30)
    size = int.from_bytes(head[16:24], "little")
    header = head + f.read(size - 30)
    children = _asf_objects(header[30:])
    ecd = next((i for i, o in enumerate(children) if o[:16] == _ASF_EXT_CONTENT), None)
    descriptors = _asf_descriptors(children[ecd][24:]) if ecd is not None else []
    field: Field = {"family": "asf", "exists": ecd is not None,
                    "descriptors": [[i, d.hex()] for i, d in enumerate(descriptors)
                                    if _asf_is_genre(d, key)]}
    return header, children, ecd, field


def _asf_change(path: str, fmt: Format, genres: list[str] | None, restore: Field | None) -> Field:
    """Swap the ``WM/Genre`` descriptors of the extended content description object.

    Every other object and attribute keeps its bytes; a padding object in the
    header extension absorbs the change in size where it can; otherwise the
    header and the file-size field of the file properties object follow.
    """
    key = fmt.genre_key or "WM/Genre"
    with open(path, "rb+") as f:
        header, children, ecd, field = _asf_read(f, key)
        descriptors = _asf_descriptors(children[ecd][24:]) if ecd is not None else []
        old = [i for i, d in enumerate(descriptors) if _asf_is_genre(d, key)]
        kept = [d for i, d in enumerate(descriptors) if i not in old]
        if restore is not None:
            for i, h in sorted(restore["descriptors"]):
                kept.insert(min(i, len(kept)), bytes.fromhex(h))
            new_desc = kept
        else:
            at = old[0] if old else len(kept)
            new_desc = kept[:at] + [_asf_descriptor(key, g) for g in genres or []] + kept[at:]
        body = len(new_desc).to_bytes(2, "little") + b"".join(new_desc)
        new_children = list(children)
        if restore is not None and not restore["exists"]:
            new_children.pop(ecd)
        elif ecd is None:
            new_children.append(_asf_object(_ASF_EXT_CONTENT, body))
        else:
            new_children[ecd] = _asf_object(_ASF_EXT_CONTENT, body)
        delta = sum(map(len, new_children)) - sum(map(len, children))
        new_children = _asf_absorb(new_children, delta)
        count = len(new_children)
        new_body = b"".join(new_children)
        new_header = header[:16] + (30 + len(new_body)).to_bytes(8, "little") + \
            count.to_bytes(4, "little") + header[28:30] + new_body
        grow = len(new_header) - len(header)
        if grow:  # the file-size field moves by as much (kept relative: some writers get it wrong)
            new_children = [o[:40] + (int.from_bytes(o[40:48], "little") + grow).to_bytes(8, "little")
                            + o[48:] if o[:16] == _ASF_FILE_PROPERTIES else o for o in new_children]
            new_header = new_header[:30] + b"".join(new_children)
        resize_bytes(f, len(header), len(new_header), 0)
        f.seek(0)
        f.write(new_header)
    return field


def _asf_absorb(children: list[bytes], delta: int) -> list[bytes]:
    """Let the header extension's padding object take up ``delta`` bytes, if it has them."""
    out = []
    for o in children:
        if o[:16] == _ASF_HEADER_EXT and delta:
            inner = _asf_objects(o[46:])
            pad = next((i for i, x in enumerate(inner) if x[:16] == _ASF_PADDING), None)
            if pad is not None and len(inner[pad]) - 24 - delta >= 0:
                inner[pad] = _asf_object(_ASF_PADDING, b"\x00" * (len(inner[pad]) - 24 - delta))
                data = b"".join(inner)
                o = o[:16] + (46 + len(data)).to_bytes(8, "little") + o[24:42] + \
                    len(data).to_bytes(4, "little") + data
                delta = 0
        out.append(o)
    return out


# --- one file, safely ----------------------------------------------------------------------------
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
        if os.stat(dst).st_gid != st.st_gid or os.stat(dst).st_uid != st.st_uid:
            raise TagError("cannot keep the file's owner and group (not permitted); "
                           "left unchanged") from None
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    if hasattr(os, "listxattr"):
        try:
            names = os.listxattr(src)
        except OSError:
            names = []
        for name in names:
            try:
                os.setxattr(dst, name, os.getxattr(src, name))
            except OSError as exc:
                raise TagError(f"cannot keep extended attribute {name} ({exc.strerror}); "
                               "left unchanged") from None


def _changed_range(a: str, b: str) -> tuple[int, bytes] | None:
    """Where two files of equal size differ: (offset, new bytes), None if identical."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        da, db = fa.read(), fb.read()
    if da == db:
        return None
    lo = next(i for i in range(len(da)) if da[i] != db[i]) if len(da) < 4096 else \
        _first_difference(da, db)
    hi = len(da) - _first_difference(da[::-1], db[::-1])
    return lo, db[lo:hi]


def _first_difference(a: bytes, b: bytes) -> int:
    lo, hi = 0, len(a)
    while hi - lo > 4096:  # bisect on equal prefixes, then scan
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo + next(i for i in range(hi - lo) if a[lo + i] != b[lo + i])


def _edit_file(path: str, fmt_name: str | None, change: Callable[[str, Format], Field]) -> Field:
    """Run ``change`` on a copy of the file, then bring the result onto the real file.

    Same size: the changed bytes are written in place with one ``pwrite``.
    Other size: the copy, with the original's identity, is renamed over it.
    """
    real, st = _real(path)
    fmt = _format(real, fmt_name)
    suffix = os.path.splitext(real)[1]
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tagger-", suffix=suffix, dir=os.path.dirname(real))
    except OSError as exc:
        raise TagError(f"cannot write in folder: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        shutil.copyfile(real, tmp)
        try:
            field = change(tmp, fmt)
        except (TagError, id3edit.Unsupported):
            raise
        except Exception as exc:
            raise TagError(f"cannot write tags: {one_line(exc)}") from None
        if os.path.getsize(tmp) == st.st_size:
            diff = _changed_range(real, tmp)
            if diff is not None:
                fd = os.open(real, os.O_WRONLY)
                try:
                    os.pwrite(fd, diff[1], diff[0])
                    os.fsync(fd)
                finally:
                    os.close(fd)
            return field
        if st.st_nlink > 1:
            raise TagError(f"has {st.st_nlink} hard links and its tag has no room to change in "
                           "place; skipped so that the links stay one file")
        _copy_identity(real, tmp, st)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, real)
        return field
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _family_change(genres: list[str] | None, restore: Field | None, id3v23: bool,
                   sep: str) -> Callable[[str, Format], Field]:
    def change(tmp: str, fmt: Format) -> Field:
        if fmt.tag_family in ("mp4", "asf"):
            editor = _mp4_change if fmt.tag_family == "mp4" else _asf_change
            if fmt.tag_family == "mp4" and restore is not None and not restore["exists"]:
                return _mp4_remove(tmp, restore.get("udta", True))
            return editor(tmp, fmt, genres, restore)
        with open(tmp, "rb+") as f:
            try:
                if fmt.tag_family == "id3":
                    if restore is None:
                        return _id3_write(f, fmt, genres or [], id3v23, sep)
                    _id3_restore(f, fmt, restore, sep)
                    return restore
                if restore is None:
                    return _vorbis_write(f, fmt, genres or [])
                _vorbis_restore(f, fmt, restore)
                return restore
            except mutagen.MutagenError as exc:
                raise TagError(f"cannot write tags: {one_line(exc)}") from None
    return change


def _mp4_remove(path: str, keep_udta: bool) -> Field:
    """Remove the ``meta`` atom a write created (and ``udta``, if it created that too)."""
    from mutagen.mp4 import Atoms, MP4Tags

    with open(path, "rb+") as f:
        atoms = Atoms(f)
        udta = atoms.path(b"moov", b"udta")
        meta = atoms.path(b"moov", b"udta", b"meta")[-1]
        gone, parents = (meta, udta) if keep_udta else (udta[-1], udta[:-1])
        delete_bytes(f, gone.length, gone.offset)
        tags = MP4Tags()
        tags._MP4Tags__update_parents(f, parents, -gone.length)
        tags._MP4Tags__update_offsets(f, atoms, -gone.length, gone.offset)
    return {"family": "mp4", "exists": False}


def read_field(path: str | os.PathLike, fmt: str | None = None) -> Field:
    """The raw genre field and how it sits in the file (what the journal keeps)."""
    real, _ = _real(os.fspath(path), writable=False)
    tag_format = _format(real, fmt)
    family = tag_format.tag_family
    try:
        with open(real, "rb") as f:
            if family == "id3":
                return _id3_field(_Id3Place(f, tag_format).read())
            if family == "vorbis" and tag_format.name == "flac":
                return _flac_field(_flac_blocks(f)[2])
            if family == "vorbis":
                _, packets, prefix, _ = _ogg_comment(f)
                return _vorbis_field(packets[0][len(prefix):], length=len(packets[0]))
            if family == "mp4":
                return _mp4_read(f)[-1]
            return _asf_read(f, tag_format.genre_key or "WM/Genre")[-1]
    except FileNotFoundError:
        raise TagError("file not found (moved or deleted since the scan)") from None
    except TagError:
        raise
    except Exception as exc:  # damaged structures: mutagen and struct raise many types
        raise TagError(f"cannot read tags: {one_line(exc)}") from None


def plan(path: str | os.PathLike, fmt: str | None = None) -> str | None:
    """What a write would change beyond the genre field (for ``--dry-run``), None if nothing."""
    path = os.fspath(path)
    tag_format = _format(path, fmt)
    if tag_format.tag_family != "id3":
        return None
    with open(path, "rb") as f:
        return _id3_plan(_Id3Place(f, tag_format).read())


def write_genres(path: str | os.PathLike, genres: list[str], fmt: str | None = None,
                 id3v23: bool = False, sep: str = "; ") -> Field:
    """Replace the file's genre values with ``genres`` (an empty list removes them).

    Returns the raw field as it was before (for the journal).
    """
    return _edit_file(os.fspath(path), fmt, _family_change(list(genres), None, id3v23, sep))


def restore_field(path: str | os.PathLike, field: Field, fmt: str | None = None,
                  sep: str = "; ") -> None:
    """Put back the raw genre field ``read_field``/``write_genres`` returned, exactly."""
    _edit_file(os.fspath(path), fmt, _family_change(None, field, False, sep))


def same_field(a: Field, b: Field) -> bool:
    """True when two fields hold the same genre bytes (layout hints aside)."""
    skip = {"padding", "length", "size", "tag", "free", "fill", "declared", "udta", "values"}
    return {k: v for k, v in a.items() if k not in skip} == \
        {k: v for k, v in b.items() if k not in skip}
