"""``tagger write`` and ``undo`` through the real CLI: genres into the files' tags and back,
byte for byte, over generated files in every format and over mutagen's own test files."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import mutagen
import numpy as np
import pytest
from conftest import FORMATS, make_library, rows, run_cli, run_json
from corpus import (
    _tag_size,
    corpus_copy,
    mutagen_data,
)
from rawtags import diff, digest, raw_genre, snapshot, without_genre
from tolerance import rounded

from tagger.genres import display_name
from tagger.tags import read_genres, write_genres
from tagger.training.synth import synth_track, write_audio

# The generated tones have no clear genre, so musicnn's rule flags them uncertain; these
# tests are about writing, so every write here includes them (--include-uncertain).


def _preset(library: Path) -> dict[str, list[str]]:
    """Genres a user set by hand before tagger came along."""
    preset = {"track0.mp3": ["Hip Hop"], "track1.flac": ["Orchestral"], "track4.m4a": ["Polka"]}
    for name, genres in preset.items():
        write_genres(library / name, genres)
    return preset


@pytest.mark.slow
def test_write_undo_cycle_through_the_cli(library, tmp_path):
    preset = _preset(library)
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    files_before = digest(library)
    db_before = rows(db)

    dry = run_cli("write", "--include-uncertain", "--db", db, "--dry-run").stdout
    assert f"keep {library / 'track0.mp3'}: Hip Hop (tagger: " in dry
    assert f"would write {library / 'track2.ogg'}: (none) -> " in dry
    assert digest(library) == files_before and rows(db) == db_before
    assert rows(db, "SELECT * FROM tag_history") == []

    summary = run_json("write", "--include-uncertain", "--db", db)
    assert summary["written"] == len(FORMATS) - len(preset)
    assert summary["kept_existing"] == len(preset)
    stored = {Path(r["path"]).name: r for r in rows(db)}
    for name, row in stored.items():
        if name in preset:
            assert raw_genre(library / name) == preset[name]
            assert row["written_genre"] is None
        else:
            assert raw_genre(library / name) == [display_name(row["genre"])]
            assert row["written_genre"] == display_name(row["genre"])
            assert row["size"] == (library / name).stat().st_size  # rescan will not see a change
    history = rows(db, "SELECT * FROM tag_history")
    assert len(history) == summary["written"]
    assert {h["status"] for h in history} == {"written"}
    assert all(json.loads(h["old_values"]) == [] for h in history)

    rescan = run_json("scan", library, "--db", db)
    assert rescan["scanned"] == 0 and rescan["skipped"] == len(FORMATS)

    again = run_json("write", "--include-uncertain", "--db", db)
    assert again["written"] == 0 and again["already_set"] == len(FORMATS) - len(preset)

    over = run_json(
        "write", "--include-uncertain", library / "track0.mp3", "--db", db, "--overwrite"
    )
    assert over["written"] == 1 and over["considered"] == 1
    assert raw_genre(library / "track0.mp3") != ["Hip Hop"]

    undone = run_json("undo", "--db", db)
    assert undone["restored"] == len(FORMATS) - len(preset) + 1
    for name in stored:
        assert raw_genre(library / name) == preset.get(name, [])
    assert run_json("undo", "--db", db)["restored"] == 0  # undo twice is harmless
    for name in stored:
        assert raw_genre(library / name) == preset.get(name, [])


@pytest.mark.slow
def test_thresholds_and_top_k(library, tmp_path):
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    none = run_json("write", "--include-uncertain", "--db", db, "--min-confidence", "1.0")
    assert none["written"] == 0 and none["low_confidence"] == len(FORMATS)
    # --top 2: the second genre is written only where the model hears it at least half as
    # well as the first; the library holds tracks of both kinds.
    two = run_json("write", "--include-uncertain", "--db", db, "--top", "2")
    assert two["written"] == len(FORMATS)
    seconds = {}
    for row in rows(db):
        (g1, p1), (g2, p2) = sorted(
            json.loads(row["probabilities"]).items(), key=lambda kv: -kv[1]
        )[:2]
        expected = [display_name(g1)] + ([display_name(g2)] if p2 >= 0.5 * p1 else [])
        assert raw_genre(Path(row["path"])) == expected, (row["path"], p1, p2)
        seconds[row["path"]] = len(expected) == 2
    assert set(seconds.values()) == {True, False}, seconds


@pytest.mark.slow
def test_scan_write_tags_and_errors(library, tmp_path):
    (library / "track2.ogg").chmod(0o444)
    db = tmp_path / "lib.db"
    proc = run_cli(
        "scan", library, "--db", db, "--write-tags", "--include-uncertain", "--json", check=False
    )
    assert proc.returncode == 4  # finished with errors
    summary = json.loads(proc.stdout)
    assert summary["tags"]["written"] == len(FORMATS) - 1
    assert summary["tags"]["error_files"] == [
        {"path": str(library / "track2.ogg"), "error": "file is read-only"}
    ]
    history = rows(db, "SELECT * FROM tag_history WHERE status = 'failed'")
    assert len(history) == 1 and history[0]["scan_id"] == summary["scan_id"]
    assert (
        run_json("undo", "--db", db, "--scan", str(summary["scan_id"]))["restored"]
        == len(FORMATS) - 1
    )


@pytest.mark.slow
def test_report_matches_the_database(library, tmp_path):
    _preset(library)
    (library / "broken.mp3").write_bytes(b"\xff\xfb" + os.urandom(3000))
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    run_json("write", "--include-uncertain", library / "track2.ogg", "--db", db)
    rep = run_json("report", "--db", db, "--uncertain", "3")
    stored = rows(db)
    ok = [r for r in stored if r["error"] is None]
    assert rep["totals"]["tracks"] == len(stored)
    assert rep["totals"]["analysed"] == len(ok)
    assert rep["totals"]["errors"] == len(stored) - len(ok)
    assert rep["totals"]["written"] == 1
    assert sum(g["tracks"] for g in rep["groups"]) == len(ok)
    by_genre = {}  # by the spelling every command prints
    for r in ok:
        by_genre.setdefault(display_name(r["genre"]), []).append(r["confidence"])
    for g in rep["groups"]:
        assert g["tracks"] == len(by_genre[g["genre"]])
        assert abs(g["mean_confidence"] - np.mean(by_genre[g["genre"]])) <= rounded(4)  # 4 places
    a = rep["agreement"]
    assert a["compared"] == 2 and a["unmapped"] == {"Polka": 1}
    assert set(a["tag_genres"]) == {"Hip-Hop", "Classical"}  # spelt as every output spells it
    certain = sorted(r["confidence"] for r in ok if not r["uncertain"])
    assert [u["confidence"] for u in rep["uncertain"]] == certain[:3]
    assert rep["last_scan"]["scanned"] == len(ok)

    text = run_cli("report", "--db", db).stdout
    assert f"{len(stored)} tracks" in text and "unmapped tags: Polka (1)" in text
    csv_text = run_cli("report", "--db", db, "--csv", "--by", "format").stdout
    header, *lines = csv_text.splitlines()
    assert header == "format,tracks,share,mean_confidence,low_confidence,written,genres"
    assert len(lines) == len({r["format"] for r in ok})
    # Each format's genres cell counts that format's stored predictions, most first.
    for line in csv.DictReader(io.StringIO(csv_text)):
        want = Counter(display_name(r["genre"]) for r in ok if r["format"] == line["format"])
        got = dict(part.rsplit(" ", 1) for part in line["genres"].split("; "))
        assert {k: int(v) for k, v in got.items()} == dict(want)
    for suffix in (".png", ".svg"):
        out = tmp_path / f"report{suffix}"
        run_cli("report", "--db", db, "--plot", out)
        assert out.stat().st_size > 10_000
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("report", "--db", tmp_path / "none.db", check=False)
    assert bad.returncode == 1 and "no database" in bad.stderr


@pytest.mark.slow
def test_the_cli_over_mutagens_test_files_and_a_genre_changed_since(tmp_path):
    """The issue's own run: scan, write --overwrite --min-confidence 0, undo, as a user does."""
    lib = tmp_path / "lib"
    lib.mkdir()
    files = corpus_copy("mutagen", lib)
    # Most of mutagen's files hold under a second of audio or silence: no genre is heard
    # in them, so none is written. id3v22-test.mp3 is one; its ID3v2.2 tag in
    # front of six seconds of generated MP3 makes a v2.2 file that gets a genre.
    v22 = (mutagen_data() / "id3v22-test.mp3").read_bytes()
    audio = write_audio(tmp_path / "audio.mp3", synth_track("pulse", 6.0, 22050, 3), 22050)
    frames = audio.read_bytes()
    if frames.startswith(b"ID3"):
        frames = frames[10 + _tag_size(frames[6:10]) :]
    (lib / "id3v22-long.mp3").write_bytes(v22[: 10 + _tag_size(v22[6:10])] + frames)
    files.append(lib / "id3v22-long.mp3")
    originals = {p.name: (p.read_bytes(), snapshot(p)) for p in files}
    db = tmp_path / "lib.db"
    scanned = run_json("scan", lib, "--db", db)
    stored = rows(db)
    analysed = {Path(r["path"]).name for r in stored if r["genre"] is not None}
    assert scanned["scanned"] == sum(r["error"] is None for r in stored)
    assert len(analysed) >= 6 and "id3v22-long.mp3" in analysed

    dry = run_cli(
        "write",
        "--include-uncertain",
        "--db",
        db,
        "--overwrite",
        "--min-confidence",
        "0",
        "--dry-run",
    ).stdout
    assert "would write" in dry and "id3v22-long.mp3" in dry and "ID3v2.3" not in dry
    assert all(p.read_bytes() == originals[p.name][0] for p in files)

    written = run_json(
        "write", "--include-uncertain", "--db", db, "--overwrite", "--min-confidence", "0"
    )
    assert written["errors"] == 0 and written["written"] == len(analysed)
    for name in analysed:  # the ID3v2.2 file included: edited as v2.2
        before, after = without_genre(originals[name][1]), without_genre(snapshot(lib / name))
        assert not diff(before, after), name
    journal = rows(db, "SELECT * FROM tag_history")
    assert len(journal) == len(analysed)
    assert all(json.loads(h["old_field"]) and json.loads(h["new_field"]) for h in journal)

    hand = sorted(analysed - {"id3v22-long.mp3"})[0]
    write_genres(lib / hand, ["Changed By Hand"])  # another program, after tagger
    proc = run_cli("undo", "--db", db, "--json", check=False)
    assert proc.returncode == 4  # a file left alone is a file not restored
    undone = json.loads(proc.stdout)
    assert undone["errors"] == 0 and undone["changed_since"] == 1
    assert undone["restored"] == len(analysed) - 1
    left = next(c for c in undone["changes"] if c["action"] == "changed since")
    assert left["path"].endswith(hand) and "--force" in left["reason"]
    assert read_genres(lib / hand) == ["Changed By Hand"]
    assert [p.name for p in files if p.read_bytes() != originals[p.name][0]] == [hand]
    assert "left alone" in run_cli("undo", "--db", db, check=False).stdout  # and says so again
    assert run_json("undo", "--db", db, "--force")["restored"] == 1
    assert all(p.read_bytes() == originals[p.name][0] for p in files)  # every byte back
    print(f"cli: {len(files)} files, {len(analysed)} analysed, written and undone byte for byte")


