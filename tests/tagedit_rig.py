"""One round trip for every ``tagger.tagedit`` module: write a genre straight into a real file's
bytes, check that nothing but the genre changed, restore, and check every byte is back."""

from __future__ import annotations

from pathlib import Path

import mutagen
from mutagen import id3
from rawtags import diff, snapshot, without_genre

from tagger.formats import FORMATS, by_extension
from tagger.tagedit import TagFamily
from tagger.tags import read_genres
from tagger.training.synth import synth_track, write_audio

SR = 22050


def extensions(family: str) -> list[str]:
    """The first extension of each format whose tags are of ``family`` (and that can be written)."""
    exts = [f.extensions[0] for f in FORMATS if f.tag_family == family and f.extensions]
    return [e for e in exts if e != ".aac"]  # raw ADTS: write_audio makes no such files


def other_tags(path: Path) -> None:
    """A title and an artist in the file's own tag family: what a write must keep."""
    family = by_extension(path).tag_family
    f = mutagen.File(path)
    if family == "id3":
        if f.tags is None:
            f.add_tags()
        f.tags.add(id3.TIT2(encoding=3, text=["Song"]))
        f.tags.add(id3.TPE1(encoding=3, text=["Artist"]))
    elif family == "vorbis":
        f["title"], f["artist"] = ["Song"], ["Artist"]
    elif family == "mp4":
        f["\xa9nam"], f["\xa9ART"] = ["Song"], ["Artist"]
    else:
        f["Title"], f["Author"] = ["Song"], ["Artist"]
    f.save()


def audio_file(folder: Path, ext: str, tagged: bool) -> Path:
    path = write_audio(folder / f"track{ext}", synth_track("pulse", 3.0, SR, seed=1), SR)
    if tagged:
        other_tags(path)
    return path


def round_trip(editor: TagFamily, path: Path) -> None:
    """``editor.write`` changes the genre and nothing else; ``restore`` gives back every byte."""
    fmt = by_extension(path)
    original, before = path.read_bytes(), snapshot(path)
    with open(path, "r+b") as f:
        field = editor.read(f, fmt)
        old = editor.write(f, fmt, ["Jazz", "Blues"], True, "; ")
    assert old == field  # write returns the field as it was
    after = snapshot(path)
    assert not diff(without_genre(before), without_genre(after))  # tags and decoded audio
    assert read_genres(path) in (["Jazz", "Blues"], ["Jazz; Blues"])
    with open(path, "r+b") as f:
        assert editor.read(f, fmt) != old
        editor.restore(f, fmt, old, "; ")
    assert path.read_bytes() == original
