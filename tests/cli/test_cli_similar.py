"""``tagger similar``: its playlist, and which stored tracks it may return."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mutagen
import numpy as np
from conftest import run_cli, run_json, store_scan
from soundtracks import musicnn_result

from tagger.models import current_embedder
from tagger.payload import audio_fingerprint
from tagger.training.synth import synth_track, write_audio


def stored_library(root: Path, db: Path, tags: list[dict], vectors: np.ndarray) -> list[Path]:
    """Real FLAC files carrying ``tags``, stored as a musicnn scan stores them (``vectors`` as
    their embeddings, durations 100 s, 101 s, ...), so that no test here needs TensorFlow."""
    root.mkdir(parents=True)
    files = []
    for i, t in enumerate(tags):
        f = write_audio(root / f"track {i}.flac", synth_track("bells", 1.0, 22050, seed=i), 22050)
        audio = mutagen.File(f)
        for key, value in t.items():
            audio[key] = value
        audio.save()
        files.append(f)
    results = [
        musicnn_result(f, vec, format="flac", duration=100.0 + i + 0.4, audio=audio_fingerprint(f))
        for i, (f, vec) in enumerate(zip(files, vectors))
    ]
    store_scan(db, results, "musicnn", current_embedder())
    return files


def test_m3u_has_real_durations_and_artist_title_from_the_tags(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    vectors = np.stack([base + 0.1 * i * rng.normal(size=400) for i in range(3)])
    tags = [
        {"artist": "Ana", "title": "First Light"},
        {"title": "No Artist Here"},
        {},  # no title: the file name
    ]
    files = stored_library(tmp_path / "Music", tmp_path / "lib.db", tags, vectors)
    out = tmp_path / "near.m3u"
    result = run_json("similar", files[0], "--db", tmp_path / "lib.db", "--m3u", out)
    assert result["query_duration"] == 100.4
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "#EXTM3U",
        "#EXTINF:100,Ana - First Light",
        str(files[0]),
        "#EXTINF:101,No Artist Here",
        str(files[1]),
        "#EXTINF:102,track 2",
        str(files[2]),
    ]


def test_copies_of_the_querys_audio_are_left_out_unless_asked(tmp_path):
    """A beets import copies files and rewrites their tags: the copy holds the query's audio and
    would top every list at similarity 1.000 (and a byte copy too)."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3, 400))
    music, db = tmp_path / "Music", tmp_path / "lib.db"
    files = stored_library(music, db, [{"title": "A"}, {"title": "B"}, {"title": "C"}], vectors)
    copy = music / "beets" / "A.flac"
    copy.parent.mkdir()
    shutil.copy(files[0], copy)
    retitled = mutagen.File(copy)
    retitled["title"] = "A (beets copy)"
    retitled["genre"] = "Ambient"
    retitled.save()
    store_scan(
        db,
        [musicnn_result(copy, vectors[0], format="flac", audio=audio_fingerprint(copy))],
        "musicnn",
        current_embedder(),
    )

    result = run_json("similar", files[0], "--db", db)
    assert result["copies"] == [str(copy)]
    assert {r["path"] for r in result["results"]} == {str(f) for f in files[1:]}
    assert result["searched"] == 4
    text = run_cli("similar", files[0], "--db", db).stdout
    assert text.splitlines()[-1] == "left out 1 copy of the same audio (--include-copies lists it)"
    listed = [line for line in text.splitlines() if line.startswith("  0.")]
    assert listed and all(line.split()[1] == "Ambient" for line in listed)  # as ls spells it
    assert text.splitlines()[1].split() == ["cosine", "genre", "bpm", "path"]  # what each is

    asked = run_json("similar", files[0], "--db", db, "--include-copies")
    assert asked["results"][0]["path"] == str(copy) and asked["results"][0]["similarity"] == 1.0
    assert str(files[0]) not in [r["path"] for r in asked["results"]]  # never the query itself

    # The copy as the query: searched with the stored embedding of its audio, the original left out.
    from_copy = run_json("similar", copy, "--db", db)
    assert from_copy["source"] == "stored" and from_copy["copies"] == [str(files[0])]
    assert {r["path"] for r in from_copy["results"]} == {str(f) for f in files[1:]}


def test_a_file_stored_under_two_names_is_listed_once_and_never_the_query_by_another(tmp_path):
    """Hard links (and symlinks) are one file: listed once, under its best-ranked name; the
    query's own other names are neither results nor copies, even with --include-copies."""
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(3, 400))
    music, db = tmp_path / "Music", tmp_path / "lib.db"
    files = stored_library(music, db, [{"title": "A"}, {"title": "B"}, {"title": "C"}], vectors)
    query_link, other_link, other_symlink = music / "A again.flac", music / "B.flac", music / "Bs"
    os.link(files[0], query_link)
    os.link(files[1], other_link)
    other_symlink.symlink_to(files[1])
    store_scan(
        db,
        [
            musicnn_result(p, vectors[i], format="flac", audio=audio_fingerprint(p))
            for p, i in ((query_link, 0), (other_link, 1), (other_symlink, 1))
        ],
        "musicnn",
        current_embedder(),
    )
    for extra in ([], ["--include-copies"]):
        result = run_json("similar", files[0], "--db", db, *extra)
        got = [r["path"] for r in result["results"]]
        assert len(got) == 2, got  # B under one of its three names, and C
        assert {os.stat(p).st_ino for p in got} == {files[1].stat().st_ino, files[2].stat().st_ino}
        assert result["copies"] == []  # its own hard link is the query, not a copy
    text = run_cli("similar", files[0], "--db", db).stdout
    assert "cop" not in text and str(query_link) not in text