def _junk_in_id3_padding(path: Path) -> None:
    """An ID3v2.4 tag whose padding holds stray non-zero bytes: mutagen reads it, tagger's
    editor declines it (the edit could move them), a refusal only the write itself finds."""
    f = mutagen.File(path)
    f.add_tags()
    f.tags.add(mutagen.id3.TIT2(encoding=3, text="Junk"))
    f.save(padding=lambda info: 512)
    data = bytearray(path.read_bytes())
    data[100:103] = b"\x01\x02\x03"
    path.write_bytes(data)


def _errors(proc) -> dict[str, str]:
    return {Path(e["path"]).name: e["error"] for e in json.loads(proc.stdout)["error_files"]}


@pytest.mark.slow
def test_dry_run_predicts_refusals_stale_audio_is_not_written_and_undo_gives_mtime_back(tmp_path):
    """One scan, then: the dry run lists exactly the files the write then refuses or fails,
    with the same reasons, changing nothing; a file whose audio was replaced after the scan
    is not written (the command that re-analyses it is named), one only retagged is; the
    journal's refusals are in the report; undo --scan ID takes the id write --json shows,
    and gives back each file's bytes and modification time."""
    lib = tmp_path / "lib"
    sound, readonly, junk, replaced, retagged = make_library(
        lib, formats=(".mp3", ".flac", ".mp3", ".ogg", ".m4a")
    )
    _junk_in_id3_padding(junk)
    for i, p in enumerate((sound, readonly, junk, replaced, retagged)):
        os.utime(p, ns=(p.stat().st_atime_ns, 1_500_000_000_123_456_789 + i))  # an old mtime
    db = tmp_path / "lib.db"
    scan_id = run_json("scan", lib, "--db", db)["scan_id"]
    readonly.chmod(0o444)
    other = write_audio(tmp_path / "other.ogg", synth_track("noise", 7.0, 22050, 9), 22050)
    shutil.copy(other, replaced)  # another recording copied over a scanned file
    f = mutagen.File(retagged)  # another program retags a file: its audio stays
    f["\xa9cmt"] = "retagged by another program"
    f.save()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in lib.iterdir()}
    db_before = rows(db)

    dry = run_cli(
        "write",
        "--include-uncertain",
        "--db",
        db,
        "--overwrite",
        "--dry-run",
        "--json",
        check=False,
    )
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in lib.iterdir()} == before
    assert rows(db) == db_before and rows(db, "SELECT * FROM tag_history") == []
    assert not list(lib.glob(".tagger-*"))
    text = run_cli(
        "write", "--include-uncertain", "--db", db, "--overwrite", "--dry-run", check=False
    )
    assert f"would not write {replaced}: (none) -> " in text.stdout
    assert f"error: {replaced}: not written: its audio changed" in text.stderr
    wet = run_cli("write", "--include-uncertain", "--db", db, "--overwrite", "--json", check=False)
    assert dry.returncode == wet.returncode == 4, (dry.stderr, wet.stderr)
    assert _errors(dry) == _errors(wet)  # the same files, the same reasons
    reasons = _errors(wet)
    assert set(reasons) == {readonly.name, junk.name, replaced.name}
    assert reasons[readonly.name] == "file is read-only"
    assert "bytes that are not frames" in reasons[junk.name]
    assert reasons[replaced.name] == (
        f"not written: its audio changed since it was analysed; re-analyse it first: "
        f"tagger scan {replaced}"
    )
    assert replaced.read_bytes() == other.read_bytes()
    both = run_cli(
        *("write", "--include-uncertain", "--db", db, "--overwrite", "--fields", "genre,bpm"),
        *("--dry-run", "--json"),
        check=False,
    )
    for c in json.loads(both.stdout)["changes"]:  # a refused file writes none of its fields
        if c["action"] == "error":
            assert all(f["action"] == "error" for f in c.get("fields", [])), c
    written = json.loads(wet.stdout)
    assert written["written"] == 2  # the sound file, and the one only retagged
    assert {c["scan_id"] for c in written["changes"] if c["action"] == "write"} == {scan_id}
    assert {Path(c["path"]).name for c in written["changes"] if c["action"] == "error"} == set(
        reasons
    )
    assert "retagged by another program" in str(mutagen.File(retagged)["\xa9cmt"])

    rep = run_json("report", "--db", db)
    assert {Path(u["path"]).name: u["error"] for u in rep["unwritten"]} == reasons
    assert rep["written_by_scan"] == [{"scan_id": scan_id, "files": 2}]
    text = run_cli("report", "--db", db).stdout
    assert "not written by `tagger write` (3" in text and f"2 of scan #{scan_id}" in text

    undone = run_json("undo", "--db", db, "--scan", str(scan_id))
    assert undone["restored"] == 2 and undone["errors"] == 0
    for p in (sound, retagged):  # every byte back, and the modification time
        assert (p.read_bytes(), p.stat().st_mtime_ns) == before[p.name], p.name

    run_json("scan", replaced, "--db", db)  # the command the refusal named
    again = run_json("write", "--include-uncertain", replaced, "--db", db, "--overwrite")
    assert again["written"] == 1 and again["errors"] == 0
    assert replaced.name not in {
        Path(u["path"]).name for u in run_json("report", "--db", db)["unwritten"]
    }


