"""Shared fixtures: real audio files in every format, and the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tagger.training.synth import synth_track, write_audio

# A suite started in the background by a non-interactive shell (``pytest &``) inherits SIGINT
# ignored, and so would every tagger and beets it starts: the tests that press Ctrl-C could not.
# A handled signal is reset to its default in a child process; an ignored one is not.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FORMATS = (".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav", ".aiff", ".wma")
SR = 22050
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own tagger home (models folder, default DB, config file)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("TAGGER_HOME", str(home))
    monkeypatch.setenv("TAGGER_CONFIG", str(home / "config.toml"))  # none unless a test writes it
    monkeypatch.delenv("TAGGER_DB", raising=False)
    return home


def make_library(root: Path, seconds: float = 7.0, formats=FORMATS) -> list[Path]:
    """One generated track per format, each a different synthetic 'genre'."""
    root.mkdir(parents=True, exist_ok=True)
    files = []
    genres = ["drone", "pulse", "noise", "bells"]
    for i, ext in enumerate(formats):
        y = synth_track(genres[i % 4], seconds, SR, seed=i)
        files.append(write_audio(root / f"track{i}{ext}", y, SR))
    return files


@pytest.fixture(scope="session")
def library_template(tmp_path_factory) -> Path:
    return Path(make_library(tmp_path_factory.mktemp("template") / "lib")[0]).parent


@pytest.fixture
def library(tmp_path, library_template) -> Path:
    """A fresh copy of a small library holding every supported format."""
    dst = tmp_path / "Music"
    shutil.copytree(library_template, dst)
    return dst


def tagger_cmd() -> list[str]:
    exe = shutil.which("tagger")
    return [exe] if exe else [sys.executable, "-m", "tagger.cli"]


# Every process a test starts goes through ``spawn``: in its own session (so its process group
# holds the workers, helpers and schedulers it starts in turn) and in ``_STARTED``, from which
# the autouse ``no_process_left`` fixture ends each group after the test, whatever its outcome
# (a failed assertion, a timeout, a process left stopped by ``stop_when``).
_STARTED: list[subprocess.Popen] = []


def spawn(args: list[str], **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in a new session, ended with its whole group after the test."""
    proc = subprocess.Popen(args, start_new_session=True, **popen_kwargs)
    _STARTED.append(proc)
    return proc


