"""`tagger scan` end to end: real files of every format, the real CLI, the real SQLite file."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FORMATS, SR, make_library, rows, run_cli, run_json
from tolerance import rounded

from tagger.embeddings import load_index
from tagger.genres import display_name
from tagger.models import current_embedder
from tagger.similar import index_file
from tagger.store import Store
from tagger.training.synth import synth_track, write_audio

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def test_scan_every_format_into_sqlite(library, tmp_path):
    db = tmp_path / "lib.db"
    summary = run_json("scan", library, "--db", db, "--jobs", "2")
    assert summary["files_seen"] == len(FORMATS)
    assert summary["scanned"] == len(FORMATS), summary["error_files"]
    assert summary["errors"] == 0
    assert summary["model"] == "musicnn"
    tracks = rows(db)
    assert {Path(t["path"]).suffix for t in tracks} == set(FORMATS)
    for t in tracks:
        assert t["error"] is None
        probs = json.loads(t["probabilities"])
        assert t["genre"] == max(probs, key=probs.get)
        assert abs(t["confidence"] - probs[t["genre"]]) <= rounded(5, 2)  # each to 5 decimals
        tags = json.loads(t["tags"])
        assert len(tags) == 100 and "mtt:classical" in tags and "msd:Hip-Hop" in tags
        assert t["model"] == "musicnn" and t["model_version"]
        assert 6.5 < t["duration"] < 7.5
        assert t["size"] == os.path.getsize(t["path"])
        assert t["mtime"] == os.path.getmtime(t["path"])
    scans = rows(db, "SELECT * FROM scans")
    assert len(scans) == 1 and scans[0]["status"] == "finished"
    assert scans[0]["scanned"] == len(FORMATS)
    assert rows(db, "PRAGMA journal_mode")[0]["journal_mode"] == "wal"


def test_incremental_rescan_does_no_work(library, tmp_path):
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    before = {t["path"]: t["scanned_at"] for t in rows(db)}
    again = run_json("scan", library, "--db", db)
    assert again["scanned"] == 0 and again["skipped"] == len(FORMATS)
    assert {t["path"]: t["scanned_at"] for t in rows(db)} == before

    touched = library / "track1.flac"  # its mtime changed, its audio did not
    os.utime(touched, (time.time() + 10, time.time() + 10))
    third = run_json("scan", library, "--db", db)
    assert (third["scanned"], third["retagged"], third["skipped"]) == (0, 1, len(FORMATS))
    assert rows(db, "SELECT mtime FROM tracks WHERE path = ?", (str(touched),))[0]["mtime"] == (
        touched.stat().st_mtime
    )

    changed = library / "track2.ogg"  # new audio under the old name
    write_audio(changed, synth_track("bells", 7.0, SR, seed=99), SR)
    fourth = run_json("scan", library, "--db", db)
    assert (fourth["scanned"], fourth["retagged"], fourth["skipped"]) == (1, 0, len(FORMATS) - 1)

    forced = run_json("scan", library, "--db", db, "--rescan")
    assert forced["scanned"] == len(FORMATS)


def test_vanished_files_are_marked_missing_not_deleted(library, tmp_path):
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    gone = library / "track0.mp3"
    gone.unlink()
    summary = run_json("scan", library, "--db", db)
    assert summary["missing"] == 1
    row = rows(db, "SELECT * FROM tracks WHERE path = ?", (str(gone),))[0]
    assert row["missing"] == 1 and row["genre"] is not None


def test_bad_files_are_recorded_and_the_scan_goes_on(library, tmp_path):
    good = library / "track1.flac"
    (library / "zero.mp3").write_bytes(b"")
    (library / "text.flac").write_text("this is not audio\n" * 50)
    (library / "folder.mp3").mkdir()
    data = (library / "track0.mp3").read_bytes()
    (library / "truncated.mp3").write_bytes(data[: len(data) // 40])
    (library / "garbage.ogg").write_bytes(os.urandom(20000))
    damaged = bytearray(data)  # damaged frames: libmpg123 and FFmpeg print notes from C
    for i in range(len(data) // 4, len(data), 3000):
        damaged[i : i + 50] = bytes(range(50))
    (library / "damaged.mp3").write_bytes(bytes(damaged))
    db = tmp_path / "lib.db"
    proc = run_cli("scan", library, "--db", db, "--json")
    summary = json.loads(proc.stdout)
    assert proc.returncode == 0
    shown = run_cli("show", library / "damaged.mp3", "--db", db, "--fresh")  # decodes here
    for said in (proc.stderr, shown.stderr):  # from the workers, from the command's own process
        assert "Note:" not in said and "mpg123" not in said and "Header" not in said, said
    errors = {Path(e["path"]).name: e["error"] for e in summary["error_files"]}
    assert "zero.mp3" in errors and "0 bytes" in errors["zero.mp3"]
    assert "text.flac" in errors
    assert "garbage.ogg" in errors
    assert all("\n" not in e for e in errors.values())
    stored = {Path(t["path"]).name: t for t in rows(db)}
    assert stored["zero.mp3"]["error"] and stored["zero.mp3"]["genre"] is None
    assert stored[good.name]["error"] is None and stored[good.name]["genre"]
    # The first 410 bytes of an MP3 hold no audio frame: no genre, and a reason.
    assert stored["truncated.mp3"]["genre"] is None and stored["truncated.mp3"]["reason"]
    assert "folder.mp3" not in stored  # a directory is walked into, not decoded
    assert summary["scanned"] + summary["errors"] == len(stored)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads any file; test_decode.py runs it as nobody"
)
def test_unreadable_file_is_an_error_not_a_crash(library, tmp_path):
    secret = library / "secret.wav"
    secret.write_bytes((library / "track5.wav").read_bytes())
    secret.chmod(0)
    summary = run_json("scan", library, "--db", tmp_path / "lib.db")
    errors = {Path(e["path"]).name: e["error"] for e in summary["error_files"]}
    assert errors == {"secret.wav": "permission denied (the file cannot be opened for reading)"}
    assert summary["scanned"] == len(FORMATS)


def test_database_from_a_newer_tagger_is_refused_untouched(tmp_path, library):
    import sqlite3

    db = tmp_path / "future.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.execute("CREATE TABLE tracks (path TEXT PRIMARY KEY, future TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    proc = run_cli("scan", library, "--db", db, check=False)
    assert proc.returncode == 1 and "newer than this tagger understands" in proc.stderr
    assert db.read_bytes() == before


def test_user_mistakes_give_one_line_and_nonzero_exit(tmp_path, library):
    proc = run_cli("scan", tmp_path / "nope", "--db", tmp_path / "x.db", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"tagger: error: no such file or folder: {tmp_path / 'nope'}"
    (tmp_path / "dir.db").mkdir()
    proc = run_cli("scan", library, "--db", tmp_path / "dir.db", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot open database" in proc.stderr
    proc = run_cli("scan", library, "--model", "resnet", "--db", tmp_path / "y.db", check=False)
    assert proc.returncode == 1 and "tagger retrain" in proc.stderr
    proc = run_cli("scan", "--bogus", check=False)
    assert proc.returncode == 2


def test_default_database_location(library, isolated_home):
    summary = run_json("scan", library / "track1.flac")
    assert summary["db"] == str(isolated_home / "library.db")
    assert summary["scanned"] == 1


def test_show_prints_top_three(library):
    out = run_cli("show", library / "track2.ogg").stdout.splitlines()
    # musicnn's genre rule flags a synthetic sound with no clear genre as uncertain
    assert re.search(
        r"\[musicnn, on openvino (bfloat16|float32|int8), fast graph, computed now\]"
        r"(  \(abstained: under the model's threshold\))?$",
        out[0],
    )
    assert len(out) == 5 and out[4].startswith("  tempo: ")  # then tempo and voice
    probs = [float(line.split()[-1]) for line in out[1:4]]
    assert probs == sorted(probs, reverse=True)
    js = run_json("show", library / "track2.ogg", "--precision", "float32")
    assert js["genre"] == js["top"][0]["genre"]
    assert js["engine"] == "openvino float32"
    # Spelt as ls, report and write spell them (the model's names are in --json).
    printed = [line.rsplit(None, 1)[0].strip() for line in out[1:4]]
    assert set(printed) <= {display_name(g) for g in js["probabilities"]}, printed


def test_a_scan_sends_nothing_and_its_workers_reuse_the_compiled_graph(library, tmp_path):
    """OpenVINO's converter reports usage by default (a client id under ``~/intel``, events
    to Google Analytics) unless it sees a CI server; tagger promises nothing leaves the machine."""
    home = tmp_path / "user"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    for ci in ("CI", "TF_BUILD", "JENKINS_URL"):  # the converter stays quiet on CI servers
        env.pop(ci, None)
    db = tmp_path / "lib.db"
    first = run_json("scan", library, "--db", db, "--jobs", "2", env=env)
    assert first["scanned"] == len(FORMATS) and first["engine"].startswith("openvino")
    assert not (home / "intel").exists(), sorted(p.name for p in (home / "intel").iterdir())
    cache = Path(os.environ["TAGGER_HOME"]) / "cache" / "openvino"
    assert list(cache.glob("*.blob")), "no compiled graph kept"
    before = {t["path"]: json.loads(t["tags"]) for t in rows(db)}
    again = run_json("scan", library, "--db", db, "--jobs", "2", "--rescan", env=env)
    assert again["scanned"] == len(FORMATS)
    # The graph compiled from the cache is the one compiled before: the same stored tags.
    assert {t["path"]: json.loads(t["tags"]) for t in rows(db)} == before
    assert not (home / "intel").exists()


@pytest.mark.slow
def test_show_says_the_default_models_notice_once_per_database(library, tmp_path):
    """``show`` without a database says that the shipped musicnn runs once, as a scan says it
    once per database, not on every run; another database hears it once too.  No database
    is made: ``show`` remembers in tagger's data folder."""
    track, notice = library / "track2.ogg", "notice: using the shipped"
    assert run_cli("show", track).stderr.count(notice) == 1
    assert notice not in run_cli("show", track).stderr
    other = tmp_path / "other.db"
    assert run_cli("show", track, "--db", other, "--json").stderr.count(notice) == 1
    assert notice not in run_cli("show", track, "--db", other).stderr
    assert not other.exists()


