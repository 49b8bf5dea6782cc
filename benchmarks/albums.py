"""Album genres against track genres on real soundtracks, and the rule that keeps mixes per track.

    python benchmarks/albums.py [--work DIR] [--draws 200] [--seed 0] [--json]

Builds a small music library from the freely licensed game soundtracks Debian
packages (see ``training/real_embeddings.py``; ``apt-get install
wesnoth-1.16-music singularity-music fretsonfire-songs-muldjord
fretsonfire-songs-sectoid hyperrogue-music planetblupi-music-ogg``): one
folder per soundtrack (Frets on Fire per artist), each file a symlink to the
installed recording with its own tags, plus two **mixed albums**, copies of
four tracks of each of two soundtracks retagged as one album ("Mixed: Wesnoth
+ Singularity", "Mixed: Wesnoth + Muldjord").  Then, through the real CLI:

1. ``tagger scan LIB --model musicnn`` (the shipped model; no config file);
2. ``tagger write --dry-run --json --per-track`` and ``--album``: what each
   mode would write to every track, from the same stored results.

Per-track accuracy is counted on the soundtracks whose genre their files or
packages state (Wesnoth: classical, its files say "Romantic Classical";
Muldjord's Frets on Fire songs: metal, their files say "Death Metal";
Endgame: Singularity: electronic, techno accepted); HyperRogue, Planet Blupi
and Sectoid's songs state none and are shown, not scored.

Then **the rule**, measured on the same stored results with the same
functions (``tagger.albums``): random 8-track albums drawn from one scored
soundtrack (coherent: should get one genre) and from two of them, 4+4, 5+3
and 6+2 (mixed: should stay per track), for ``RULE`` and for simpler rules.
Nothing is written into any file; the copies live under ``--work``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "training"))

# Folder in the library -> the installed soundtrack (real_embeddings.SOUNDTRACKS key) and
# the genres a track of it may rightly get (None: no stated genre, not scored).
FOLDERS: dict[str, tuple[str, set[str] | None]] = {
    "Battle for Wesnoth": ("wesnoth", {"classical"}),
    "Endgame Singularity": ("singularity", {"electronic", "techno"}),
    "Frets on Fire/Muldjord": ("fretsonfire", {"metal"}),
    "Frets on Fire/Sectoid": ("fretsonfire", None),
    "HyperRogue": ("hyperrogue", None),
    "Planet Blupi": ("blupi", None),
}
MIXES = {  # album name -> the two library folders it takes four tracks of each from
    "Mixed: Wesnoth + Singularity": ("Battle for Wesnoth", "Endgame Singularity"),
    "Mixed: Wesnoth + Muldjord": ("Battle for Wesnoth", "Frets on Fire/Muldjord"),
}
DRAW = 8  # tracks per drawn album


def build_library(lib: Path) -> dict[str, str]:
    """The library (symlinks to the installed recordings, and the retagged mixes);
    returns each file's folder, as in ``FOLDERS``."""
    import mutagen
    from real_embeddings import fixture_name, soundtrack_files

    files = soundtrack_files()
    missing = sorted({s for s, _ in FOLDERS.values() if not files.get(s)})
    if missing:
        sys.exit(f"not installed: {', '.join(missing)} (see the docstring for apt-get)")
    folder_of: dict[str, str] = {}
    for folder, (soundtrack, _) in FOLDERS.items():
        members = files[soundtrack]
        if soundtrack == "fretsonfire":
            artist = folder.rsplit("/", 1)[1].lower()
            members = [f for f in members if f"/songs/{artist}/" in f]
        (lib / folder).mkdir(parents=True, exist_ok=True)
        for f in members:
            link = lib / folder / fixture_name(f)
            if not link.is_symlink():
                link.symlink_to(f)
            folder_of[str(link)] = folder
    for album, parts in MIXES.items():
        where = lib / album.replace(":", "").replace(" + ", " and ")
        where.mkdir(parents=True, exist_ok=True)
        for part in parts:
            for link in sorted(p for p, f in folder_of.items() if f == part)[:4]:
                copy = where / f"{Path(part).name} - {Path(link).name}"
                if not copy.exists():
                    shutil.copyfile(os.path.realpath(link), copy)
                    audio = mutagen.File(copy)
                    audio["album"], audio["albumartist"] = album, "Benchmark"
                    audio.save()
                folder_of[str(copy)] = part
    return folder_of


