"""Walking a library folder: hidden folders, .taggerignore, symlink loops, formats."""

from __future__ import annotations

import os

from tagger.formats import sniff_format
from tagger.training.synth import synth_track, write_audio
from tagger.walk import walk


def test_walk_rules(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / ".taggerignore").write_text("")
    for p in ["a/x.mp3", "a/b/y.FLAC", ".hidden/z.mp3", "skip/w.mp3", "a/notes.txt", "a/c.M4A"]:
        (tmp_path / p).write_bytes(b"x")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")  # a loop back up the tree
    found = sorted(os.path.relpath(p, tmp_path) for p in walk([tmp_path]).files)
    assert found == ["a/b/y.FLAC", "a/c.M4A", "a/x.mp3"]


def test_explicit_files_and_duplicates(tmp_path):
    f = tmp_path / "one.wav"
    f.write_bytes(b"x")
    assert walk([f, tmp_path, f]).files == [f]


def test_sniff_format_reads_content_not_extension(tmp_path):
    y = synth_track("bells", 1.0, 24000, 0)
    opus = write_audio(tmp_path / "a.opus", y, 24000)
    disguised = tmp_path / "really_opus.ogg"
    disguised.write_bytes(opus.read_bytes())
    assert sniff_format(disguised) == "opus"
    for ext, fmt in [
        (".flac", "flac"),
        (".mp3", "mp3"),
        (".m4a", "m4a"),
        (".wma", "wma"),
        (".wav", "wav"),
        (".aiff", "aiff"),
        (".ogg", "ogg"),
    ]:
        assert sniff_format(write_audio(tmp_path / f"s{ext}", y, 24000)) == fmt
    (tmp_path / "t.mp3").write_text("hello")
    assert sniff_format(tmp_path / "t.mp3") is None