def test_help_explains_every_command():
    out = run_cli("--help").stdout
    for cmd in ("scan", "show", "models"):
        assert cmd in out
    assert "--rescan" in run_cli("scan", "--help").stdout


def test_same_audio_same_stored_result_whatever_the_name(tmp_path):
    """A name that is not UTF-8 (a Latin-1 byte) stores what the same file stores under a
    plain name, in every format: the same decoder, the same windows, the same genre."""
    from tolerance import BF16_ATOL, sigmoid_atol

    lib = tmp_path / "lib"
    for plain in make_library(lib, seconds=3.0):
        os.link(plain, os.fsencode(lib) + b"/z\xe9" + os.fsencode(plain.name))
    db = tmp_path / "lib.db"
    summary = run_json("scan", lib, "--db", db, "--jobs", "2")
    assert summary["scanned"] == 2 * len(FORMATS), summary["error_files"]
    stored = {
        os.fsdecode(r["path"]) if isinstance(r["path"], bytes) else r["path"]: r for r in rows(db)
    }
    for ext in FORMATS:
        (plain,) = [p for p in stored if p.endswith(ext) and "z\udce9" not in p]
        odd = os.fsdecode(os.fsencode(lib) + b"/z\xe9" + os.fsencode(os.path.basename(plain)))
        a, b = stored[plain], stored[odd]
        assert (a["format"], a["duration"], a["slices"], a["status"], a["genre"], a["audio"]) == (
            b["format"],
            b["duration"],
            b["slices"],
            b["status"],
            b["genre"],
            b["audio"],
        ), ext
        pa, pb = json.loads(a["probabilities"]), json.loads(b["probabilities"])
        # Same windows; only the batch the net ran them in may differ (summation order).
        tol = (
            BF16_ATOL
            if "bfloat16" in summary["engine"]
            else sigmoid_atol(np.array(list(pa.values()))) + rounded(5, 2)
        )
        assert all(abs(pa[g] - pb[g]) <= tol for g in pa), ext


