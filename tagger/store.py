"""The music library's database: its tables, and every read and write of them.

The generic part (opening, WAL mode, named and recorded migrations,
transactions, the writer lock) is ``tagger.db``; this module declares the
library's schema as named steps and offers the named queries the commands
need, so no SQL is written anywhere else.  Results are committed in batches:
a scan killed at any moment keeps every batch it committed, and SQLite's
journal guarantees the file is never half-written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .clock import now
from .db import Database, Migration
from .embeddings import pack_embedding, unpack_embeddings
from .paths import database_folder

if TYPE_CHECKING:
    from .tags import Undo
    from .worker import TrackResult

TEMPO_AND_VOICE = "tempo and voice"
# Said once, by the command that upgrades a database holding results made before tempo.
UNHEARD_NOTICE = (
    "notice: this library was scanned before tempo and voice were stored; "
    "`tagger scan --rescan` adds them"
)

# The library's schema, step by step (``tagger.db``): each step is applied once and
# recorded by its name.  Never edit or rename a released step; a new one may go anywhere
# after the first six (databases from before names were recorded hold those by position).
MIGRATIONS: list[Migration] = [
    Migration(
        "tracks, scans and the tag journal",
        (
            """CREATE TABLE tracks (
                path TEXT PRIMARY KEY,
                size INTEGER,
                mtime REAL,
                duration REAL,
                format TEXT,
                tag_genre TEXT,
                genre TEXT,
                confidence REAL,
                probabilities TEXT,
                tags TEXT,
                model TEXT,
                model_version TEXT,
                slices INTEGER,
                scanned_at TEXT,
                error TEXT,
                missing INTEGER NOT NULL DEFAULT 0,
                scan_id INTEGER,
                written_genre TEXT,
                written_at TEXT
            )""",
            "CREATE INDEX tracks_genre ON tracks(genre)",
            """CREATE TABLE scans (
                id INTEGER PRIMARY KEY,
                started TEXT,
                finished TEXT,
                status TEXT,
                model TEXT,
                model_version TEXT,
                arguments TEXT,
                files_seen INTEGER,
                scanned INTEGER,
                skipped INTEGER,
                errors INTEGER,
                missing INTEGER
            )""",
            """CREATE TABLE tag_history (
                id INTEGER PRIMARY KEY,
                path TEXT NOT NULL,
                old_values TEXT,
                new_values TEXT,
                status TEXT NOT NULL DEFAULT 'pending',
                written_at TEXT,
                scan_id INTEGER,
                undone_at TEXT,
                error TEXT
            )""",
            "CREATE INDEX tag_history_path ON tag_history(path)",
        ),
    ),
    Migration(
        "the raw genre field before and after each write",
        (
            # JSON from tagger.tags.read_field: what undo puts back exactly, and how it
            # tells that something else changed the genre since.
            "ALTER TABLE tag_history ADD COLUMN old_field TEXT",
            "ALTER TABLE tag_history ADD COLUMN new_field TEXT",
        ),
    ),
    Migration(
        "album and artist, abstentions, embeddings",
        (
            # Learning the user's genres: album/artist for honest splits, the head's
            # abstentions, and each file's musicnn embedding (float16, 800 bytes) keyed by
            # file and embedder, kept whatever model the tracks row holds.
            "ALTER TABLE tracks ADD COLUMN album TEXT",
            "ALTER TABLE tracks ADD COLUMN artist TEXT",
            "ALTER TABLE tracks ADD COLUMN uncertain INTEGER",
            """CREATE TABLE embeddings (
                path TEXT NOT NULL,
                embedder TEXT NOT NULL,
                size INTEGER,
                mtime REAL,
                vector BLOB NOT NULL,
                PRIMARY KEY (path, embedder)
            )""",
        ),
    ),
    Migration(
        "decode statuses and their reasons",
        (
            # What a scan heard: ok | truncated | too_short | silent | error, and the one-line
            # reason of every status but ok.  ``error`` stays, holding the reason of error rows
            # (queries written before statuses existed keep working).  Rows from before this
            # version keep a NULL status: they were classified without the checks for truncated,
            # short and silent audio (``tagger scan --rescan`` checks them).
            "ALTER TABLE tracks ADD COLUMN status TEXT",
            "ALTER TABLE tracks ADD COLUMN reason TEXT",
            "UPDATE tracks SET status = 'error', reason = error WHERE error IS NOT NULL",
            "CREATE INDEX tracks_status ON tracks(status)",
        ),
    ),
    Migration(
        "album artist and compilation flag",
        (
            # Album genres group tracks by album and album artist, and leave compilations
            # per track.  NULL: scanned before these were read (grouped by album and folder).
            "ALTER TABLE tracks ADD COLUMN album_artist TEXT",
            "ALTER TABLE tracks ADD COLUMN compilation INTEGER",
        ),
    ),
    Migration(
        "verified writes: undo bytes and temporary copies",
        (
            # Verified writes: what gives each written file's bytes back (``tagger.tags.Undo``:
            # digests, sizes, the shared head and tail as JSON; the original bytes between them),
            # and every temporary copy a write makes, recorded before it exists, so that the next
            # command removes what a killed write left in the library.
            "ALTER TABLE tag_history ADD COLUMN undo TEXT",
            "ALTER TABLE tag_history ADD COLUMN undo_bytes BLOB",
            "CREATE TABLE tag_temps (path TEXT PRIMARY KEY, created_at TEXT)",
        ),
    ),
    Migration(
        "audio fingerprint",
        (
            # ``tagger.payload.audio_fingerprint``: a stored analysis belongs to the audio, not
            # to the tag bytes.  A file whose size and mtime changed but whose audio did not
            # (another program retagged it) is re-keyed, not decoded; ``similar`` leaves out
            # identical copies.  NULL: scanned before fingerprints were stored, or a container
            # too damaged to tell where its audio is.
            "ALTER TABLE tracks ADD COLUMN audio TEXT",
            "CREATE INDEX tracks_audio ON tracks(audio)",
        ),
    ),
    Migration(
        "scan counts as the summary gives them, unreadable folders",
        (
            # ``scanned`` counts the files decoded and analysed, ``relabelled`` those predicted
            # from stored embeddings (rows before this version counted both in ``scanned``), so
            # ``report``'s last scan says what the scan's summary said; ``unreadable`` holds the
            # folders the walk could not read, as JSON [[folder, reason], ...].
            "ALTER TABLE scans ADD COLUMN relabelled INTEGER",
            "ALTER TABLE scans ADD COLUMN unreadable TEXT",
        ),
    ),
    Migration(
        TEMPO_AND_VOICE,
        (
            # ``tagger.tempo`` and ``tagger.voice``, from the same hearing as the genre: beats
            # per minute (one decimal) or NULL with the reason there is none (no steady beat),
            # and instrumental | vocal | NULL (unsure).  Rows scanned before this step hold NULL
            # in all three and no reason: ``tagger scan --rescan`` hears them again.
            "ALTER TABLE tracks ADD COLUMN bpm REAL",
            "ALTER TABLE tracks ADD COLUMN bpm_reason TEXT",
            "ALTER TABLE tracks ADD COLUMN voice TEXT",
            "CREATE INDEX tracks_bpm ON tracks(bpm)",
        ),
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class TrackRow:
    """A stored ``tracks`` row: every column, declared once, with its type.

    A query that reads only some columns (``Store.tracks(columns=...)``) leaves
    the others at their defaults.  The migrations above must give the table
    exactly these columns (a test holds them together).
    """

    path: str
    size: int | None = None  # the file's size and mtime when it was analysed or re-keyed
    mtime: float | None = None
    duration: float | None = None  # seconds of audio that decode
    format: str | None = None  # ``tagger.formats`` name
    tag_genre: str | None = None  # the genre tag the file had when scanned
    genre: str | None = None  # the model's top genre (None: no result)
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    tags: dict[str, float] | None = None  # a multi-label model's every tag
    model: str | None = None
    model_version: str | None = None
    slices: int | None = None  # windows the model heard
    scanned_at: str | None = None
    error: str | None = None  # the reason of a file that gave no result
    missing: bool = False  # the file has vanished since its scan
    scan_id: int | None = None
    written_genre: str | None = None  # what tagger wrote into the file, until undone
    written_at: str | None = None
    album: str | None = None
    artist: str | None = None
    uncertain: bool | None = None  # a trained head abstained (None: not a head's result)
    status: str | None = None  # ok | truncated | too_short | silent | error (None: unchecked)
    reason: str | None = None  # the one-line reason of every status but ok
    album_artist: str | None = None
    compilation: bool = False
    audio: str | None = None  # the audio fingerprint (None: unknown, see the migration)
    bpm: float | None = None  # beats per minute (None: no steady beat, or not heard yet)
    bpm_reason: str | None = None  # why there is no bpm (None with no bpm: scanned before tempo)
    voice: str | None = None  # instrumental | vocal (None: unsure, or scanned before voice)

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> TrackRow:
        """A row as SQLite returns it: paths stored as bytes, JSON columns, 0/1 flags."""
        out = dict(row)
        if "path" in out:
            out["path"] = fs_path(out["path"])
        for key in ("probabilities", "tags"):
            if isinstance(out.get(key), str):
                out[key] = json.loads(out[key])
        for key in ("missing", "compilation"):
            if key in out:
                out[key] = bool(out[key])
        if out.get("uncertain") is not None:
            out["uncertain"] = bool(out["uncertain"])
        return cls(**out)

    def to_db(self) -> dict[str, Any]:
        """The row as stored: the inverse of ``from_db``."""
        out = dataclasses.asdict(self)
        out["path"] = db_path(self.path)
        for key in ("probabilities", "tags"):
            if out[key] is not None:
                out[key] = json.dumps(out[key], sort_keys=True)
        for key in ("missing", "compilation", "uncertain"):
            if out[key] is not None:
                out[key] = int(out[key])
        return out


TRACK_COLUMNS = tuple(f.name for f in dataclasses.fields(TrackRow))


def db_path(path: str) -> str | bytes:
    """A file path as stored: text, or the raw bytes for a name that is not valid UTF-8.

    POSIX file names are bytes; Python maps undecodable bytes to lone
    surrogates, which SQLite's UTF-8 text cannot hold.  Those few paths are
    stored as BLOBs of their exact bytes so the file can still be found.
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def fs_path(value: str | bytes) -> str:
    """The inverse of ``db_path``."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


class Store(Database):
    """The open library database (``tagger.db.Database`` with the library's schema)."""

    def __init__(self, path: str | os.PathLike, create: bool = True, reading: bool = False):
        """Open (or with ``create``, make) the library at ``path``; ``reading``: see
        ``Database``."""
        if create:
            database_folder(path)
        super().__init__(path, MIGRATIONS, create=create, reading=reading)
        if (
            TEMPO_AND_VOICE in self.upgraded
            and self.conn.execute("SELECT 1 FROM tracks WHERE genre IS NOT NULL LIMIT 1").fetchone()
        ):
            print(UNHEARD_NOTICE, file=sys.stderr)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive right to write (scan, write, undo), after sweeping what a killed
        write left behind."""
        with super().writer_lock():
            self.history.sweep()
            yield

    @property
    def history(self) -> History:
        return History(self)

    # --- tracks -----------------------------------------------------------------
    def known(self) -> dict[str, TrackRow]:
        """path -> the row fields a scan needs to decide what to skip."""
        rows = self.tracks(
            (
                "path",
                "size",
                "mtime",
                "model",
                "model_version",
                "error",
                "missing",
                "scan_id",
                "format",
                "audio",
            )
        )
        return {r.path: r for r in rows}

    def put_results(self, results: Iterable[TrackResult], scan_id: int) -> None:
        """Store analysis results as ``tracks`` rows (insert or replace), in one transaction."""
        results = list(results)
        rows = [_scanned(result_row(r, scan_id)) for r in results]
        if not rows:
            return
        vectors = [
            (db_path(r.path), r.embedder, r.size, r.mtime, pack_embedding(r.prediction.embedding))
            for r in results
            if r.embedder and r.prediction is not None and r.prediction.embedding is not None
        ]
        self._put(rows, vectors)

    def put_retagged(self, results: Iterable[TrackResult]) -> None:
        """Files whose tags, not audio, changed since their scan: each row and its embeddings
        move to the file's new size and mtime, and the tag columns take what it carries now.

        The analysis (prediction, decode facts, embeddings) stays: it is of the audio.
        """
        sets = ", ".join(f"{c} = ?" for c in TAG_COLUMNS)
        with self.transaction():
            for r in results:
                _restat(self.conn, r.path, r.size, r.mtime)
                row = result_row(r, 0).to_db()
                self.conn.execute(
                    f"UPDATE tracks SET {sets}, missing = 0 WHERE path = ?",
                    [*(row[c] for c in TAG_COLUMNS), row["path"]],
                )

    def move_tracks(self, moves: Iterable[tuple[str, str]]) -> None:
        """Rows whose file was moved or renamed follow it: (old path, new path) pairs.

        The track row, its embeddings and its tag journal take the new path, so
        the analysis, ``similar`` and ``undo`` follow the file and no ``missing``
        row stays behind.  The scan moves rows only to paths it has no row for.
        """
        with self.transaction():
            for old, new in moves:
                keys = [db_path(new), db_path(old)]
                self.conn.execute("UPDATE tracks SET path = ?, missing = 0 WHERE path = ?", keys)
                self.conn.execute("UPDATE OR REPLACE embeddings SET path = ? WHERE path = ?", keys)
                self.conn.execute("UPDATE tag_history SET path = ? WHERE path = ?", keys)

    def analysed_audio(
        self, audio: str, model: str, version: str, embedder: str | None
    ) -> tuple[str, bool] | None:
        """A track analysed from this audio: (its path, whether by ``model`` ``version``), or
        None.  One by that model is preferred; otherwise one whose stored embedding is by
        ``embedder`` (a trained head's input), where given."""
        cur = self.conn.execute(
            "SELECT t.path, t.model = ? AND t.model_version = ? AS same FROM tracks t "
            "WHERE t.audio = ? AND t.error IS NULL AND t.genre IS NOT NULL AND "
            "((t.model = ? AND t.model_version = ?) OR EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.path = t.path AND e.embedder = ? AND e.size IS t.size AND "
            "e.mtime IS t.mtime)) ORDER BY same DESC, t.path LIMIT 1",
            [model, version, audio, model, version, embedder],
        )
        row = cur.fetchone()
        return (fs_path(row[0]), bool(row[1])) if row else None

    def copy_tracks(
        self, other: Store, pairs: list[tuple[str, tuple[str, int | None, float | None]]]
    ) -> None:
        """Copy ``other``'s analyses of the same audio: (its path, (our path, size, mtime)).

        Each row (decode facts, prediction) and its current embeddings come under
        our path with our file's size and mtime; what tagger wrote there, and the
        scan it came from, stay the other database's.
        """
        theirs = {r.path: r for r in other.tracks_at([there for there, _ in pairs])}
        rows, vectors = [], []
        for there, (path, size, mtime) in pairs:
            row = theirs[there]
            copied = dataclasses.replace(
                row,
                path=path,
                size=size,
                mtime=mtime,
                missing=False,
                scan_id=None,
                written_genre=None,
                written_at=None,
            )
            rows.append(_scanned(copied))
            for embedder, vector in other.conn.execute(
                "SELECT e.embedder, e.vector FROM embeddings e JOIN tracks t ON t.path = e.path "
                "AND e.size IS t.size AND e.mtime IS t.mtime WHERE e.path = ?",
                [db_path(there)],
            ):
                vectors.append((db_path(path), embedder, size, mtime, vector))
        self._put(rows, vectors)

    def paths_of_audio(self, audio: str) -> list[str]:
        """The present tracks whose audio fingerprint is ``audio`` (copies of the same audio)."""
        cur = self.conn.execute(
            "SELECT path FROM tracks WHERE audio = ? AND missing = 0 ORDER BY path", [audio]
        )
        return [fs_path(p) for (p,) in cur]

    def set_missing(self, paths: Iterable[str], missing: bool) -> int:
        paths = list(paths)
        with self.transaction():
            for i in range(0, len(paths), 500):
                chunk = [db_path(p) for p in paths[i : i + 500]]
                self.conn.execute(
                    f"UPDATE tracks SET missing = ? WHERE path IN ({','.join('?' * len(chunk))})",
                    [int(missing), *chunk],
                )
        return len(paths)

    def tracks(
        self, columns: tuple[str, ...] | None = None, present: bool = False
    ) -> list[TrackRow]:
        """Track rows by path, JSON columns decoded; ``columns`` limits what is read (and
        parsed: for 100,000 rows the probabilities cost more than the rest); ``present``:
        only files not missing since their scan."""
        where = "missing = 0" if present else "1"
        return self._tracks(where, [], columns)

    def track(self, path: str) -> TrackRow | None:
        """The row of one file, or None."""
        rows = self._tracks("path = ?", [db_path(path)], None)
        return rows[0] if rows else None

    def tracks_at(self, paths: list[str], columns: tuple[str, ...] | None = None) -> list[TrackRow]:
        """The rows of these paths, their keys sent 500 at a time (SQLite caps the parameters
        of one query; the beets plugin asks for one path per item of a whole library)."""
        out: list[TrackRow] = []
        for i in range(0, len(paths), 500):
            chunk = paths[i : i + 500]
            out += self._tracks(
                f"path IN ({','.join('?' * len(chunk))})", [db_path(p) for p in chunk], columns
            )
        return out

    def genres(self) -> set[str]:
        """Every genre a stored track has (the models' names)."""
        return {g for (g,) in self.conn.execute("SELECT DISTINCT genre FROM tracks") if g}

    def _put(self, rows: list[dict], vectors: list[tuple]) -> None:
        """Track rows (insert or replace) and their embeddings, in one transaction: a row is
        never stored without the embedding its analysis made."""
        with self.transaction():
            self.db.table("tracks").upsert_all(rows, pk="path")
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings (path, embedder, size, mtime, vector) "
                "VALUES (?, ?, ?, ?, ?)",
                vectors,
            )

    def _tracks(self, where: str, params: list, columns: tuple[str, ...] | None) -> list[TrackRow]:
        wanted = ("path", *(c for c in columns if c != "path")) if columns else TRACK_COLUMNS
        sql = f"SELECT {', '.join(wanted)} FROM tracks WHERE {where} ORDER BY path"
        return [TrackRow.from_db(r) for r in self.query(sql, params)]

    def set_file_stats(self, stats: Iterable[tuple[str, int, float]]) -> None:
        """New (path, size, mtime) for files whose tags, not audio, another program rewrote.

        The beets plugin calls it after beets writes genres into files: their
        stored analysis still holds, and the next scan must not see a change.
        """
        with self.transaction():
            for path, size, mtime in stats:
                _restat(self.conn, path, size, mtime)

    # --- embeddings ---------------------------------------------------------------
    def embedded(self, embedder: str) -> dict[str, tuple[int, float]]:
        """path -> (size, mtime) of tracks whose stored embedding is of the file as last scanned."""
        cur = self.conn.execute(
            "SELECT e.path, e.size, e.mtime FROM embeddings e JOIN tracks t ON t.path = e.path "
            "AND e.size IS t.size AND e.mtime IS t.mtime AND t.error IS NULL "
            "WHERE e.embedder = ?",
            [embedder],
        )
        return {fs_path(p): (size, mtime) for p, size, mtime in cur}

    def put_relabelled(self, results: list[TrackResult], scan_id: int) -> None:
        """New predictions for tracks whose other columns (decode facts, tags) stay as stored."""
        rows = [_scanned(result_row(r, scan_id)) for r in results if r.prediction is not None]
        sets = ", ".join(f"{c} = ?" for c in PREDICTION_COLUMNS)
        with self.transaction():
            self.conn.executemany(
                f"UPDATE tracks SET {sets} WHERE path = ?",
                [[row[c] for c in PREDICTION_COLUMNS] + [row["path"]] for row in rows],
            )

    def embedded_tracks(
        self, embedder: str, columns: tuple[str, ...] = ("path",), paths: set[str] | None = None
    ) -> tuple[list[TrackRow], np.ndarray]:
        """Present tracks whose stored embedding is of the file as it was last scanned.

        Returns their rows (``columns`` of ``tracks``, ``path`` first) and an
        (n, dim) float32 matrix of embeddings in the same order; ``paths``
        limits the result.
        """
        cols = ", ".join(f"t.{c}" for c in columns)
        cur = self.conn.execute(
            f"SELECT {cols}, e.vector FROM embeddings e JOIN tracks t ON e.path = t.path "
            "AND e.size IS t.size AND e.mtime IS t.mtime "
            "WHERE e.embedder = ? AND t.missing = 0 AND t.error IS NULL",
            [embedder],
        )
        data = cur.fetchall()
        if paths is not None:
            data = [v for v in data if fs_path(v[0]) in paths]
        rows = [TrackRow.from_db(dict(zip(columns, v[:-1]))) for v in data]
        return rows, unpack_embeddings([v[-1] for v in data])

    def embedding_vectors(
        self, embedder: str, rowids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, float32 matrix) of the stored embeddings of ``embedder`` (those of
        ``rowids`` only, when given), in rowid order: what the similarity index projects."""
        sql = "SELECT rowid, vector FROM embeddings WHERE embedder = ?"
        if rowids is None:
            data = self.conn.execute(sql + " ORDER BY rowid", [embedder]).fetchall()
        else:
            ids = [int(r) for r in rowids]
            data = []
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ", ".join("?" * len(chunk))
                data += self.conn.execute(f"{sql} AND rowid IN ({marks})", [embedder, *chunk])
            data.sort()
        return np.array([r for r, _ in data], np.int64), unpack_embeddings([v for _, v in data])

    def embedding_stamps(self, embedder: str) -> tuple[np.ndarray, np.ndarray]:
        """(rowids ascending, the file mtime each was made from) of ``embedder``'s embeddings:
        enough to tell which the similarity index holds as they are."""
        data = self.conn.execute(
            "SELECT rowid, mtime FROM embeddings WHERE embedder = ? ORDER BY rowid", [embedder]
        ).fetchall()
        return (
            np.array([r for r, _ in data], np.int64),
            np.array([m if m is not None else np.nan for _, m in data], np.float64),
        )

    def embedded_where(
        self, embedder: str, where: str, params: list, columns: tuple[str, ...] = ("path",)
    ) -> tuple[list[TrackRow], np.ndarray]:
        """``embedded_tracks`` limited by an SQL condition on ``e`` (the embeddings row)."""
        cols = ", ".join(f"t.{c}" for c in columns)
        data = self.conn.execute(
            f"SELECT {cols}, e.vector FROM embeddings e JOIN tracks t ON e.path = t.path "
            "AND e.size IS t.size AND e.mtime IS t.mtime "
            f"WHERE e.embedder = ? AND t.missing = 0 AND t.error IS NULL AND ({where})",
            [embedder, *params],
        ).fetchall()
        rows = [TrackRow.from_db(dict(zip(columns, v[:-1]))) for v in data]
        return rows, unpack_embeddings([v[-1] for v in data])

    def original_genres(self) -> dict[str, list[str]]:
        """path -> the genres a file had before tagger first wrote it (writes not undone)."""
        out: dict[str, list[str]] = {}
        for path, old in self.conn.execute(
            "SELECT path, old_values FROM tag_history WHERE status = 'written' "
            "AND undone_at IS NULL ORDER BY id"
        ):
            out.setdefault(fs_path(path), json.loads(old or "[]"))
        return out

    # --- scans --------------------------------------------------------------------
    def start_scan(self, model: str, model_version: str, arguments: dict) -> int:
        """A new ``scans`` row; earlier rows still 'running' belonged to killed scans.

        Called under the writer lock, so no other scan can be running.
        """
        with self.transaction():
            self.conn.execute("UPDATE scans SET status = 'killed' WHERE status = 'running'")
            cur = self.conn.execute(
                "INSERT INTO scans (started, status, model, model_version, arguments) "
                "VALUES (?, 'running', ?, ?, ?)",
                [now(), model, model_version, json.dumps(arguments, default=str)],
            )
        return int(cur.lastrowid or 0)

    def finish_scan(self, scan_id: int, status: str, counts: dict) -> None:
        """A scan's end: its status and counts (``ScanSummary``'s names; ``unreadable``: the
        folders the walk could not read, as (folder, reason) pairs)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE scans SET finished = ?, status = ?, files_seen = ?, scanned = ?, "
                "relabelled = ?, skipped = ?, errors = ?, missing = ?, unreadable = ? "
                "WHERE id = ?",
                [
                    now(),
                    status,
                    counts.get("files_seen"),
                    counts.get("scanned"),
                    counts.get("relabelled"),
                    counts.get("skipped"),
                    counts.get("errors"),
                    counts.get("missing"),
                    json.dumps(counts["unreadable"]) if counts.get("unreadable") else None,
                    scan_id,
                ],
            )

    def interrupted_rescan(self) -> int | None:
        """The id of the first scan of the latest run of interrupted ``--rescan`` scans, if any.

        A rescan resumed (``--rescan --resume``) and interrupted again extends
        the run: every file analysed since that first id counts as redone.
        """
        first = None
        for status, arguments, scan_id in self.conn.execute(
            "SELECT status, arguments, id FROM scans ORDER BY id DESC"
        ):
            if status not in ("interrupted", "killed") or not json.loads(arguments or "{}").get(
                "rescan"
            ):
                break
            first = scan_id
        return first

    def scanned_with(self, model: str) -> bool:
        """Whether a scan by ``model`` analysed files in this database (the default model's
        notice is said once per database, by its first scan)."""
        cur = self.conn.execute(
            "SELECT 1 FROM scans WHERE model = ? AND scanned > 0 LIMIT 1", [model]
        )
        return cur.fetchone() is not None

    def scans(self) -> list[dict]:
        return list(self.query("SELECT * FROM scans ORDER BY id"))


