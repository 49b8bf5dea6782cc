"""Corrupt real files' container structure and check that a genre write stays safe on each.

Shared by the quick fuzz test (hypothesis) and the long run
(``benchmarks/tag_fuzz.py``).  The structure is found here by a scanner of its
own, not by the code under test: every size field (ID3 tag and frames, RIFF
and AIFF chunks, MP4 atoms, FLAC metadata blocks, Ogg segment tables, ASF
objects), every chunk/atom type, Ogg page checksums, the first audio frame
header, the tag padding.  A case is a list of mutations (a field set to
another value, a type made unprintable, a checksum broken, padding filled,
the file cut short) and ``check`` asserts, for the result:

* the write is refused or fails and the file is byte-identical, with a reason
  from ``KNOWN_REASONS``; or it succeeds, the genre reads back as written, the
  other tags are unchanged, the audio payload is byte-identical;
* undo gives back every byte;
* nothing raises but ``TagError``; no temporary file is left;
* nothing hangs: the work of a case is bounded by a count of calls (an event
  count, whatever the machine's speed), past which the case fails as a hang.
"""

from __future__ import annotations

import os
import re
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from rawtags import diff, snapshot, without_genre

from tagger.formats import sniff
from tagger.payload import Unsafe, audio_fingerprint
from tagger.tags import TagError, Undo, plan, read_field, restore_bytes, write_genres

GENRES = ["Jazz", "Hip-Hop"]
VOICE = "voice:VOICE_INSTRUMENTAL"  # the voice under a key a user names
# What each written field is fuzzed with.
VALUES = {"genre": GENRES, "bpm": ["128"], VOICE: ["instrumental"]}
# Every reason a write may give: causes a person understands, never an exception's text.
KNOWN_REASONS = [
    re.compile(p)
    for p in (
        r"refused: the ID3v2 tag's header is damaged, so where the audio starts is unknown",
        r"refused: the ID3v2 tag claims [\d,]+ bytes? but the file holds [\d,]+ bytes?, so the "
        r"edit could move audio",
        r"refused: no (MPEG|ADTS) frame where the ID3v2 tag ends \(its size field may be wrong\), "
        r"so the edit could move audio",
        r"refused: (truncated FLAC metadata|not a FLAC stream), so where the audio starts is "
        r"unknown",
        r"refused: a FLAC metadata block's size field disagrees with its contents, so players "
        r"could read tag bytes as audio",
        r"refused: the FLAC metadata does not start with its stream information",
        r"refused: a FLAC (comment|picture) block's contents run past the end of the file, so "
        r"where the audio starts is unknown",
        r"refused: the ID3 tag (is|has|carries) .*, which tagger cannot edit without rewriting it",
        r"refused: the FLAC file has more than one comment block \(damaged metadata\)",
        r"refused: no FLAC frame where the metadata ends \(a block's size field is wrong\), so "
        r"the edit could move audio",
        r"refused: the Ogg page at byte [\d,]+ is damaged or cut short",
        r"refused: the Ogg page at byte [\d,]+ fails its checksum \(damaged\)",
        r"refused: the file is cut short \(its Ogg page at byte [\d,]+ claims [\d,]+ bytes?, "
        r"[\d,]+ bytes? are there\)",
        r"refused: Ogg file without a Vorbis, Opus, FLAC or Speex audio stream",
        r"refused: Ogg audio stream without a comment packet",
        r"refused: the Ogg stream's header pages are damaged",
        r"refused: the (RIFF|FORM) size field disagrees with the file \([\d,]+ bytes?\), so the "
        r"edit could move audio",
        r"refused: a damaged or second ID3 chunk \(readers differ on which is the tag\)",
        r"refused: a damaged chunk header at byte [\d,]+, so the edit could move audio",
        r"refused: the [ -~]+ chunk claims [\d,]+ bytes? but the file ends [\d,]+ bytes? after "
        r"its start \(cut short\?\)",
        r"refused: [\d,]+ bytes? after the last chunk that belong to none",
        r"refused: (no|more than one) (data|SSND) chunk",
        r"refused: the MP4 atom at byte [\d,]+ has a damaged type, so the edit could move audio",
        r"refused: the MP4 .{4} atom at byte [\d,]+ claims [\d,]+ bytes?, [\d,]+ bytes? are "
        r"there, so the edit could move audio",
        r"refused: [\d,]+ bytes? at byte [\d,]+ belong to no MP4 atom",
        r"refused: the ASF header claims [\d,]+ bytes? of a [\d,]+ bytes? file",
        r"refused: no ASF data object after the header, so the edit could move audio",
        r"refused: the ASF data object claims [\d,]+ bytes?, [\d,]+ bytes? are there "
        r"\(cut short\?\)",
        r"refused: the \w+ file's structure is damaged",
        r"refused: the ID3 tag holds [\d,]+ bytes? that are not frames, so the edit could move "
        r"them",
        r"not written: the \w+ file's tag structure is damaged; left unchanged",
        r"not written: the edit would damage the file's structure \(refused: .*\)",
        r"not written: the edit would have changed the audio bytes",
        r"not written: the edited tags would not read back",
        r"not written: a player would no longer find the same audio packets",
        r"not written: the first or last audio packet would no longer decode",
        r"not written: the genre reads back as .*, not as written",
        r"not written: the bpm value .+ is (not a whole number|out of range) \(0 to 32767.*\); "
        r"left unchanged",
        r"not written: undo could not give this file back byte for byte",
        r"cannot read tags: the \w+ file's tags are damaged",
        r"cannot read the file \([a-z ]+\)",
        r"cannot convert ID3 tag: the tag is damaged",
        r"damaged (Vorbis comment block|MP4 item list|ASF header)",
        r"Ogg file without a Vorbis, Opus, FLAC or Speex audio stream",
        r"an Ogg stream cannot lose its comment packet",
        r"[A-Z0-9]+ files have no tag that can hold a genre",
        r"not an audio format tagger knows, so no genre tag can be written",
    )
]


