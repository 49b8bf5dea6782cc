"""How ``tagger.voice`` calls instrumental and vocal music it can be checked on.

    python benchmarks/voice.py [--audio ../shared/gtzan/dev]
                               [--annotations ../shared/gtzan/annotations/marchand2015-stats.csv]

Instrumental: musicnn's pooled tags of 57 real tracks of two instrumental game
soundtracks (Battle for Wesnoth's orchestral score, Endgame: Singularity's
electronic one; ``tests/fixtures/musicnn_real_tags.npz``) and the 6-second
clips of the same two in ``tests/fixtures/real_clips``, run through the model
here; that folder's Frets on Fire songs (guitar-game metal, whose vocals
nobody here has checked) are counted apart.  Vocal: the GTZAN clips of
``--audio`` in genres whose songs are sung or rapped (country, disco,
hip-hop, metal, pop; each clip's artist and title from the annotations are
printed, so anyone can check what is sung); the jazz clips there (Leonard
Bernstein's orchestral dances) are counted apart as instrumental.  Prints, per
group, how many tracks are called instrumental, vocal, or left unsure.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "gtzan"
SUNG = ("country", "disco", "hiphop", "metal", "pop")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--audio", type=Path, default=SHARED / "dev")
    ap.add_argument(
        "--annotations", type=Path, default=SHARED / "annotations" / "marchand2015-stats.csv"
    )
    args = ap.parse_args()

    from tagger import worker
    from tagger.models import resolve
    from tagger.models.musicnn_genres import tag_dict
    from tagger.voice import voice

    groups: dict[str, Counter] = {}
    with np.load(ROOT / "tests" / "fixtures" / "musicnn_real_tags.npz") as d:
        for kind, tags in zip(d["kinds"], d["tags"]):
            key = f"soundtrack tracks ({kind}, instrumental)"
            groups.setdefault(key, Counter())[voice(tag_dict(tags[:50], tags[50:]))] += 1

    ref, _ = resolve("musicnn")
    model = worker.MODELS.get(ref, threads=1)

    def heard(path: Path) -> str | None:
        _, x = worker.track_input(path, model.spec)
        return voice(model.predict_tracks([x])[0].tags)

    for clip in sorted((ROOT / "tests" / "fixtures" / "real_clips").rglob("*.ogg")):
        game = clip.parent.name
        key = (
            "Frets on Fire clips (not checked)"
            if game == "fretsonfire"
            else "soundtrack clips (instrumental)"
        )
        groups.setdefault(key, Counter())[heard(clip)] += 1

    if args.audio.is_dir() and args.annotations.is_file():
        with open(args.annotations, newline="") as f:
            names = {
                r["filename"].rsplit(".", 1)[0]: f"{r['artist']} - {r['title']}"
                for r in csv.DictReader(f)
            }
        for clip in sorted(args.audio.rglob("*.flac")):
            genre = clip.stem.split(".")[0]
            said = heard(clip)
            key = "GTZAN sung genres (vocal)" if genre in SUNG else f"GTZAN {genre} (see titles)"
            groups.setdefault(key, Counter())[said] += 1
            print(f"  {clip.stem:14} {said or 'unsure':12} {names.get(clip.stem, '?')}")
    else:
        print(f"no GTZAN clips at {args.audio}: the vocal group is left out", file=sys.stderr)

    print(f"{'group':42} {'tracks':>6} {'instrumental':>12} {'vocal':>6} {'unsure':>6}")
    for key, c in groups.items():
        n = sum(c.values())
        print(f"{key:42} {n:>6} {c['instrumental']:>12} {c['vocal']:>6} {c[None]:>6}")


if __name__ == "__main__":
    main()
