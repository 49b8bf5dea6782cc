"""The long fuzz run of genre writes: corrupted real files of every written format.

    python benchmarks/tag_fuzz.py [--cases 20000] [--seed 1] [--seconds 1.0]

Makes one real file of each kind, in the layouts everyday taggers leave
(``tests/tagfiles.py``: MP3 with ID3v2.4 and a large cover, ID3v2.3 + ID3v1
with a cover, MusicBrainz ids, a long comment and lyrics, ID3v2.3 + APEv2,
FFmpeg's own ID3v2.3 with an attached picture; FLAC with a picture; Ogg Vorbis
and Opus with ``METADATA_BLOCK_PICTURE`` covers; Ogg FLAC; Theora + Vorbis; M4A
with a cover and freeform atoms, ``moov`` after and before ``mdat``; WMA; WAV
and AIFF with ID3 chunks), then for each
case corrupts one to three places of its structure (``tests/tagfuzz.py``) and
checks every promise of a write (refused and byte-identical, or only the genre
changed with the audio payload identical; undo byte-identical; nothing raised,
nothing left, no case past its call budget).  Prints the counts per format
and every failure; exits 1 if there was one.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from tagfiles import make_files
from tagfuzz import OPERATIONS, check, mutate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0, help="audio per file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts: collections.Counter = collections.Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {n: p.read_bytes() for n, p in make_files(Path(tmp) / "src", args.seconds).items()}
        work = Path(tmp) / "work"
        work.mkdir()
        names = sorted(files)
        for i in range(args.cases):
            name = rng.choice(names)
            picks = [
                (rng.choice(OPERATIONS), rng.randrange(1 << 20), rng.randrange(1 << 32))
                for _ in range(rng.randint(1, 3))
            ]
            try:
                counts[name, check(mutate(files[name], picks), work / f"case-{name}")] += 1
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                counts[name, "FAILED"] += 1
                failures.append(f"case {i} {name} {picks}: {type(exc).__name__}: {exc}")
    print(f"{args.cases} cases (seed {args.seed}):")
    for name in names:
        row = {o: counts[name, o] for o in ("written", "refused", "FAILED")}
        print(
            f"  {name:14} written {row['written']:6}  refused {row['refused']:6}  "
            f"failed {row['FAILED']}"
        )
    total = collections.Counter()
    for (_, outcome), n in counts.items():
        total[outcome] += n
    print(
        f"  {'all':14} written {total['written']:6}  refused {total['refused']:6}  "
        f"failed {total['FAILED']}"
    )
    for line in failures[:50]:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
