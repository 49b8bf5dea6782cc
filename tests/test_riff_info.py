"""A WAV file's LIST/INFO chunk: read as FFmpeg and Windows leave it, written never."""

from __future__ import annotations

import io
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rawtags import audio_samples
from tagfiles import _ffmpeg

from tagger.tagedit.riff_info import read_info
from tagger.tags import read_field, read_file_tags, read_genres, restore_field, write_genres


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def _wave(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_info_fields_are_read_as_written_by_ffmpeg(tmp_path):
    path = _ffmpeg(
        tmp_path / "ffmpeg.wav",
        *("-c:a", "pcm_s16le", "-metadata", "genre=Jazz", "-metadata", "album=Album"),
        *("-metadata", "artist=Artist", "-metadata", "title=Tïtle"),
    )
    with open(path, "rb") as f:
        info = read_info(f)
    assert {k: info[k] for k in ("IGNR", "IPRD", "IART", "INAM")} == {
        "IGNR": "Jazz",
        "IPRD": "Album",
        "IART": "Artist",
        "INAM": "Tïtle",  # FFmpeg writes UTF-8
    }
    tags = read_file_tags(path)  # a scan's view: the file has a genre, an album, an artist
    assert (tags.genres, tags.album, tags.artist, tags.title) == (
        ["Jazz"],
        "Album",
        "Artist",
        "Tïtle",
    )


def test_padding_latin1_other_lists_and_damage():
    fmt = _chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16))
    adtl = _chunk(b"LIST", b"adtl" + _chunk(b"labl", b"\1\0\0\0cue\0"))
    info = _chunk(
        b"LIST", b"INFO" + _chunk(b"INAM", b"Odd\0") + _chunk(b"IGNR", "Kl\xe4ng".encode("latin-1"))
    )
    data = _chunk(b"data", b"\0" * 7)  # odd: padded
    assert read_info(io.BytesIO(_wave(fmt, adtl, data, info))) == {"INAM": "Odd", "IGNR": "Kläng"}
    assert read_info(io.BytesIO(_wave(fmt, data))) == {}
    assert read_info(io.BytesIO(b"FORM\0\0\0\4AIFF")) == {}
    huge = _wave(fmt, b"LIST" + struct.pack("<I", 2**31) + b"INFO")  # a size past the end
    assert read_info(io.BytesIO(huge)) == {}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_after_a_wave_header_read_without_error(rest):
    head = b"RIFF" + struct.pack("<I", len(rest) + 4) + b"WAVE"
    assert isinstance(read_info(io.BytesIO(head + rest)), dict)
    truncated = b"RIFF" + struct.pack("<I", 2**32 - 1) + b"WAVE" + rest  # a size it lacks
    assert isinstance(read_info(io.BytesIO(truncated)), dict)


def test_the_id3_chunk_wins_and_writes_leave_the_info_chunk_as_it_was(tmp_path):
    """A WAV tagged in both places (as Mp3tag leaves it): the ID3 chunk's genre is the file's;
    a write replaces it there only, every byte of the INFO chunk and the audio stays, and undo
    gives every byte back."""
    path = _ffmpeg(tmp_path / "both.wav", "-c:a", "pcm_s16le", "-metadata", "genre=Jazz")
    original = path.read_bytes()
    kept = tmp_path / "original.wav"
    kept.write_bytes(original)
    at = original.index(b"LIST")
    info_chunk = original[at : at + 8 + struct.unpack("<I", original[at + 4 : at + 8])[0]]
    assert read_genres(path) == ["Jazz"]  # from INFO: no ID3 chunk yet
    old = write_genres(path, ["Rock"])
    assert read_genres(path) == ["Rock"]  # the ID3 chunk's, now there
    assert path.read_bytes().count(info_chunk) == 1  # the INFO list, byte for byte
    assert np.array_equal(audio_samples(path), audio_samples(kept))
    restore_field(path, old)
    assert path.read_bytes() == original
    assert read_field(path)["exists"] is False