@pytest.mark.slow
def test_report_counts_the_low_confidence_tracks_write_would_write(library, tmp_path):
    """``report``'s count of the low-confidence tracks ``tagger write`` would write is the
    write's own decision, whatever the settings: a file already holding the proposal is not
    counted even with ``overwrite``, an abstained track is when its album decides."""
    import sqlite3

    from conftest import store_scan
    from soundtracks import musicnn_result

    from tagger.formats import sniff_format

    files = sorted(library.iterdir())
    by_hand = {files[0]: "Ambient", files[1]: "Jazz"}  # the proposal itself, and another
    for f, genre in by_hand.items():
        write_genres(f, [genre])
    results = [
        musicnn_result(
            f, np.ones(400), format=sniff_format(f), tag_genre=by_hand.get(f), album="One"
        )
        for f in files
    ]
    db = tmp_path / "lib.db"
    store_scan(db, results, "musicnn")
    with sqlite3.connect(db) as conn:  # the model abstained on one
        conn.execute("UPDATE tracks SET uncertain = 1 WHERE path = ?", [str(files[2])])
    config = tmp_path / "config.toml"
    counted = {}
    for settings in (
        "",
        "overwrite = true\n",
        "album = true\n",
        "album = true\noverwrite = true\n",
    ):
        config.write_text(settings)
        env = {"TAGGER_CONFIG": str(config)}
        dry = run_json("write", "--db", db, "--dry-run", env=env)
        would = sum(c["action"] == "write" and c["confidence"] < 0.4 for c in dry["changes"])
        report = run_json("report", "--db", db, env=env)["totals"]
        assert report["low_confidence"] == len(files)
        counted[settings] = (report["low_confidence_to_write"], would)
    assert all(r == w for r, w in counted.values()), counted
    # per track: five to write (the abstained one, the kept one and the one already set not);
    # with overwrite the kept one too, never the one already set; by album the abstained too
    assert [w for _, w in counted.values()] == [5, 6, 6, 7], counted


