"""Nothing is lost: Dask scale-out, kills at random points, concurrent writers, hostile input."""

from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing as mp
import os
import pwd
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tolerance import scan_atol

from tagger.training.synth import synth_track, write_audio

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


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


def _samples(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


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
        kill_after(start_tagger("write", "--db", db), db, journal, k)
        assert integrity(db) == "ok"
        # A kill between copy and rename can leave a hidden ".tagger-*.tmp" beside the
        # files: never the file itself, and never scanned (hidden). Remove it here.
        for tmp in library.glob(".tagger-*"):
            tmp.unlink()
        for f in library.iterdir():
            assert np.array_equal(_samples(f), audio[f.name]), f.name
            genres = read_genres(f)
            assert genres == [] or [g.lower().replace("-", "") for g in genres] == [new[f.name]]
    run_json("write", "--db", db)
    assert all(read_genres(f) for f in library.iterdir())
    run_json("undo", "--db", db)
    for f in library.iterdir():
        assert read_genres(f) == []
        assert np.array_equal(_samples(f), audio[f.name])


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
    assert report["totals"]["statuses"] == dict(Counter(r["status"] for r in stored))
    assert set(report["totals"]["statuses"]) == {"ok", "truncated", "too_short", "silent", "error"}
    text = run_cli("report", "--db", db, "--uncertain", "100").stdout
    assert "\\xe9" in text  # non-UTF-8 names print, escaped
    run_json("write", "--db", db)
    unheard = {f for f in files if by_name[f.name]["genre"] is None}
    assert unheard and all(hashlib.sha256(f.read_bytes()).hexdigest() == before[f] for f in unheard)


def test_unreadable_folder_is_reported_not_fatal():
    """Walk as an unprivileged user (root reads every folder), in a forked child."""
    import tempfile

    from tagger.walk import walk

    tmp_path = Path(tempfile.mkdtemp(prefix="tagger-walk-", dir="/tmp"))

    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.mp3").write_bytes(b"x")
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "b.mp3").write_bytes(b"x")
    (tmp_path / "closed").chmod(0)
    os.chmod(tmp_path, 0o755)

    def child(conn):
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        res = walk([tmp_path])
        conn.send(([str(f) for f in res.files], res.problems))

    ctx = mp.get_context("fork")
    parent, child_end = ctx.Pipe()
    proc = ctx.Process(target=child, args=(child_end,))
    proc.start()
    assert parent.poll(30)
    files, problems = parent.recv()
    proc.join()
    (tmp_path / "closed").chmod(0o755)
    shutil.rmtree(tmp_path)
    assert files == [str(tmp_path / "open" / "a.mp3")]
    assert problems == [(str(tmp_path / "closed"), "Permission denied")]


