"""The ID3v1 genre byte editor that undo uses (``tagger.tagedit.id3v1``), fuzzed: on any bytes
it either changes exactly the last byte of a real ID3v1 block or refuses, changing nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.errors import TagError
from tagger.tagedit import id3v1


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=400),
    tagged=st.booleans(),
    expected=st.integers(0, 255),
    new=st.integers(0, 255),
)
def test_the_genre_byte_editor_changes_the_last_byte_or_nothing(body, tagged, expected, new):
    data = body + (b"TAG" + bytes(124) + bytes([expected]) if tagged else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.mp3"
        path.write_bytes(data)
        is_block = len(data) >= 128 and data[-128:-125] == b"TAG"
        assert id3v1.genre_index(str(path)) == (data[-1] if is_block else None)
        try:
            id3v1.set_genre_index(str(path), expected, new)
        except TagError:
            assert path.read_bytes() == data  # refused: untouched
            assert not (is_block and data[-1] == expected)
            return
        after = path.read_bytes()
        assert is_block and data[-1] == expected
        assert after[:-1] == data[:-1] and after[-1] == new


def test_genre_names_and_indices():
    assert id3v1.index_of("electronic") == 52 and id3v1.name_of(52) == "Electronic"
    assert id3v1.index_of("Chamber Pop") == id3v1.NONE and id3v1.index_of(None) == id3v1.NONE
    assert id3v1.name_of(id3v1.NONE) is None


@pytest.mark.parametrize("size", [0, 127])
def test_a_file_shorter_than_a_block_has_no_id3v1_genre(tmp_path, size):
    path = tmp_path / "short.mp3"
    path.write_bytes(b"TAG" * 50 if size else b"")
    path.write_bytes(path.read_bytes()[:size])
    assert id3v1.genre_index(str(path)) is None
    with pytest.raises(TagError):
        id3v1.set_genre_index(str(path), 0, 1)