def test_moved_and_renamed_files_keep_their_analysis(tmp_path):
    """A file renamed (Picard), moved and retagged (``beet move``, ``beet write``), or moved
    away and back under another name after a scan marked it missing takes over its stored
    row: nothing is decoded, no ``missing`` row stays.  A copy is a track of its own."""
    import mutagen

    lib, db = tmp_path / "lib", tmp_path / "lib.db"
    renamed, moved, away, copied = make_library(
        lib, seconds=3.0, formats=(".mp3", ".flac", ".ogg", ".m4a")
    )
    run_json("scan", lib, "--db", db, "--jobs", "1")
    first = {r["path"]: r for r in rows(db)}
    outside = tmp_path / "elsewhere.ogg"
    away.rename(outside)
    assert run_json("scan", lib, "--db", db)["missing"] == 1

    new_name = lib / "01 Renamed.mp3"
    renamed.rename(new_name)
    new_home = lib / "Artist" / "Album" / "02 Moved.flac"
    new_home.parent.mkdir(parents=True)
    moved.rename(new_home)
    f = mutagen.File(new_home)
    f["genre"] = "Ambient"
    f.save()
    back = lib / "Artist" / "Album" / "03 Back.ogg"
    outside.rename(back)
    copy = lib / "copy.m4a"
    shutil.copy(copied, copy)
    pairs = {new_name: renamed, new_home: moved, back: away}

    plan = run_cli("scan", lib, "--db", db, "--dry-run").stdout.splitlines()
    for new, old in pairs.items():
        assert f"would skip (moved, its analysis kept) {new} (from {old})" in plan
    assert f"would analyse {copy}" in plan
    assert plan[-1].startswith(
        "dry run, nothing changed: 5 audio files: would analyse 1, re-label 0, skip 4 unchanged "
        "(3 moved or renamed: analysis kept, not decoded), mark 0 missing"
    )

    summary = run_json("scan", lib, "--db", db)
    assert (summary["scanned"], summary["moved"], summary["missing"]) == (1, 3, 0)
    after = {r["path"]: r for r in rows(db)}
    assert set(after) == {str(p) for p in [*pairs, copy, copied]}  # no row left behind
    for new, old in pairs.items():
        a, b = after[str(new)], first[str(old)]
        assert (a["scanned_at"], a["probabilities"], a["audio"]) == (
            b["scanned_at"],
            b["probabilities"],
            b["audio"],
        )
        assert (a["size"], a["mtime"], a["missing"]) == (new.stat().st_size, new.stat().st_mtime, 0)
    assert after[str(new_home)]["tag_genre"] == "Ambient"  # its tags read again
    assert after[str(copy)]["scan_id"] == summary["scan_id"]  # a copy is analysed
    embedded = {r["path"] for r in rows(db, "SELECT path FROM embeddings")}
    assert embedded == set(after)
    text = run_cli("scan", lib, "--db", db).stdout.splitlines()[0]
    assert text.startswith("5 audio files: 0 analysed, 5 unchanged, 0 errors, 0 missing")

    # A scan that only moved a file (and another program retagged it: its embedding is
    # re-keyed) brings the index `similar` searches up to date as an analysis does.
    last = lib / "Artist" / "04 Moved again.flac"
    new_home.rename(last)
    f = mutagen.File(last)
    f["genre"] = "Jazz"
    f.save()
    summary = run_json("scan", lib, "--db", db)
    assert (summary["scanned"], summary["moved"], summary["retagged"]) == (0, 1, 0)
    index = load_index(index_file(db))
    store = Store(db, create=False, reading=True)
    rowids, stamps = store.embedding_stamps(current_embedder())
    store.close()
    assert index is not None and len(index.rowids) == len(rowids)
    assert index.current(rowids, stamps).all()