def test_two_hour_file_decodes_in_bounded_memory(tmp_path):
    path = tmp_path / "two_hours.flac"
    rate = 8000
    block = synth_track("drone", 60.0, rate, 0)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC") as f:
        for _ in range(120):
            f.write(block)
    short = write_audio(tmp_path / "short.flac", block[: rate * 40], rate)
    code = (
        "import resource, sys\n"
        "from tagger.decode import decode\n"
        "from tagger.features import extract, LOGMEL\n"
        "def run(p):\n"
        "    d = decode(p, 22050, 10, 3.0)\n"
        "    return d, extract(d.windows, LOGMEL)\n"
        "run(sys.argv[2])  # imports, JIT and allocator warm-up on a 40-second file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "d, x = run(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(d.duration, x.shape[0], before, after)\n"
    )
    out = subprocess.run(
        [os.sys.executable, "-c", code, str(path), str(short)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    duration, slices, before_kb, after_kb = float(out[0]), int(out[1]), int(out[2]), int(out[3])
    assert abs(duration - 7200) < 1 and slices == 10
    # Decoding it whole at 22,050 Hz would take 635 MB; the windows take ~3 MB.
    assert (after_kb - before_kb) < 150_000, (before_kb, after_kb)


def _decode_outcome(data: bytes, suffix: str, conn) -> None:
    import tempfile

    from tagger.decode import DecodeError, decode
    from tagger.features import LOGMEL, extract

    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(data)
    try:
        d = decode(f.name, 22050, 3, 3.0)
        x = extract(d.windows, LOGMEL)
        ok = x.shape[1:] == LOGMEL.input_shape() and np.isfinite(x).all()
        conn.send("decoded" if ok else f"bad features {x.shape}")
    except DecodeError as exc:
        conn.send("error" if str(exc) and "\n" not in str(exc) else f"bad message {exc!r}")
    except BaseException as exc:  # anything else escaping decode is a bug
        conn.send(f"raised {type(exc).__name__}: {exc}")
    finally:
        os.unlink(f.name)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("seeds")
    y = synth_track("bells", 4.0, 22050, 9)
    return {
        ext: write_audio(root / f"s{ext}", y, 22050).read_bytes()
        for ext in (".wav", ".flac", ".mp3", ".ogg", ".m4a")
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_decode_and_features(seeds, data):
    """Mutated real files either decode to valid features or fail with a one-line reason.

    Each example runs in a forked child: a native crash there is what the scan's
    worker isolation handles, and it is reported here rather than killing pytest.
    """
    ext = data.draw(st.sampled_from(sorted(seeds)))
    blob = bytearray(seeds[ext])
    for _ in range(data.draw(st.integers(1, 20))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    blob = blob[:cut] if data.draw(st.booleans()) else blob
    ctx = mp.get_context("fork")
    parent, child_end = ctx.Pipe()
    proc = ctx.Process(target=_decode_outcome, args=(bytes(blob), ext, child_end))
    proc.start()
    try:
        got = parent.recv() if parent.poll(60) else "hung"
        proc.join(5)
    finally:  # never a child left behind, whatever happened
        if proc.is_alive():
            proc.kill()
        proc.join()
    assert got in ("decoded", "error") or proc.exitcode not in (0, None), got


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


def test_crashed_worker_is_isolated_and_its_files_retried_alone(tmp_path):
    """A loky worker dying mid-chunk (as on a segfaulting decoder) costs no file."""
    summary, _ = scan_killing_a_worker(tmp_path)
    assert summary["scanned"] == 16 and summary["errors"] == 0, summary["error_files"]


def test_dask_worker_lost_mid_scan_costs_nothing(tmp_path):
    """A lost Dask worker costs only its in-flight files, retried; every file ends with one row."""
    summary, stored = scan_killing_a_worker(tmp_path, "--backend", "dask")
    assert summary["scanned"] + summary["errors"] == 16
    assert all(r["genre"] or r["error"] for r in stored)


def test_a_file_over_its_time_limit_becomes_an_error_row(library, tmp_path):
    """A read that never returns (a named pipe nobody writes to, as a file on a hung network
    mount) is stopped by the time limit, however fast the machine; the next file is analysed."""
    from tagger.models import resolve
    from tagger.worker import analyse_files

    ref = resolve("musicnn")[0]
    stuck = tmp_path / "stuck.flac"
    os.mkfifo(stuck)
    path = library / "track1.flac"
    st = path.stat()
    (row,) = analyse_files(ref, [(str(stuck), None, None)], timeout=0.5, threads=1)
    assert row.error == "timed out after 0.5 s" and row.prediction is None
    (ok,) = analyse_files(ref, [(str(path), st.st_size, st.st_mtime)], timeout=60, threads=1)
    assert ok.error is None and ok.prediction.genre


def _open_as_nobody(lib: str, home: str, dbs: list[str], conn) -> None:
    """scan, write, report and ls on each database as user nobody; what each raised."""
    from tagger.errors import TaggerError
    from tagger.listing import list_tracks
    from tagger.report import build_report
    from tagger.write import write_tags

    scan = sys.modules["tagger.scan"].scan
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    os.environ["TAGGER_HOME"] = home
    out = []
    for db in dbs:
        for run in (
            lambda db=db: scan([lib], db=db, model="musicnn", jobs=1, progress=False),
            lambda db=db: write_tags(db=db),
            lambda db=db: build_report(db=db),
            lambda db=db: list_tracks(db=db),
        ):
            try:
                run()
                out.append("no error")
            except TaggerError as exc:
                out.append(str(exc))
            except BaseException as exc:  # a traceback for the user: the bug this test is about
                out.append(f"{type(exc).__name__}: {exc}")
    conn.send(out)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unwritable_database_is_one_line_naming_it_and_untouched():
    """Read-only file or folder, another user's file: scan and write say why, change nothing;
    report and ls read it all the same (a library on a read-only share, another user's)."""
    import tagger.scan  # noqa: F401  (imported before dropping privileges)
    from tagger.paths import shipped_models_dir
    from tagger.store import Store

    root = Path(tempfile.mkdtemp(prefix="tagger-ro-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        (root / "lib").mkdir()
        (root / "home").mkdir(mode=0o777)
        # nobody's own model folder: an installed tagger may sit where nobody cannot read
        # (a Python under /root), and the model is resolved before the database is opened
        shutil.copytree(shipped_models_dir(), root / "home" / "models")
        for path in (root / "home").rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (root / "ro").mkdir()
        dbs = [root / "readonly.db", root / "ro" / "lib.db", root / "others.db"]
        for db in dbs:
            Store(db).close()
        nobody = pwd.getpwnam("nobody").pw_uid
        for path in (root / "readonly.db", root / "ro", root / "ro" / "lib.db"):
            os.chown(path, nobody, -1)
        os.chmod(root / "readonly.db", 0o444)
        os.chmod(root / "ro" / "lib.db", 0o666)
        os.chmod(root / "ro", 0o555)
        before = {p: p.read_bytes() for p in root.rglob("*.db*")}
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(
            target=_open_as_nobody,
            args=(str(root / "lib"), str(root / "home"), [str(d) for d in dbs], child),
        )
        proc.start()
        assert parent.poll(120)
        said = parent.recv()
        proc.join()
        after = {p: p.read_bytes() for p in root.rglob("*.db*")}
    finally:
        shutil.rmtree(root)
    why = [
        "the file is read-only (-r--r--r--)",
        f"its folder {root / 'ro'} is not writable",
        "the file belongs to user root (-rw-r--r--) and user nobody may not write it",
    ]
    for i, (db, cause) in enumerate(zip(dbs, why)):
        scan_said, write_said, report_said, ls_said = said[4 * i : 4 * i + 4]
        for text in (scan_said, write_said):
            assert text.startswith(f"cannot open database {db}: {cause}"), text
            assert "\n" not in text
        assert report_said == ls_said == "no error", (db, report_said, ls_said)
    assert after == before


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