def known(reason: str) -> bool:
    """True when ``reason`` is one of the phrasings a person is meant to read."""
    return any(p.fullmatch(reason) for p in KNOWN_REASONS)


# --- the structure, found independently -------------------------------------------------------
@dataclass(frozen=True)
class Spot:
    """A place in a file worth corrupting: ``width`` bytes at ``offset`` of ``kind``."""

    offset: int
    width: int
    kind: str  # size | type | crc | frame | padding


def _id3_spots(data: bytes, base: int) -> list[Spot]:
    if data[base : base + 3] != b"ID3" or len(data) < base + 10:
        return []
    spots = [Spot(base + 6, 4, "size"), Spot(base + 5, 1, "type")]
    size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[base + 6 : base + 10]))
    pos, end = base + 10, base + size
    while pos + 10 <= min(end, len(data)) and data[pos : pos + 1].isalnum():
        spots += [Spot(pos + 4, 4, "size"), Spot(pos, 4, "type")]
        n = int.from_bytes(data[pos + 4 : pos + 8], "big")
        if data[base + 3] == 4:
            n = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[pos + 4 : pos + 8]))
        pos += 10 + n
    if pos < end:
        spots.append(Spot(pos, min(end, len(data)) - pos, "padding"))
    if end + 4 <= len(data):
        spots.append(Spot(end, 4, "frame"))
    return spots


def _chunk_spots(data: bytes, order: str) -> list[Spot]:
    spots = [Spot(4, 4, "size")]
    pos = 12
    while pos + 8 <= len(data):
        spots += [Spot(pos, 4, "type"), Spot(pos + 4, 4, "size")]
        cid, n = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], order)  # type: ignore[arg-type]
        if cid.lower() == b"id3 ":
            spots += _id3_spots(data, pos + 8)
        pos += 8 + n + (n & 1)
    return spots


def _atom_spots(data: bytes, start: int, end: int) -> list[Spot]:
    spots, pos = [], start
    while pos + 8 <= end:
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        spots += [Spot(pos, 4, "size"), Spot(pos + 4, 4, "type")]
        if n < 8:
            break
        if kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"ilst"):
            spots += _atom_spots(data, pos + 8, min(pos + n, end))
        elif kind == b"meta":
            spots += _atom_spots(data, pos + 12, min(pos + n, end))
        elif kind == b"free":
            spots.append(Spot(pos + 8, min(n - 8, 64), "padding"))
        pos += n
    return spots