def end_group(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc``, every process of its group and every descendant, and wait until gone.

    SIGKILL ends a stopped process too.  ``killpg`` is only sent while ``proc`` is not yet
    reaped: until then its pid (the group's id) cannot be reused by an unrelated process.
    After that, the group's members are found one by one (psutil checks each one's identity
    before it kills, so a reused pid is never hit).  A group id is not handed out again
    while any member of the group lives, so once a process holds ``proc``'s old pid the
    group is gone, and the processes with that group id are someone else's (a long suite
    wraps pids): none is touched then.
    """
    import psutil

    def group() -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            try:
                if os.getpgid(p.pid) == proc.pid:
                    found.append(p)
            except (OSError, psutil.Error):
                continue
        return found

    members: list[psutil.Process] = []
    if proc.returncode is None:  # not reaped: the pid, and so the group's id, is still ours
        try:
            members = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        members += group()
    elif not psutil.pid_exists(proc.pid):
        found = group()
        if not psutil.pid_exists(proc.pid):  # the id was not handed out meanwhile
            members += found
    for p in members:
        try:
            p.kill()
        except psutil.Error:
            pass
    proc.wait()
    psutil.wait_procs(members, timeout=30)


@pytest.fixture(autouse=True)
def no_process_left():
    """After each test, end every process group it started (see ``spawn``)."""
    yield
    while _STARTED:
        end_group(_STARTED.pop())


def run(args: list[str], timeout: float = 600, **popen_kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` with output captured as text, through ``spawn``: on a timeout the
    whole group is ended, not only the first process (its workers would outlive it)."""
    proc = spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen_kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        end_group(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(
    *args, check: bool = True, env: dict | None = None, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    """Run the installed ``tagger`` command exactly as a user does."""
    full_env = {**os.environ, **(env or {})}
    proc = run([*tagger_cmd(), *map(str, args)], timeout=timeout, env=full_env, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tagger {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def start_tagger(*args) -> subprocess.Popen:
    """A tagger process in its own session, so that ``kill_tagger`` takes its workers too."""
    return spawn(
        [*tagger_cmd(), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def kill_tagger(proc: subprocess.Popen) -> None:
    """SIGKILL a ``start_tagger`` process and everything it started (a power cut, in effect)."""
    end_group(proc)


def freeze_workers(proc: subprocess.Popen) -> list:
    """SIGSTOP every process ``proc`` started (its workers, their helpers) and return them.

    Until ``thaw``, the scan cannot move on, so what a test does meanwhile (a
    Ctrl-C, a worker's death) lands mid-scan however fast the machine is.
    """
    import psutil

    children = psutil.Process(proc.pid).children(recursive=True)
    for child in children:
        try:
            child.suspend()
        except psutil.Error:
            pass
    return children


def _lock_error(error: sqlite3.OperationalError) -> bool:
    """A read refused because another process holds a lock, not a real failure: "database is
    locked" (busy), or "locking protocol" (a WAL-index lock held by a process that is stopped)."""
    return any(m in str(error) for m in ("locked", "busy", "locking protocol"))


def _group(proc: subprocess.Popen) -> list:
    """``proc`` and every process it started (psutil objects; those that ended are left out)."""
    import psutil

    try:
        leader = psutil.Process(proc.pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return []


_SIGSTOP_BIT = 1 << (signal.SIGSTOP - 1)


def _stop_pending(pid: int) -> bool:
    """Whether a SIGSTOP is queued for ``pid`` (its process-wide or own pending set)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return False
    pending = (int(line.split()[1], 16) for line in lines if line.startswith(("SigPnd", "ShdPnd")))
    return any(mask & _SIGSTOP_BIT for mask in pending)


def _group_stop_begun(pid: int) -> bool:
    """Whether another thread of ``pid`` has already stopped: the SIGSTOP was taken from the
    process's pending set by that thread, and the rest stop as soon as they can."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state in ("T", "t"):
            return True
    return False


def _halted(process, status: str) -> bool:
    """Whether ``process`` can run no code of its own until the group is resumed.

    Stopped, ended, or waiting in the kernel for a ``vfork`` child that was stopped before its
    ``exec`` (Python's subprocess starts children with vfork): such a parent shows as
    "disk-sleep" for as long as the child is stopped, cannot return before the child goes on,
    and then stops at once on the SIGSTOP queued for it (or, where another of its threads
    already took that SIGSTOP and stopped, on the group stop that thread began).
    """
    import psutil

    if status in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
        return True
    if status != psutil.STATUS_DISK_SLEEP:
        return False
    if not (_stop_pending(process.pid) or _group_stop_begun(process.pid)):
        return False
    try:
        return any(c.status() == psutil.STATUS_STOPPED for c in process.children())
    except psutil.Error:
        return False


def _all_stopped(members: list, checks: int = 12_000) -> None:
    """Wait until every process in ``members`` has halted (see ``_halted``; ``kill`` only queues
    a SIGSTOP: a process running on another core goes on for a moment, one inside a system call
    such as an fsync stops when it returns).  Bounded by a count of checks (a minute at least)."""
    import psutil

    for _ in range(checks):
        try:
            if all(_halted(p, p.status()) for p in members if p.is_running()):
                return
        except psutil.Error:  # one ended meanwhile: look again
            continue
        time.sleep(0.005)
    states = []
    for p in members:
        try:
            states.append(f"{p.pid} {p.name()} {p.status()}")
        except psutil.Error:
            states.append(f"{p.pid} ended")
    raise AssertionError(f"not all of [{', '.join(states)}] stopped after SIGSTOP")


# SQLite's POSIX locks (unix VFS, WAL mode).  Every open connection keeps a READ lock on the
# database file's SHARED range and on the "-shm" file's DMS byte (128); those never refuse
# another connection.  Bytes 120-127 of "-shm" are the WAL index's write, checkpoint, recovery
# and read-mark locks, and a WRITE lock on the database file is a pending, reserved or
# exclusive lock: held by a stopped process, any of these can refuse a read ("locking
# protocol", "database is locked").
_WAL_LOCKS = range(120, 128)


def sqlite_lock_held(members: list, db: Path) -> bool:
    """Whether one of ``members`` holds a SQLite lock on ``db`` that can refuse another
    connection (read from ``/proc/locks``; False where there is none to read)."""
    pids = {p.pid for p in members}
    inodes = {}
    for path, kind in ((db, "db"), (Path(f"{db}-shm"), "shm")):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        inodes[f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"] = kind
    try:
        table = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    for line in table:
        fields = line.split()
        if fields[1] == "->" or fields[1] != "POSIX":  # a waiter, or not SQLite's kind
            continue
        _, _, _, mode, pid, inode, first, last = fields[:8]
        if int(pid) not in pids or inode not in inodes:
            continue
        if inodes[inode] == "db" and mode == "WRITE":
            return True
        end = 1 << 63 if last == "EOF" else int(last)
        if inodes[inode] == "shm" and int(first) <= _WAL_LOCKS[-1] and end >= _WAL_LOCKS[0]:
            return True
    return False


def stop_when(
    proc: subprocess.Popen,
    ready,
    ended: str,
    within: float = 600,
    db: Path | None = None,
    lock_retries: int = 1000,
) -> None:
    """Stop ``proc``'s process group (SIGSTOP) at a moment ``ready()`` is true, however fast it
    runs: ``ready`` is only checked once the whole group has stopped, so the state it saw holds
    until the test sends SIGCONT (or kills the group).  ``ended``: the failure message if
    ``proc`` ends first, or is still not ready after ``within`` seconds (a hang guard only).

    A stopped process may hold a SQLite lock, and a read of that database (by ``ready``, by
    the test, by another process it starts) could then be refused until the process goes
    on.  With ``db``, a stop where one of the group holds a lock on ``db`` that can refuse a
    read (see ``sqlite_lock_held``) is not ready: the group goes on and is stopped again.
    Where the locks cannot be seen, a read by ``ready`` refused on a lock also counts as
    not ready, at most ``lock_retries`` times in a row.  Whatever ``ready`` raises, the
    group is resumed first (and ended after the test, see ``spawn``).
    """
    deadline = time.monotonic() + within
    refused = 0
    while True:
        os.killpg(proc.pid, signal.SIGSTOP)
        try:
            members = _group(proc)
            _all_stopped(members)
            try:
                if not (db and sqlite_lock_held(members, db)) and ready():
                    return  # stopped, in the state ``ready`` saw
                refused = 0
            except sqlite3.OperationalError as error:
                if not _lock_error(error) or refused + 1 >= lock_retries:
                    raise
                refused += 1
        except BaseException:
            os.killpg(proc.pid, signal.SIGCONT)
            raise
        os.killpg(proc.pid, signal.SIGCONT)
        assert proc.poll() is None and time.monotonic() < deadline, ended
        time.sleep(0.005)


def thaw(processes: list) -> None:
    import psutil

    for p in processes:
        try:
            p.resume()
        except psutil.Error:
            pass


def run_json(*args, **kwargs):
    return json.loads(run_cli(*args, "--json", **kwargs).stdout)


def raw_genres(path: str | Path) -> list[str]:
    """The genre values as the file's own tag holds them (mutagen's tag object, not its easy
    view): ``TCON``, ``\xa9gen``, ``WM/Genre`` or the ``GENRE`` comments."""
    import mutagen

    path = Path(path)
    tags = mutagen.File(path).tags
    key = {".mp3": "TCON", ".m4a": "\xa9gen", ".wma": "WM/Genre"}.get(path.suffix, "genre")
    if not tags or key not in tags:
        return []
    value = tags[key]
    return [str(v) for v in (value.text if hasattr(value, "text") else value)]


def rows(db: Path, sql: str = "SELECT * FROM tracks ORDER BY path", params=()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


# musicnn, loaded once per test module that asks for it.
@pytest.fixture(scope="module")
def musicnn():
    """The float32 path (OpenVINO float32 where installed): the one held to the original graph."""
    from dataclasses import replace

    from tagger.models import load_model, resolve

    return load_model(replace(resolve("musicnn")[0], precision="float32"))


@pytest.fixture(scope="module")
def parity():
    """Patches and the original TF1 graph's outputs for them (see training/convert_musicnn.py)."""
    import numpy as np

    return np.load(FIXTURES / "musicnn_parity.npz")


@pytest.fixture(scope="module")
def full_graph(musicnn):
    """The graph exactly as the checkpoints hold it, dead filters and all."""
    from tagger.models.musicnn import build_combined

    return build_combined(musicnn.card, musicnn.folder, prune=False)


def store_scan(db: Path, results: list, model: str = "test", version: str = "1") -> None:
    """``results`` (``TrackResult``) committed to the database at ``db`` as one finished scan,
    as a scan by ``model`` ``version`` stores them."""
    from tagger.store import Store

    store = Store(db)
    try:
        scan_id = store.start_scan(model, version, {})
        store.put_results(results, scan_id)
        store.finish_scan(scan_id, "finished", {})
    finally:
        store.close()
