"""Nothing is lost: Dask scale-out, kills at random points, concurrent writers, hostile input."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import (
    FORMATS,
    freeze_workers,
    kill_tagger,
    make_library,
    rows,
    run_cli,
    run_json,
    spawn,
    start_tagger,
    stop_when,
    tagger_cmd,
    thaw,
)
from corpus import hostile_audio
from tolerance import scan_atol

from tagger.training.synth import synth_track, write_audio

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# A scan run through the library entry point, committing every row as it arrives, so that
# the test can kill it between any two rows (the CLI batches commits for speed).
ROW_BY_ROW_SCAN = (
    "import importlib, sys\n"
    "s = importlib.import_module('tagger.scan')\n"
    "s.COMMIT_ROWS = 1\n"
    "s.scan([sys.argv[1]], db=sys.argv[2], jobs=2, chunk_size=1, progress=False)\n"
)


def count(db: Path, sql: str) -> int:
    """A count from a database another process is writing (0 before its tables exist)."""
    if not db.exists():
        return 0
    try:
        return rows(db, sql)[0]["n"]
    except sqlite3.OperationalError:  # no such table yet
        return 0


def kill_after(proc: subprocess.Popen, db: Path, sql: str, k: int) -> bool:
    """SIGKILL ``proc`` (and its workers) once ``sql`` counts ``k``; False if it ended first.

    Synchronised on committed rows, never on a clock, so the kill lands mid-run on a
    machine of any speed.
    """
    deadline = time.monotonic() + 600  # a hang guard only; never reached by a working run
    while proc.poll() is None and count(db, sql) < k and time.monotonic() < deadline:
        time.sleep(0.005)
    kill_tagger(proc)
    return proc.returncode == -signal.SIGKILL


def _samples(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def _locked(lock: Path) -> bool:
    """Whether another process holds the writer lock (probe only while the holder is stopped)."""
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, if it got one


def _hostile_corpus(root: Path) -> None:
    """Everything a real library throws at a scanner, except the 2-hour file (below)."""
    root.mkdir()
    y = synth_track("pulse", 4.0, 22050, 3)
    good = write_audio(root / "good.flac", y, 22050)
    mp3 = write_audio(root / "ok.mp3", y, 22050).read_bytes()
    (root / "zero.flac").write_bytes(b"")
    (root / "random.mp3").write_bytes(random.Random(1).randbytes(50_000))
    (root / "random.m4a").write_bytes(random.Random(2).randbytes(50_000))
    (root / "truncated.mp3").write_bytes(mp3[:2000])
    (root / "garbage_frames.mp3").write_bytes(mp3[:400] + random.Random(3).randbytes(len(mp3)))
    flac = good.read_bytes()
    (root / "garbage_frames.flac").write_bytes(flac[:8192] + random.Random(4).randbytes(20_000))
    sf.write(root / "surround.wav", np.tile(y[:, None], (1, 6)) * 0.5, 22050)  # 5.1
    sf.write(root / "stereo.flac", np.stack([y, -y], axis=1), 22050)
    for rate in (8000, 192000):
        sf.write(root / f"rate{rate}.wav", synth_track("bells", 3.0, rate, 1), rate)
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        sf.write(root / f"depth_{subtype}.wav", y, 22050, subtype=subtype)
    for name in ("new\nline.mp3", "quote'\"s.flac", "emoji 🎵.ogg"):
        shutil.copy(good, root / name)
    bad_name = os.fsencode(root) + b"/latin1_\xe9t\xe9.flac"
    with open(bad_name, "wb") as f:
        f.write(flac)
    deep = root
    for i in range(40):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    shutil.copy(good, deep / "deep.flac")
    os.symlink(root, root / "d0" / "loop")


def scan_killing_a_worker(tmp_path: Path, *options: str) -> tuple[dict, list[dict]]:
    """Scan 16 files and SIGKILL one worker process (one that has loaded the model) mid-scan.

    The moment a worker holds the model (before its first file is done), every
    worker is stopped, so the kill lands mid-scan on a machine of any speed;
    the others go on once the victim is dead.
    """
    import psutil

    lib = tmp_path / "lib"
    for i in range(4):
        make_library(lib / f"a{i}", seconds=4.0, formats=(".flac", ".wav", ".ogg", ".mp3"))
    db = tmp_path / "lib.db"
    proc = spawn(
        [*tagger_cmd(), "scan", str(lib), "--db", str(db), "--jobs", "2", "--json", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    parent = psutil.Process(proc.pid)

    def loaded() -> bool:
        # The model is loaded: a fresh worker holds ~40 MB; with musicnn on
        # OpenVINO ~210 MB, on TensorFlow over 400 MB.
        for child in parent.children(recursive=True):  # loky workers, or Dask's under nannies
            try:
                if child.memory_info().rss > 120e6:
                    return True
            except psutil.Error:
                continue
        return False

    deadline = time.monotonic() + 600  # a hang guard only; never reached by a working run
    while proc.poll() is None and not loaded() and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = freeze_workers(proc)
    victim = max(workers, key=lambda p: p.memory_info().rss, default=None)
    assert victim is not None and victim.memory_info().rss > 120e6, "no worker held the model"
    victim.kill()
    thaw(workers)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0
    stored = rows(db)
    assert len(stored) == 16 == len({r["path"] for r in stored})
    assert integrity(db) == "ok"
    return json.loads(out), stored


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system of its own (tmpfs), so that it can be filled or made read-only."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def test_dask_local_cluster_gives_the_same_results(library, tmp_path):
    loky = run_json("scan", library, "--db", tmp_path / "loky.db", "--jobs", "2")
    dask = run_json(
        "scan", library, "--db", tmp_path / "dask.db", "--backend", "dask", "--jobs", "2"
    )
    assert dask["scanned"] == loky["scanned"] == len(FORMATS)
    a = {r["path"]: r for r in rows(tmp_path / "loky.db")}
    b = {r["path"]: r for r in rows(tmp_path / "dask.db")}
    assert a.keys() == b.keys()
    for path in a:
        assert a[path]["genre"] == b[path]["genre"]
        pa, pb = json.loads(a[path]["probabilities"]), json.loads(b[path]["probabilities"])
        assert max(abs(pa[g] - pb[g]) for g in pa) <= scan_atol()  # another worker's batches
    assert (
        json.loads(rows(tmp_path / "dask.db", "SELECT * FROM scans")[0]["arguments"])["backend"]
        == "dask"
    )


def test_kills_after_random_committed_rows_lose_and_redo_nothing(tmp_path):
    """Kill a scan (and workers) after a random count of committed rows; resume does the rest."""
    lib = tmp_path / "lib"
    for i in range(3):
        make_library(lib / f"a{i}", seconds=4.0, formats=(".flac", ".wav", ".ogg", ".mp3"))
    total = 12
    db = tmp_path / "lib.db"
    rng = random.Random(42)
    committed: dict[str, str] = {}
    kills = 0
    while len(committed) < total - 1:
        k = len(committed) + rng.randint(1, total - 1 - len(committed))
        proc = spawn(
            [sys.executable, "-c", ROW_BY_ROW_SCAN, str(lib), str(db)], stdout=subprocess.DEVNULL
        )
        kills += kill_after(proc, db, "SELECT count(*) AS n FROM tracks", k)
        assert integrity(db) == "ok"
        now = {r["path"]: r["scanned_at"] for r in rows(db)}
        assert len(now) >= k
        assert all(now[p] == s for p, s in committed.items()), "a committed file was redone"
        committed = now
    summary = run_json("scan", lib, "--db", db)
    assert summary["skipped"] == len(committed) and summary["scanned"] == total - len(committed)
    final = rows(db)
    assert len(final) == total == len({r["path"] for r in final})
    assert all(r["genre"] and r["error"] is None for r in final)
    assert all({r["path"]: r["scanned_at"] for r in final}[p] == s for p, s in committed.items())
    assert integrity(db) == "ok"
    statuses = [s["status"] for s in rows(db, "SELECT * FROM scans ORDER BY id")]
    assert kills >= 1 and statuses.count("killed") >= kills - 1  # killed after its last commit
    assert statuses[-1] == "finished" and set(statuses) <= {"killed", "finished"}


def test_killed_tag_writes_leave_old_or_new_never_garbage(library, tmp_path):
    from tagger.tags import read_genres

    for i in range(3):  # more files, so a kill lands mid-run
        for f in list(library.glob("track*")):
            shutil.copy(f, library / f"copy{i}_{f.name}")
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    audio = {f.name: _samples(f) for f in library.iterdir()}
    new = {Path(r["path"]).name: r["genre"] for r in rows(db)}
    rng = random.Random(7)
    journal = "SELECT count(*) AS n FROM tag_history"
    for _ in range(6):  # each kill lands after 1-4 more journal entries: mid-run, mid-file
        k = count(db, journal) + rng.randint(1, 4)
        # --include-uncertain: musicnn's rule flags these generated tones uncertain
        kill_after(start_tagger("write", "--db", db, "--include-uncertain"), db, journal, k)
        assert integrity(db) == "ok"
        # A kill between copy and rename can leave a hidden ".tagger-*.tmp" beside the
        # files: never the file itself, and never scanned (hidden). Remove it here.
        for tmp in library.glob(".tagger-*"):
            tmp.unlink()
        for f in library.iterdir():
            assert np.array_equal(_samples(f), audio[f.name]), f.name
            genres = read_genres(f)
            assert genres == [] or [g.lower().replace("-", "") for g in genres] == [new[f.name]]
    run_json("write", "--db", db, "--include-uncertain")
    assert all(read_genres(f) for f in library.iterdir())
    run_json("undo", "--db", db)
    for f in library.iterdir():
        assert read_genres(f) == []
        assert np.array_equal(_samples(f), audio[f.name])


def test_second_process_on_the_same_database_is_refused(tmp_path):
    lib = tmp_path / "lib"
    make_library(lib, seconds=4.0)
    db = tmp_path / "lib.db"
    lock = Path(f"{db}.lock")
    first = start_tagger("scan", lib, "--db", db, "--jobs", "1")
    stop_when(  # the first scan, holding tagger's lock but no SQLite lock the second must wait on
        first,
        lambda: lock.exists() and _locked(lock),
        "the first scan ended before it was seen holding the lock",
        db=db,
    )
    try:
        second = run_cli("scan", lib, "--db", db, check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert second.returncode == 3
    assert "in use by another tagger process" in second.stderr
    assert "Traceback" not in second.stderr
    first.wait(timeout=600)
    assert first.returncode == 0
    assert integrity(db) == "ok"
    assert len(rows(db)) == len(FORMATS)


def test_hostile_corpus_every_file_ends_as_result_or_error(tmp_path):
    """Every file gets a row with a true status; no genre from what was not heard, none written."""
    root = tmp_path / "hostile"
    _hostile_corpus(root)
    heard = hostile_audio(root / "heard")  # truncated, too short, silent, not audio
    files = [Path(dp) / f for dp, _, fs in os.walk(root) for f in fs]
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    db = tmp_path / "lib.db"
    proc = run_cli("scan", root, "--db", db, "--json", "--timeout", "60")
    summary = json.loads(proc.stdout)
    stored = rows(db)
    assert summary["files_seen"] == len(files) == len(stored)
    assert summary["scanned"] + summary["errors"] == len(files)
    by_name = {
        os.path.basename(r["path"] if isinstance(r["path"], str) else os.fsdecode(r["path"])): r
        for r in stored
    }
    for name in ("zero.flac", "random.mp3", "random.m4a"):
        assert by_name[name]["status"] == "error" and by_name[name]["error"], name
    for name in (
        "good.flac",
        "surround.wav",
        "stereo.flac",
        "rate8000.wav",
        "rate192000.wav",
        "depth_PCM_U8.wav",
        "depth_DOUBLE.wav",
        "new\nline.mp3",
        "quote'\"s.flac",
        "emoji 🎵.ogg",
        "deep.flac",
        os.fsdecode(b"latin1_\xe9t\xe9.flac"),
    ):
        row = by_name[name]
        assert row["genre"] and row["status"] == "ok" and row["reason"] is None, name
    for name, (status, reason) in heard.items():
        row = by_name[name]
        assert row["status"] == status and re.fullmatch(reason, row["reason"]), row
        assert (row["genre"] is not None) == (status == "truncated"), row
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == before
    report = run_json("report", "--db", db)
    # As every read-side output shows them: an ``ok`` track the model abstained on is abstained.
    shown = Counter(
        "abstained" if r["uncertain"] and r["status"] == "ok" else r["status"] for r in stored
    )
    assert report["totals"]["statuses"] == dict(shown)
    # Whether the model abstains on these generated tones depends on the engine (int8 on AVX2,
    # bfloat16 elsewhere); that the audio decoded is what is checked here.
    decoded = {"ok" if status == "abstained" else status for status in shown}
    assert decoded == {"ok", "truncated", "too_short", "silent", "error"}
    text = run_cli("report", "--db", db, "--uncertain", "100").stdout
    assert "\\xe9" in text  # non-UTF-8 names print, escaped
    run_json("write", "--db", db)
    unheard = {f for f in files if by_name[f.name]["genre"] is None}
    assert unheard and all(hashlib.sha256(f.read_bytes()).hexdigest() == before[f] for f in unheard)


def test_crashed_worker_is_isolated_and_its_files_retried_alone(tmp_path):
    """A loky worker dying mid-chunk (as on a segfaulting decoder) costs no file."""
    summary, _ = scan_killing_a_worker(tmp_path)
    assert summary["scanned"] == 16 and summary["errors"] == 0, summary["error_files"]


def test_dask_worker_lost_mid_scan_costs_nothing(tmp_path):
    """A lost Dask worker costs only its in-flight files, retried; every file ends with one row."""
    summary, stored = scan_killing_a_worker(tmp_path, "--backend", "dask")
    assert summary["scanned"] + summary["errors"] == 16
    assert all(r["genre"] or r["error"] for r in stored)


def test_full_or_read_only_disk_is_one_line_exit_1_and_nothing_half_done(small_disk, tmp_path):
    lib = tmp_path / "lib"
    make_library(lib, seconds=4.0, formats=(".flac", ".mp3"))
    db = small_disk / "lib.db"
    proc = spawn(
        [*tagger_cmd(), "scan", str(lib), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop_when(  # the scan, once it has started (its scans row is committed); fill the disk
        proc,
        lambda: count(db, "SELECT count(*) AS n FROM scans") == 1,
        "the scan ended before its scans row was seen",
        db=db,
    )
    _fill(small_disk)
    os.killpg(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"tagger: error: cannot write database {db}: the disk holding {small_disk} is full"
    )
    assert integrity(db) == "ok"
    assert all(r["status"] == "ok" and r["genre"] for r in rows(db))  # whole rows or none
    for args in (("scan", lib), ("write",)):  # a later run fails at once
        out = run_cli(*args, "--db", db, check=False)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert re.fullmatch(
            f"tagger: error: cannot (open|write) database {db}: the disk holding "
            f"{small_disk} is full",
            out.stderr.strip().splitlines()[-1],
        )
    (small_disk / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    for args in (("scan", lib), ("write",)):
        out = run_cli(*args, "--db", db, check=False)
        assert out.returncode == 1 and re.fullmatch(
            f"tagger: error: cannot (open|write) database {db}: {small_disk} is on a read-only "
            "file system",
            out.stderr.strip().splitlines()[-1],
        ), out.stderr
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    resumed = run_json("scan", lib, "--db", db)  # the disk has room again: the rest is done
    assert resumed["scanned"] + resumed["skipped"] == 2 and resumed["errors"] == 0
    statuses = [s["status"] for s in rows(db, "SELECT * FROM scans ORDER BY id")]
    assert statuses == ["killed", "finished"]
