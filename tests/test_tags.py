"""Writing genre tags: real round-trips read back with mutagen, journaling, undo, report."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import mutagen
import numpy as np
import pytest
from conftest import FORMATS, rows, run_cli, run_json
from tolerance import rounded

from tagger.tags import TagError, read_genres, write_genres

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def audio_samples(path: Path) -> np.ndarray:
    """Every decoded sample of the file (PyAV decodes all formats the same way twice)."""
    import av

    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def raw_genre(path: Path) -> list[str]:
    """The genre straight from mutagen, without tagger's reader."""
    f = mutagen.File(path)
    tags = f.tags
    if path.suffix in (".mp3", ".wav", ".aiff"):
        return list(tags["TCON"].text) if tags and "TCON" in tags else []
    key = {".m4a": "\xa9gen", ".wma": "WM/Genre"}.get(path.suffix, "genre")
    return [str(v) for v in tags.get(key, [])] if tags else []


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_keeps_audio_bit_identical(library, ext):
    path = next(library.glob(f"*{ext}"))
    before = audio_samples(path)
    mode = 0o640
    path.chmod(mode)
    write_genres(path, ["Hip-Hop", "Jazz"])
    assert raw_genre(path) == ["Hip-Hop", "Jazz"]
    assert read_genres(path) == ["Hip-Hop", "Jazz"]
    assert np.array_equal(audio_samples(path), before)
    assert (path.stat().st_mode & 0o777) == mode
    write_genres(path, [])
    assert read_genres(path) == []
    assert np.array_equal(audio_samples(path), before)
    assert not list(library.glob(".tagger-*"))  # no temporary file left behind


def test_id3v23_joins_several_genres(library):
    path = library / "track0.mp3"
    write_genres(path, ["Rock", "Pop"], id3v23=True, sep=" / ")
    tags = mutagen.id3.ID3(path)
    assert tags.version[:2] == (2, 3)
    assert tags["TCON"].text == ["Rock / Pop"]


def test_read_only_and_vanished_files_are_reported(library):
    path = library / "track1.flac"
    path.chmod(0o444)
    with pytest.raises(TagError, match="read-only"):
        write_genres(path, ["Rock"])
    with pytest.raises(TagError, match="not found"):
        write_genres(library / "gone.flac", ["Rock"])


def _preset(library: Path) -> dict[str, list[str]]:
    """Genres a user set by hand before tagger came along."""
    preset = {"track0.mp3": ["Hip Hop"], "track1.flac": ["Orchestral"], "track4.m4a": ["Polka"]}
    for name, genres in preset.items():
        write_genres(library / name, genres)
    return preset


def test_write_undo_cycle_through_the_cli(library, tmp_path):
    preset = _preset(library)
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    files_before = digest(library)
    db_before = rows(db)

    dry = run_cli("write", "--db", db, "--dry-run").stdout
    assert f"keep {library / 'track0.mp3'}: Hip Hop (tagger: " in dry
    assert f"would write {library / 'track2.ogg'}: (none) -> " in dry
    assert digest(library) == files_before and rows(db) == db_before
    assert rows(db, "SELECT * FROM tag_history") == []

    summary = run_json("write", "--db", db)
    assert summary["written"] == len(FORMATS) - len(preset)
    assert summary["kept_existing"] == len(preset)
    stored = {Path(r["path"]).name: r for r in rows(db)}
    for name, row in stored.items():
        if name in preset:
            assert raw_genre(library / name) == preset[name]
            assert row["written_genre"] is None
        else:
            from tagger.genres import display_name

            assert raw_genre(library / name) == [display_name(row["genre"])]
            assert row["written_genre"] == display_name(row["genre"])
            assert row["size"] == (library / name).stat().st_size  # rescan will not see a change
    history = rows(db, "SELECT * FROM tag_history")
    assert len(history) == summary["written"]
    assert {h["status"] for h in history} == {"written"}
    assert all(json.loads(h["old_values"]) == [] for h in history)

    rescan = run_json("scan", library, "--db", db)
    assert rescan["scanned"] == 0 and rescan["skipped"] == len(FORMATS)

    again = run_json("write", "--db", db)
    assert again["written"] == 0 and again["already_set"] == len(FORMATS) - len(preset)

    over = run_json("write", library / "track0.mp3", "--db", db, "--overwrite")
    assert over["written"] == 1 and over["considered"] == 1
    assert raw_genre(library / "track0.mp3") != ["Hip Hop"]

    undone = run_json("undo", "--db", db)
    assert undone["restored"] == len(FORMATS) - len(preset) + 1
    for name in stored:
        assert raw_genre(library / name) == preset.get(name, [])
    assert run_json("undo", "--db", db)["restored"] == 0  # undo twice is harmless
    for name in stored:
        assert raw_genre(library / name) == preset.get(name, [])


