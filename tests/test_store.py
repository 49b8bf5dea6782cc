"""``tagger.store``: the schema's migrations, a newer database refused, an unwritable one named."""

from __future__ import annotations

import multiprocessing as mp
import os
import pwd
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest

from tagger.errors import TaggerError
from tagger.store import MIGRATIONS, SCHEMA_VERSION, Store


def _open_as_nobody(lib: str, home: str, dbs: list[str], conn) -> None:
    """scan, write, report and ls on each database as user nobody; what each raised."""
    from tagger.errors import TaggerError
    from tagger.listing import list_tracks
    from tagger.report import build_report
    from tagger.write import write_tags

    scan = sys.modules["tagger.scan"].scan
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    os.environ["TAGGER_HOME"] = home
    out = []
    for db in dbs:
        for run in (
            lambda db=db: scan([lib], db=db, model="musicnn", jobs=1, progress=False),
            lambda db=db: write_tags(db=db),
            lambda db=db: build_report(db=db),
            lambda db=db: list_tracks(db=db),
        ):
            try:
                run()
                out.append("no error")
            except TaggerError as exc:
                out.append(str(exc))
            except BaseException as exc:  # a traceback for the user: the bug this test is about
                out.append(f"{type(exc).__name__}: {exc}")
    conn.send(out)


