"""Worker pools that run ``analyse_files`` and survive crashing or hanging decoders.

``run_chunks`` feeds chunks of files to a pool and yields each chunk's rows as
it finishes.  A native decoder that segfaults kills its worker process, which
breaks every chunk in flight; a decoder stuck in C code never returns.  Either
way the files of the affected chunks are retried one at a time, alone in the
pool, so the culprit is found exactly and recorded as an error, and innocent
files still get their result.  Workers are started once and reused: each
imports TensorFlow and loads the model a single time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import TaggerError, one_line
from .models import ModelRef
from .worker import Check, Item, TrackResult, analyse_files, worker_threads

# A fresh worker imports TensorFlow and loads the model before its first file.
STARTUP_GRACE = 180.0


def init_worker(threads: int = 1) -> None:
    """Worker initializer: one share of the CPUs, quiet native stderr, a long life.

    BLAS/OpenMP pools are capped at ``threads`` (the CPUs divided by the
    workers): left alone, every worker starts one thread per CPU and they
    fight over the cores.

    libmpg123 prints a line for every MP3 seek that lands inside the bit
    reservoir, FFmpeg for every damaged packet; over thousands of files that
    buries the progress bar, so fd 2 goes to /dev/null.  Python-level errors
    still reach the scanning process through the futures, and decoding errors
    are recorded per file.

    loky restarts a worker whose memory grew by 300 MB after its first task,
    taking it for a leak; TensorFlow's allocator legitimately grows that much
    while it warms up, and each restart costs a TensorFlow import and a model
    load (~7 s).  Memory per worker is bounded by the batch size instead.
    """
    import os

    from joblib.externals.loky import process_executor
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    process_executor._MAX_MEMORY_LEAK_SIZE = int(4e9)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


class Runner(Protocol):
    """A pool that runs functions on files: loky processes here, or a Dask cluster."""

    @property
    def slots(self) -> int: ...
    @property
    def broken(self) -> tuple[type[BaseException], ...]: ...

    def submit(self, fn: Callable, *args) -> Future: ...
    def kill(self) -> None: ...
    def close(self) -> None: ...


class LokyRunner:
    """joblib's loky process pool: reusable workers, crash detection, hard kill."""

    def __init__(self, jobs: int, keep_workers: bool = True):
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        self.slots = jobs
        self.keep_workers = keep_workers
        self.broken: tuple[type[BaseException], ...] = (BrokenProcessPool, TerminatedWorkerError)
        self._ex: Any = None

    def _executor(self):
        if self._ex is None:
            from joblib.externals.loky import get_reusable_executor

            from .runtime import quiet_helper_processes

            quiet_helper_processes()  # before loky starts its resource tracker
            self._ex = get_reusable_executor(
                max_workers=self.slots,
                timeout=600,
                reuse=True,
                initializer=init_worker,
                initargs=(worker_threads(self.slots),),
            )
        return self._ex

    def submit(self, fn: Callable, *args) -> Future:
        return self._executor().submit(fn, *args)

    def kill(self) -> None:
        """End every worker now; the futures still open fail (the pool is broken).

        The worker processes are killed, and loky's manager thread then takes
        its broken-pool path, which fails every pending future, cancelled or
        not.  ``shutdown(kill_workers=True)`` would race that thread instead:
        on a future cancelled just before it raises ``InvalidStateError``, on
        one submitted but not yet handed to a worker ``KeyError``, each printed
        as a traceback under an interrupted scan's last line.
        """
        if self._ex is not None:
            from joblib.externals.loky.backend.utils import kill_process_tree

            ex, self._ex = self._ex, None
            for process in list(ex._processes.values()):
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    kill_process_tree(process)  # SIGKILL, as loky's own shutdown sends
            ex.shutdown(wait=False)

    def close(self) -> None:
        # Workers stay alive for reuse within this process (loky's idle timeout
        # ends them), unless nothing will reuse them: a command line run ends
        # them at once instead of waiting seconds at exit for workers that are
        # still starting TensorFlow.
        if not self.keep_workers:
            self.kill()


def run_chunks(
    runner: Runner,
    ref: ModelRef,
    chunks: list[list[Item]],
    timeout: float,
    threads: int,
    checks: dict[str, Check] | None = None,
) -> Iterator[list[TrackResult]]:
    """Yield results for every item of ``chunks``; crashes and hangs become failed results.

    ``checks``: the files a worker fingerprints first and leaves undecoded when their audio
    is stored (``analyse_files``).
    """
    checks = checks or {}

    def checks_of(items: list[Item]) -> dict[str, Check]:
        return {i[0]: checks[i[0]] for i in items if i[0] in checks}

    suspects: list[Item] = []
    pending = deque(chunks)
    inflight: dict[Future, tuple[list[Item], float]] = {}
    try:
        while pending or inflight:
            while pending and len(inflight) < 2 * runner.slots:
                items = pending.popleft()
                fut = runner.submit(analyse_files, ref, items, timeout, threads, checks_of(items))
                inflight[fut] = (items, time.monotonic() + STARTUP_GRACE + 2 * timeout * len(items))
            done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                items, _ = inflight.pop(fut)
                try:
                    yield fut.result()
                except runner.broken:
                    suspects.extend(items)
                    broken = True
            hung = any(deadline < time.monotonic() for _, deadline in inflight.values())
            if broken or hung:
                # A worker died (the whole pool is then broken) or something is
                # stuck in native code: stop every worker; all files in flight
                # are retried alone, and the pool is replaced on the next submit.
                runner.kill()
                for items, _ in inflight.values():
                    suspects.extend(items)
                inflight.clear()
        for item in suspects:
            yield _run_alone(runner, ref, item, timeout, threads, checks_of([item]))
    finally:
        if inflight:  # abandoned (a Ctrl-C, a failing store): nobody will read these
            runner.kill()


def _run_alone(
    runner: Runner, ref: ModelRef, item: Item, timeout: float, threads: int, checks: dict
) -> list[TrackResult]:
    fut = runner.submit(analyse_files, ref, [item], timeout, threads, checks)
    try:
        return fut.result(timeout=STARTUP_GRACE + 2 * timeout)
    except FutureTimeout:
        runner.kill()
        reason = f"timed out after {timeout:g} s (decoder hung; worker killed)"
    except runner.broken:
        runner.kill()
        reason = "decoder crashed (the worker process died on this file)"
    return [TrackResult.failed(ref, item, reason)]


class DaskRunner:
    """A Dask distributed cluster: ``tcp://HOST:8786``, or a ``LocalCluster`` when no address.

    Workers must see the files at the same paths (shared storage) and have
    tagger installed; each loads the model once (``worker.MODELS`` keeps it
    per worker process).  This process stays the only writer of the database
    and of tags.  A worker that dies takes only its in-flight files with it:
    the scheduler gives up on a task after one failure (``allowed-failures``
    = 1 on a cluster tagger starts), and ``run_chunks`` retries those files
    alone once before recording them as errors.  Dask runs tasks in worker
    threads, where the per-file alarm cannot fire; hung files are caught by
    ``run_chunks``'s deadline, which restarts the workers.
    """

    def __init__(self, scheduler: str | None = None, jobs: int = 2):
        from distributed import KilledWorker

        self.scheduler, self.jobs = scheduler, jobs
        self.cluster: Any = None
        self._client: Any = None
        self.broken: tuple[type[BaseException], ...] = (KilledWorker,)

    @property
    def client(self):
        """Connected on first use, so a scan with nothing to do starts no cluster."""
        if self._client is None:
            import dask
            from distributed import Client, LocalCluster

            if self.scheduler:
                try:
                    self._client = Client(self.scheduler, timeout="30s")
                except Exception as exc:  # refused, reset (a TLS scheduler), timed out
                    raise TaggerError(
                        f"cannot connect to the Dask scheduler {self.scheduler}: {one_line(exc)}"
                    ) from None
            else:
                with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
                    self.cluster = LocalCluster(
                        n_workers=self.jobs,
                        threads_per_worker=1,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                    )
                self._client = Client(self.cluster)
            self._client.wait_for_workers(1, timeout=120)
        return self._client

    @property
    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable, *args) -> Future:
        """A concurrent.futures Future mirroring the Dask one, so ``run_chunks`` can wait on it."""
        out: Future = Future()
        fut = self.client.submit(fn, *args, pure=False)

        def transfer(f) -> None:
            try:
                out.set_result(f.result())
            except BaseException as exc:  # the task's own error, KilledWorker, cancellation
                out.set_exception(exc)

        fut.add_done_callback(transfer)
        return out

    def kill(self) -> None:
        if self._client is not None:  # never connect just to restart workers
            self._client.restart(wait_for_workers=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.cluster is not None:
            self.cluster.close()


def insecure_scheduler(address: str) -> str | None:
    """A one-line warning when a Dask scheduler beyond this machine is reached without TLS.

    Whoever can reach an unencrypted, unauthenticated scheduler can run code
    on its workers; on a home network that is every device on it.
    """
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address  # Dask reads a bare host:port as tcp://
    if scheme not in ("tcp", "ws", "ucx"):
        return None  # tls://, wss:// or an in-process address
    host = urlsplit("//" + rest).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return None
    return (
        f"warning: the Dask scheduler {address} is reached without TLS: anyone who can reach "
        f"it can run code on its workers (use tls://, see docs/dask.md)"
    )


def make_runner(
    backend: str, jobs: int, scheduler: str | None = None, keep_workers: bool = True
) -> Runner:
    """The worker pool for ``--backend`` (``loky`` on this machine, or ``dask``).

    ``keep_workers``: loky workers outlive the scan for the next one in this process.
    """
    if backend == "dask" or scheduler:
        try:
            return DaskRunner(scheduler, jobs)
        except ImportError:
            raise TaggerError("the dask backend needs `pip install 'tagger[dask]'`") from None
    if backend != "loky":
        raise TaggerError(f"unknown backend {backend!r} (loky or dask)")
    return LokyRunner(jobs, keep_workers)
