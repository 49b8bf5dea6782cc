"""The audio fingerprint against the decode it saves, on the same real files in one run.

    python benchmarks/fingerprint.py [--tracks 8] [--formats ogg,mp3,flac,m4a,opus,wav]
                                      [AUDIO_DIR ...]

A scan that finds a file whose size or mtime changed reads its audio
fingerprint (``tagger.payload.audio_fingerprint``: a digest of the audio
payload's bytes) before deciding to decode it: when the fingerprint is the
stored one, only the tags changed and nothing is decoded.  This measures, per
format, the milliseconds per track of that fingerprint and of what a scan
worker does instead (``tagger.worker.track_input``: decode musicnn's five
windows and make its input; the nets come on top), and prints their ratio.

Real recordings (default: the Debian soundtracks ``wesnoth-music`` and
``singularity-music``), transcoded by FFmpeg into each format; every file is
read once before timing (the page cache warm, as on a second scan); each time
is the median of three passes, on one thread.  The machine may be shared:
compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtimes import DEFAULT_AUDIO

# The static ffmpeg of the test extra's imageio-ffmpeg ($IMAGEIO_FFMPEG_EXE names another).
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()

FFMPEG_CODEC = {  # how each format is made from the source recordings
    "ogg": None,  # the recordings themselves
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "flac": ["-c:a", "flac"],
    "m4a": ["-c:a", "aac", "-b:a", "192k"],
    "opus": ["-c:a", "libopus", "-b:a", "128k"],
    "wav": ["-c:a", "pcm_s16le"],
}


def sources(folders: list[str], n: int) -> list[Path]:
    from tagger.walk import walk

    found = walk([f for f in folders if Path(f).is_dir()]).files
    if not found:
        sys.exit(f"no audio under {' '.join(folders)} (apt-get install wesnoth-1.16-music ...)")
    return [Path(f) for f in sorted(found)[:n]]


def transcode(files: list[Path], fmt: str, out: Path) -> list[Path]:
    if FFMPEG_CODEC[fmt] is None:
        return files
    made = []
    for i, f in enumerate(files):
        dst = out / f"{i:02d}.{fmt}"
        subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-i", str(f), *FFMPEG_CODEC[fmt], str(dst)],
            check=True,
        )
        made.append(dst)
    return made


def per_track_ms(work, files: list[Path]) -> float:
    """Median over three passes of the milliseconds per file of ``work(file)``."""
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        for f in files:
            work(f)
        passes.append((time.perf_counter() - start) * 1000 / len(files))
    return statistics.median(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", default=DEFAULT_AUDIO)
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--formats", default=",".join(FFMPEG_CODEC))
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    from tagger.features import MUSICNN
    from tagger.payload import audio_fingerprint
    from tagger.worker import track_input

    threadpool_limits(1)
    files = sources(args.folders, args.tracks)
    print(f"{len(files)} recordings from {', '.join(args.folders)}")
    print(f"{'format':<7} {'MB/track':>8} {'fingerprint ms':>15} {'decode ms':>10} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            out = Path(tmp) / fmt
            out.mkdir()
            made = transcode(files, fmt, out)
            for f in made:  # the page cache warm for both
                f.read_bytes()
            size = sum(f.stat().st_size for f in made) / len(made) / 1e6
            fingerprint = per_track_ms(audio_fingerprint, made)
            decode = per_track_ms(lambda f: track_input(f, MUSICNN), made)
            print(
                f"{fmt:<7} {size:8.2f} {fingerprint:15.2f} {decode:10.1f} "
                f"{fingerprint / decode:7.3f}"
            )


if __name__ == "__main__":
    main()