def test_migration_gives_old_rows_a_status(tmp_path):
    """Errors stay errors with their reason; old results are 'unchecked' (NULL), not 'ok'."""
    import sqlite3

    from tagger.store import MIGRATIONS, Store

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    for sql in MIGRATIONS[0].statements:
        conn.execute(sql)
    conn.executemany(
        "INSERT INTO tracks (path, genre, error) VALUES (?, ?, ?)",
        [("/a.mp3", "rock", None), ("/b.mp3", None, "not an audio file")],
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    Store(db).close()
    conn = sqlite3.connect(db)
    got = conn.execute("SELECT path, status, reason, error FROM tracks ORDER BY path").fetchall()
    conn.close()
    assert got == [
        ("/a.mp3", None, None, None),
        ("/b.mp3", "error", "not an audio file", "not an audio file"),
    ]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unwritable_database_is_one_line_naming_it_and_untouched():
    """Read-only file or folder, another user's file: scan and write say why, change nothing;
    report and ls read it all the same (a library on a read-only share, another user's)."""
    import tagger.scan  # noqa: F401  (imported before dropping privileges)
    from tagger.paths import shipped_models_dir
    from tagger.store import Store

    root = Path(tempfile.mkdtemp(prefix="tagger-ro-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        (root / "lib").mkdir()
        (root / "home").mkdir(mode=0o777)
        # nobody's own model folder: an installed tagger may sit where nobody cannot read
        # (a Python under /root), and the model is resolved before the database is opened
        shutil.copytree(shipped_models_dir(), root / "home" / "models")
        for path in (root / "home").rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        (root / "ro").mkdir()
        dbs = [root / "readonly.db", root / "ro" / "lib.db", root / "others.db"]
        for db in dbs:
            Store(db).close()
        nobody = pwd.getpwnam("nobody").pw_uid
        for path in (root / "readonly.db", root / "ro", root / "ro" / "lib.db"):
            os.chown(path, nobody, -1)
        os.chmod(root / "readonly.db", 0o444)
        os.chmod(root / "ro" / "lib.db", 0o666)
        os.chmod(root / "ro", 0o555)
        before = {p: p.read_bytes() for p in root.rglob("*.db*")}
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(
            target=_open_as_nobody,
            args=(str(root / "lib"), str(root / "home"), [str(d) for d in dbs], child),
        )
        proc.start()
        assert parent.poll(120)
        said = parent.recv()
        proc.join()
        after = {p: p.read_bytes() for p in root.rglob("*.db*")}
    finally:
        shutil.rmtree(root)
    why = [
        "the file is read-only (-r--r--r--)",
        f"its folder {root / 'ro'} is not writable",
        "the file belongs to user root (-rw-r--r--) and user nobody may not write it",
    ]
    for i, (db, cause) in enumerate(zip(dbs, why)):
        scan_said, write_said, report_said, ls_said = said[4 * i : 4 * i + 4]
        for text in (scan_said, write_said):
            assert text.startswith(f"cannot open database {db}: {cause}"), text
            assert "\n" not in text
        assert report_said == ls_said == "no error", (db, report_said, ls_said)
    assert after == before


# --- migrations ----------------------------------------------------------------------------
@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_every_older_schema_migrates_to_the_current_one(tmp_path, start):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for step in MIGRATIONS[:start]:
        for sql in step.statements:
            conn.execute(sql)
    conn.execute(f"PRAGMA user_version = {start}")
    conn.commit()
    conn.close()
    Store(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_step_inserted_among_released_ones_upgrades_a_library_by_name(tmp_path):
    """A library made by this schema, opened by a program that inserted a step between two
    released ones: that step alone runs, the rows stay; this program then refuses the
    database, whose step it does not know, though the count of steps alone would not tell."""
    from tagger.db import Database, Migration

    db = tmp_path / "lib.db"
    store = Store(db)
    with store.transaction():
        store.conn.execute("INSERT INTO tracks (path, genre) VALUES ('/m/a.ogg', 'rock')")
    store.close()
    inserted = Migration("a later step", ("ALTER TABLE scans ADD COLUMN host TEXT",))
    later = Database(db, [*MIGRATIONS[:3], inserted, *MIGRATIONS[3:]])
    assert later.upgraded == ("a later step",)
    assert [r["genre"] for r in later.query("SELECT genre FROM tracks")] == ["rock"]
    later.close()
    before = db.read_bytes()
    with pytest.raises(TaggerError, match="steps it does not know: a later step"):
        Store(db)
    assert db.read_bytes() == before


def test_a_newer_database_is_refused_untouched(tmp_path):
    db = tmp_path / "new.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(TaggerError, match="newer"):
        Store(db)
    assert db.read_bytes() == before and not Path(f"{db}-wal").exists()


def test_the_track_row_declares_exactly_the_columns_the_migrations_make(tmp_path):
    from tagger.store import TRACK_COLUMNS

    Store(tmp_path / "lib.db").close()
    conn = sqlite3.connect(tmp_path / "lib.db")
    columns = [c[1] for c in conn.execute("PRAGMA table_info(tracks)")]
    conn.close()
    assert sorted(columns) == sorted(TRACK_COLUMNS)


def test_a_track_row_comes_back_as_it_was_stored(tmp_path):
    """Flags as booleans, JSON as dicts, a path that is not UTF-8 as its exact bytes."""
    from tagger.store import TrackRow

    odd = os.fsdecode(b"/music/caf\xe9.mp3")  # Latin-1 bytes: not valid UTF-8
    rows = [
        TrackRow(odd, size=10, genre="rock", confidence=0.5, probabilities={"rock": 0.5}),
        TrackRow("/music/b.flac", compilation=True, uncertain=False, missing=True),
        TrackRow("/music/c.ogg", error="damaged ogg file", status="error"),
    ]
    store = Store(tmp_path / "lib.db")
    with store.transaction():
        store.db.table("tracks").insert_all([r.to_db() for r in rows])
    got = {r.path: r for r in store.tracks()}
    store.close()
    assert got == {r.path: r for r in rows}
    assert got["/music/b.flac"].uncertain is False and got["/music/c.ogg"].uncertain is None


def test_a_library_scanned_before_tempo_is_told_once_that_a_rescan_adds_it(tmp_path, capfd):
    import sqlite3

    from tagger.store import MIGRATIONS, TEMPO_AND_VOICE, UNHEARD_NOTICE, Store

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    before = [m for m in MIGRATIONS if m.name != TEMPO_AND_VOICE]
    assert len(before) == len(MIGRATIONS) - 1
    for step in before:
        for sql in step.statements:
            conn.execute(sql)
    conn.execute("INSERT INTO tracks (path, genre, status) VALUES ('/a.mp3', 'rock', 'ok')")
    conn.execute(f"PRAGMA user_version = {len(before)}")
    conn.commit()
    conn.close()
    Store(db).close()
    assert capfd.readouterr().err.strip() == UNHEARD_NOTICE
    store = Store(db)
    assert store.track("/a.mp3").bpm is None
    store.close()
    assert capfd.readouterr().err == ""
    empty = tmp_path / "new.db"
    Store(empty).close()
    assert capfd.readouterr().err == ""


def test_another_programs_database_is_refused_as_what_it_is(tmp_path):
    """A beets library (it has a ``migrations`` table too) named as tagger's database: one
    line saying it is not tagger's, and the file stays as it was."""
    import sqlite3

    db = tmp_path / "library.db"
    conn = sqlite3.connect(db)
    for table in ("items", "albums", "migrations"):
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO migrations (name) VALUES ('beets_step')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(TaggerError, match=r"is not a tagger database \(it holds the tables"):
        Store(db, create=False)
    assert db.read_bytes() == before