def test_a_genre_kept_stays_kept_when_only_the_bpm_cannot_be_written(tmp_path):
    """A file with a genre of its own (kept without --overwrite), a second hard link and no
    room in its tag: only the BPM was to change, and only the BPM is the error, with the
    value that was not written; the genre is reported kept, as it is."""
    import mutagen.id3 as id3
    from conftest import store_scan
    from soundtracks import musicnn_result

    (track,) = make_library(tmp_path / "lib", seconds=3.0, formats=(".mp3",))
    tag = id3.ID3()
    tag.add(id3.TCON(encoding=1, text="(17)Rock"))  # as ID3v2.3 taggers leave it
    tag.save(track, v2_version=3, padding=lambda info: 0)
    os.link(track, tmp_path / "seeding.mp3")
    db = tmp_path / "lib.db"
    store_scan(db, [musicnn_result(track, np.ones(400), format="mp3", bpm=120.0)], "musicnn")
    before = track.read_bytes()

    for dry in (["--dry-run"], []):
        proc = run_cli("write", "--db", db, "--fields", "genre,bpm", "--json", *dry, check=False)
        assert proc.returncode == 4, proc.stderr
        summary = json.loads(proc.stdout)
        (change,) = summary["changes"]
        assert change["action"] == "keep existing" and change["existing"] == ["Rock"]
        assert change["fields"] == [
            {"field": "bpm", "existing": [], "proposed": ["120"], "action": "error"}
        ]
        assert (summary["kept_existing"], summary["errors"]) == (1, 1)
        assert track.read_bytes() == before
    text = run_cli("write", "--db", db, "--fields", "genre,bpm", "--dry-run", check=False).stdout
    assert f"keep {track}: Rock (tagger: " in text
    assert f"would not write bpm {track}: (none) -> 120" in text.splitlines()


