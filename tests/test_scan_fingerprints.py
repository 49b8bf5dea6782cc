"""Where a scan reads fingerprints: a first scan leaves every one to the workers, beside each
file's decode, so its first result is not held up by reading the rest of the library."""

from __future__ import annotations

import importlib
import shutil

import pytest
from conftest import FIXTURES, rows

pytestmark = pytest.mark.slow  # a real scan: a worker process and the model


def test_a_first_scan_fingerprints_nothing_before_its_workers_run(tmp_path, monkeypatch):
    music = tmp_path / "Music"
    shutil.copytree(FIXTURES / "real_clips" / "wesnoth", music)
    scan_module = importlib.import_module("tagger.scan")  # `tagger.scan` is the function
    events: list[str] = []
    monkeypatch.setattr(
        scan_module, "fingerprint", lambda *a, **k: events.append("fingerprint") or None
    )
    summary = scan_module.scan(
        [music],
        db=tmp_path / "lib.db",
        jobs=1,
        progress=False,
        keep_workers=False,
        on_results=lambda results: events.extend("stored" for _ in results),
    )
    assert summary.scanned == 6 and events == ["stored"] * 6  # no fingerprint here
    stored = rows(tmp_path / "lib.db", "SELECT audio FROM tracks")
    assert len(stored) == 6 and all(r["audio"] for r in stored)  # the workers' fingerprints


class InProcessRunner:
    """The pool as one thread of this process, so the test sees the workers' calls in the
    order they happen (a loky worker's calls are out of its reach)."""

    slots = 1
    broken: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.ex = ThreadPoolExecutor(1)

    def submit(self, fn, *args):
        return self.ex.submit(fn, *args)

    def kill(self) -> None:
        pass

    def close(self) -> None:
        self.ex.shutdown()


def test_a_rescan_after_a_retag_stores_its_first_result_before_the_rest_are_fingerprinted(
    tmp_path, monkeypatch
):
    """Every file's mtime changed, no audio did: the workers fingerprint them, nothing is
    decoded, and the first file is re-keyed before the last one is fingerprinted."""
    import os

    from tagger.store import Store

    music = tmp_path / "Music"
    shutil.copytree(FIXTURES / "real_clips" / "wesnoth", music)
    scan_module = importlib.import_module("tagger.scan")
    worker = importlib.import_module("tagger.worker")
    db = tmp_path / "lib.db"
    scan_module.scan([music], db=db, jobs=1, progress=False, keep_workers=False)
    before = {r["path"]: r for r in rows(db)}
    for path in music.iterdir():
        st = path.stat()
        os.utime(path, (st.st_atime, st.st_mtime + 10))

    events: list[str] = []
    real_fingerprint, real_put_retagged = worker.fingerprint, Store.put_retagged
    monkeypatch.setattr(
        worker,
        "fingerprint",
        lambda *a: events.append("fingerprint") or real_fingerprint(*a),
    )
    monkeypatch.setattr(scan_module, "fingerprint", lambda *a: events.append("in the plan") or None)
    monkeypatch.setattr(worker, "_decode_one", lambda *a: events.append("decode"))

    def put_retagged(store, results):
        results = list(results)
        events.extend("stored" for _ in results)
        real_put_retagged(store, results)

    monkeypatch.setattr(Store, "put_retagged", put_retagged)
    monkeypatch.setattr(scan_module, "SERIAL_CHECK_BYTES", 0)  # six files: the pool too
    summary = scan_module.scan([music], db=db, jobs=1, progress=False, runner=InProcessRunner())
    assert (summary.scanned, summary.retagged, summary.skipped) == (0, 6, 6)
    assert sorted(events) == ["fingerprint"] * 6 + ["stored"] * 6  # none in the plan, no decode
    assert events.index("stored") < len(events) - 1 - events[::-1].index("fingerprint")
    for r in rows(db):  # re-keyed, the analysis kept
        assert r["mtime"] == os.path.getmtime(r["path"])
        assert (r["scanned_at"], r["audio"]) == (
            before[r["path"]]["scanned_at"],
            before[r["path"]]["audio"],
        )


def test_two_copies_of_a_moved_file_one_takes_its_row_the_other_is_analysed(tmp_path, monkeypatch):
    """The workers find both new paths hold a gone track's audio; one track has one new
    home, so the second is analysed as a track of its own."""
    scan_module = importlib.import_module("tagger.scan")
    monkeypatch.setattr(scan_module, "SERIAL_CHECK_BYTES", 0)  # two files: the pool too
    music = tmp_path / "Music"
    shutil.copytree(FIXTURES / "real_clips" / "wesnoth", music)
    db = tmp_path / "lib.db"
    options = {"jobs": 1, "progress": False, "keep_workers": False}
    scan_module.scan([music], db=db, **options)
    (music / "sad.ogg").rename(music / "sad (moved).ogg")
    shutil.copy(music / "sad (moved).ogg", music / "sad (copy).ogg")
    summary = scan_module.scan([music], db=db, **options)
    assert (summary.moved, summary.scanned, summary.missing, summary.skipped) == (1, 1, 0, 6)
    paths = {r["path"].rsplit("/", 1)[1] for r in rows(db)}
    assert "sad.ogg" not in paths and {"sad (moved).ogg", "sad (copy).ogg"} <= paths
    assert len(paths) == 7
