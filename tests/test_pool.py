"""``tagger.pool``: chunks of files through a real worker pool, the pool's choice, and the warning
for a Dask scheduler reached without TLS."""

from __future__ import annotations

import os

import psutil
import pytest
from conftest import make_library

from tagger.errors import TaggerError
from tagger.models import resolve
from tagger.pool import LokyRunner, insecure_scheduler, make_runner, run_chunks


def test_only_a_scheduler_beyond_this_machine_without_tls_is_warned_about():
    for address in ("tcp://127.0.0.1:8786", "localhost:8786", "tls://10.1.2.3:8786", "inproc://x"):
        assert insecure_scheduler(address) is None, address
    for address in ("tcp://10.1.2.3:8786", "10.1.2.3:8786", "ws://nas.local:8786"):
        warning = insecure_scheduler(address)
        assert warning and warning.startswith(f"warning: the Dask scheduler {address} is reached")


def test_the_backend_is_loky_or_dask_and_nothing_else():
    assert isinstance(make_runner("loky", 1), LokyRunner)
    with pytest.raises(TaggerError, match="unknown backend 'threads'"):
        make_runner("threads", 1)


@pytest.mark.slow
def test_every_chunk_comes_back_with_a_result_for_each_file_and_the_workers_end(tmp_path):
    good = make_library(tmp_path / "lib", seconds=4.0, formats=(".flac", ".wav"))
    bad = tmp_path / "lib" / "not-audio.flac"
    bad.write_bytes(b"not audio at all " * 100)
    items = [(str(p), p.stat().st_size, p.stat().st_mtime) for p in (*good, bad)]
    runner = LokyRunner(1, keep_workers=False)
    try:
        chunks = list(run_chunks(runner, resolve("musicnn")[0], [items[:2], items[2:]], 120, 1))
        workers = [  # not the resource trackers, helpers that end with this process
            p
            for p in psutil.Process(os.getpid()).children(recursive=True)
            if "resource_tracker" not in " ".join(p.cmdline())
        ]
    finally:
        runner.close()
    assert sorted(len(c) for c in chunks) == [1, 2]  # one list of results per chunk
    results = {r.path: r for chunk in chunks for r in chunk}
    assert set(results) == {path for path, _, _ in items}
    for path in map(str, good):
        assert results[path].error is None and results[path].prediction is not None, path
    assert results[str(bad)].error and results[str(bad)].prediction is None
    assert workers  # the pool ran in processes of its own, which close() ended
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive
