"""``tagger scan``: walk -> decide what changed -> analyse in workers -> store.

The scanning process is the only writer of the database.  It walks the
folders, compares each file's size and mtime (and the model version) with the
stored row to skip what is already done, hands the rest in chunks to a worker
pool, and commits the returned rows in batches (every ``COMMIT_ROWS`` rows or
``COMMIT_SECONDS`` seconds), so a scan killed at any point keeps what it
finished and the next scan resumes with the rest.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .analyse import new_row, worker_threads
from .errors import TaggerError
from .model import ModelRef, resolve
from .paths import absolute, default_db, is_under
from .pool import Runner, make_runner, run_chunks
from .store import Store
from .walk import walk
from .write import WriteOptions, write_tags

COMMIT_ROWS = 64
COMMIT_SECONDS = 2.0


@dataclass
class ScanSummary:
    """What a scan did; ``--json`` prints exactly this."""

    scan_id: int
    db: str
    model: str
    model_version: str
    files_seen: int = 0
    scanned: int = 0
    skipped: int = 0
    errors: int = 0
    missing: int = 0
    seconds: float = 0.0
    status: str = "finished"
    error_files: list[dict] = field(default_factory=list)
    unreadable_folders: list[dict] = field(default_factory=list)
    notice: str | None = None
    tags: dict | None = None  # the tag-writing summary with --write-tags

    def to_dict(self) -> dict:
        return asdict(self)


def plan(found: list[Path], known: dict[str, dict], ref: ModelRef, rescan: bool
         ) -> tuple[list[tuple[str, int, float]], list[str], list[dict]]:
    """Split found files into (to analyse, unchanged, rows for files that vanished mid-walk).

    A file is unchanged when its size and mtime equal the stored ones and the
    stored result came from the same model name and version.
    """
    todo, unchanged, gone = [], [], []
    for p in found:
        path = os.fspath(p)
        try:
            st = os.stat(path)
        except OSError as exc:
            gone.append(new_row(ref, path, None, None, error=exc.strerror or str(exc)))
            continue
        row = known.get(path)
        if (not rescan and row is not None and row["size"] == st.st_size
                and row["mtime"] == st.st_mtime and row["model"] == ref.name
                and row["model_version"] == ref.version):
            unchanged.append(path)
        else:
            todo.append((path, st.st_size, st.st_mtime))
    return todo, unchanged, gone


def scan(paths: list[str | os.PathLike], db: str | os.PathLike | None = None,
         model: str | None = None, jobs: int | None = None, rescan: bool = False,
         timeout: float = 120.0, chunk_size: int = 8, progress: bool = True,
         runner: Runner | None = None, arguments: dict | None = None,
         on_rows: Callable[[list[dict]], None] | None = None,
         write: WriteOptions | None = None, backend: str = "loky",
         scheduler: str | None = None,
         notify: Callable[[str], None] | None = None) -> ScanSummary:
    """Scan ``paths`` into the database; the library entry point behind ``tagger scan``.

    With ``write``, the stored genres are then written into the files' tags
    (``tagger scan --write-tags``), under the same database lock.  ``backend``
    ``dask`` runs the per-file work on a Dask cluster (``scheduler`` address,
    else a LocalCluster); this process remains the only writer.  ``notify``
    receives the one-line notice about the default model before the work
    starts (it is also in the summary).
    """
    for p in paths:
        if not os.path.exists(os.path.expanduser(os.fspath(p))):
            raise TaggerError(f"no such file or folder: {p}")
    ref, notice = resolve(model)
    if notice and notify:
        notify(notice)
    jobs = jobs or os.cpu_count() or 1
    store = Store(default_db(db))
    try:
        with store.writer_lock():
            summary = _scan_locked(store, paths, ref, jobs, rescan, timeout, chunk_size, progress,
                                   runner or make_runner(backend, jobs, scheduler), arguments or {
                                       "paths": [os.fspath(p) for p in paths], "model": model,
                                       "jobs": jobs, "rescan": rescan, "backend": backend,
                                       "scheduler": scheduler}, on_rows)
            summary.notice = notice
            if write is not None:
                summary.tags = write_tags([os.fspath(p) for p in paths], options=write,
                                          scan_id=summary.scan_id, store=store).to_dict()
    finally:
        store.close()
    return summary


def _scan_locked(store: Store, paths: list, ref: ModelRef, jobs: int, rescan: bool,
                 timeout: float, chunk_size: int, progress: bool, runner: Runner,
                 arguments: dict, on_rows: Callable | None) -> ScanSummary:
    started = time.monotonic()
    walked = walk(list(paths))
    known = store.known()
    todo, unchanged, gone = plan(walked.files, known, ref, rescan)
    roots = [absolute(p) for p in paths]
    problem_dirs = [d for d, _ in walked.problems]
    found = {os.fspath(p) for p in walked.files}
    vanished = [p for p, row in known.items()
                if not row["missing"] and p not in found and is_under(p, roots)
                and not is_under(p, problem_dirs)]
    store.set_missing(vanished, True)
    store.set_missing([p for p in unchanged if known[p]["missing"]], False)
    scan_id = store.start_scan(ref.name, ref.version, arguments)
    summary = ScanSummary(scan_id, str(store.path), ref.name, ref.version,
                          files_seen=len(walked.files), skipped=len(unchanged),
                          missing=len(vanished), errors=len(gone),
                          error_files=[{"path": r["path"], "error": r["error"]} for r in gone],
                          unreadable_folders=[{"path": d, "error": e} for d, e in walked.problems])
    chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
    buffer: list[dict] = list(gone)
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal buffer, last_commit
        for row in buffer:
            row["scan_id"] = scan_id
        store.put_tracks(buffer)
        if on_rows:
            on_rows(buffer)
        buffer, last_commit = [], time.monotonic()

    bar = _progress(len(todo), progress)
    try:
        for rows in run_chunks(runner, ref, chunks, timeout, worker_threads(jobs)):
            buffer.extend(rows)
            for row in rows:
                if row["error"]:
                    summary.errors += 1
                    summary.error_files.append({"path": row["path"], "error": row["error"]})
                else:
                    summary.scanned += 1
            bar.update(len(rows))
            bar.set_postfix(errors=summary.errors, refresh=False)
            if len(buffer) >= COMMIT_ROWS or time.monotonic() - last_commit > COMMIT_SECONDS:
                commit()
    except BaseException:
        summary.status = "interrupted"
        runner.kill()
        raise
    finally:
        bar.close()
        commit()
        summary.seconds = round(time.monotonic() - started, 3)
        store.finish_scan(scan_id, summary.status, asdict(summary))
        runner.close()
    return summary


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    # disable=None: tqdm shows the bar only on a terminal, so logs of cron jobs
    # and pipes are not filled with carriage-return updates.
    return tqdm(total=total, unit="file", desc="scanning", disable=None if enabled else True,
                dynamic_ncols=True, file=sys.stderr)
