"""Where each container keeps its audio, and whether the structure around it can be trusted.

A tag edit may only touch tag bytes; to check that, tagger needs to know
which bytes are the audio: the MP3 or ADTS frames after the ID3v2 tag (up to
an ID3v1 or APEv2 tag at the end), the FLAC frames after the metadata, the
Ogg packets after the audio stream's comment packet, the WAV ``data`` and
AIFF ``SSND`` chunks, the MP4 ``mdat`` atoms, the ASF data object.  Finding
them means reading the container's own size fields, and those are checked
against each other and against the file first: a WAV whose RIFF size
disagrees with its length, a chunk that claims more bytes than the file
holds, an MP4 atom with a damaged type, FLAC metadata that does not end
where the first frame starts.  Such a file is ``Unsafe`` to edit (an editor
that trusts those fields could move audio) and is refused before it is
touched, with the reason.

``payload_ranges`` gives the byte ranges, ``audio_fingerprint`` a digest of
their bytes: the same after any tag edit, by any program, that left the
audio alone.  ``demuxed`` is FFmpeg's view of the same audio (its packets'
digest, and whether the first and last packets decode), the check that a
player still finds the audio where the container says it is.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .errors import TagError
from .formats import Format, sniff
from .tagedit.id3 import tag_size

Ranges = list[tuple[int, int]]
_READ = 1 << 20


class Unsafe(TagError):
    """The file's structure is damaged so that an edit could move or hide audio (the reason)."""


def _n(n: int) -> str:
    return f"{n:,} byte{'s' if n != 1 else ''}"


