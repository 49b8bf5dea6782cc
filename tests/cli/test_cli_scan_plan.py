"""``scan --dry-run`` changes nothing and lists what a scan would do; ``--rescan --resume``."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

import numpy as np
from conftest import rows, run_cli, run_json
from soundtracks import store_library

from tagger.cli import resume_command


def _library(tmp_path, n=6):
    db = tmp_path / "lib.db"
    names = [f"t{i}.ogg" for i in range(n)]
    files = store_library(
        tmp_path / "Music",
        db,
        names,
        ["a"] * n,
        ["album"] * n,
        [None] * n,
        np.random.default_rng(0).normal(size=(n, 400)),
    )
    return db, files


def _fingerprint(db):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.parent.iterdir())
        if p.name.startswith(db.name)
    }


def test_dry_run_lists_what_a_scan_would_do_and_changes_nothing(tmp_path):
    db, files = _library(tmp_path)
    new = files[0].parent / "new.ogg"
    new.write_bytes(b"not audio either")
    files[1].unlink()  # stored, now gone: would be marked missing
    with open(files[2], "ab") as f:
        f.write(b"changed")  # a changed file: would be analysed again
    before, stored = _fingerprint(db), rows(db)
    proc = run_cli("scan", tmp_path / "Music", "--db", db, "--dry-run")
    lines = proc.stdout.splitlines()
    assert f"would analyse {new}" in lines and f"would analyse {files[2]}" in lines
    assert f"would mark missing {files[1]}" in lines
    assert all(f"would skip (unchanged) {f}" in lines for f in [files[0], *files[3:]])
    assert lines[-1].startswith(
        "dry run, nothing changed: 6 audio files: would analyse 2, re-label 0, "
        "skip 4 unchanged, mark 1 missing"
    )
    assert _fingerprint(db) == before and rows(db) == stored  # no row, no scan, no journal
    summary = run_json("scan", tmp_path / "Music", "--db", db, "--dry-run")
    assert summary["dry_run"] and summary["would"]["missing"] == [str(files[1])]
    assert sorted(summary["would"]["analyse"]) == sorted([str(new), str(files[2])])
    assert _fingerprint(db) == before


def test_dry_run_without_a_database_creates_none(tmp_path):
    music = tmp_path / "Music"
    music.mkdir()
    (music / "a.ogg").write_bytes(b"x")
    proc = run_cli("scan", music, "--db", tmp_path / "new.db", "--dry-run")
    assert f"would analyse {music / 'a.ogg'}" in proc.stdout
    assert not list(tmp_path.glob("new.db*"))


def test_rescan_resume_skips_what_the_interrupted_rescan_redid(tmp_path):
    db, files = _library(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        cur = conn.execute(
            "INSERT INTO scans (status, arguments) VALUES ('interrupted', ?)",
            [json.dumps({"rescan": True})],
        )
        conn.execute(
            "UPDATE tracks SET scan_id = ? WHERE path IN (?, ?)",
            [cur.lastrowid, str(files[0]), str(files[1])],
        )
    conn.close()
    plain = run_json("scan", tmp_path / "Music", "--db", db, "--rescan", "--dry-run")
    assert len(plain["would"]["analyse"]) == 6  # --rescan again would redo every file
    resumed = run_json("scan", tmp_path / "Music", "--db", db, "--rescan", "--resume", "--dry-run")
    assert sorted(resumed["would"]["analyse"]) == sorted(map(str, files[2:]))
    assert sorted(resumed["would"]["unchanged"]) == sorted(map(str, files[:2]))
    bad = run_cli("scan", tmp_path / "Music", "--db", db, "--resume", check=False)
    assert bad.returncode == 2 and "--resume finishes an interrupted --rescan" in bad.stderr


def test_the_ctrl_c_line_names_the_command_that_resumes():
    assert resume_command(["scan", "/m", "--rescan", "-j", "2"]) == (
        "tagger scan /m --rescan --resume -j 2"
    )
    assert resume_command(["scan", "/m"]) == "tagger scan /m"
    assert resume_command(["scan", "/m", "--rescan", "--resume"]) == (
        "tagger scan /m --rescan --resume"
    )
    assert resume_command(["write", "My Music"]) == "tagger write 'My Music'"


def test_rescan_resume_after_the_rescan_finished_has_nothing_to_resume(tmp_path):
    """The command the Ctrl-C line printed, run again once the rescan is done, says so and
    redoes nothing (the stored files hold bytes no decoder accepts: a decode would be an
    error row)."""
    db, files = _library(tmp_path)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO scans (status, arguments) VALUES ('finished', ?)",
            [json.dumps({"rescan": True, "resume": True})],
        )
    conn.close()
    music = tmp_path / "Music"
    for dry in ([], ["--dry-run"]):
        proc = run_cli("scan", music, "--db", db, "--rescan", "--resume", "--json", *dry)
        summary = json.loads(proc.stdout)
        assert proc.stderr.splitlines()[0] == (
            "tagger: nothing to resume: the last --rescan finished; scanning only new and "
            "changed files (`tagger scan --rescan` analyses every file again)"
        )
        assert (summary["scanned"], summary["skipped"], summary["errors"]) == (0, len(files), 0)
    last = rows(db, "SELECT arguments FROM scans ORDER BY id DESC LIMIT 1")[0]
    assert json.loads(last["arguments"])["rescan"] is False


def _too_long(root) -> str:
    """A folder whose path is longer than the system allows (PATH_MAX): the walk cannot read
    it, even as root (made one level at a time, relative to its parent)."""
    import os

    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(4200 // 200 + 1):
            os.mkdir("d" * 200, dir_fd=fd)
            child = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    return str(root / ("d" * 200))


def test_report_says_what_the_last_scan_said_and_what_write_would_write(tmp_path, isolated_home):
    """The last scan's counts and unreadable folders, and the low-confidence note, in
    ``report``: the same words as the scan's own summary; only what ``write`` would write."""
    db, files = _library(tmp_path)  # six tracks, each ambient 0.3 (low at 0.4)
    conn = sqlite3.connect(db)
    with conn:  # one abstained, one with a genre of its own (kept: no --overwrite)
        conn.execute("UPDATE tracks SET uncertain = 1 WHERE path = ?", [str(files[0])])
        conn.execute("UPDATE tracks SET tag_genre = 'Jazz' WHERE path = ?", [str(files[1])])
    conn.close()
    music = tmp_path / "Music"
    _too_long(music)
    proc = run_cli("scan", music, "--db", db)
    said = proc.stdout.splitlines()[0]
    assert said.startswith("6 audio files: 0 analysed, 6 unchanged, 0 errors, 0 missing")
    (problem,) = [line for line in proc.stderr.splitlines() if "unreadable folder" in line]
    assert problem.endswith(": File name too long")

    text = run_cli("report", "--db", db, "--errors").stdout
    assert (
        "(low: 6 tracks under confidence 0.4, of which `tagger write` would write 4 unless "
        "`--min-confidence 0.4`)"
    ) in text
    lines = text.splitlines()
    at = lines.index("unreadable folders at the last scan (1):")
    assert lines[at + 1].endswith(": File name too long")
    (last,) = [line for line in lines if line.startswith("last scan #")]
    assert last.endswith(": 0 analysed, 6 unchanged, 0 errors, 0 missing")
    rep = run_json("report", "--db", db)
    assert rep["totals"]["low_confidence_to_write"] == 4
    assert rep["unreadable_folders"][0]["error"] == "File name too long"
    assert (rep["last_scan"]["scanned"], rep["last_scan"]["relabelled"]) == (0, 0)
    (isolated_home / "config.toml").write_text("overwrite = true\n")  # write's own setting
    assert run_json("report", "--db", db)["totals"]["low_confidence_to_write"] == 5
    shutil.rmtree(music)  # removes the deep folders one level at a time too
