"""Genre writes: tagger's byte-level edit against mutagen's own save, in the same run.

    python benchmarks/tag_write.py [--files 40] [--seconds 240]

Copies real test files (mutagen's ``silence-44-s.mp3``, ID3v2.3 with
padding, and ``silence-44-s.flac``) into four-minute-sized files (the audio
repeated; only the size matters here) and times, per format:

* baseline: what tagger did before: copy beside, mutagen ``save`` (re-writing
  the whole tag), fsync, rename;
* ``tagger.tags.write_genres``: copy, byte-level edit, compare, in-place
  ``pwrite`` (or rename), fsync;
* ``tagger.tags.read_field`` (what the journal reads before and after).

Prints milliseconds per file and the ratio to the baseline.  The machine may
be shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import mutagen

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from corpus import mutagen_data

from tagger.tags import read_field, write_genres


def make(src: Path, dst: Path, size: int) -> None:
    data = src.read_bytes()
    if src.suffix == ".mp3":
        from tagger.tagedit.id3 import tag_size

        head = tag_size(data[:10]) or 0
        frames = data[head:-128] if data[-128:-125] == b"TAG" else data[head:]
        body = frames * (size // len(frames) + 1)
        dst.write_bytes(data[:head] + body[:size])
    else:  # FLAC: the frames do not have to be valid for a tag write
        dst.write_bytes(data + b"\0" * (size - len(data)))


def baseline(path: Path, genres: list[str]) -> None:
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=".bench-", suffix=path.suffix, dir=folder)
    os.close(fd)
    shutil.copyfile(path, tmp)
    audio = mutagen.File(tmp)
    if path.suffix == ".mp3":
        audio.tags.delall("TCON")
        audio.tags.add(mutagen.id3.TCON(encoding=3, text=genres))
        audio.save(v2_version=4)
    else:
        audio["genre"] = genres
        audio.save()
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def timed(fn, files: list[Path], genres: tuple[list[str], list[str]]) -> float:
    """Milliseconds per file; each run writes genres the files do not hold yet."""
    start = time.perf_counter()
    for i, f in enumerate(files):
        fn(f, genres[i % 2])
    return (time.perf_counter() - start) / len(files) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--seconds", type=int, default=240, help="length the file sizes imitate")
    args = ap.parse_args()
    data = mutagen_data()
    root = Path(tempfile.mkdtemp(prefix="tagger-tagbench-"))
    try:
        for name, rate in (("silence-44-s.mp3", 16_000), ("silence-44-s.flac", 88_000)):
            files = []
            for i in range(args.files):
                f = root / f"{i:03d}{Path(name).suffix}"
                make(data / name, f, rate * args.seconds)
                files.append(f)
            base = timed(baseline, files, (["Jazz"], ["Hip-Hop", "Rock"]))
            ours = timed(lambda f, g: write_genres(f, g), files, (["Blues"], ["Pop", "Soul"]))
            start = time.perf_counter()
            for f in files:
                read_field(f)
            read = (time.perf_counter() - start) / len(files) * 1000
            size = files[0].stat().st_size / 1e6
            print(
                f"{name} ({size:.1f} MB): mutagen save {base:.1f} ms/file, "
                f"write_genres {ours:.1f} ms/file ({ours / base:.2f}x), "
                f"read_field {read:.2f} ms/file"
            )
            for f in files:
                f.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
