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


def test_a_step_inserted_or_moved_between_released_ones_runs_once_by_its_name(tmp_path):
    """Steps are applied by name: a database made before a step was inserted between two
    released ones gets that step and no other again, whatever the positions."""
    db = tmp_path / "old.db"
    released = [STEPS[0], Migration("tags", ("CREATE TABLE tags (name TEXT)",))]
    old = Database(db, released)
    with old.transaction():
        old.conn.execute("INSERT INTO notes (text) VALUES ('kept')")
    old.close()
    now = [STEPS[0], STEPS[1], released[1]]  # "note authors" inserted before "tags"
    d = Database(db, now)
    assert d.upgraded == ("note authors",)
    assert [n for n, _ in d.applied()] == ["notes", "tags", "note authors"]
    assert [dict(r) for r in d.query("SELECT text, author FROM notes")] == [
        {"text": "kept", "author": None}
    ]
    d.close()
    again = Database(db, [now[0], now[2], now[1]])  # reordered: nothing is pending
    assert again.upgraded == () and again.conn.execute("PRAGMA user_version").fetchone()[0] == 3
    again.close()


def test_a_database_recorded_by_position_is_recorded_by_name_then_steps_may_be_inserted(
    tmp_path,
):
    """A database from before names were recorded (``user_version`` alone) had the first
    steps of the list; once opened its record holds their names, so a step inserted later
    among them is applied by name."""
    db = _unrecorded(tmp_path / "old.db")
    Database(db, STEPS[:1]).close()
    assert _names(db) == ["notes"]
    inserted = Migration("labels", ("CREATE TABLE labels (name TEXT)",))
    d = Database(db, [inserted, *STEPS])
    assert d.upgraded == ("labels", "note authors")
    d.close()
    assert _names(db) == ["notes", "labels", "note authors"]


def test_a_step_this_program_does_not_know_is_refused_before_anything_changes(tmp_path):
    """A newer program inserted a step: the count alone would look current, the name does not."""
    db = tmp_path / "newer.db"
    newer = [STEPS[0], Migration("labels", ("CREATE TABLE labels (name TEXT)",))]
    Database(db, newer).close()
    before = db.read_bytes()
    with pytest.raises(
        TaggerError, match=r"newer than this tagger.*steps it does not know: labels"
    ):
        Database(db, STEPS)
    assert db.read_bytes() == before


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
