"""Adversarial real-world files for tests: the test data of other projects' source archives.

mutagen's own ``tests/data`` holds years of bug reports in file form (odd ID3
versions, unparsable frames, ID3v1 beside ID3v2, APEv2, damaged FLAC blocks,
chapters in M4B, ...); beets' mediafile 0.12.0 ``test/rsrc`` has full, empty,
partial and unparseable tags in every format beets handles.  An archive is
fetched once from the package index with pip and cached; a test that needs it
skips with the reason when it cannot be had (no network, no pip).  Nothing
here is used by the product.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import mutagen
import pytest

from tagger.formats import by_extension, sniff

CACHE = Path(os.environ.get("TAGGER_TEST_CACHE", Path.home() / ".cache" / "tagger-tests"))


def sdist_folder(package: str, version: str, member: str) -> Path:
    """``member`` (a folder inside ``package==version``'s source archive), extracted and cached.

    Skips the calling test, naming the cause, when the archive cannot be downloaded.
    """
    dest = CACHE / f"{package}-{version}"
    done = dest / ".complete"
    if not done.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
                str(CACHE),
                f"{package}=={version}",
            ],
            capture_output=True,
            text=True,
        )
        archives = sorted(CACHE.glob(f"{package}-{version}.tar.gz"))
        if proc.returncode != 0 or not archives:
            last = (proc.stderr.strip().splitlines() or ["no archive"])[-1]
            pytest.skip(
                f"cannot download the {package}=={version} source archive from the "
                f"package index: {last}"
            )
        with tarfile.open(archives[0]) as tar:
            tar.extractall(dest, filter="data")
        done.touch()
    found = list(dest.glob(f"*/{member}"))
    if not found:
        pytest.skip(f"{package}=={version} source archive has no {member}")
    return found[0]


def mutagen_data() -> Path:
    """``tests/data`` of the installed mutagen's source archive."""
    import mutagen

    return sdist_folder("mutagen", mutagen.version_string, "tests/data")


def mediafile_data() -> Path:
    """``test/rsrc`` of beets' tag library mediafile 0.12.0 (the last source archive with its
    test files): full, empty, partial and unparseable tags in every format beets handles."""
    return sdist_folder("mediafile", "0.12.0", "test/rsrc")


AUDIO_SUFFIXES = (
    ".mp3",
    ".flac",
    ".ogg",
    ".oga",
    ".opus",
    ".m4a",
    ".m4b",
    ".mp4",
    ".aac",
    ".wav",
    ".aif",
    ".aiff",
    ".aifc",
    ".wma",
    ".au",
    ".spx",
    ".tta",
    ".ape",
    ".mpc",
    ".wv",
    ".ofr",
    ".dsf",
    ".dff",
)


def audio_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` whose suffix names an audio format, sorted."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


# Hostile files a library holds, with the status and reason (a regular expression) a scan
# must give each: what the header promises is never what is heard.
HOSTILE_EXPECTED: dict[str, tuple[str, str]] = {
    "first4k.mp3": ("too_short", r"too short \(0\.\d s of 74\.0 s decodable\)"),
    "promise217.flac": ("truncated", r"truncated: 1\.1 s of 217\.0 s decodable"),
    "silence20.flac": ("silent", r"silent \(digital silence\)"),
    "clip.wav": ("too_short", r"too short \(0\.1 s\)"),
    "text.flac": ("error", r"not an audio file"),
}


def hostile_audio(root: Path) -> dict[str, tuple[str, str]]:
    """Write the ``HOSTILE_EXPECTED`` files into ``root``; returns the expectations.

    The first 4 KB of a 74-second MP3 (its header still says 74 s); a FLAC whose
    header promises 217 s over 1.1 s of data; 20 s of digital silence; a 0.1 s
    clip; a text file named ``.flac``.
    """
    import numpy as np

    from tagger.training.synth import synth_track, write_audio

    sr = 22050
    root.mkdir(parents=True, exist_ok=True)
    mp3 = write_audio(root / "long.mp3", synth_track("pulse", 74.0, sr, 1), sr)
    (root / "first4k.mp3").write_bytes(mp3.read_bytes()[:4096])
    mp3.unlink()
    flac = bytearray(
        write_audio(root / "promise217.flac", synth_track("bells", 1.1, sr, 2), sr).read_bytes()
    )
    # STREAMINFO's 36-bit sample count is the low end of the 8 bytes at offset 18.
    head = int.from_bytes(flac[18:26], "big")
    flac[18:26] = ((head >> 36 << 36) | 217 * sr).to_bytes(8, "big")
    (root / "promise217.flac").write_bytes(flac)
    write_audio(root / "silence20.flac", np.zeros(sr * 20, np.float32), sr)
    write_audio(root / "clip.wav", synth_track("pulse", 0.1, sr, 3), sr)
    (root / "text.flac").write_text("This is a text file, not audio.\n" * 40)
    return HOSTILE_EXPECTED


# The two corpora of real tagged files the byte-exact tag tests run over.
def beets_data() -> Path:
    """``test/rsrc`` of beets 1.6.0's source archive: the tagged files beets' own tests use
    (most shared with mediafile's; others such as min.*, date.mp3, image-jpeg.mp3 its own)."""
    return sdist_folder("beets", "1.6.0", "test/rsrc")


CORPORA = {"mutagen": mutagen_data, "mediafile": mediafile_data, "beets": beets_data}


def _tag_size(four: bytes) -> int:
    """An ID3v2 tag's size from its header: four bytes of seven bits each."""
    return (four[0] << 21) | (four[1] << 14) | (four[2] << 7) | four[3]


def taggable(folder: Path) -> list[Path]:
    """Files tagger scans (by name and by content) that mutagen opens."""
    out = []
    for f in audio_files(folder):
        fmt = sniff(f)
        if by_extension(f) is None or fmt is None or fmt.tag_family is None:
            continue
        try:
            if mutagen.File(f) is None:
                continue
        except mutagen.MutagenError:
            continue  # e.g. emptyfile.mp3, too-short.mp3: nothing mutagen can open
        out.append(f)
    return out


def corpus_copy(name: str, tmp_path: Path) -> list[Path]:
    files = taggable(CORPORA[name]())
    assert len(files) >= 40, f"{name} corpus shrank to {len(files)} files"
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    return [tmp_path / f.name for f in files]
