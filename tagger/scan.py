"""``tagger scan``: walk -> decide what changed -> analyse in workers -> store.

The scanning process is the only writer of the database.  It walks the
folders, compares each file's size and mtime (and the model version) with the
stored row to skip what is already done, re-keys the files whose size or
mtime changed but whose audio fingerprint did not (another program rewrote
their tags: the analysis holds, nothing is decoded), hands the rest in chunks
to a worker pool, and commits the returned rows in batches (every ``COMMIT_ROWS`` rows or
``COMMIT_SECONDS`` seconds), so a scan killed at any point keeps what it
finished and the next scan resumes with the rest.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import Interrupted, TaggerError
from .formats import AUDIO_EXTENSIONS, is_audio_name, sniff, sniff_format
from .inference import Engine
from .models import ModelRef, installed, resolve, with_precision
from .models.head import HeadModel, embedder_of
from .paths import absolute, default_db, is_under, printable, unreadable
from .pool import Runner, insecure_scheduler, make_runner, run_chunks
from .progress import progress
from .relabel import relabel, replaced_notice, split_relabel
from .results import FileError, to_json
from .similar import update_index
from .store import Store, TrackRow
from .walk import Exclude, WalkResult, walk
from .worker import KEPT, Check, Item, TrackResult, fingerprint, read_tags, worker_threads
from .write import Interrupted as WriteInterrupted
from .write import WriteOptions, WriteSummary, write_tags

COMMIT_ROWS = 64
COMMIT_SECONDS = 2.0
# Changed or new files whose fingerprints, totalling fewer bytes than this, are read in the
# scanning process when nothing else needs the workers: a few tenths of a second at the
# speeds in docs/speed.md, less than starting the workers would cost.
SERIAL_CHECK_BYTES = 256 * 2**20


@dataclass
class ScanOptions:
    """How to scan: every choice ``tagger scan`` offers, with its default."""

    model: str | None = None  # a registered name or a model file; None: the default
    jobs: int | None = None  # worker processes; None: one per CPU
    rescan: bool = False  # analyse unchanged files again
    timeout: float = 120.0  # seconds one file may take
    chunk_size: int = 8  # files per task (the net runs on their slices at once)
    progress: bool = True  # a progress bar (on a terminal only)
    backend: str = "loky"  # loky | dask
    scheduler: str | None = None  # Dask scheduler address
    precision: str | None = None  # auto (None) | float32: see tagger.inference
    write: WriteOptions | None = None  # then write the genres into the files' tags
    exclude: tuple[str, ...] = ()  # paths and globs the walk skips (config ``exclude``)
    keep_workers: bool = True  # loky workers stay for the next scan in this process
    dry_run: bool = False  # only say what a scan would do: no rows, no embeddings, no tags
    # With ``rescan``: skip files an interrupted rescan (and its resumptions) already redid.
    resume: bool = False
    # Another tagger database (the beets plugin's: the user's own library) whose analyses of
    # the same audio (the fingerprint) are copied instead of decoding the file again.
    reuse: str | None = None

    def arguments(self, paths: list[str]) -> dict[str, Any]:
        """What the ``scans`` table records about this run."""
        return {
            "paths": paths,
            "model": self.model,
            "jobs": self.jobs,
            "rescan": self.rescan,
            "resume": self.resume,
            "backend": self.backend,
            "scheduler": self.scheduler,
            "precision": self.precision,
            "exclude": list(self.exclude),
        }


@dataclass
class ScanSummary:
    """What a scan did; ``--json`` prints exactly this."""

    scan_id: int
    db: str
    model: str
    model_version: str
    files_seen: int = 0
    scanned: int = 0
    relabelled: int = 0  # predicted from stored embeddings, not decoded
    skipped: int = 0
    # Of the files above, those whose tags changed outside tagger and whose audio did not:
    # re-keyed without decoding (most then count as skipped; with another model, relabelled
    # or scanned).
    retagged: int = 0
    # Files moved or renamed since their scan (a new path holding the audio of a stored track
    # whose own path is gone): the stored row follows them, nothing is decoded.
    moved: int = 0
    # Files whose audio ``ScanOptions.reuse``'s database had analysed: copied, not decoded.
    copied: int = 0
    errors: int = 0
    missing: int = 0
    seconds: float = 0.0
    status: str = "finished"
    error_files: list[FileError] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)  # ok, truncated, too_short, ...
    unreadable_folders: list[FileError] = field(default_factory=list)
    notice: str | None = None
    tags: WriteSummary | None = None  # the tag-writing summary with --write-tags
    engine: str | None = None  # what ran the net: "openvino bfloat16", "tensorflow float32"
    dry_run: bool = False
    # With dry_run, the files each count is made of: analyse, relabel, unchanged, missing,
    # and retagged (also listed where they go); ``moved_from``: each moved file's old path.
    would: dict[str, list[str]] | None = None
    moved_from: dict[str, str] | None = None

    def to_dict(self) -> dict:
        return to_json(self)

    @property
    def embeddings_changed(self) -> bool:
        """Whether this scan stored or re-keyed an embedding (what the similarity index must
        follow): files analysed, retagged, moved or copied from another database."""
        return bool(self.scanned or self.retagged or self.moved or self.copied)

    def count(self, results: list[TrackResult]) -> None:
        for r in results:
            self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
            if r.error:
                self.errors += 1
                self.error_files.append(FileError(r.path, r.error))
            else:
                self.scanned += 1
                ran = r.prediction.engine if r.prediction else None
                if ran and self.engine and ran != self.engine:  # a worker had to fall back
                    self.notice = "\n".join(
                        filter(
                            None,
                            [
                                self.notice,
                                f"notice: {self.model} ran on {ran}, not {self.engine}: "
                                f"a worker could not load the fast runtime",
                            ],
                        )
                    )
                    self.engine = ran


@dataclass
class Plan:
    """What a scan will do, decided before any file is decoded."""

    walked: WalkResult
    todo: list[Item]
    relabel: list[Item]  # changed model, unchanged file: predicted from its stored embedding
    unchanged: list[str]
    gone: list[TrackResult]  # found by the walk, vanished before they could be stat'ed
    vanished: list[str]  # stored, no longer under the scanned folders
    reappeared: list[str]  # unchanged files that an earlier scan had marked missing
    # Tags changed, audio not (the stored fingerprint): re-keyed before anything else runs.
    retagged: list[Item] = field(default_factory=list)
    # Moved or renamed: each file and the gone path whose row (and embeddings) it takes over.
    moved: list[tuple[Item, str]] = field(default_factory=list)
    # Analysed in ``reuse`` (another database): each file and its path there.
    copied: list[tuple[Item, str]] = field(default_factory=list)
    reuse: str | None = None
    # A scan's changed and new files whose fingerprint decides whether they are stored audio
    # (retagged, moved) or new: each fingerprinted in its worker (``checks``), decoded only
    # when new; with ``known`` (the stored rows) and ``gone`` (fingerprint -> stored paths
    # no longer found) to decide as the results come.  A dry run decides in the plan.
    checked: list[Item] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    known: dict[str, TrackRow] = field(default_factory=dict)
    gone_audio: dict[str, list[str]] = field(default_factory=dict)

    def summary(self, db: str, ref: ModelRef, engine: Engine) -> ScanSummary:
        """The scan's summary as the plan alone makes it: what is skipped, retagged, missing
        and what vanished mid-walk; the scan counts the rest as it goes."""
        summary = ScanSummary(
            0,
            db,
            ref.name,
            ref.version,
            files_seen=len(self.walked.files),
            skipped=len(self.unchanged),
            retagged=len(self.retagged),
            moved=len(self.moved),
            copied=len(self.copied),
            missing=len(self.vanished),
            unreadable_folders=[FileError(d, e) for d, e in self.walked.problems],
            engine=str(engine),
        )
        summary.count(self.gone)
        return summary


def classify(
    found: list[Path],
    known: dict[str, TrackRow],
    ref: ModelRef,
    rescan: bool,
    redone_since: int | None = None,
) -> tuple[list[Item], list[str], list[TrackResult]]:
    """Split found files into (to analyse, unchanged, results for files that vanished mid-walk).

    A file is unchanged when its size and mtime equal the stored ones and the
    stored result came from the same model name and version.  With
    ``rescan``, every file is analysed again except, with ``redone_since``,
    those an interrupted rescan from that scan id on already analysed.
    """
    todo: list[Item] = []
    unchanged: list[str] = []
    gone: list[TrackResult] = []
    for p in found:
        path = os.fspath(p)
        try:
            st = os.stat(path)
        except OSError as exc:
            gone.append(TrackResult.failed(ref, (path, None, None), exc.strerror or str(exc)))
            continue
        row = known.get(path)
        redone = (
            redone_since is not None
            and row is not None
            and row.scan_id is not None
            and row.scan_id >= redone_since
        )
        if (
            (not rescan or redone)
            and row is not None
            and row.size == st.st_size
            and row.mtime == st.st_mtime
            and row.model == ref.name
            and row.model_version == ref.version
        ):
            unchanged.append(path)
        else:
            todo.append((path, st.st_size, st.st_mtime))
    return todo, unchanged, gone


def split_retagged(todo: list[Item], known: dict[str, TrackRow]) -> tuple[list[Item], list[Item]]:
    """(files whose audio is the stored one though size or mtime changed, the rest).

    Only files whose size or mtime changed and that have a stored fingerprint
    and analysis are looked at; the fingerprint reads the audio payload's
    bytes and decodes nothing.
    """
    same, rest = [], []
    for item in todo:
        row = known.get(item[0])
        if (
            row is not None
            and row.audio is not None
            and row.error is None
            and (row.size, row.mtime) != (item[1], item[2])
            and fingerprint(item[0], row.format) == row.audio
        ):
            same.append(item)
        else:
            rest.append(item)
    return same, rest


def split_moved(
    todo: list[Item], known: dict[str, TrackRow], found: set[str]
) -> tuple[dict[str, str], list[Item], list[Item]]:
    """(new path -> the stored path it was moved or renamed from, those files, the rest).

    A file at a path the database does not know whose audio fingerprint is
    that of a stored, analysed track whose own path no longer exists is that
    track, moved (``beet move``, a tagger's renaming): its row follows it.  A
    copy (both paths present) is a track of its own.  Only new paths are
    fingerprinted, and only when some stored track is gone; nothing is decoded.
    """
    new = [item for item in todo if item[0] not in known]
    if not new:
        return {}, [], todo
    gone = gone_audio(known, found)
    if not gone:
        return {}, [], todo
    moved: dict[str, str] = {}
    for path, _, _ in new:
        audio = fingerprint(path, sniff_format(path))
        old = next(
            (p for p in gone.get(audio or "", []) if not os.path.lexists(p)),
            None,
        )
        if old is not None:
            moved[path] = old
            gone[audio or ""].remove(old)  # one stored track, one new home
    return (
        moved,
        [item for item in todo if item[0] in moved],
        [item for item in todo if item[0] not in moved],
    )


def gone_audio(known: dict[str, TrackRow], found: set[str]) -> dict[str, list[str]]:
    """Fingerprint -> the stored, analysed tracks of that audio the walk did not find."""
    gone: dict[str, list[str]] = {}
    for path, row in known.items():
        # Outside the scanned folders a stored path is gone only if it is not on disk: a
        # scan of one folder must not fingerprint its new files for every other folder's row.
        if (
            row.audio is not None
            and row.error is None
            and path not in found
            and not os.path.lexists(path)
        ):
            gone.setdefault(row.audio, []).append(path)
    return gone


def pool_checks(
    todo: list[Item], known: dict[str, TrackRow], gone: dict[str, list[str]], rescan: bool
) -> tuple[list[Item], list[Item], dict[str, Check]]:
    """(the files ``split_retagged`` and ``split_moved`` would fingerprint, the rest, what
    their workers compare each one's fingerprint with): the pool's share of the plan."""
    moved_from = frozenset(gone)
    checks: dict[str, Check] = {}
    for path, size, mtime in todo:
        row = known.get(path)
        if row is None:
            if moved_from:
                checks[path] = (None, moved_from)
        elif (
            not rescan
            and row.audio is not None
            and row.error is None
            and (row.size, row.mtime) != (size, mtime)
        ):
            checks[path] = (row.format, frozenset([row.audio]))
    return [i for i in todo if i[0] in checks], [i for i in todo if i[0] not in checks], checks


def split_copied(
    todo: list[Item], reuse: Store, ref: ModelRef
) -> tuple[list[tuple[Item, str, bool]], list[Item]]:
    """(files whose audio ``reuse`` has analysed, with their path there and whether that is
    ``ref``'s own result; the rest).

    ``reuse`` is another tagger database (the user's library, beside the beets
    plugin's own): a result of the same audio by the same model, or the stored
    embedding a trained head predicts from, serves as well as a decode.  Each
    file is fingerprinted (its audio read, not decoded).
    """
    embedder = embedder_of(ref.card) if ref.model_class == HeadModel.model_class else None
    copied, rest = [], []
    for item in todo:
        audio = fingerprint(item[0], sniff_format(item[0]))
        found = reuse.analysed_audio(audio, ref.name, ref.version, embedder) if audio else None
        if found is None:
            rest.append(item)
        else:
            copied.append((item, *found))
    return copied, rest


def plan(
    store: Store | None,
    paths: list[str],
    ref: ModelRef,
    rescan: bool,
    exclude: Exclude | None = None,
    resume: bool = False,
    reuse: Store | None = None,
    in_pool: bool = False,
) -> Plan:
    """Walk ``paths`` and compare with the database: what to analyse, skip, mark missing.

    Excluded files that are still stored are left as they are, not marked missing.
    Reads the database and changes nothing (``store`` None: no database yet).
    ``in_pool``: the fingerprints that tell retagged and moved files from new audio are
    left to the workers (``Plan.checked``) rather than read here, one file after another,
    before the first result; except with ``reuse``, whose look-up needs them here, and
    when they are few (``SERIAL_CHECK_BYTES``) and nothing else needs the workers.
    """
    exclude = exclude or Exclude()
    walked = walk(list(paths), exclude)
    known = store.known() if store else {}
    since = store.interrupted_rescan() if store and rescan and resume else None
    todo, unchanged, gone = classify(walked.files, known, ref, rescan, since)
    if store is None:
        copies, relabel, todo = _split_reused(todo, reuse, ref, rescan, unchanged)
        return Plan(walked, todo, relabel, unchanged, gone, [], [], copied=copies)
    found = {os.fspath(p) for p in walked.files}
    gone_by_audio: dict[str, list[str]] = {}
    checked: list[Item] = []
    checks: dict[str, Check] = {}
    if in_pool and reuse is None:
        if any(item[0] not in known for item in todo):  # else no stat of gone paths
            gone_by_audio = gone_audio(known, found)
        checked, todo, checks = pool_checks(todo, known, gone_by_audio, rescan)
        if not todo and sum(item[1] or 0 for item in checked) < SERIAL_CHECK_BYTES:
            todo, checked, checks = checked, [], {}  # read below, the workers not started
    moved, moved_items, todo = split_moved(todo, known, found)
    retagged, todo = split_retagged(todo, known) if not rescan else ([], todo)
    # Both keep their analysis: skipped, unless another model runs (from the stored
    # embedding where it can) or everything is analysed again.
    kept = [*retagged, *moved_items]
    for item in kept:
        row = known[moved.get(item[0], item[0])]
        if (row.model, row.model_version) == (ref.name, ref.version) and not rescan:
            unchanged.append(item[0])
        else:
            todo.append(item)
    stored_as = {
        item[0]: (moved.get(item[0], item[0]), *_stat_of(known[moved.get(item[0], item[0])]))
        for item in kept
    }
    relabel, todo = _split_relabel(store, ref, todo, stored_as) if not rescan else ([], todo)
    # Last, of what is left to decode: what the other database analysed of the same audio.
    copies, relabel_copied, todo = _split_reused(todo, reuse, ref, rescan, unchanged)
    roots = {absolute(p) for p in paths}
    problem_dirs = {d for d, _ in walked.problems}
    taken = set(moved.values())
    vanished = [
        p
        for p, row in known.items()
        if not row.missing
        and p not in found
        and p not in taken
        and is_under(p, roots)
        and not is_under(p, problem_dirs)
        and not (exclude and exclude.covers(p))
    ]
    reappeared = [p for p in unchanged if p in known and known[p].missing]
    moves = [(item, moved[item[0]]) for item in moved_items]
    return Plan(
        walked,
        todo,
        [*relabel, *relabel_copied],
        unchanged,
        gone,
        vanished,
        reappeared,
        retagged,
        moves,
        copies,
        str(reuse.path) if reuse else None,
        checked,
        checks,
        known,
        gone_by_audio,
    )


def _split_reused(
    todo: list[Item], reuse: Store | None, ref: ModelRef, rescan: bool, unchanged: list[str]
) -> tuple[list[tuple[Item, str]], list[Item], list[Item]]:
    """``split_copied`` as the plan uses it: (the copies, those to re-label once copied, the
    rest); a copy of ``ref``'s own result joins ``unchanged``."""
    if reuse is None or rescan or not todo:
        return [], [], todo
    copied, todo = split_copied(todo, reuse, ref)
    unchanged += [item[0] for item, _, same in copied if same]
    relabel = [item for item, _, same in copied if not same]
    return [(item, there) for item, there, _ in copied], relabel, todo


def _stat_of(row: TrackRow) -> tuple[int | None, float | None]:
    return row.size, row.mtime


def _split_relabel(
    store: Store, ref: ModelRef, todo: list[Item], stored_as: dict[str, Item]
) -> tuple[list[Item], list[Item]]:
    """``split_relabel``, with retagged and moved files judged by the key their embedding
    has until the scan re-keys them (their new key once split)."""
    new = {item[0]: item for item in todo}
    old = {stored_as[i[0]][0]: i[0] for i in todo if i[0] in stored_as}
    keys = [stored_as.get(i[0], i) for i in todo]
    relabel, decode = split_relabel(store, ref, keys)
    return [new[old.get(i[0], i[0])] for i in relabel], [new[old.get(i[0], i[0])] for i in decode]


def _retagged(item: Item, row: TrackRow) -> TrackResult:
    """A file whose tags, not audio, changed since its scan (``row``): its new size and mtime
    and the tags it carries now; the stored analysis holds, nothing is decoded."""
    assert row.model is not None and row.model_version is not None  # an analysed row
    result = TrackResult(
        *item, model=row.model, model_version=row.model_version, format=row.format, audio=row.audio
    )
    read_tags(result)
    return result


def not_audio(path: str) -> bool:
    """A file named on the command line that is no audio file tagger reads: neither its
    extension nor its first bytes say audio (a cover, a playlist, a text file)."""
    return os.path.isfile(path) and not is_audio_name(path) and sniff(path) is None


def scan(
    paths: list[str | os.PathLike],
    db: str | os.PathLike | None = None,
    options: ScanOptions | None = None,
    *,
    runner: Runner | None = None,
    on_results: Callable[[list[TrackResult]], None] | None = None,
    notify: Callable[[str], None] | None = None,
    **overrides: Any,
) -> ScanSummary:
    """Scan ``paths`` into the database; the library entry point behind ``tagger scan``.

    ``options`` (or keyword overrides of its fields: ``scan(paths,
    model="musicnn", jobs=2)``) say how.  With ``options.write`` the stored
    genres are then written into the files' tags, under the same database
    lock.  ``notify`` receives one-line messages for the user: a warning about
    an unencrypted remote Dask scheduler, and, only when there are files to
    analyse, the notices (the default model, a runtime fallback; also in the
    summary, with any fallback a worker met) and that the workers are
    starting; ``on_results`` sees each batch of results as it is committed.
    """
    opts = replace(options or ScanOptions(), **overrides)
    texts = [os.fspath(p) for p in paths]
    for p in texts:
        problem = unreadable(os.path.expanduser(p))
        if problem == "no such file or folder":
            raise TaggerError(f"no such file or folder: {p}")
        if problem:
            raise TaggerError(f"cannot read {p}: {problem}")
        if not_audio(os.path.expanduser(p)):
            raise TaggerError(
                f"{printable(p)}: not an audio file "
                f"(tagger reads {' '.join(sorted(AUDIO_EXTENSIONS))})"
            )
    say = notify or (lambda message: None)
    ref, default_notice = resolve(opts.model, head_database(db, opts.reuse))
    ref, engine, engine_notice = with_precision(ref, opts.precision)
    if opts.scheduler and (warning := insecure_scheduler(opts.scheduler)):
        say(warning)
    jobs = opts.jobs or os.cpu_count() or 1
    if opts.dry_run:
        return _dry_run(texts, default_db(db), ref, opts, engine, say)
    store = Store(default_db(db))
    done: ScanSummary | None = None
    try:
        with store.writer_lock():
            opts = resumable(store, opts, say)
            # The default model's notice: once per database, by the first scan that runs it.
            seen = store.scanned_with(ref.name)
            notice: str | None = "\n".join(
                n for n in (None if seen else default_notice, engine_notice) if n
            )
            with reusable(opts.reuse, store.path) as reuse:
                the_plan = plan(
                    store,
                    texts,
                    ref,
                    opts.rescan,
                    Exclude(opts.exclude),
                    opts.resume,
                    reuse,
                    in_pool=True,
                )
            used = bool(the_plan.todo or the_plan.relabel)  # the model runs
            replaced = replaced_notice(store, ref, the_plan.relabel)
            notice = "\n".join(n for n in (notice, replaced) if n) or None
            if notice and used:
                say(notice)
            if the_plan.todo or the_plan.checked:  # and the wait for the workers
                say(
                    f"starting {jobs} worker{'s' * (jobs > 1)} (each loads the model once)..."
                    if not opts.scheduler and opts.backend == "loky"
                    else f"starting the Dask {'client' if opts.scheduler else 'cluster'}..."
                )
            runner = runner or make_runner(opts.backend, jobs, opts.scheduler, opts.keep_workers)
            summary = _run(
                store,
                the_plan,
                ref,
                opts,
                jobs,
                runner,
                opts.arguments(texts) | {"jobs": jobs},
                on_results,
                engine,
                notice if used and notice else None,
            )
            # the index `tagger similar` searches
            update_index(store, changed=summary.embeddings_changed)
            if opts.write is not None and summary.files_seen:
                done = summary  # what an interrupted --write-tags reports
                summary.tags = write_tags(
                    texts,
                    options=opts.write,
                    scan_id=summary.scan_id,
                    store=store,
                    show_progress=opts.progress,
                )
    except KeyboardInterrupt as exc:  # before the analysis (walk, plan) or in --write-tags
        if isinstance(exc, Interrupted):
            raise
        so_far = done or ScanSummary(0, str(store.path), ref.name, ref.version)
        so_far.status = "interrupted"
        if isinstance(exc, WriteInterrupted) and isinstance(exc.summary, WriteSummary):
            so_far.tags = exc.summary  # the files written before it, and their undo
        raise Interrupted(so_far) from None
    finally:
        store.close()
    return summary


def head_database(
    db: str | os.PathLike | None, reuse: str | os.PathLike | None
) -> str | os.PathLike | None:
    """Whose library head a scan into ``db`` uses: ``db``'s own; for a database that reuses
    another's analyses (``ScanOptions.reuse``: the beets plugin's, beside the user's tagger
    library, holding copies of the same music) that database's, until it learns its own."""
    if reuse and installed("library", db) is None:
        return reuse
    return db


@contextlib.contextmanager
def reusable(reuse: str | None, db: str | os.PathLike) -> Iterator[Store | None]:
    """``ScanOptions.reuse``'s database, open for reading while the scan plans; None when
    there is none, or it is the scan's own."""
    other = Path(reuse).expanduser() if reuse else None
    if other is None or not other.is_file() or other.resolve() == Path(db).resolve():
        yield None
        return
    store = Store(other, create=False, reading=True)
    try:
        yield store
    finally:
        store.close()


NOTHING_TO_RESUME = (
    "nothing to resume: the last --rescan finished; scanning only new and changed files "
    "(`tagger scan --rescan` analyses every file again)"
)


def resumable(store: Store | None, opts: ScanOptions, say: Callable[[str], None]) -> ScanOptions:
    """``opts``, with ``--rescan --resume`` turned into a plain scan (and the user told so)
    when no rescan was interrupted: run again after the rescan finished, the command the
    Ctrl-C line printed would otherwise redo every file."""
    if not (opts.rescan and opts.resume) or (store and store.interrupted_rescan() is not None):
        return opts
    say(NOTHING_TO_RESUME)
    return replace(opts, rescan=False, resume=False)


def _dry_run(
    texts: list[str],
    db: Path,
    ref: ModelRef,
    opts: ScanOptions,
    engine: Engine,
    say: Callable[[str], None],
) -> ScanSummary:
    """What ``scan`` would do, from the walk and the stored rows; nothing is written.

    No writer lock is taken (a dry run may run beside a scan), a missing
    database is not created, and with ``write`` the tags it would write to
    the stored results are listed the same way (``write --dry-run``).
    """
    store = Store(db, create=False, reading=True) if db.exists() else None
    try:
        opts = resumable(store, opts, say)
        with reusable(opts.reuse, db) as reuse:
            p = plan(store, texts, ref, opts.rescan, Exclude(opts.exclude), opts.resume, reuse)
        summary = p.summary(str(db), ref, engine)
        summary.scanned, summary.relabelled, summary.dry_run = len(p.todo), len(p.relabel), True
        summary.would = {
            "analyse": [item[0] for item in p.todo],
            "relabel": [item[0] for item in p.relabel],
            "unchanged": p.unchanged,
            "missing": p.vanished,
            "retagged": [item[0] for item in p.retagged],
            "moved": [item[0] for item, _ in p.moved],
        }
        summary.moved_from = {item[0]: old for item, old in p.moved}
        if opts.write is not None and store is not None and summary.files_seen:
            dry = replace(opts.write, dry_run=True)
            summary.tags = write_tags(texts, options=dry, store=store)
    finally:
        if store is not None:
            store.close()
    return summary


def chunked(items: list[Item], size: int, jobs: int) -> list[list[Item]]:
    """``items`` in chunks of ``size``, the first ones smaller (1, 2, 4, ... files per worker).

    The net runs on a whole chunk at once, so large chunks amortise its call;
    but the first result of a scan waits for a whole first chunk, and small
    first chunks let every worker report within seconds of the start.
    """
    chunks, i, step = [], 0, 1
    while i < len(items):
        for _ in range(jobs):
            chunks.append(items[i : i + step])
            i += step
        step = min(2 * step, size)
    return [c for c in chunks if c]


def _run(
    store: Store,
    the_plan: Plan,
    ref: ModelRef,
    opts: ScanOptions,
    jobs: int,
    runner: Runner,
    arguments: dict,
    on_results: Callable | None,
    engine: Engine,
    notice: str | None,
) -> ScanSummary:
    """Analyse the plan's files in the pool, committing results in batches."""
    started = time.monotonic()
    store.set_missing(the_plan.vanished, True)
    store.set_missing(the_plan.reappeared, False)
    columns = ("path", "model", "model_version", "format", "audio")
    if the_plan.moved:  # the row follows the file, then is re-keyed as a retagged one is
        store.move_tracks([(old, item[0]) for item, old in the_plan.moved])
    if the_plan.copied and the_plan.reuse:  # the other database's analysis of the same audio
        other = Store(the_plan.reuse, create=False, reading=True)
        try:
            store.copy_tracks(other, [(there, item) for item, there in the_plan.copied])
        finally:
            other.close()
    kept = [
        *the_plan.retagged,
        *(item for item, _ in the_plan.moved),
        *(item for item, _ in the_plan.copied),
    ]
    if kept:
        stored = {r.path: r for r in store.tracks_at([i[0] for i in kept], columns)}
        store.put_retagged([_retagged(item, stored[item[0]]) for item in kept])
    summary = the_plan.summary(str(store.path), ref, engine)
    summary.notice = notice
    later: list[Item] = []  # checked files still to analyse: another model, or a second copy
    claimable = {audio: list(paths) for audio, paths in the_plan.gone_audio.items()}
    vanished = set(the_plan.vanished)

    def keep(results: list[TrackResult]) -> int:
        """Checked files of stored audio, re-keyed as their workers return them: a moved
        file takes over the gone track's row (one track, one new home: a second copy is
        analysed), a retagged one keeps its own; either is then skipped, or analysed again
        in a second round when another model runs or everything is analysed again.  Returns
        how many go to that second round (the progress counts them when they are done)."""
        waiting = len(later)
        moves, kept = [], []
        for r in results:
            item: Item = (r.path, r.size, r.mtime)
            row = the_plan.known.get(r.path)
            if row is None:
                paths = claimable.get(r.audio or "", [])
                old = next((p for p in paths if not os.path.lexists(p)), None)
                if old is None:
                    later.append(item)
                    continue
                paths.remove(old)
                moves.append((old, r.path))
                row = the_plan.known[old]
                summary.moved += 1
                summary.missing -= old in vanished
            else:
                summary.retagged += 1
            if (row.model, row.model_version) == (ref.name, ref.version) and not opts.rescan:
                summary.skipped += 1
            else:
                later.append(item)
            kept.append(item)
        if moves:
            store.move_tracks(moves)
        if kept:
            stored = {r.path: r for r in store.tracks_at([i[0] for i in kept], columns)}
            store.put_retagged([_retagged(item, stored[item[0]]) for item in kept])
        return len(later) - waiting

    buffer: list[TrackResult] = list(the_plan.gone)
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal buffer, last_commit
        store.put_results(buffer, summary.scan_id)
        if on_results:
            on_results(buffer)
        buffer, last_commit = [], time.monotonic()

    bar = None

    def advance(n: int):
        """The progress bar, started at the first results so that the workers' start-up
        (seconds) does not make the rate and the ETA look far off."""
        nonlocal bar
        if bar is None:
            total = len(the_plan.todo) + len(the_plan.checked) + len(the_plan.relabel)
            bar = progress(total, opts.progress, "scanning", initial=n)
        else:
            bar.update(n)
        return bar

    # The scans row is made last and the try follows at once: a Ctrl-C anywhere
    # after it exists marks it interrupted (it stayed 'running' when one came
    # while the progress bar was being set up).
    def analyse(relabels: list[Item], todo: list[Item], checks: dict[str, Check]) -> None:
        for results in relabel(store, ref, relabels, summary.scan_id):
            summary.relabelled += len(results)
            advance(len(results))
            if on_results:
                on_results(results)
        chunks = [  # the checks first: most end in a fingerprint, no decode
            *chunked([i for i in todo if i[0] in checks], opts.chunk_size, jobs),
            *chunked([i for i in todo if i[0] not in checks], opts.chunk_size, jobs),
        ]
        threads = worker_threads(jobs)
        for results in run_chunks(runner, ref, chunks, opts.timeout, threads, checks):
            again = keep([r for r in results if r.status == KEPT])
            done = [r for r in results if r.status != KEPT]
            buffer.extend(done)
            summary.count(done)
            # A file is one step of the bar: one analysed in a second round counts then.
            advance(len(results) - again).set_postfix(errors=summary.errors, refresh=False)
            if len(buffer) >= COMMIT_ROWS or time.monotonic() - last_commit > COMMIT_SECONDS:
                commit()

    summary.scan_id = store.start_scan(ref.name, ref.version, arguments)
    try:
        analyse(the_plan.relabel, [*the_plan.checked, *the_plan.todo], the_plan.checks)
        if later:  # kept files another model analyses: from their embeddings where it can
            relabels, todo = split_relabel(store, ref, later) if not opts.rescan else ([], later)
            analyse(relabels, todo, {})
    except BaseException as exc:
        summary.status = "interrupted"
        if bar is not None:
            bar.leave = False  # cleared, not drawn a second time under the ^C
        runner.kill()
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
            raise Interrupted(summary) from None  # what was done, for `scan --json`
        raise
    finally:
        if bar is not None:
            bar.close()
        try:
            commit()
            summary.seconds = round(time.monotonic() - started, 3)
            store.finish_scan(
                summary.scan_id,
                summary.status,
                summary.to_dict()
                | {"unreadable": [[f.path, f.error] for f in summary.unreadable_folders]},
            )
        finally:  # even when the database cannot be written (disk full)
            runner.close()
    return summary