class History:
    """The ``tag_history`` journal: every tag write, recorded before it happens.

    An entry is *preparing* while the file is copied, edited and verified (the
    file itself untouched), *pending* once what gives its bytes back is
    journaled and the file may change, then *written* or *failed*; a file the
    write would not touch (its audio changed since the scan, a damaged
    structure) is journaled *refused*, with the reason.  Temporary copies are
    journaled in ``tag_temps`` before they exist.
    """

    def __init__(self, store: Store):
        self.store = store

    def begin(
        self,
        path: str,
        old: list[str],
        new: list[str],
        scan_id: int | None,
        old_field: dict | None = None,
    ) -> int:
        """Journal the old values and raw field *before* the file is touched; 'preparing'."""
        with self.store.transaction():
            cur = self.store.conn.execute(
                "INSERT INTO tag_history (path, old_values, new_values, status, scan_id, "
                "old_field) VALUES (?, ?, ?, 'preparing', ?, ?)",
                [
                    db_path(path),
                    json.dumps(old),
                    json.dumps(new),
                    scan_id,
                    json.dumps(old_field) if old_field is not None else None,
                ],
            )
        return int(cur.lastrowid or 0)

    def prepared(self, entry: int, undo: Undo) -> None:
        """Journal what gives the bytes back; from now on the file may change ('pending')."""
        meta = {k: v for k, v in dataclasses.asdict(undo).items() if k != "data"}
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE tag_history SET status = 'pending', undo = ?, undo_bytes = ? WHERE id = ?",
                [json.dumps(meta), undo.data, entry],
            )

    def finish(
        self,
        entry: int,
        status: str,
        error: str | None = None,
        track_update: dict | None = None,
        new_field: dict | None = None,
    ) -> None:
        """Mark an entry written/failed and, in the same transaction, update its track row."""
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE tag_history SET status = ?, written_at = ?, error = ?, new_field = ? "
                "WHERE id = ?",
                [
                    status,
                    now(),
                    error,
                    json.dumps(new_field) if new_field is not None else None,
                    entry,
                ],
            )
            if track_update:
                self._update_track(track_update)

    def _update_track(self, fields: dict) -> None:
        fields = dict(fields)
        path = fields.pop("path")
        if "size" in fields:  # tagger rewrote the tags, not the audio: the analysis holds
            _restat(self.store.conn, path, fields.pop("size"), fields.pop("mtime"))
        if not fields:
            return
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.store.conn.execute(
            f"UPDATE tracks SET {sets} WHERE path = ?", [*fields.values(), db_path(path)]
        )

    def undoable(self, scan_id: int | None = None) -> dict[str, list[dict]]:
        """path -> its not-yet-undone entries (oldest first), optionally of one scan."""
        sql = (
            "SELECT * FROM tag_history WHERE status IN ('written', 'pending') AND undone_at IS NULL"
        )
        params: list = []
        if scan_id is not None:
            sql += " AND scan_id = ?"
            params.append(scan_id)
        out: dict[str, list[dict]] = {}
        for row in self.store.query(sql + " ORDER BY id", params):
            out.setdefault(fs_path(row["path"]), []).append(_entry(row))
        return out

    def unwritten(self) -> list[dict]:
        """Files whose newest journal entry is a write that was *refused* or *failed* (oldest
        first), with ``old_field`` (the raw field it was to change: None for a refusal, which
        left the whole file as it was) and ``written``: the raw fields before each write of
        the file that holds, not undone (a field written before another one failed stays
        written)."""
        sql = (
            "SELECT path, status, error, written_at, scan_id, old_field FROM tag_history t "
            "WHERE status IN ('refused', 'failed') AND id = (SELECT MAX(id) FROM tag_history "
            "u WHERE u.path = t.path) ORDER BY id"
        )
        out = [
            {**row, "path": fs_path(row["path"]), **_fields(row, "old_field"), "written": []}
            for row in self.store.query(sql)
        ]
        by_path = {row["path"]: row for row in out}
        if out:
            holding = (
                "SELECT path, old_field FROM tag_history t WHERE status IN ('written', "
                "'pending') AND undone_at IS NULL AND EXISTS (SELECT 1 FROM tag_history u WHERE "
                "u.path = t.path AND u.status IN ('refused', 'failed')) ORDER BY id"
            )
            for row in self.store.query(holding):
                listed = by_path.get(fs_path(row["path"]))
                if listed is not None:
                    listed["written"].append(_fields(row, "old_field")["old_field"])
        return out

    def written_by_scan(self) -> dict[int | None, int]:
        """scan id -> files written and not undone (``tagger undo --scan ID`` takes the id)."""
        sql = (
            "SELECT scan_id, COUNT(DISTINCT path) AS n FROM tag_history WHERE status IN "
            "('written', 'pending') AND undone_at IS NULL GROUP BY scan_id ORDER BY scan_id"
        )
        return {row["scan_id"]: row["n"] for row in self.store.query(sql)}

    def mark_undone(self, ids: list[int], track_update: dict | None = None) -> None:
        with self.store.transaction():
            stamp = now()
            for i in ids:
                self.store.conn.execute(
                    "UPDATE tag_history SET status = 'undone', undone_at = ? WHERE id = ?",
                    [stamp, i],
                )
            if track_update:
                self._update_track(track_update)

    @property
    def temps(self) -> Temps:
        """The journal of temporary copies (``tagger.tags.Temps``)."""
        return Temps(self.store)

    def sweep(self) -> int:
        """Clean up after writes killed at any moment; returns the temporary files removed.

        Every journaled temporary copy still there is removed.  An entry killed
        while *preparing* never touched its file: failed.  A *pending* one left
        the file either as it was or as written, told apart by its digest.
        """
        from .tags import TEMP_PREFIX, file_digest

        removed = 0
        for row in list(self.store.query("SELECT path FROM tag_temps")):
            path = fs_path(row["path"])
            if os.path.basename(path).startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
            Temps(self.store).remove(path)
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE tag_history SET status = 'failed', error = ? WHERE status = 'preparing'",
                ["interrupted before the file was changed"],
            )
        pending = "SELECT * FROM tag_history WHERE status = 'pending' AND undo IS NOT NULL"
        for row in list(self.store.query(pending)):
            entry = _entry(row)
            try:
                digest = file_digest(entry["path"])
            except OSError:
                continue
            if digest == entry["undo"].new_digest:
                self.finish(entry["id"], "written")
            elif digest == entry["undo"].old_digest:
                self.finish(entry["id"], "failed", "interrupted before the file was changed")
        return removed


