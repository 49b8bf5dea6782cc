"""Files as everyday taggers leave them are written: only the genre changes, undo is exact.

ID3v2.3 with covers, MusicBrainz ids, long comments and lyrics (frames whose
v2.3 sizes are plain integers, not v2.4's sync-safe ones), ID3v2.4 with a
large cover, FFmpeg's own v2.3, FLAC/Ogg/Opus pictures, M4A covers and
freeform atoms with ``moov`` on either side of ``mdat`` (``tagfiles``); and
hand-built ID3 layouts mutagen cannot write: a v2.3 tag with its own
unsynchronisation and an extended header, a v2.2 tag with three-byte frame
sizes (edited as v2.2, not converted).  Checked at the raw level
(``rawtags``), not through mutagen.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest
from mutagen import id3
from mutagen.id3._util import BitPaddedInt, unsynch
from rawtags import (
    _id3_header_at,
    _unsync_decode,
    diff,
    genre_pairs,
    parse_id3,
    raw_genre,
    snapshot,
    without_genre,
)
from tagfiles import KINDS, SMALL_COVER, _id3_frames, make_files

from tagger.payload import audio_fingerprint
from tagger.tags import (
    give_mtime_back,
    plan,
    read_field,
    refusal,
    restore_bytes,
    restore_field,
    write_genres,
)

GENRES = ["Jazz", "Hip-Hop"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    made = make_files(tmp_path_factory.mktemp("layouts"))
    assert sorted(made) == sorted(KINDS)
    return made


def _genre_as_stored(path: Path) -> list[str]:
    """The genre values in the file's bytes: Vorbis pairs from the raw parser, else mutagen's
    raw frame/item (ID3v2.3 holds one joined value)."""
    snap = snapshot(path)
    if snap.get("ogg") or snap.get("flac"):
        return [p.split("=", 1)[1] for p in genre_pairs(snap)]
    return raw_genre(path)


def _written_exactly(path: Path) -> None:
    """Write the genre, check that nothing else changed, undo both ways, byte-identical."""
    original, before, audio = path.read_bytes(), snapshot(path), audio_fingerprint(path)
    assert refusal(path) is None and plan(path) is None  # nothing beyond the genre changes
    undo: list = []
    old = write_genres(path, GENRES, before_commit=undo.append)
    joined = read_field(path).get("version") in (2, 3)  # one value holds both genres
    assert _genre_as_stored(path) == (["; ".join(GENRES)] if joined else GENRES)
    assert audio_fingerprint(path) == audio
    assert not diff(without_genre(before), without_genre(snapshot(path)))
    assert restore_bytes(path, undo[0]) and path.read_bytes() == original
    write_genres(path, ["Rock"])  # field by field too, as after another program's edit
    restore_field(path, old)
    assert path.read_bytes() == original


@pytest.mark.parametrize("name", KINDS)
def test_every_everyday_layout_is_written_changing_only_the_genre(files, tmp_path, name):
    path = tmp_path / files[name].name
    shutil.copy(files[name], path)
    _written_exactly(path)


def _audio_after_tag(files: dict[str, Path]) -> bytes:
    data = files["mp3-v23-v1"].read_bytes()
    return data[_id3_header_at(data, 0) :]


def _unsynchronised_v23(path: Path, audio: bytes, padding: int) -> Path:
    """An MP3 whose v2.3 tag (a cover, frames over 127 bytes) is unsynchronised as a whole
    and has an extended header stating ``padding``, followed by that much padding."""
    tags = id3.ID3()
    _id3_frames(tags, SMALL_COVER)
    buf = io.BytesIO()
    tags.save(buf, v2_version=3, padding=lambda info: 0)
    raw = buf.getvalue()
    body = raw[10 : _id3_header_at(raw, 0)]
    extended = b"\x00\x00\x00\x06\x00\x00" + padding.to_bytes(4, "big")
    stored = unsynch.encode(extended + body)  # mutagen's encoder, not tagger's
    assert len(stored) > len(extended + body)  # the cover's 0xFF bytes were escaped
    stored += b"\x00" * padding
    path.write_bytes(
        b"ID3\x03\x00\xc0" + BitPaddedInt.to_str(len(stored), width=4) + stored + audio
    )
    assert id3.ID3(path).getall("APIC")[0].data == SMALL_COVER
    return path


def _stated_padding(path: Path) -> tuple[int, int]:
    """(the padding the v2.3 extended header states, the padding there is), read by the raw
    parser of ``rawtags``."""
    data = path.read_bytes()
    stored = data[10 : _id3_header_at(data, 0)]
    stated = int.from_bytes(_unsync_decode(stored[:16])[6:10], "big")
    frames = parse_id3(data[: _id3_header_at(data, 0)])["frames"]
    content = 10 + sum(10 + len(bytes.fromhex(f[2])) for f in frames)  # extended header too
    used = next(n for n in range(len(stored) + 1) if len(_unsync_decode(stored[:n])) == content)
    assert not stored[used:].strip(b"\x00")
    return stated, len(stored) - used


@pytest.mark.parametrize("aim", [None, 0xFF00])
def test_an_id3v23_tag_with_its_own_unsynchronisation_and_extended_header(files, tmp_path, aim):
    """A v2.3 tag unsynchronised as a whole (a JPEG cover has 0xFF bytes), with an extended
    header whose padding size the write keeps true, and frames over 127 bytes.  ``aim``: a
    padding whose statement after the write (00 00 FF 00) must itself be unsynchronised."""
    audio = _audio_after_tag(files)
    path = _unsynchronised_v23(tmp_path / "v23-unsync-extended.mp3", audio, 300)
    if aim is not None:  # find how much padding the write takes, then aim at 0xFF00 after it
        write_genres(path, GENRES)
        taken = 300 - _stated_padding(path)[0]
        path = _unsynchronised_v23(path, audio, aim + taken)
    probe = tmp_path / "probe.mp3"
    shutil.copy(path, probe)
    write_genres(probe, GENRES)
    stated, there = _stated_padding(probe)
    assert stated == there
    _written_exactly(path)


def test_an_id3v22_tag_with_three_byte_frame_sizes_and_a_picture(files, tmp_path):
    """Old iTunes' v2.2: three-letter frames with sizes in three bytes, edited as v2.2."""

    def frame(fid: bytes, data: bytes) -> bytes:
        return fid + len(data).to_bytes(3, "big") + data

    body = b"".join(
        [
            frame(b"TT2", b"\x00Title"),
            frame(b"TP1", b"\x00Artist"),
            frame(b"TCO", b"\x00Folk"),
            frame(b"COM", b"\x00eng\x00" + b"a long comment " * 30),
            frame(b"PIC", b"\x00JPG\x03\x00" + SMALL_COVER),
        ]
    )
    body += b"\x00" * 200
    path = tmp_path / "v22.mp3"
    path.write_bytes(
        b"ID3\x02\x00\x00" + BitPaddedInt.to_str(len(body), width=4) + body
        + _audio_after_tag(files)
    )  # fmt: skip
    assert id3.ID3(path).getall("APIC")[0].data == SMALL_COVER
    _written_exactly(path)


def test_the_journal_keeps_the_mtime_and_gives_it_back_only_with_every_byte(files, tmp_path):
    """Undo gives the modification time back when the file is the original again (by its
    journaled bytes or field by field), never to a file whose bytes differ."""
    path = tmp_path / "song.mp3"
    shutil.copy(files["mp3-v23-v1"], path)
    os.utime(path, ns=(path.stat().st_atime_ns, 1_400_000_000_987_654_321))
    original = path.read_bytes()
    undo: list = []
    old = write_genres(path, GENRES, before_commit=undo.append)
    assert undo[0].old_mtime_ns == 1_400_000_000_987_654_321
    assert path.stat().st_mtime_ns != undo[0].old_mtime_ns
    assert not give_mtime_back(path, undo[0])  # the bytes are not the original's
    restore_field(path, old)  # field by field: every byte back
    assert path.read_bytes() == original
    assert give_mtime_back(path, undo[0])
    assert path.stat().st_mtime_ns == 1_400_000_000_987_654_321
