"""``tagger.db``: a generic database file with named, recorded migrations; nothing about music."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

import tagger.db
from tagger.db import Database, Migration
from tagger.errors import BusyError, TaggerError

STEPS = [
    Migration("notes", ("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",)),
    Migration("note authors", ("ALTER TABLE notes ADD COLUMN author TEXT",)),
]


def _names(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [n for (n,) in conn.execute("SELECT name FROM migrations ORDER BY rowid")]
    finally:
        conn.close()


def test_each_step_runs_once_in_order_and_is_recorded_by_name_and_time(tmp_path):
    db = tmp_path / "a.db"
    first = Database(db, STEPS[:1])
    first.close()
    d = Database(db, STEPS)
    applied = d.applied()
    assert [n for n, _ in applied] == ["notes", "note authors"]
    assert all(t is not None and t.endswith("+00:00") for _, t in applied)
    with d.transaction():
        d.conn.execute("INSERT INTO notes (text, author) VALUES ('x', 'y')")
    d.close()
    again = Database(db, STEPS)  # nothing runs twice: the ALTER would fail
    assert [dict(r) for r in again.query("SELECT text, author FROM notes")] == [
        {"text": "x", "author": "y"}
    ]
    assert again.conn.execute("PRAGMA user_version").fetchone()[0] == 2
    again.close()
    assert _names(db) == ["notes", "note authors"]


def _unrecorded(db: Path) -> Path:
    """A database that had the first step before steps were recorded (version 1, no record)."""
    conn = sqlite3.connect(db)
    conn.execute(STEPS[0].statements[0])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    return db


def test_steps_applied_before_they_were_recorded_are_recorded_without_a_time(tmp_path):
    db = _unrecorded(tmp_path / "old.db")
    d = Database(db, STEPS)
    applied = d.applied()
    d.close()
    assert applied[0] == ("notes", None) and applied[1][0] == "note authors"
    assert applied[1][1] is not None


def test_a_reader_of_an_up_to_date_database_writes_nothing(tmp_path):
    db = _unrecorded(tmp_path / "r.db")
    before = db.read_bytes()
    d = Database(db, STEPS[:1], create=False, reading=True)
    assert d.applied() == [("notes", None)]
    d.close()
    assert db.read_bytes() == before


def test_a_newer_database_is_refused_before_anything_changes(tmp_path):
    db = tmp_path / "new.db"
    Database(db, STEPS).close()
    before = db.read_bytes()
    with pytest.raises(TaggerError, match="schema version 2, newer than this tagger"):
        Database(db, STEPS[:1])
    assert db.read_bytes() == before


def test_a_failed_transaction_leaves_nothing_and_a_second_writer_is_told_at_once(tmp_path):
    d = Database(tmp_path / "t.db", STEPS)
    with pytest.raises(RuntimeError, match="half done"), d.transaction():
        d.conn.execute("INSERT INTO notes (text) VALUES ('half')")
        raise RuntimeError("half done")
    assert list(d.query("SELECT * FROM notes")) == []
    other = Database(tmp_path / "t.db", STEPS)
    busy = pytest.raises(BusyError, match=r"in use by another tagger process \(pid \d+\)")
    with d.writer_lock(), busy, other.writer_lock():
        pass
    with other.writer_lock():  # released with the first
        pass
    d.close()
    other.close()


def test_the_database_layer_knows_nothing_of_music():
    tree = ast.parse(Path(tagger.db.__file__).read_text())
    own = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }
    assert own <= {"clock", "errors"}, own