class Temps:
    """``tag_temps``: each temporary copy recorded before it is made, forgotten once removed."""

    def __init__(self, store: Store):
        self.store = store

    def add(self, path: str) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT OR REPLACE INTO tag_temps (path, created_at) VALUES (?, ?)",
                [db_path(path), now()],
            )

    def remove(self, path: str) -> None:
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM tag_temps WHERE path = ?", [db_path(path)])


def _fields(row: dict, *keys: str) -> dict:
    """The raw fields (JSON) under ``keys`` of a ``tag_history`` row, decoded (None: none)."""
    return {key: json.loads(row[key]) if row.get(key) else None for key in keys}


def _entry(row: dict) -> dict:
    """A ``tag_history`` row with its JSON decoded and its undo record rebuilt."""
    from .tags import Undo

    row = dict(row)
    row["old_values"] = json.loads(row["old_values"] or "[]")
    row["new_values"] = json.loads(row["new_values"] or "[]")
    row |= _fields(row, "old_field", "new_field")
    row["path"] = fs_path(row["path"])
    meta = json.loads(row["undo"]) if row.get("undo") else None
    row["undo"] = Undo(**meta, data=row.pop("undo_bytes", None)) if meta else None
    return row


def _restat(conn: sqlite3.Connection, path: str, size: int | None, mtime: float | None) -> None:
    """A file's new size and mtime after its tags, not its audio, were rewritten.

    The track row and every embedding that was of the file as the row knew it
    move together, so the next scan skips the file, and ``similar`` and
    ``retrain`` still find its embedding.  Called inside a transaction.
    """
    key = db_path(path)
    conn.execute(
        "UPDATE embeddings SET size = ?, mtime = ? WHERE path = ? AND EXISTS (SELECT 1 FROM "
        "tracks t WHERE t.path = embeddings.path AND t.size IS embeddings.size AND "
        "t.mtime IS embeddings.mtime)",
        [size, mtime, key],
    )
    conn.execute("UPDATE tracks SET size = ?, mtime = ? WHERE path = ?", [size, mtime, key])


