"""A SQLite database file and its schema's history; it knows nothing of what the tables hold.

The music library (``tagger.store``) declares its tables as a list of named
``Migration`` steps and gets from here: opening (WAL mode, so a reader is
never blocked by a writer; read-only where this user may not write), the
steps not yet applied run once each, in order, in one transaction, and
recorded by name and time in ``migrations``; a database from a newer program
refused before anything in it changes; all-or-nothing transactions whose
failures (read-only, disk full) are one line naming the real cause; and an
exclusive writer lock, so a second writer is told at once instead of waiting.

Which steps a database has had is decided by their names, not their number:
a step inserted between released ones, or steps reordered, still run once
each.  A database from before names were recorded has had its first
``user_version`` steps (the steps of that time keep their places at the head
of the list); its record is written by name the first time it is opened for
writing.  ``PRAGMA user_version`` is the number of steps applied: it is what
an older program reads to refuse a database it does not understand.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .clock import now
from .errors import BusyError, TaggerError

_RECORD = "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)"


@dataclass(frozen=True)
class Migration:
    """One step of a schema's history: applied once, recorded by ``name``, never edited."""

    name: str
    statements: tuple[str, ...]


class Database:
    """An open database file whose schema is ``migrations`` (oldest first)."""

    def __init__(
        self,
        path: str | os.PathLike,
        migrations: Sequence[Migration],
        create: bool = True,
        reading: bool = False,
    ):
        """Open (or with ``create``, make) the database at ``path`` and bring it up to date.

        ``reading``: the caller only reads, so a database this user may not
        write (a read-only file or share, another user's library) is opened
        read-only instead of refused.
        """
        self.path = Path(path)
        self.migrations = tuple(migrations)
        self.upgraded: tuple[str, ...] = ()  # the steps this opening applied
        latest = len(self.migrations)
        if self.path.is_dir():
            raise TaggerError(f"cannot open database {self.path}: it is a directory")
        if not create and not self.path.exists():
            raise TaggerError(f"no database at {self.path} (run `tagger scan` first)")
        read_only: str | None = None  # why the database cannot be written, when it cannot
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 30000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version <= latest:
                if create:
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except (sqlite3.Error, OSError) as exc:
            read_only = unwritable(self.path, exc)
            if not reading:
                raise TaggerError(f"cannot open database {self.path}: {read_only}") from None
            conn, version = self._read_only(read_only)
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        try:  # refuse before changing anything, even the journal
            self._refuse_foreign()
            unknown = self._unknown()
            if version > latest or unknown:
                raise TaggerError(
                    f"database {self.path} has schema version {version}, newer than this "
                    f"tagger understands ({latest}"
                    + (f"; steps it does not know: {', '.join(unknown)}" if unknown else "")
                    + "); upgrade tagger"
                )
            if read_only and self._pending():
                raise TaggerError(
                    f"cannot open database {self.path}: it needs the upgrade of a newer "
                    f"tagger, which cannot write it ({read_only})"
                )
        except TaggerError:
            conn.close()
            raise
        # A reader of an up-to-date database writes nothing, not even the record of its steps.
        if self._pending() or not (reading or self._recording()):
            self._migrate()

    def _read_only(self, why: str) -> tuple[sqlite3.Connection, int]:
        """A connection that never writes, and the schema version.

        SQLite reads a WAL database through its ``-shm`` file and creates it
        when missing; in a folder this user may not write it cannot, and the
        database is then read as immutable (unchanging: a writer there would
        need the rights this user lacks).
        """
        uri = self.path.absolute().as_uri()
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None)
                return conn, conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error:
                continue
        raise TaggerError(f"cannot open database {self.path}: {why}") from None

    def _refuse_foreign(self) -> None:
        """Another program's SQLite file (a beets ``library.db``) is refused as what it is,
        before its tables are read as this program's (beets has a ``migrations`` table too)."""
        tables = {
            name
            for (name,) in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        ours = {
            m.group(1).strip('"')
            for step in self.migrations
            for sql in step.statements
            if (m := re.match(r"\s*CREATE TABLE (?:IF NOT EXISTS )?(\S+)", sql, re.I))
        }
        if tables and ours and not tables & ours:  # not one table any step of ours makes
            raise TaggerError(
                f"{self.path} is not a tagger database (it holds the tables "
                f"{', '.join(sorted(tables)[:5])}{', ...' if len(tables) > 5 else ''})"
            )

    def _recording(self) -> bool:
        """Whether the database records its migrations (older tagger versions did not)."""
        return bool(
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
            ).fetchone()
        )

    def _applied_names(self) -> list[str]:
        """The names of the steps this database has had, oldest first: its record, or for a
        database from before records were kept, the first ``user_version`` steps."""
        if self._recording():
            return [n for (n,) in self.conn.execute("SELECT name FROM migrations ORDER BY rowid")]
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return [m.name for m in self.migrations[:version]]

    def _pending(self) -> list[Migration]:
        """The steps not applied yet, in the order of the list."""
        done = set(self._applied_names())
        return [m for m in self.migrations if m.name not in done]

    def _unknown(self) -> list[str]:
        """Steps the database has had that this program does not know (a newer one's)."""
        known = {m.name for m in self.migrations}
        return [n for n in self._applied_names() if n not in known]

    def _migrate(self) -> None:
        """Apply the steps not applied yet and record them by name; steps applied before
        records were kept are recorded with no time (they ran, when is not known).

        What is pending is read again inside the transaction, so that two
        programs opening the database at once do not both apply a step.
        """
        try:
            with self.transaction():
                positional = self._applied_names()
                pending = self._pending()
                if not self._recording():
                    self.conn.execute(_RECORD)
                    self.conn.executemany(
                        "INSERT OR IGNORE INTO migrations (name, applied_at) VALUES (?, NULL)",
                        [(name,) for name in positional],
                    )
                for step in pending:
                    for sql in step.statements:
                        self.conn.execute(sql)
                    self.conn.execute(
                        "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                        [step.name, now()],
                    )
                self.conn.execute(f"PRAGMA user_version = {len(self.migrations)}")
            self.upgraded = tuple(m.name for m in pending)
        except sqlite3.Error as exc:
            raise TaggerError(f"cannot set up database {self.path}: {exc}") from None

    def applied(self) -> list[tuple[str, str | None]]:
        """(name, applied_at) of every step this database has had, oldest first."""
        if not self._recording():  # read-only, never opened for writing by this version
            return [(name, None) for name in self._applied_names()]
        return list(self.conn.execute("SELECT name, applied_at FROM migrations ORDER BY rowid"))

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Rows as dicts (column -> value)."""
        return self.db.query(sql, list(params))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; a database that cannot be written is a one-line ``TaggerError``."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from None
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # read-only, disk full, I/O error
                raise self._write_error(exc) from None
            raise

    def _write_error(self, exc: BaseException) -> TaggerError:
        return TaggerError(f"cannot write database {self.path}: {unwritable(self.path, exc)}")

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive right to write; a second writer fails at once, naming the holder's pid.

        The lock is an advisory ``flock`` on ``<db>.lock``, released by the
        kernel whenever the holder ends, however it ends.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._write_error(exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise BusyError(
                    f"database {self.path} is in use by another tagger process "
                    f"(pid {holder}); try again when it has finished"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            with self.transaction():  # prove the database writable before any work starts
                self.conn.execute(f"PRAGMA user_version = {len(self.migrations)}")
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def close(self) -> None:
        self.conn.close()


def unwritable(path: Path, exc: BaseException) -> str:
    """Why the database at ``path`` cannot be written, in words a user can act on.

    SQLite says "attempt to write a readonly database" for a read-only file, a
    file of another user, a folder where its ``-wal`` file cannot be created and
    a read-only mount alike; the cause is found by looking.
    """
    import pwd
    import shutil
    import stat

    folder = path.parent
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{folder} is on a read-only file system"
        if "full" in text or shutil.disk_usage(folder).free < 1 << 20:
            return f"the disk holding {folder} is full"
        if path.exists() and not os.access(path, os.W_OK):
            st = path.stat()
            mode = stat.filemode(st.st_mode)
            if st.st_uid != os.geteuid():
                return (
                    f"the file belongs to {_user(pwd, st.st_uid)} ({mode}) and "
                    f"{_user(pwd, os.geteuid())} may not write it"
                )
            return f"the file is read-only ({mode})"
        if not os.access(folder, os.W_OK):
            return (
                f"its folder {folder} is not writable (the database and its -wal and "
                f"-shm files live there)"
            )
    except OSError:
        pass
    return text[:300]


def _user(pwd, uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"user id {uid}"
