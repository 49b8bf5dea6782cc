"""The own-genres loop as a user runs it, through the real CLI on real recordings: scan,
write, undo, scan, a tag change by another program, retrain, similar, re-label, write.

The recordings are clips of three freely licensed game soundtracks
(``fixtures/real_clips``, cut by ``training/real_clips.py``): an orchestral
score, electronic music and metal, transcoded here into six formats. Half of
each soundtrack carries the user's own name for its genre; the stored
analysis must survive every tag change, whoever makes it, without a decode.
"""

from __future__ import annotations

from pathlib import Path

import mutagen
import pytest
import soundfile as sf
from conftest import raw_genres, rows, run_cli, run_json
from mutagen.asf import ASF

from tagger.training.synth import write_audio

pytestmark = pytest.mark.slow  # TensorFlow and the real CLI

CLIPS = Path(__file__).parents[1] / "fixtures" / "real_clips"
USER_GENRES = {"wesnoth": "Orchestral Score", "singularity": "synthwave", "fretsonfire": "Thrash"}
FORMATS = (".ogg", ".flac", ".mp3", ".m4a", ".opus", ".wma")


# mutagen's easy view has no ASF keys: WMA's own names for the same fields.
ASF_KEYS = {"album": "WM/AlbumTitle", "artist": "Author", "title": "Title", "genre": "WM/Genre"}


def retag(path: str | Path, **fields: str) -> None:
    """Set tags as another program (Picard, beets: mutagen) does."""
    audio = mutagen.File(path, easy=True)
    wma = isinstance(audio, ASF)
    for key, value in fields.items():
        audio[ASF_KEYS[key] if wma else key] = value
    audio.save()


def real_library(root: Path) -> dict[str, str | None]:
    """Each soundtrack's six clips in six formats, two albums each, every other one tagged with
    the user's genre: path -> the genre it was tagged with (None: untagged)."""
    tagged: dict[str, str | None] = {}
    for group, genre in USER_GENRES.items():
        (root / group).mkdir(parents=True)
        for i, clip in enumerate(sorted((CLIPS / group).glob("*.ogg"))):
            y, sr = sf.read(clip, dtype="float32")
            f = write_audio(root / group / f"{clip.stem}{FORMATS[i]}", y, sr)
            fields = {"album": f"{group} vol {1 + i // 3}", "artist": group.title()}
            retag(f, title=clip.stem, **fields, **({"genre": genre} if i % 2 == 0 else {}))
            tagged[str(f)] = genre if i % 2 == 0 else None
    return tagged


def raw(paths) -> dict[str, bytes]:
    return {p: Path(p).read_bytes() for p in paths}


def test_the_own_genres_loop_on_real_recordings(tmp_path, isolated_home):
    music, db = tmp_path / "Music", tmp_path / "lib.db"
    tagged = real_library(music)
    n = len(tagged)
    # float32: the same embeddings on every CPU (bfloat16, where the CPU has it, moves them by
    # up to 2e-2, enough to flip a borderline six-second clip of the head's answers below).
    first = run_json("scan", music, "--db", db, "--jobs", "2", "--precision", "float32")
    assert (first["scanned"], first["errors"], first["model"]) == (n, 0, "musicnn")
    assert all(r["audio"] for r in rows(db))  # every format's audio fingerprinted

    # A write by tagger, then its undo: the analysis stays the file's, nothing is decoded.
    before = raw(tagged)
    folder = music / "singularity"
    wrote = run_json(
        "write", folder, "--db", db, "--overwrite", "--include-uncertain", "--per-track"
    )
    assert wrote["written"] + wrote["already_set"] == 6 and wrote["errors"] == 0
    assert run_json("scan", music, "--db", db)["scanned"] == 0
    undone = run_json("undo", folder, "--db", db)
    assert undone["restored"] == wrote["written"]
    assert raw(tagged) == before  # every byte back
    again = run_json("scan", music, "--db", db)
    assert (again["scanned"], again["relabelled"], again["skipped"]) == (0, 0, n)

    # In another program (mutagen, as Picard uses), the user retitles four files and tags
    # one of them: their size and mtime change, their audio does not.
    hand = next(p for p, g in tagged.items() if g is None and "/fretsonfire/" in p)
    others = [p for p in tagged if p.endswith((".mp3", ".m4a", ".wma")) and p != hand]
    edited = [hand, *others[:3]]
    for p in edited:
        retag(p, title="renamed by another tagger")
    retag(hand, genre=USER_GENRES["fretsonfire"])
    tagged[hand] = USER_GENRES["fretsonfire"]
    seen = run_json("scan", music, "--db", db)
    assert (seen["scanned"], seen["retagged"], seen["skipped"]) == (0, len(edited), n)
    stored = {r["path"]: r for r in rows(db)}
    assert stored[hand]["tag_genre"] == USER_GENRES["fretsonfire"]
    assert len(rows(db, "SELECT path FROM embeddings")) == n

    # Retrain learns from every tagged file; similar searches every analysed track.
    card = run_json("retrain", "--from-library", "--db", db, "--min-tracks", "3")
    assert card["genres"] == sorted(USER_GENRES.values(), key=str.lower)
    assert card["accuracy"]["tracks"] == sum(g is not None for g in tagged.values())
    near = run_json("similar", edited[1], "--db", db, "--top", "3")
    assert near["searched"] == n and near["source"] == "stored"

    # Re-label from the stored embeddings (one file retagged again meanwhile: re-keyed, then
    # re-labelled from the embedding it had), then write the user's genres.
    retag(edited[2], title="renamed once more")
    relabel = run_json("scan", music, "--db", db)
    assert (relabel["model"], relabel["relabelled"], relabel["scanned"]) == ("library", n, 0)
    assert relabel["retagged"] == 1
    last = run_json("report", "--db", db)["last_scan"]  # the report says what the scan said
    assert (last["scanned"], last["relabelled"]) == (0, n)
    untagged = [p for p, g in tagged.items() if g is None]
    done = run_json("write", music, "--db", db)
    assert done["errors"] == 0
    assert done["written"] + done["uncertain"] == len(untagged), done
    truth = {p: USER_GENRES[Path(p).parent.name] for p in untagged}
    written = {c["path"]: c["proposed"] for c in done["changes"] if c["action"] == "write"}
    assert all(raw_genres(p) == g for p, g in written.items())  # what it said it wrote
    right = sum(g == [truth[p]] for p, g in written.items())
    # Not every clip is heard as its soundtrack: one 6-second metal clip (sectoid's
    # "Feelings") is labelled Orchestral Score with confidence 0.99.
    assert right >= len(written) - 1 and len(written) >= len(untagged) // 2, written
    if done["uncertain"]:  # the user is told why those were left
        text = run_cli("write", music, "--db", db, "--dry-run").stdout
        assert "uncertain" in text
