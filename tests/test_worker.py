"""``tagger.worker``: one file's analysis, bounded in time."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


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
