"""``tagger.pool``: chunks of files through a real worker pool, the pool's choice, and the warning
for a Dask scheduler reached without TLS."""

from __future__ import annotations

import os
import time
from pathlib import Path

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


def _busy(started: str) -> None:
    Path(started).touch()
    time.sleep(600)


@pytest.mark.parametrize("slots", [1, 2])
def test_killing_the_pool_fails_every_open_future_without_a_thread_traceback(
    tmp_path, monkeypatch, slots
):
    """What a Ctrl-C does to the pool: one task running, others queued, some cancelled. Every
    future ends, the workers end, and no pool thread raises (loky's own kill-shutdown raised
    ``InvalidStateError`` or ``KeyError`` in its manager thread: a traceback under the scan's
    last line)."""
    import threading

    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    started = tmp_path / "started"
    runner = LokyRunner(slots, keep_workers=False)
    futures = [runner.submit(_busy, str(started)) for _ in range(20)]
    managers = [t for t in threading.enumerate() if t.name == "ExecutorManagerThread"]
    while not started.exists():  # a worker holds a task; the rest wait in loky's queues
        assert not any(f.done() for f in futures), [f.exception() for f in futures if f.done()]
        time.sleep(0.01)
    workers = [  # not the resource tracker, a helper that ends with this process
        p
        for p in psutil.Process(os.getpid()).children(recursive=True)
        if "resource_tracker" not in " ".join(p.cmdline())
    ]
    assert all(fut.cancel() for fut in futures[-2:])  # queued far behind the running one
    runner.kill()
    for thread in managers:  # it ends once every future is settled (a bound, not a guess)
        thread.join(timeout=600)
        assert not thread.is_alive(), "loky's manager thread never settled the futures"
    assert errors == []
    assert all(f.done() for f in futures)
    assert workers
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert not alive
