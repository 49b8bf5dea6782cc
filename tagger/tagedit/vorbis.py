"""A field in Vorbis comments (FLAC, Ogg Vorbis/Opus/FLAC): only its pairs change (``GENRE=``,
``BPM=``).

The comment block is edited as bytes: the vendor string and every other pair
keep their bytes and positions, the field's pairs are replaced where the first
one was, with the key spelled as it was (``GENRE``, ``genre``...), or added at
the end.  FLAC: every other metadata block is copied byte for byte (even a
comment or picture block whose declared size is wrong, which FLAC's reference
decoder and mutagen read by their contents), and the padding block absorbs the
change in size.  Ogg: the comment packet keeps its length where its trailing
zero padding allows; mutagen re-pages it (sequence numbers, checksums).  The
comments edited are those of the file's audio stream, wherever it is: an Ogg
file whose first stream is Theora video has its Vorbis stream's comments
written, the ones players show for the audio.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from mutagen._util import resize_bytes

from ..errors import TagError
from . import GENRE, Field, TagFamily, field_named, field_of, named
from .id3 import tag_size

if TYPE_CHECKING:
    from ..formats import Format


def _split(block: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(vendor string with its length, the raw pairs, what follows them)."""
    vendor = 4 + int.from_bytes(block[:4], "little")
    pos = vendor
    if len(block) < pos + 4:  # the vendor string or the count runs past the block
        raise TagError("damaged Vorbis comment block")
    count = int.from_bytes(block[pos : pos + 4], "little")
    pos += 4
    pairs = []
    for _ in range(count):
        n = int.from_bytes(block[pos : pos + 4], "little")
        if pos + 4 + n > len(block):
            raise TagError("damaged Vorbis comment block")
        pairs.append(block[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return block[:vendor], pairs, block[pos:]


def _join(vendor: bytes, pairs: list[bytes], after: bytes) -> bytes:
    return (
        vendor
        + struct.pack("<I", len(pairs))
        + b"".join(struct.pack("<I", len(p)) + p for p in pairs)
        + after
    )


def _key(field: str) -> bytes:
    """The key ``field``'s pairs are written under (``GENRE``)."""
    return field_named(field).vorbis[0].encode("ascii")


def _is_genre(pair: bytes, field: str = GENRE) -> bool:
    """Whether ``pair`` belongs to ``field`` (keys compare without case, as the format says)."""
    return pair.split(b"=", 1)[0].lower() == _key(field).lower()


def _edit_pairs(
    block: bytes | None,
    genres: list[str] | None,
    restore: list | None,
    framing: bool,
    field: str = GENRE,
) -> bytes:
    """A comment block with ``field``'s pairs replaced (``genres``) or put back (``restore``)."""
    if block is None:
        block = _join(struct.pack("<I", 6) + b"tagger", [], b"\x01" if framing else b"")
    vendor, pairs, after = _split(block)
    old = [i for i, p in enumerate(pairs) if _is_genre(p, field)]
    kept = [p for i, p in enumerate(pairs) if i not in old]
    if restore is not None:
        for i, hexpair in sorted(restore):
            kept.insert(min(i, len(kept)), bytes.fromhex(hexpair))
        return _join(vendor, kept, after)
    key = pairs[old[0]].split(b"=", 1)[0] if old else _key(field)
    at = old[0] if old else len(kept)
    new = [key + b"=" + g.encode("utf-8") for g in genres or []]
    return _join(vendor, kept[:at] + new + kept[at:], after)


def _field(block: bytes | None, field: str = GENRE, **layout) -> Field:
    if block is None:
        return named({"family": "vorbis", "exists": False, **layout}, field)
    _, pairs, _ = _split(block)
    return named(
        {
            "family": "vorbis",
            "exists": True,
            **layout,
            "pairs": [[i, p.hex()] for i, p in enumerate(pairs) if _is_genre(p, field)],
        },
        field,
    )


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
@dataclass
class FlacBlock:
    """One metadata block: its type, its bytes, and the two lengths readers go by.

    ``declared`` is its header's size field (None: a block tagger made, whose
    field is its length).  ``contents`` is the length its contents give, for
    the comment and picture blocks that libFLAC and mutagen read field by field
    (None for other types): FFmpeg goes by the size field, they by the contents,
    and where the two disagree they disagree on where the next block starts.
    """

    kind: int
    data: bytes
    declared: int | None
    contents: int | None = None

    @property
    def overruns(self) -> bool:
        """Its contents, read as libFLAC and mutagen do, run past the end of the file."""
        return self.contents is not None and self.contents > len(self.data)


_MAX_BLOCK = (1 << 24) - 1  # a FLAC metadata block's 24-bit length field


def _contents_size(f: BinaryIO, kind: int, left: int) -> int | None:
    """The length of the comment or picture block at ``f``'s position, by its contents.

    Some writers store a wrong size for these two blocks; FLAC's reference
    decoder and mutagen read them field by field.  The lengths are summed, not
    sought past, so contents that claim more than the ``left`` bytes the file
    holds give a length past it (``left + 1`` when the file ends inside a
    length field, or when they claim more than a block can hold: 2**24 - 1
    bytes).  None for other blocks.
    """
    if kind not in (4, 6):
        return None
    start = f.tell()

    def length(at: int, order: str) -> int:
        """The 4-byte length field ``at`` bytes into the block."""
        f.seek(start + at)
        raw = f.read(4)
        if len(raw) < 4:
            raise EOFError
        return int.from_bytes(raw, order)  # type: ignore[arg-type]

    try:
        if kind == 4:
            pos = 4 + length(0, "little")  # vendor string
            count = length(pos, "little")
            pos += 4
            for _ in range(count):
                if pos > min(left, _MAX_BLOCK):
                    break
                pos += 4 + length(pos, "little")
        else:
            pos = 4  # picture type
            pos += 4 + length(pos, "big")  # MIME type
            pos += 4 + length(pos, "big")  # description
            pos += 16  # width, height, depth, colours
            pos += 4 + length(pos, "big")  # the picture
        return pos if pos <= _MAX_BLOCK else left + 1
    except EOFError:
        return left + 1
    finally:
        f.seek(start)


def _flac_blocks(f: BinaryIO) -> tuple[int, int, list[FlacBlock]]:
    """(offset of ``fLaC``, metadata length, the metadata blocks).

    A block whose size field is shorter than its contents is read by its
    contents (as libFLAC and mutagen do); one whose contents run past the end
    of the file by its size field, marked ``overruns`` (no reader finds its end
    where another does, and any edit after it changes what they take for it).
    """
    f.seek(0, 2)
    eof = f.tell()
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
        contents = _contents_size(f, head[0] & 0x7F, eof - f.tell())
        size = declared
        if contents is not None and declared < contents <= eof - f.tell():
            size = contents  # the size field too short: read by contents
        data = f.read(size)
        if len(data) < size:
            raise TagError("truncated FLAC metadata")
        blocks.append(FlacBlock(head[0] & 0x7F, data, declared, contents))
        length += 4 + size
        if head[0] & 0x80:
            return start, length, blocks


def _flac_rewrite(f: BinaryIO, start: int, old_len: int, blocks: list[FlacBlock]) -> None:
    out = bytearray()
    for i, b in enumerate(blocks):
        out += bytes([b.kind | (0x80 if i == len(blocks) - 1 else 0)])
        out += (b.declared if b.declared is not None else len(b.data)).to_bytes(3, "big") + b.data
    resize_bytes(f, old_len, len(out), start + 4)
    f.seek(start + 4)
    f.write(out)


def _flac_field(blocks: list[FlacBlock], field: str = GENRE) -> Field:
    vc = next((b for b in blocks if b.kind == 4), None)
    pad = next((b for b in blocks if b.kind == 1), None)
    layout = {"padding": len(pad.data) if pad else None}
    if vc is not None and vc.declared != len(vc.data):
        layout["declared"] = vc.declared  # a wrong size, given back on undo
    return _field(vc.data if vc else None, field, **layout)


def _flac_change(
    f: BinaryIO,
    edit: Callable[[bytes | None], bytes | None],
    padding: int | None,
    declared: int | None = None,
    name: str = GENRE,
) -> Field:
    start, old_len, blocks = _flac_blocks(f)
    vc = next((b for b in blocks if b.kind == 4), None)
    pad = next((b for b in blocks if b.kind == 1), None)
    field = _flac_field(blocks, name)
    new = edit(vc.data if vc else None)
    if new is None:
        blocks = [b for b in blocks if b is not vc]
    elif vc is None:
        blocks.insert(1, FlacBlock(4, new, None))
    else:
        vc.data, vc.declared = new, declared
    if pad is not None:
        others = sum(4 + len(b.data) for b in blocks if b is not pad) + 4
        want = padding if padding is not None else old_len - others
        pad.data, pad.declared = b"\x00" * (want if want >= 0 else 1024), None
    _flac_rewrite(f, start, old_len, blocks)
    return field


# Ogg: the comment packet edited as bytes, re-paged by mutagen (which renumbers and checksums).
# An audio stream's first packet -> (how its comment packet starts, whether it ends in a framing
# bit).  Ogg FLAC's comment packet is a FLAC metadata block: its 4-byte header is the prefix.
_OGG_AUDIO = {
    b"\x01vorbis": (b"\x03vorbis", True),
    b"OpusHead": (b"OpusTags", False),
    b"\x7fFLAC": (b"", False),
    b"Speex   ": (b"", False),
}


def _is_comment(magic: bytes, packet: bytes) -> bool:
    if magic == b"\x7fFLAC":
        return bool(packet) and packet[0] & 0x7F == 4
    prefix = _OGG_AUDIO[magic][0]
    return packet.startswith(prefix) if prefix else True


def _ogg_comment(f: BinaryIO) -> tuple[list, list[bytes], bytes, bool]:
    """(the pages holding the audio stream's comment packet, their packets, the packet's
    prefix, framing bit)."""
    from mutagen.ogg import OggPage

    f.seek(0)
    page = OggPage(f)
    magic = None
    while page.first:  # the streams' first pages come first: find the audio stream
        head = page.packets[0] if page.packets else b""
        magic = next((m for m in _OGG_AUDIO if head.startswith(m)), None)
        if magic is not None:
            break
        page = OggPage(f)
    if magic is None:
        raise TagError("Ogg file without a Vorbis, Opus, FLAC or Speex audio stream")
    serial, framing = page.serial, _OGG_AUDIO[magic][1]
    seen = 0  # the audio stream's packets before the comment packet (the identification one)
    while True:
        if page.serial == serial:
            if seen and page.packets and not page.continued and _is_comment(magic, page.packets[0]):
                break
            seen += len(page.packets) - (1 if page.continued else 0)
            if seen > 1:
                raise TagError("Ogg audio stream without a comment packet")
        page = OggPage(f)
    old_pages = [page]
    while not (old_pages[-1].complete or len(old_pages[-1].packets) > 1):
        page = OggPage(f)
        if page.serial == serial:
            old_pages.append(page)
    packets = OggPage.to_packets(old_pages, strict=False)
    prefix = packets[0][:4] if magic == b"\x7fFLAC" else _OGG_AUDIO[magic][0]
    return old_pages, packets, prefix, framing


def _ogg_change(
    f: BinaryIO,
    edit: Callable[[bytes | None], bytes | None],
    length: int | None,
    name: str = GENRE,
) -> Field:
    from mutagen.ogg import OggPage

    old_pages, packets, prefix, framing = _ogg_comment(f)
    old = packets[0][len(prefix) :]
    field = _field(old, name, length=len(packets[0]))
    new = edit(old)
    if new is None:
        raise TagError("an Ogg stream cannot lose its comment packet")
    if len(prefix) == 4:  # Ogg FLAC: the block header keeps its type, takes the new length
        packets[0] = prefix[:1] + len(new).to_bytes(3, "big") + new
    else:
        target = length if length is not None else len(packets[0])
        packets[0] = _fit(
            prefix + new, target, lambda core: core.endswith(b"\x01") if framing else True
        )
    new_pages = OggPage._from_packets_try_preserve(packets, old_pages)
    OggPage.replace(f, old_pages, new_pages)
    return field


def _comment_block(f: BinaryIO, fmt: Format) -> bytes | None:
    """The raw comment block (FLAC) or packet body (Ogg) of the file's audio, None if none."""
    if fmt.container == "flac":
        vc = next((b for b in _flac_blocks(f)[2] if b.kind == 4), None)
        return vc.data if vc else None
    _, packets, prefix, _ = _ogg_comment(f)
    return packets[0][len(prefix) :]


class VorbisFamily(TagFamily):
    """Vorbis comments: FLAC (a metadata block), Ogg Vorbis, Opus, Ogg FLAC, Speex (a packet)."""

    name = "vorbis"
    several = "pairs"

    def open(self, path: str, fmt: Format) -> Any:
        """Every pair of the audio stream's comments as (key, value), read from the bytes."""
        with open(path, "rb") as f:
            block = _comment_block(f, fmt)
        if block is None:
            return []
        out = []
        for pair in _split(block)[1]:
            key, _, value = pair.partition(b"=")
            out.append((key.decode("ascii", "replace"), value.decode("utf-8", "replace")))
        return out

    def values(self, tags: Any, field: str) -> list[str]:
        for key in field_named(field).vorbis:
            values = [v for k, v in tags or [] if k.upper() == key and v]
            if values:
                return values
        return []

    def _genres_in(self, field: Field) -> list[str] | None:
        pairs = [bytes.fromhex(h).partition(b"=")[2] for _, h in field["pairs"]]
        try:
            return [p.decode("utf-8") for p in pairs]
        except UnicodeDecodeError:
            return None

    def read(self, f: BinaryIO, fmt: Format, field: str = GENRE) -> Field:
        """The field's pairs in the comment block or packet, with the layout undo needs."""
        if fmt.container == "flac":
            return _flac_field(_flac_blocks(f)[2], field)
        _, packets, prefix, _ = _ogg_comment(f)
        return _field(packets[0][len(prefix) :], field, length=len(packets[0]))

    def write(
        self,
        f: BinaryIO,
        fmt: Format,
        genres: list[str],
        id3v23: bool = False,
        sep: str = "; ",
        field: str = GENRE,
    ) -> Field:
        """Replace the field's pairs (one per value); returns the field before."""
        framing = _framing(f, fmt)
        edit = lambda block: _edit_pairs(block, genres, None, framing, field)  # noqa: E731
        if fmt.container == "flac":
            return _flac_change(f, edit, None, name=field)
        return _ogg_change(f, edit, None, field)

    def restore(self, f: BinaryIO, fmt: Format, field: Field, sep: str = "; ") -> None:
        """Put back the pairs ``write`` returned, at their positions; remove a block it created
        (when it holds no other pair)."""
        framing = _framing(f, fmt)
        name = field_of(field)

        def edit(block: bytes | None) -> bytes | None:
            if not field["exists"]:  # the block goes, unless another program added pairs since
                stripped = _edit_pairs(block, None, [], framing, name)
                if fmt.container == "flac" and not _split(stripped)[1]:
                    return None
                return stripped
            return _edit_pairs(block, None, field["pairs"], framing, name)

        if fmt.container == "flac":
            _flac_change(f, edit, field.get("padding"), field.get("declared"), name)
        else:
            _ogg_change(f, edit, field.get("length"), name)


def _framing(f: BinaryIO, fmt: Format) -> bool:
    """Whether a new comment block needs Vorbis's framing bit (Ogg Vorbis only)."""
    return fmt.container == "ogg" and _ogg_comment(f)[3]


FAMILY = VorbisFamily()
