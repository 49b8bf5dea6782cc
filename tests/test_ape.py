"""An MP3's APEv2 tag (MP3Tag, foobar2000): read where ID3 has no such field, written never."""

from __future__ import annotations

import functools
import shutil
import struct
import tempfile
from pathlib import Path

import mutagen.apev2
from hypothesis import given, settings
from hypothesis import strategies as st
from mutagen.id3 import ID3
from tagfiles import make_files

from tagger.tags import read_file_tags, read_genres, restore_field, write_genres


def _ape_only_genre(src, path, genre: str = "Jazz"):
    """``src`` copied to ``path`` with its ID3 genre gone and ``genre`` in APEv2 only."""
    shutil.copy(src, path)
    tags = ID3(path)
    tags.delall("TCON")
    tags.save(v2_version=3, v1=0)
    ape = mutagen.apev2.APEv2(path)
    ape["Genre"] = genre
    ape["Artist"] = "Ape Artist"
    ape.save()
    return path


def test_a_genre_only_in_apev2_is_the_files_and_writes_leave_apev2_as_it_was(tmp_path):
    files = make_files(tmp_path / "src")
    path = _ape_only_genre(files["mp3-v23-ape"], tmp_path / "ape.mp3")
    original = path.read_bytes()
    tags = read_file_tags(path)  # a scan's view: it has a genre (kept unless --overwrite)
    assert tags.genres == ["Jazz"] and tags.artist == "Artist"  # ID3's artist wins
    ape_bytes = original[original.index(b"APETAGEX") :]
    old = write_genres(path, ["Rock"])
    assert read_genres(path) == ["Rock"]  # ID3's, now there
    assert path.read_bytes().endswith(ape_bytes)  # the APEv2 tag, byte for byte
    restore_field(path, old)
    assert path.read_bytes() == original
    assert read_genres(path) == ["Jazz"]


@functools.cache
def _tagged_mp3() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return make_files(Path(folder))["mp3-v23-ape"].read_bytes()


@settings(max_examples=200, deadline=None)
@given(items=st.binary(max_size=200), count=st.integers(0, 20), size=st.integers(0, 400))
def test_any_bytes_in_an_apev2_tag_read_without_error(items, count, size):
    """A damaged APE tag (its items any bytes, its counts and size any values) is not
    tagger's to judge: reading the file's tags never fails on it, and ID3's genre stands."""
    data = _tagged_mp3()
    footer = b"APETAGEX" + struct.pack("<IIII", 2000, size, count, 0) + bytes(8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.mp3"
        path.write_bytes(data[: data.index(b"APETAGEX")] + items + footer)
        assert read_genres(path) == ["Folk"]  # ID3's
