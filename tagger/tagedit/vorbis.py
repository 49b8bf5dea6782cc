"""The genre in Vorbis comments (FLAC, Ogg Vorbis, Opus): only the ``GENRE`` pairs change.

The comment block is edited as bytes: the vendor string and every other pair
keep their bytes and positions, the genre pairs are replaced where the first
one was, with the key spelled as it was (``GENRE``, ``genre``...), or added at
the end.  FLAC: every other metadata block is copied byte for byte (even a
comment or picture block whose declared size is wrong, which FLAC's reference
decoder and mutagen read by their contents), and the padding block absorbs the
change in size.  Ogg: the comment packet keeps its length where its trailing
zero padding allows; mutagen re-pages it (sequence numbers, checksums).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from mutagen._util import resize_bytes

from ..errors import TagError
from ..formats import Format
from . import Field
from .id3 import tag_size


def _split(block: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(vendor string with its length, the raw pairs, what follows them)."""
    n = int.from_bytes(block[:4], "little")
    pos = 4 + n
    count = int.from_bytes(block[pos : pos + 4], "little")
    pos += 4
    pairs = []
    for _ in range(count):
        n = int.from_bytes(block[pos : pos + 4], "little")
        if pos + 4 + n > len(block):
            raise TagError("damaged Vorbis comment block")
        pairs.append(block[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return block[: 4 + int.from_bytes(block[:4], "little")], pairs, block[pos:]


def _join(vendor: bytes, pairs: list[bytes], after: bytes) -> bytes:
    return (
        vendor
        + struct.pack("<I", len(pairs))
        + b"".join(struct.pack("<I", len(p)) + p for p in pairs)
        + after
    )


def _is_genre(pair: bytes) -> bool:
    return pair.split(b"=", 1)[0].lower() == b"genre"


def _edit_pairs(
    block: bytes | None, genres: list[str] | None, restore: list | None, framing: bool
) -> bytes:
    """A comment block with its genre pairs replaced (``genres``) or put back (``restore``)."""
    if block is None:
        block = _join(struct.pack("<I", 6) + b"tagger", [], b"\x01" if framing else b"")
    vendor, pairs, after = _split(block)
    old = [i for i, p in enumerate(pairs) if _is_genre(p)]
    kept = [p for i, p in enumerate(pairs) if i not in old]
    if restore is not None:
        for i, hexpair in sorted(restore):
            kept.insert(min(i, len(kept)), bytes.fromhex(hexpair))
        return _join(vendor, kept, after)
    key = pairs[old[0]].split(b"=", 1)[0] if old else b"GENRE"
    at = old[0] if old else len(kept)
    new = [key + b"=" + g.encode("utf-8") for g in genres or []]
    return _join(vendor, kept[:at] + new + kept[at:], after)


def _field(block: bytes | None, **layout) -> Field:
    if block is None:
        return {"family": "vorbis", "exists": False, **layout}
    _, pairs, _ = _split(block)
    return {
        "family": "vorbis",
        "exists": True,
        **layout,
        "pairs": [[i, p.hex()] for i, p in enumerate(pairs) if _is_genre(p)],
    }


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
def _real_size(f: BinaryIO, kind: int, declared: int) -> int:
    """The true length of the comment or picture block at ``f``'s position.

    Some writers store a wrong size for these two blocks; FLAC's reference
    decoder (and mutagen) read them by their contents, and so does this (the
    wrong declared size is kept as it was).  Other blocks: their declared size.
    """
    start = f.tell()

    def length(order: str) -> int:
        raw = f.read(4)
        if len(raw) < 4:
            raise EOFError
        return int.from_bytes(raw, order)  # type: ignore[arg-type]

    try:
        if kind == 4:
            f.seek(length("little"), 1)  # vendor string
            for _ in range(length("little")):
                f.seek(length("little"), 1)
        elif kind == 6:
            f.seek(4, 1)  # picture type
            f.seek(length("big"), 1)  # MIME type
            f.seek(length("big"), 1)  # description
            f.seek(16, 1)  # width, height, depth, colours
            f.seek(length("big"), 1)  # the picture
        else:
            return declared
        return f.tell() - start
    except EOFError:
        return declared
    finally:
        f.seek(start)


def _flac_blocks(f: BinaryIO) -> tuple[int, int, list[list]]:
    """(offset of ``fLaC``, metadata length, blocks as [kind, data, declared size])."""
    f.seek(0)
    start = tag_size(f.read(10)) or 0
    f.seek(start)
    if f.read(4) != b"fLaC":
        raise TagError("not a FLAC stream")
    blocks, length = [], 0
    while True:
        head = f.read(4)
        if len(head) < 4:
            raise TagError("truncated FLAC metadata")
        declared = int.from_bytes(head[1:], "big")
        kind = head[0] & 0x7F
        size = max(declared, _real_size(f, kind, declared))  # too short: read by contents
        data = f.read(size)
        if len(data) < size:
            raise TagError("truncated FLAC metadata")
        blocks.append([kind, data, declared])
        length += 4 + size
        if head[0] & 0x80:
            return start, length, blocks


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
    return _field(vc[1] if vc else None, **layout)


def _flac_change(
    f: BinaryIO,
    edit: Callable[[bytes | None], bytes | None],
    padding: int | None,
    declared: int | None = None,
) -> Field:
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
    head = first.packets[0] if first.packets else b""
    magic = next((m for m in _OGG_COMMENT if head.startswith(m)), None)
    if magic is None:
        raise TagError("Ogg stream without Vorbis or Opus comments")
    prefix, framing = _OGG_COMMENT[magic]
    page = first
    while page.serial != first.serial or not page.packets or not page.packets[0].startswith(prefix):
        page = OggPage(f)
    old_pages = [page]
    while not (old_pages[-1].complete or len(old_pages[-1].packets) > 1):
        page = OggPage(f)
        if page.serial == old_pages[0].serial:
            old_pages.append(page)
    return old_pages, OggPage.to_packets(old_pages, strict=False), prefix, framing


def _ogg_change(
    f: BinaryIO, edit: Callable[[bytes | None], bytes | None], length: int | None
) -> Field:
    from mutagen.ogg import OggPage

    old_pages, packets, prefix, framing = _ogg_comment(f)
    old = packets[0][len(prefix) :]
    field = _field(old, length=len(packets[0]))
    new = edit(old)
    if new is None:
        raise TagError("an Ogg stream cannot lose its comment packet")
    target = length if length is not None else len(packets[0])
    packets[0] = _fit(
        prefix + new, target, lambda core: core.endswith(b"\x01") if framing else True
    )
    new_pages = OggPage._from_packets_try_preserve(packets, old_pages)
    OggPage.replace(f, old_pages, new_pages)
    return field


def read(f: BinaryIO, fmt: Format) -> Field:
    """The genre pairs of the comment block or packet, with the layout undo needs."""
    if fmt.name == "flac":
        return _flac_field(_flac_blocks(f)[2])
    _, packets, prefix, _ = _ogg_comment(f)
    return _field(packets[0][len(prefix) :], length=len(packets[0]))


def plan(f: BinaryIO, fmt: Format) -> str | None:
    return None


def write(
    f: BinaryIO, fmt: Format, genres: list[str], id3v23: bool = False, sep: str = "; "
) -> Field:
    """Replace the genre pairs; returns the field before."""
    framing = fmt.name == "ogg"
    edit = lambda block: _edit_pairs(block, genres, None, framing)  # noqa: E731
    if fmt.name == "flac":
        return _flac_change(f, edit, None)
    return _ogg_change(f, edit, None)


def restore(f: BinaryIO, fmt: Format, field: Field, sep: str = "; ") -> None:
    """Put back the pairs ``write`` returned, at their positions; remove a block it created."""
    framing = fmt.name == "ogg"

    def edit(block: bytes | None) -> bytes | None:
        if not field["exists"]:
            return None if fmt.name == "flac" else _edit_pairs(block, None, [], framing)
        return _edit_pairs(block, None, field["pairs"], framing)

    if fmt.name == "flac":
        _flac_change(f, edit, field.get("padding"), field.get("declared"))
    else:
        _ogg_change(f, edit, field.get("length"))
