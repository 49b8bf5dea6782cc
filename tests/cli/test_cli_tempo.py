"""Tempo and voice through the real CLI: stored by a scan, listed, filtered, reported, written
into every format's standard BPM field and undone byte for byte."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import mutagen
import pytest
from conftest import FORMATS, rows, run_cli, run_json
from rawtags import digest

from tagger.store import MIGRATIONS, TEMPO_AND_VOICE, UNHEARD_NOTICE


def raw_bpm(path: Path) -> list[str]:
    """The BPM as the file's own tag holds it (mutagen's tag object, not its easy view)."""
    tags = mutagen.File(path).tags
    key = {".mp3": "TBPM", ".wav": "TBPM", ".aiff": "TBPM", ".m4a": "tmpo"}.get(path.suffix)
    key = key or {".wma": "WM/BeatsPerMinute"}.get(path.suffix, "bpm")
    if not tags or key not in tags:
        return []
    value = tags[key]
    return [str(v) for v in (value.text if hasattr(value, "text") else value)]


def raw_voice(path: Path) -> list[str]:
    """The voice under the user's key, as the file's own tag holds it (mutagen, no easy view)."""
    tags = mutagen.File(path).tags
    key = {".mp3": "TXXX:VOICE_INSTRUMENTAL", ".wav": "TXXX:VOICE_INSTRUMENTAL"}.get(path.suffix)
    key = key or {".aiff": "TXXX:VOICE_INSTRUMENTAL", ".wma": "VOICE_INSTRUMENTAL"}.get(path.suffix)
    key = key or {".m4a": "----:com.apple.iTunes:VOICE_INSTRUMENTAL"}.get(path.suffix)
    key = key or "voice_instrumental"
    if not tags or key not in tags:
        return []
    value = tags[key]
    values = value.text if hasattr(value, "text") else value
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


@pytest.mark.slow
def test_tempo_and_voice_from_scan_to_tags_and_back(library, tmp_path):
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    stored = {Path(r["path"]).name: r for r in rows(db)}
    assert len(stored) == len(FORMATS)
    for r in stored.values():  # a tempo, or the reason there is none; never both
        assert (r["bpm"] is None) != (r["bpm_reason"] is None), r
        assert r["voice"] in (None, "instrumental", "vocal")
    with_bpm = {n: r["bpm"] for n, r in stored.items() if r["bpm"] is not None}
    assert with_bpm, "no generated track had a tempo"

    listed = run_json("ls", "--db", db)
    assert all({"bpm", "voice"} <= set(t) for t in listed)
    some = sorted(with_bpm.values())[len(with_bpm) // 2]
    within = run_json("ls", "--db", db, "--bpm", f"{some}-")
    assert {Path(t["path"]).name for t in within} == {n for n, b in with_bpm.items() if b >= some}
    assert run_json("ls", "--db", db, "--bpm", f"-{some}") != []
    query = library / sorted(stored)[0]
    near = run_json("similar", query, "--db", db, "--bpm", f"{some}-")
    expected = {n for n, b in with_bpm.items() if b >= some} - {query.name}
    assert {Path(r["path"]).name for r in near["results"]} == expected  # --top 10 > 8 tracks
    wrong = run_cli("ls", "--db", db, "--bpm", "fast", check=False)
    assert wrong.returncode == 2 and "--bpm" in wrong.stderr and "Traceback" not in wrong.stderr
    by_voice = run_json("report", "--db", db, "--by", "voice")
    assert sum(g["tracks"] for g in by_voice["groups"]) == len(FORMATS)
    assert sum(by_voice["tempi"]["histogram"]["counts"]) == len(with_bpm)
    text = run_cli("report", "--db", db).stdout
    assert "tempo (BPM):" in text

    before = digest(library)
    summary = run_json("write", "--db", db, "--fields", "genre,bpm")
    bpm_written = [f for c in summary["changes"] for f in c["fields"] if f["action"] == "write"]
    assert len(bpm_written) == len(with_bpm)
    for name, bpm in with_bpm.items():  # mutagen reads back the stored tempo, as a whole number
        assert raw_bpm(library / name) == [str(round(bpm))], name
    fields = {
        (Path(h["path"]).name, "bpm" if "bpm" in (h["old_field"] or "") else "genre")
        for h in rows(db, "SELECT * FROM tag_history")
    }
    assert {n for n, f in fields if f == "bpm"} == set(with_bpm)

    again = run_json("write", "--db", db, "--fields", "bpm")
    assert all(
        f["action"] in ("already set", "no value") for c in again["changes"] for f in c["fields"]
    )
    preview = run_cli("undo", "--db", db, "--dry-run").stdout.splitlines()
    named = {n: [line for line in preview if f"/{n}: " in line] for n in stored}
    for name, lines in named.items():  # each line names the fields it puts back, as write does
        if name in with_bpm:
            (line,) = lines
            assert line.startswith("would restore bpm ") or line.endswith(" (and bpm)"), line
        else:
            assert all("bpm" not in line for line in lines), lines
    undone = run_json("undo", "--db", db)
    # Every file a field was written to (a track the genre rule flags uncertain and that has
    # no tempo gets nothing), each format, byte for byte.
    assert undone["restored"] == summary["written"] >= len(with_bpm)
    assert digest(library) == before

    # The voice only under a key the user names in the config file.
    refused = run_cli("write", "--db", db, "--fields", "voice", check=False)
    assert refused.returncode == 1 and "voice_field" in refused.stderr
    assert digest(library) == before
    config = tmp_path / "config.toml"
    config.write_text('voice_field = "VOICE_INSTRUMENTAL"\n')
    env = {"TAGGER_CONFIG": str(config)}
    voiced = {n: r["voice"] for n, r in stored.items() if r["voice"] is not None}
    summary = json.loads(
        run_cli("write", "--db", db, "--fields", "voice", "--json", env=env).stdout
    )
    assert summary["written"] == len(voiced)
    for name, said in voiced.items():
        assert raw_voice(library / name) == [said], name
    run_cli("undo", "--db", db, env=env)
    assert digest(library) == before


def test_a_library_scanned_before_tempo_says_so_once(tmp_path, library):
    """The first command that meets an older database says that a rescan adds tempo and voice."""
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    before = [m for m in MIGRATIONS if m.name != TEMPO_AND_VOICE]
    for step in before:
        for sql in step.statements:
            conn.execute(sql)
    conn.execute(
        "INSERT INTO tracks (path, genre, confidence, status, model) "
        "VALUES (?, 'rock', 0.9, 'ok', 'musicnn')",
        [str(library / "track0.mp3")],
    )
    conn.execute(f"PRAGMA user_version = {len(before)}")
    conn.commit()
    conn.close()
    first = run_cli("ls", "--db", db)
    assert UNHEARD_NOTICE in first.stderr
    assert "    -  -" in first.stdout  # no tempo, no voice yet
    second = run_cli("ls", "--db", db)
    assert UNHEARD_NOTICE not in second.stderr
    report = run_cli("report", "--db", db).stdout
    assert "not heard yet: 1" in report