# --- MP3 and ADTS: frames between a leading ID3v2 tag and trailing ID3v1/APEv2 tags ----------
def _sync(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _leading_id3(f: BinaryIO, size: int) -> int:
    """End of a leading ID3v2 tag (0 if none); Unsafe when its size cannot be right."""
    f.seek(0)
    head = f.read(10)
    if head[:3] != b"ID3":
        return 0
    n = tag_size(head)
    if n is None:
        raise Unsafe(
            "refused: the ID3v2 tag's header is damaged, so where the audio starts is unknown"
        )
    if n > size:
        raise Unsafe(
            f"refused: the ID3v2 tag claims {_n(n)} but the file holds {_n(size)}, "
            "so the edit could move audio"
        )
    return n


def _trailing_tags(f: BinaryIO, start: int, end: int) -> int:
    """Where trailing ID3v1 and APEv2 tags begin (``end`` if there are none)."""
    if end - start >= 128:
        f.seek(end - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end - start >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer[:8] == b"APETAGEX":
            n = int.from_bytes(footer[12:16], "little")
            flags = int.from_bytes(footer[20:24], "little")
            n += 32 if flags & 0x80000000 else 0  # a header too
            if start <= end - n:
                end -= n
    return end


def _mpeg(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    start = _leading_id3(f, size)
    f.seek(start)
    head = f.read(4)
    while head[:3] == b"ID3" and tag_size(head + f.read(6)) is not None:  # a second tag
        f.seek(start)
        start += tag_size(f.read(10)) or 0
        f.seek(start)
        head = f.read(4)
    end = _trailing_tags(f, start, size)
    if start and head[:1] == b"\x00":  # zeros some taggers leave after the tag's declared end
        f.seek(start)
        after = f.read(4096).lstrip(b"\x00")
        head = after[:4] if after else b"\xff\xff"
    if start and start < end and not _sync(head):
        raise Unsafe(
            f"refused: no {'MPEG' if fmt.container == 'mpeg' else 'ADTS'} frame where the ID3v2 "
            "tag ends (its size field may be wrong), so the edit could move audio"
        )
    return [(start, end)] if start < end else []


# --- FLAC -----------------------------------------------------------------------------------
def _flac(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    from .tagedit.vorbis import _flac_blocks

    _leading_id3(f, size)
    try:
        start, length, blocks = _flac_blocks(f)
    except TagError as exc:
        raise Unsafe(f"refused: {exc}, so where the audio starts is unknown") from None
    if blocks[0].kind != 0 or any(b.kind == 127 for b in blocks):
        raise Unsafe("refused: the FLAC metadata does not start with its stream information")
    if sum(b.kind == 4 for b in blocks) > 1:
        raise Unsafe("refused: the FLAC file has more than one comment block (damaged metadata)")
    overrun = next((b for b in blocks if b.overruns), None)
    if overrun is not None:
        # mutagen reads it field by field and fails at the end of the file, FFmpeg skips it by
        # its size field: a reader by contents takes every byte after it for this block, so
        # any edit of the tag changes it.
        raise Unsafe(
            f"refused: a FLAC {'comment' if overrun.kind == 4 else 'picture'} block's contents "
            "run past the end of the file, so where the audio starts is unknown"
        )
    if any(len(b.data) != b.declared for b in blocks):
        # mutagen and libFLAC read such a block by its contents, FFmpeg by its size field:
        # an edit of the tag would change what FFmpeg takes for the rest of the file.
        raise Unsafe(
            "refused: a FLAC metadata block's size field disagrees with its contents, "
            "so players could read tag bytes as audio"
        )
    audio = start + 4 + length
    f.seek(audio)
    head = f.read(2)
    end = _trailing_tags(f, audio, size)
    if audio < end and not (head[:1] == b"\xff" and head[1:2] in (b"\xf8", b"\xf9")):
        raise Unsafe(
            "refused: no FLAC frame where the metadata ends (a block's size field is wrong), "
            "so the edit could move audio"
        )
    return [(audio, end)] if audio < end else []


# --- Ogg: the packets after the audio stream's comment packet ----------------------------------
def _ogg(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    from .tagedit.vorbis import _ogg_comment

    pos = 0
    while pos < size:  # every page where the one before ends, whole
        f.seek(pos)
        head = f.read(27)
        if len(head) < 27 or head[:4] != b"OggS":
            raise Unsafe(f"refused: the Ogg page at byte {pos:,} is damaged or cut short")
        table = f.read(head[26])
        end = pos + 27 + head[26] + sum(table)
        if len(table) < head[26] or end > size:
            raise Unsafe(
                f"refused: the file is cut short (its Ogg page at byte {pos:,} claims "
                f"{_n(end - pos)}, {_n(size - pos)} are there)"
            )
        pos = end
    try:
        pages, _, _, _ = _ogg_comment(f)
    except TagError as exc:
        raise Unsafe(f"refused: {exc}") from None
    except Exception:
        raise Unsafe("refused: the Ogg stream's header pages are damaged") from None
    last = pages[-1]
    f.seek(last.offset)
    head = f.read(27)
    body_end = last.offset + 27 + head[26] + sum(f.read(head[26]))
    rest = sum(len(p) for p in last.packets[1:])  # the setup packet after the comments, if here
    ranges = [(body_end - rest, body_end)] if rest else []
    pos = body_end
    while pos < size:
        f.seek(pos)
        head = f.read(27)
        table = f.read(head[26])
        ranges.append((pos + 27 + head[26], pos + 27 + head[26] + sum(table)))
        pos = ranges[-1][1]
    return ranges


_BITSWAP = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc_ok(page: bytes) -> bool:
    """The page's stored checksum is Ogg's CRC-32 of the page with that field zeroed."""
    data = page[:22] + b"\0\0\0\0" + page[26:]
    crc = (~zlib.crc32(data.translate(_BITSWAP), 0xFFFFFFFF)) & 0xFFFFFFFF
    return crc.to_bytes(4, "big").translate(_BITSWAP) == page[22:26]


# --- WAV and AIFF: the chunk holding the samples ----------------------------------------------
def _chunks(f: BinaryIO, size: int, order: str, form: bytes, samples: bytes) -> Ranges:
    f.seek(0)
    head = f.read(12)
    declared = int.from_bytes(head[4:8], order)  # type: ignore[arg-type]
    name = "RIFF" if form == b"RIFF" else "FORM"
    if declared + 8 not in (size, size - 1) and not (declared + 9 == size and size % 2):
        raise Unsafe(
            f"refused: the {name} size field disagrees with the file ({_n(size)}), "
            "so the edit could move audio"
        )
    pos, found, tags = 12, [], 0
    while pos + 8 <= size:
        f.seek(pos)
        cid, n = f.read(4), int.from_bytes(f.read(4), order)  # type: ignore[arg-type]
        if not all(32 <= c < 127 for c in cid):
            raise Unsafe(
                f"refused: a damaged chunk header at byte {pos:,}, so the edit could move audio"
            )
        if pos + 8 + n > size:
            what = cid.decode("ascii").strip()
            raise Unsafe(
                f"refused: the {what} chunk claims {_n(n)} but the file ends "
                f"{_n(size - pos - 8)} after its start (cut short?)"
            )
        if cid == samples:
            found.append((pos + 8, pos + 8 + n))
        elif cid[:3].lower() == b"id3":
            tags += 1
            if cid[3:] != b" " or tags > 1:
                raise Unsafe(
                    "refused: a damaged or second ID3 chunk (readers differ on which is the tag)"
                )
        pos += 8 + n + (n & 1)
    if pos < size - 1:
        raise Unsafe(f"refused: {_n(size - pos)} after the last chunk that belong to none")
    if len(found) != 1:
        what = samples.decode("ascii").strip()
        raise Unsafe(f"refused: {'no' if not found else 'more than one'} {what} chunk")
    return found


def _riff(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    return _chunks(f, size, "little", b"RIFF", b"data")


def _aiff(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    return _chunks(f, size, "big", b"FORM", b"SSND")


# --- MP4: the mdat atoms; every atom's type and size checked ----------------------------------
_MP4_PARENTS = {
    b"moov",
    b"trak",
    b"mdia",
    b"minf",
    b"stbl",
    b"udta",
    b"edts",
    b"dinf",
    b"moof",
    b"traf",
    b"mvex",
    b"meta",
}


def _atoms(f: BinaryIO, start: int, end: int, found: Ranges, depth: int) -> None:
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        n, kind = struct.unpack(">I4s", f.read(8))
        header = 8
        if n == 1:
            n, header = int.from_bytes(f.read(8), "big"), 16
        elif n == 0 and depth == 0:
            n = end - pos
        if not all(32 <= c < 127 or c == 0xA9 for c in kind):
            raise Unsafe(
                f"refused: the MP4 atom at byte {pos:,} has a damaged type, "
                "so the edit could move audio"
            )
        if kind == b"mdat" and depth == 0 and pos + n > end and n >= header:
            n = end - pos  # the audio cut short at the end: the atoms before it are whole
        if n < header or pos + n > end:
            raise Unsafe(
                f"refused: the MP4 {kind.decode('latin-1')} atom at byte {pos:,} claims "
                f"{_n(n)}, {_n(end - pos)} are there, so the edit could move audio"
            )
        if kind == b"mdat" and depth == 0:
            found.append((pos + header, pos + n))
        elif kind in _MP4_PARENTS:
            _atoms(f, pos + header + (4 if kind == b"meta" else 0), pos + n, found, depth + 1)
        pos += n
    if end - pos not in (0, 4) or (end - pos == 4 and depth == 0):  # udta may end in 4 zeros
        raise Unsafe(f"refused: {_n(end - pos)} at byte {pos:,} belong to no MP4 atom")


def _mp4(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    found: Ranges = []
    _atoms(f, 0, size, found, 0)
    return found


# --- ASF: the data object after the header object ----------------------------------------------
_ASF_DATA = bytes.fromhex("3626b2758e66cf11a6d900aa0062ce6c")


def _asf(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    f.seek(16)
    header = int.from_bytes(f.read(8), "little")
    if header < 30 or header + 24 > size:
        raise Unsafe(f"refused: the ASF header claims {_n(header)} of a {_n(size)} file")
    # Some writers leave stray bytes between the header and the data object; an edit moves them
    # with the data (only the header object changes), so they are looked past.
    f.seek(header)
    at = f.read(1 << 16).find(_ASF_DATA)
    if at < 0:
        raise Unsafe("refused: no ASF data object after the header, so the edit could move audio")
    header += at
    f.seek(header + 16)
    n = int.from_bytes(f.read(8), "little")
    if n == 0:  # a broadcast file: the data runs to the end
        n = size - header
    if n > size - header >= 50:  # the audio cut short at the end: the header is whole
        n = size - header
    if n < 50:
        raise Unsafe(
            f"refused: the ASF data object claims {_n(n)}, {_n(size - header)} are there "
            "(cut short?)"
        )
    return [(header, header + n)]


def _au(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    f.seek(4)
    offset = int.from_bytes(f.read(4), "big")
    return [(min(offset, size), size)]


_READERS: dict[str, Callable[[BinaryIO, int, Format], Ranges]] = {
    "mpeg": _mpeg,
    "adts": _mpeg,
    "flac": _flac,
    "ogg": _ogg,
    "riff": _riff,
    "aiff": _aiff,
    "mp4": _mp4,
    "asf": _asf,
    "au": _au,
}


def _format(path: str | os.PathLike, fmt: Format | None) -> Format:
    found = fmt or sniff(path)
    if found is None:
        raise Unsafe("refused: not a format tagger knows")
    return found


def payload_ranges(path: str | os.PathLike, fmt: Format | None = None) -> Ranges:
    """The byte ranges of the file's audio payload, in file order; ``Unsafe`` if damaged."""
    fmt = _format(path, fmt)
    with open(path, "rb") as f:
        return ranges_in(f, os.fstat(f.fileno()).st_size, fmt)


def ranges_in(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    """``payload_ranges`` of an open file of ``size`` bytes."""
    try:
        return _READERS[fmt.container](f, size, fmt)
    except TagError:
        raise
    except (OSError, ValueError, struct.error, IndexError, EOFError):
        raise Unsafe(f"refused: the {fmt.name} file's structure is damaged") from None


def check(f: BinaryIO, size: int, fmt: Format) -> Ranges:
    """``ranges_in``, and ``Unsafe`` also where an edit would mend damage (so change more).

    An Ogg page mutagen re-pages or renumbers gets a new checksum: one that was
    wrong would be mended, and players would then play what they skipped before.
    """
    ranges = ranges_in(f, size, fmt)
    if fmt.container == "ogg":
        pos = 0
        while pos < size:
            f.seek(pos)
            head = f.read(27)
            table = f.read(head[26])
            end = pos + 27 + head[26] + sum(table)
            if not _ogg_crc_ok(head + table + f.read(end - pos - 27 - head[26])):
                raise Unsafe(f"refused: the Ogg page at byte {pos:,} fails its checksum (damaged)")
            pos = end
    return ranges


def digest_ranges(f: BinaryIO, ranges: Ranges) -> str:
    """A digest of the bytes of ``ranges`` of an open file."""
    h = hashlib.blake2b(digest_size=20)
    for start, end in ranges:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(_READ, left))
            if not block:
                break
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def audio_fingerprint(path: str | os.PathLike, fmt: Format | None = None) -> str:
    """A digest of the audio payload's bytes: unchanged by any edit that left the audio alone.

    Two files with the same fingerprint hold the same audio bytes whatever their tags;
    ``Unsafe`` when the container is too damaged to tell where the audio is.
    """
    fmt = _format(path, fmt)
    with open(path, "rb") as f:
        return digest_ranges(f, ranges_in(f, os.fstat(f.fileno()).st_size, fmt))


@dataclass(frozen=True)
class Demuxed:
    """FFmpeg's view of a file's audio: its packets and whether the ends decode."""

    packets: int
    digest: str
    first_decodes: bool
    last_decodes: bool


def demuxed(path: str | os.PathLike) -> Demuxed | None:
    """The audio packets FFmpeg finds in the file (None when it finds no audio stream)."""
    import av

    try:
        container = av.open(os.fspath(path))
    except Exception:  # FFmpeg raises many types for unreadable files
        return None
    try:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            return None
        h = hashlib.blake2b(digest_size=20)
        count, first, last = 0, None, None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                h.update(bytes(packet))
                count += 1
                first = first or packet
                last = packet
        except Exception:  # a damaged packet: what came before is what FFmpeg finds
            pass
        return Demuxed(count, h.hexdigest(), _decodes(stream, first), _decodes(stream, last))
    finally:
        container.close()


def _decodes(stream, packet) -> bool:
    if packet is None:
        return False
    try:
        stream.codec_context.decode(packet)
    except Exception:
        return False
    return True