def result_row(r: TrackResult, scan_id: int) -> TrackRow:
    """The ``tracks`` row for a result: the one place results become rows.

    Every ``TrackResult`` field named like a column fills it; the prediction's
    fill the rest.  A new column is one ``TrackRow`` field and one migration
    above, plus the ``TrackResult`` field of the same name.
    """
    p = r.prediction
    return TrackRow(
        **{name: getattr(r, name) for name in _shared_fields(r)},
        error=r.error,
        genre=p.genre if p else None,
        confidence=round(p.confidence, 5) if p else None,
        probabilities=p.probabilities if p else None,
        tags=p.tags if p else None,
        uncertain=p.uncertain if p else None,
        missing=False,
        scan_id=scan_id,
    )


def _shared_fields(result: TrackResult) -> tuple[str, ...]:
    own = {"error", "genre", "confidence", "probabilities", "tags", "uncertain", "missing"}
    names = {f.name for f in dataclasses.fields(result)} - own - {"scan_id"}
    return tuple(c for c in TRACK_COLUMNS if c in names)


# What ``tagger write`` records in a row (until undone); a scan's result leaves them as they are.
WRITE_COLUMNS = ("written_genre", "written_at")
# What a file's tags give its row: read again, without decoding, when only the tags changed.
TAG_COLUMNS = ("tag_genre", "album", "artist", "album_artist", "compilation")
# What a re-label (a new prediction from a stored embedding) changes in a track's row.
PREDICTION_COLUMNS = (
    "genre",
    "confidence",
    "probabilities",
    "uncertain",
    "model",
    "model_version",
    "scanned_at",
    "scan_id",
    "error",
    "missing",
)


def _scanned(row: TrackRow) -> dict[str, Any]:
    """A scan's row as stored, without the columns only ``tagger write`` sets."""
    out = row.to_db()
    for key in WRITE_COLUMNS:
        del out[key]
    return out