def _flac_spots(data: bytes) -> list[Spot]:
    spots, pos = [], 4
    while pos + 4 <= len(data):
        spots += [Spot(pos, 1, "type"), Spot(pos + 1, 3, "size")]
        n, last = int.from_bytes(data[pos + 1 : pos + 4], "big"), data[pos] & 0x80
        if data[pos] & 0x7F == 1:
            spots.append(Spot(pos + 4, min(n, 64), "padding"))
        pos += 4 + n
        if last:
            break
    spots.append(Spot(pos, 4, "frame"))
    return spots


def _ogg_spots(data: bytes) -> list[Spot]:
    spots, pos = [], 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        nseg = data[pos + 26]
        spots += [Spot(pos + 22, 4, "crc"), Spot(pos + 26, 1, "size"), Spot(pos + 5, 1, "type")]
        spots += [Spot(pos + 27 + i, 1, "size") for i in range(0, nseg, max(1, nseg // 4))]
        pos += 27 + nseg + sum(data[pos + 27 : pos + 27 + nseg])
    return spots


def _asf_spots(data: bytes) -> list[Spot]:
    spots = [Spot(16, 8, "size"), Spot(24, 4, "size")]
    pos, end = 30, int.from_bytes(data[16:24], "little")
    while pos + 24 <= min(end, len(data)):
        spots += [Spot(pos, 16, "type"), Spot(pos + 16, 8, "size")]
        n = int.from_bytes(data[pos + 16 : pos + 24], "little")
        if n < 24:
            break
        pos += n
    if pos + 24 <= len(data):
        spots += [Spot(pos, 16, "type"), Spot(pos + 16, 8, "size")]
    return spots


def spots(data: bytes) -> list[Spot]:
    """Every structural place of the file worth corrupting."""
    if data[:4] == b"RIFF":
        return _chunk_spots(data, "little")
    if data[:4] == b"FORM":
        return _chunk_spots(data, "big")
    if data[4:8] == b"ftyp":
        return _atom_spots(data, 0, len(data))
    if data[:4] == b"fLaC":
        return _flac_spots(data)
    if data[:4] == b"OggS":
        return _ogg_spots(data)
    if data[:4] == bytes.fromhex("3026b275"):
        return _asf_spots(data)
    return _id3_spots(data, 0)


# --- mutations ---------------------------------------------------------------------------------
OPERATIONS = ("set", "add", "zero", "ones", "unprintable", "truncate", "byte", "reseal")


def reseal(data: bytearray) -> None:
    """Give every whole Ogg page its right checksum again (a damaged file some tool re-sealed)."""
    from tagger.payload import _BITSWAP

    pos = 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        end = pos + 27 + data[pos + 26] + sum(data[pos + 27 : pos + 27 + data[pos + 26]])
        if end > len(data):
            return
        page = bytes(data[pos : pos + 22]) + b"\0\0\0\0" + bytes(data[pos + 26 : end])
        crc = (~zlib.crc32(page.translate(_BITSWAP), 0xFFFFFFFF)) & 0xFFFFFFFF
        data[pos + 22 : pos + 26] = crc.to_bytes(4, "big").translate(_BITSWAP)
        pos = end


def mutate(data: bytes, picks: list[tuple[str, int, int]]) -> bytes:
    """Apply each (operation, which spot or where, value) to ``data``."""
    out = bytearray(data)
    places = spots(data)
    for op, where, value in picks:
        if op == "reseal":
            continue
        if op == "truncate":
            cut = where % max(1, len(out))
            del out[cut:]
            continue
        if op == "byte":
            if out:
                out[where % min(len(out), 8192)] = value & 0xFF
            continue
        if not places:
            continue
        spot = places[where % len(places)]
        if spot.offset + spot.width > len(out):
            continue
        span = slice(spot.offset, spot.offset + spot.width)
        old = int.from_bytes(out[span], "big")
        if op == "set":
            new = value
        elif op == "add":
            new = old + (value % 33) - 16
        elif op == "zero":
            new = 0
        elif op == "ones":
            new = (1 << (8 * spot.width)) - 1
        else:  # unprintable: a type, a padding or a header byte made of control characters
            new = int.from_bytes(bytes([(value + i) % 32 for i in range(spot.width)]), "big")
        out[span] = (new % (1 << (8 * spot.width))).to_bytes(spot.width, "big")
    if any(op == "reseal" for op, _, _ in picks):
        reseal(out)
    return bytes(out)


# --- one case ----------------------------------------------------------------------------------
class Hang(BaseException):
    """A case did more work than any file of its size needs (an editor looping)."""


class Budget:
    """Counts the calls a case makes (``sys.setprofile``); past ``limit``, raises ``Hang``."""

    def __init__(self, limit: int):
        self.limit, self.calls = limit, 0

    def __call__(self, frame, event, arg):
        self.calls += 1
        if self.calls > self.limit:
            sys.setprofile(None)
            raise Hang(f"more than {self.limit:,} calls")

    def __enter__(self) -> Budget:
        sys.setprofile(self)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(None)


class Temps:
    """The journal of temporary copies, kept in memory: each must be gone by the end."""

    def __init__(self) -> None:
        self.live: set[str] = set()

    def add(self, path: str) -> None:
        self.live.add(path)

    def remove(self, path: str) -> None:
        self.live.discard(path)


def _snapshot(path: Path, field: str = "genre"):
    try:
        snap = without_genre(snapshot(path), field)
    except Exception:  # a file mutagen cannot read: its tags are not compared
        return None
    if "asf" in snap:  # an attribute object left holding nothing is no tag (as ID3 tags are)
        empty = [k for k, v in snap["asf"]["attributes"].items() if not v]
        for k in empty:
            del snap["asf"]["attributes"][k]
        gone = [("attributes", k) for k in empty]
        snap["asf"]["objects"] = [o for o in snap["asf"]["objects"] if o not in gone]
    return snap


def check(data: bytes, path: Path, calls: int = 3_000_000, field: str = "genre") -> str:
    """Write the genre (or ``field``) into ``data`` (as ``path``), undo it, assert every
    promise; the outcome.

    Returns ``written`` or ``refused`` (refused before it was touched, or
    failed its verification; either way the file is byte-identical).
    """
    path.write_bytes(data)
    values = VALUES[field]
    before_tags = _snapshot(path, field)
    announced = plan(path)  # a compressed ID3v2.2 tag becomes v2.3: more than the genre changes
    temps, undo = Temps(), []
    with Budget(calls):
        try:
            audio = audio_fingerprint(path)
        except Unsafe:
            audio = None
        try:
            write_genres(path, values, temps=temps, before_commit=undo.append, field=field)
            reason = None
        except TagError as exc:
            reason = str(exc)
    leftovers = [p for p in os.listdir(path.parent) if p.startswith(".tagger-")]
    assert not leftovers and not temps.live, (leftovers, temps.live)
    if reason is not None:
        assert path.read_bytes() == data, f"failed write changed the file: {reason}"
        assert known(reason), f"unknown reason: {reason!r}"
        return "refused"
    assert audio is not None, "a file refused as unsafe was written"
    with Budget(calls):
        assert audio_fingerprint(path) == audio, "the audio payload changed"
        fmt = sniff(path)
        assert fmt is not None and fmt.family is not None
        found = fmt.family.genres_of(read_field(path, field=field))
    raw = read_field(path, field=field)
    wanted = ["; ".join(values)] if fmt.family.joins(raw) else values
    assert found in (None, wanted), f"{field} reads back as {found}"
    after_tags = _snapshot(path, field)
    if before_tags is not None and after_tags is not None and not announced:
        changed = diff(before_tags, after_tags)
        assert not changed, f"other tags changed: {changed}"
    if undo:
        with Budget(calls):
            assert restore_bytes(path, undo[0], temps), "undo found the file changed"
        assert isinstance(undo[0], Undo)
    assert path.read_bytes() == data, "undo did not give every byte back"
    assert not temps.live
    return "written"