def test_thresholds_and_top_k(library, tmp_path):
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    none = run_json("write", "--db", db, "--min-confidence", "1.0")
    assert none["written"] == 0 and none["low_confidence"] == len(FORMATS)
    two = run_json("write", library / "track1.flac", "--db", db, "--top", "2")
    assert two["written"] == 1
    assert len(raw_genre(library / "track1.flac")) == 2


def test_scan_write_tags_and_errors(library, tmp_path):
    (library / "track2.ogg").chmod(0o444)
    db = tmp_path / "lib.db"
    proc = run_cli("scan", library, "--db", db, "--write-tags", "--json", check=False)
    assert proc.returncode == 4  # finished with errors
    summary = json.loads(proc.stdout)
    assert summary["tags"]["written"] == len(FORMATS) - 1
    assert summary["tags"]["error_files"] == [
        {"path": str(library / "track2.ogg"), "error": "file is read-only"}
    ]
    history = rows(db, "SELECT * FROM tag_history WHERE status = 'failed'")
    assert len(history) == 1 and history[0]["scan_id"] == summary["scan_id"]
    assert (
        run_json("undo", "--db", db, "--scan", str(summary["scan_id"]))["restored"]
        == len(FORMATS) - 1
    )


def test_report_matches_the_database(library, tmp_path):
    _preset(library)
    (library / "broken.mp3").write_bytes(b"\xff\xfb" + os.urandom(3000))
    db = tmp_path / "lib.db"
    run_json("scan", library, "--db", db)
    run_json("write", library / "track2.ogg", "--db", db)
    rep = run_json("report", "--db", db, "--uncertain", "3")
    stored = rows(db)
    ok = [r for r in stored if r["error"] is None]
    assert rep["totals"]["tracks"] == len(stored)
    assert rep["totals"]["analysed"] == len(ok)
    assert rep["totals"]["errors"] == len(stored) - len(ok)
    assert rep["totals"]["written"] == 1
    assert sum(g["tracks"] for g in rep["groups"]) == len(ok)
    by_genre = {}
    for r in ok:
        by_genre.setdefault(r["genre"], []).append(r["confidence"])
    for g in rep["groups"]:
        assert g["tracks"] == len(by_genre[g["genre"]])
        assert abs(g["mean_confidence"] - np.mean(by_genre[g["genre"]])) <= rounded(4)  # 4 places
    a = rep["agreement"]
    assert a["compared"] == 2 and a["unmapped"] == {"Polka": 1}
    assert set(a["tag_genres"]) == {"hiphop", "classical"}
    assert [u["confidence"] for u in rep["uncertain"]] == sorted(r["confidence"] for r in ok)[:3]
    assert rep["last_scan"]["scanned"] == len(ok)

    text = run_cli("report", "--db", db).stdout
    assert f"{len(stored)} tracks" in text and "unmapped tags: Polka (1)" in text
    csv_text = run_cli("report", "--db", db, "--csv", "--by", "format").stdout
    assert csv_text.splitlines()[0] == "format,tracks,share,mean_confidence,low_confidence,written"
    assert len(csv_text.splitlines()) == 1 + len({r["format"] for r in ok})
    for suffix in (".png", ".svg"):
        out = tmp_path / f"report{suffix}"
        run_cli("report", "--db", db, "--plot", out)
        assert out.stat().st_size > 10_000
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("report", "--db", tmp_path / "none.db", check=False)
    assert bad.returncode == 1 and "no database" in bad.stderr
