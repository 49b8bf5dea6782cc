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