def tagger(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tagger.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode not in (0, 4):
        sys.exit(f"tagger {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


@dataclass
class Tally:
    right: int = 0
    tracks: int = 0

    def add(self, ok: bool) -> None:
        self.right += ok
        self.tracks += 1

    def __str__(self) -> str:
        return (
            f"{self.right}/{self.tracks} ({self.right / self.tracks:.1%})" if self.tracks else "-"
        )


def right(proposed: list[str], expected: set[str] | None) -> bool:
    from tagger.genres import spelling_key

    return bool(proposed) and expected is not None and spelling_key(proposed[0]) in expected


def rule_sweep(db: Path, folder_of: dict[str, str], draws: int, seed: int) -> list[dict]:
    """Coherent and mixed albums drawn from the stored results, judged by each rule."""
    from tagger.albums import RULE, AlbumKey, AlbumTrack, Mode, Rule, album_genre
    from tagger.store import Store

    store = Store(db, create=False, reading=True)
    try:
        rows = [r for r in store.tracks(present=True) if r.error is None]
    finally:
        store.close()
    originals: dict[str, list[AlbumTrack]] = {}
    for r in rows:
        folder = folder_of.get(r.path)
        if folder and FOLDERS[folder][1] and "Mixed" not in r.path:
            originals.setdefault(folder, []).append(AlbumTrack.from_row(r))
    rules = {
        "this rule (2/3 near, > 1/2 agree, top of >= 1/3)": RULE,
        "only > 1/2 agree (2/3 near)": Rule(min_top_share=0.0),
        "top genre of >= 1/2 (a plain majority vote)": Rule(near=1.0, min_agreement=0.4999),
        "top genre of > 1/2": Rule(near=1.0, min_agreement=0.5),
        "> 2/3 agree (2/3 near), top of >= 1/3": Rule(min_agreement=2 / 3),
    }
    rng = random.Random(seed)
    scored = sorted(f for f in originals if len(originals[f]) >= DRAW // 2)
    cases: dict[str, list[tuple[list[AlbumTrack], list[set[str]]]]] = {}
    for name, take in (("one soundtrack", DRAW), ("4+4", 4), ("5+3", 5), ("6+2", 6)):
        drawn = []
        for _ in range(draws):
            if take == DRAW:
                a = rng.choice([f for f in scored if len(originals[f]) >= DRAW])
                tracks, truth = rng.sample(originals[a], DRAW), [FOLDERS[a][1]] * DRAW
            else:
                a, b = rng.sample(scored, 2)
                if len(originals[b]) < DRAW - take or len(originals[a]) < take:
                    a, b = b, a
                tracks = rng.sample(originals[a], take) + rng.sample(originals[b], DRAW - take)
                truth = [FOLDERS[a][1]] * take + [FOLDERS[b][1]] * (DRAW - take)
            drawn.append((tracks, [t or set() for t in truth]))
        cases[name] = drawn
    out = []
    for label, rule in rules.items():
        row: dict = {"rule": label}
        for name, drawn in cases.items():
            one, track_right, album_right, n = 0, 0, 0, 0
            for tracks, truth in drawn:
                album = album_genre(AlbumKey("drawn", "x", None), tracks, rule=rule)
                one += album.mode is Mode.ALBUM
                for t, ok in zip(tracks, truth):
                    n += 1
                    track_right += t.genre in ok
                    album_right += (album.genre if album.mode is Mode.ALBUM else t.genre) in ok
            row[name] = {
                "one_genre": round(one / len(drawn), 4),
                "track_mode_accuracy": round(track_right / n, 4),
                "album_mode_accuracy": round(album_right / n, 4),
            }
        out.append(row)
    return out


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "tagger-albums")
    ap.add_argument("--draws", type=int, default=200, help="drawn albums per case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    lib, db = args.work / "library", args.work / "library.db"
    folder_of = build_library(lib)
    env = {
        **os.environ,
        "TAGGER_CONFIG": str(args.work / "no-config.toml"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("TAGGER_DB", None)
    db.unlink(missing_ok=True)
    tagger("scan", str(lib), "--db", str(db), "--model", "musicnn", "--json", env=env)
    per = json.loads(
        tagger("write", "--db", str(db), "--dry-run", "--json", "--per-track", env=env)
    )
    alb = json.loads(tagger("write", "--db", str(db), "--dry-run", "--json", "--album", env=env))
    per_track = {c["path"]: c["proposed"] for c in per["changes"]}
    album_of = {c["path"]: c for c in alb["changes"]}
    albums = []
    totals = {"track": Tally(), "album": Tally()}
    mixed_totals = {"track": Tally(), "album": Tally()}
    for a in alb["albums"]:
        members = [p for p, c in album_of.items() if c["album"] == a["label"]]
        folders = Counter(folder_of[p] for p in members)
        mixed = "Mixed" in a["label"]
        t, m = Tally(), Tally()
        for p in members:
            expected = FOLDERS[folder_of[p]][1]
            if expected is None:
                continue
            target = mixed_totals if mixed else totals
            for tally, whole, proposed in (
                (t, target["track"], per_track[p]),
                (m, target["album"], album_of[p]["proposed"]),
            ):
                tally.add(right(proposed, expected))
                whole.add(right(proposed, expected))
        albums.append(
            {
                **{k: a[k] for k in ("label", "tracks", "voters", "mode", "genre", "score")},
                "agreement": a["agreement"],
                "from": sorted(folders),
                "expected": sorted(set().union(*(FOLDERS[f][1] or set() for f in folders))) or None,
                "track_mode_right": str(t),
                "album_mode_right": str(m),
            }
        )
    sweep = rule_sweep(db, folder_of, args.draws, args.seed)
    result = {
        "command": "python benchmarks/albums.py " + " ".join(sys.argv[1:]),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs",
        "tracks": len(per["changes"]),
        "albums": albums,
        "soundtrack_tracks": {k: str(v) for k, v in totals.items()},
        "mixed_album_tracks": {k: str(v) for k, v in mixed_totals.items()},
        "rule_sweep": sweep,
        "draws": args.draws,
        "seconds": round(time.time() - t0, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['tracks']} tracks, {len(albums)} albums; {result['machine']}")
    table = [
        [
            a["label"].replace(str(lib) + "/", ""),
            str(a["tracks"]),
            a["mode"],
            a["genre"] or "-",
            f"{a['score']:.2f}",
            f"{a['agreement']:.2f}" if a["agreement"] is not None else "-",
            "/".join(a["expected"] or ["-"]),
            a["track_mode_right"],
            a["album_mode_right"],
        ]
        for a in albums
    ]
    head = [
        "album",
        "tracks",
        "mode",
        "genre",
        "score",
        "agree",
        "expected",
        "track mode",
        "album mode",
    ]
    widths = [max(len(r[i]) for r in [head, *table]) for i in range(len(head))]
    for r in [head, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(
        f"\nper-track accuracy, scored soundtracks: track mode {totals['track']}, "
        f"album mode {totals['album']}"
    )
    print(
        f"mixed albums' tracks: track mode {mixed_totals['track']}, album mode "
        f"{mixed_totals['album']}"
    )
    print(
        f"\nthe rule on {args.draws} drawn {DRAW}-track albums per case (share given one genre; "
        "per-track accuracy track mode -> album mode):"
    )
    names = [k for k in sweep[0] if k != "rule"]
    w = max(len(row["rule"]) for row in sweep)
    print(f"{'rule':<{w}}" + "".join(f"  {n:>18}" for n in names))
    for row in sweep:
        cells = (
            f"{row[n]['one_genre']:>5.0%} {row[n]['track_mode_accuracy']:>5.0%}->"
            f"{row[n]['album_mode_accuracy']:<5.0%}"
            for n in names
        )
        print(f"{row['rule']:<{w}}" + "".join(f"  {c:>18}" for c in cells))
    print(f"\n[{result['seconds']} s] {result['command']}")


if __name__ == "__main__":
    main()
