"""Shared fixtures: real audio files in every format, and the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
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


def run_cli(
    *args, check: bool = True, env: dict | None = None, timeout: float = 600, **kwargs
) -> subprocess.CompletedProcess:
    """Run the installed ``tagger`` command exactly as a user does."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [*tagger_cmd(), *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        **kwargs,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"tagger {' '.join(map(str, args))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def start_tagger(*args) -> subprocess.Popen:
    """A tagger process in its own session, so that ``kill_tagger`` takes its workers too."""
    return subprocess.Popen(
        [*tagger_cmd(), *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_tagger(proc: subprocess.Popen) -> None:
    """SIGKILL a ``start_tagger`` process and everything it started (a power cut, in effect)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


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


def stop_when(proc: subprocess.Popen, ready, ended: str, within: float = 600) -> None:
    """Stop ``proc``'s process group (SIGSTOP) at a moment ``ready()`` is true, however fast it
    runs: ``ready`` is only checked while the group is stopped, so the state it saw holds until
    the test sends SIGCONT (or kills the group).  ``ended``: the failure message if ``proc``
    ends first, or is still not ready after ``within`` seconds (a hang guard only).
    """
    import time

    deadline = time.monotonic() + within
    while True:
        os.killpg(proc.pid, signal.SIGSTOP)
        if ready():
            return
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


def rows(db: Path, sql: str = "SELECT * FROM tracks ORDER BY path", params=()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()