@pytest.mark.slow
def test_a_field_that_fails_after_another_was_written_is_reported_field_by_field(tmp_path):
    """``write --fields genre,bpm`` on a file with a second hard link (a seeding copy, say)
    whose tag has room for the genre alone: the genre is written in place, the BPM, which
    would need the file rewritten, is not.  The report says so per field, not that the file
    was left as it was; undo gives the genre back."""
    import mutagen.id3 as id3
    from conftest import store_scan
    from soundtracks import musicnn_result

    (track,) = make_library(tmp_path / "lib", seconds=3.0, formats=(".mp3",))
    tag = id3.ID3()
    tag.add(id3.TIT2(encoding=3, text="Song"))
    # Room for exactly the genre frame the write adds: a 10-byte header, the encoding byte
    # and "Ambient" in UTF-8 (ID3v2.4).
    tag.save(track, v2_version=4, padding=lambda info: 10 + 1 + len("Ambient"))
    os.link(track, tmp_path / "seeding.mp3")
    db = tmp_path / "lib.db"
    store_scan(db, [musicnn_result(track, np.ones(400), format="mp3", bpm=120.0)], "musicnn")
    before = track.read_bytes()

    proc = run_cli("write", "--db", db, "--fields", "genre,bpm", "--json", check=False)
    assert proc.returncode == 4, proc.stderr
    assert raw_genre(track) == ["Ambient"] and "TBPM" not in id3.ID3(track)
    summary = json.loads(proc.stdout)
    assert summary["written"] == 1
    assert [e["error"] for e in summary["error_files"]] == [
        "bpm: has 2 hard links and its tag has no room to change in place; skipped so that "
        "the links stay one file"
    ]
    text = run_cli("report", "--db", db).stdout
    assert "left as they were" not in text
    (line,) = [line for line in text.splitlines() if line.startswith(f"  {track}: ")]
    assert line.startswith(f"  {track}: bpm: has 2 hard links") and line.endswith(
        ": bpm left as it was, genre written"
    )
    (entry,) = run_json("report", "--db", db)["unwritten"]
    assert (entry["status"], entry["field"], entry["written"]) == ("failed", "bpm", ["genre"])

    assert run_json("undo", "--db", db)["restored"] == 1
    assert track.read_bytes() == before
    (entry,) = run_json("report", "--db", db)["unwritten"]
    assert (entry["field"], entry["written"]) == ("bpm", [])
