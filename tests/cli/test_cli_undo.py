"""``tagger undo`` after other taggers, and a ``tagger write`` stopped with Ctrl-C, through the
real CLI on real files: files as Picard, beets and mutagen leave them (``tagfiles``), their
tags re-saved by mutagen between the write and the undo, checked at the raw level
(``rawtags``); the database's record of each file's own tags after an undo."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import mutagen
import pytest
from conftest import rows, run_cli, run_json, store_scan, tagger_cmd
from mutagen import id3
from rawtags import _vorbis_sections, diff, snapshot, without_genre
from tagfiles import make_files

from tagger.formats import sniff
from tagger.models import TrackPrediction, resolve
from tagger.payload import audio_fingerprint
from tagger.tags import read_values
from tagger.training.synth import synth_track, write_audio
from tagger.worker import TrackResult

TITLE = "Re-saved Elsewhere"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("taggers"))


def _store(
    db: Path,
    paths: list[Path],
    genre: str = "Classical",
    bpm: float = 80.0,
    model: tuple[str, str] = ("test", "1"),
) -> None:
    """The files stored as a scan by ``model`` (name, version) stores them (their audio
    fingerprints included), each heard as ``genre`` at ``bpm``."""
    results = []
    for p in paths:
        st = p.stat()
        fmt = sniff(str(p))
        assert fmt is not None
        results.append(
            TrackResult(
                str(p),
                st.st_size,
                st.st_mtime,
                *model,
                format=fmt.name,
                duration=1.0,
                bpm=bpm,
                audio=audio_fingerprint(p),
                prediction=TrackPrediction(genre, 0.9, {genre: 0.9, "Rock": 0.1}),
            )
        )
    store_scan(db, results, *model)


def _retitle(path: Path, id3_version: int | None) -> None:
    """Another mutagen-based tagger (Picard, beets) changes only the title and saves the
    whole tag its own way (``id3_version``: the ID3 version it saves, as Picard's and beets'
    settings choose)."""
    f = mutagen.File(path)
    if isinstance(f.tags, id3.ID3):
        f.tags.add(id3.TIT2(encoding=3, text=TITLE))
        f.save(v2_version=id3_version or 4)
        return
    key = {"MP4": "\xa9nam", "ASF": "Title"}.get(type(f).__name__, "title")
    f[key] = TITLE
    f.save()


def _others(snap: dict) -> dict:
    """A raw snapshot without the genre and BPM fields."""
    return without_genre(without_genre(snap), "bpm")


def _fields(snap: dict) -> list:
    """The genre and BPM as stored, raw: ID3 frames, Vorbis pairs, MP4 items, ASF attributes."""
    out: list = [f for t in snap["id3v2"] for f in t["frames"] if f[0] in ("TCON", "TBPM")]
    for v in _vorbis_sections(snap):
        out += [p for p in v["pairs"] if p.split("=", 1)[0].upper() in ("GENRE", "BPM")]
    out += [i for i in snap.get("mp4", {}).get("items", []) if i[0] in ("\xa9gen", "tmpo")]
    for attrs in snap.get("asf", {}).get("attributes", {}).values():
        out += [a for a in attrs if a[0] in ("WM/Genre", "WM/BeatsPerMinute")]
    return out


# (the file as a tagger left it, the ID3 version the other tagger re-saves it as)
RESAVED = [
    ("mp3-v23-v1", 3),  # Picard set to ID3v2.3: its UTF-16 TCON gains a terminator
    ("mp3-v23-v1", 4),  # beets' default: the v2.3 tag becomes v2.4
    ("mp3-v24", 4),
    ("flac", None),  # the GENRE and BPM pairs move when mutagen rewrites the block
    ("opus", None),
    ("vorbis", None),
    ("m4a", None),  # mutagen sorts the items
    ("wma", None),
]


@pytest.mark.parametrize(("kind", "version"), RESAVED)
def test_undo_after_another_tagger_resaved_the_file_keeps_its_change(
    files, tmp_path, kind, version
):
    path = tmp_path / files[kind].name
    shutil.copy(files[kind], path)
    before, audio = snapshot(path), audio_fingerprint(path)
    genre, bpm = read_values(path, "genre"), read_values(path, "bpm")
    db = tmp_path / "lib.db"
    _store(db, [path])
    run_cli("write", "--db", db, "--fields", "genre,bpm", "--overwrite")
    assert read_values(path, "genre") == ["Classical"] and read_values(path, "bpm") == ["80"]

    _retitle(path, version)
    resaved = snapshot(path)
    assert read_values(path, "genre") == ["Classical"]  # what tagger wrote, bytes aside

    proc = run_cli("undo", "--db", db, "--json")
    assert proc.returncode == 0
    undone = run_json("undo", "--db", db)  # a second undo finds nothing
    assert undone["restored"] == 0 and undone["changes"] == []
    assert read_values(path, "genre") == genre and read_values(path, "bpm") == bpm
    assert read_values(path, "title") == [TITLE]
    after = snapshot(path)
    others_resaved, others_after = _others(resaved), _others(after)
    if resaved["id3v1"]:  # the other tagger's save copied tagger's genre there: taken back
        assert others_after["id3v1"][:-2] == others_resaved["id3v1"][:-2]  # hex: last byte
        del others_resaved["id3v1"], others_after["id3v1"]
    assert not diff(others_resaved, others_after)  # the other tagger's tags, raw
    if version in (None, before["id3v2"][0]["version"][1] if before["id3v2"] else None):
        assert _fields(after) == _fields(before)  # the very frames, pairs, items
    assert after["audio"] == before["audio"] and audio_fingerprint(path) == audio
    assert rows(db)[0]["tag_genre"] == ("; ".join(genre) or None)  # the file's own, again


@pytest.mark.parametrize("ext", [".mp3", ".flac", ".m4a"])
def test_undo_keeps_what_another_tagger_added_to_a_tag_tagger_created(tmp_path, ext):
    """A file without tags: tagger's write creates the tag, then another tagger adds a title
    to it; undo takes out the genre and keeps the tag with the title."""
    path = write_audio(tmp_path / f"bare{ext}", synth_track("bells", 1.0, 22050, 1), 22050)
    if mutagen.File(path).tags:
        mutagen.File(path).delete()
    assert read_values(path, "genre") == []
    db = tmp_path / "lib.db"
    _store(db, [path])
    run_cli("write", "--db", db)
    _retitle(path, 3)
    assert run_json("undo", "--db", db)["restored"] == 1
    assert read_values(path, "genre") == [] and read_values(path, "title") == [TITLE]


def test_undo_leaves_a_field_changed_by_hand_and_exits_4_naming_it(files, tmp_path):
    """Undo's verdict is each field's value: a BPM or a genre set by hand is a change (that
    field is left as it is and named, exit 4) while the file's other fields come back; a
    file whose every field changed is left alone; a title is no change, nor a BPM pair that
    only moved when the genre was changed."""
    paths = []
    for kind in ("flac", "opus", "mp3-v23-v1", "mp3-v24"):
        paths.append(tmp_path / files[kind].name)
        shutil.copy(files[kind], paths[-1])
    before = {p: (read_values(p, "genre"), read_values(p, "bpm")) for p in paths}
    db = tmp_path / "lib.db"
    _store(db, paths)
    run_cli("write", "--db", db, "--fields", "genre,bpm", "--overwrite")
    by_hand = (
        (paths[0], "bpm", "100"),
        (paths[1], "genre", "Chamber Pop"),
        (paths[3], "TBPM", "100"),
        (paths[3], "TCON", "Chamber Pop"),
    )
    for path, key, value in by_hand:
        f = mutagen.File(path)
        if key.isupper():  # an ID3 frame
            f.tags.add(getattr(mutagen.id3, key)(encoding=3, text=[value]))
        else:
            f[key] = value
        f.save()
    _retitle(paths[2], 3)
    proc = run_cli("undo", "--db", db, "--json", check=False)
    assert proc.returncode == 4
    summary = json.loads(proc.stdout)
    assert summary["restored"] == 3 and summary["partly"] == 2 and summary["changed_since"] == 1
    reasons = {c["path"]: (c["action"], c.get("reason")) for c in summary["changes"]}
    assert reasons[str(paths[0])][0] == reasons[str(paths[1])][0] == "restore"
    assert reasons[str(paths[0])][1].startswith("its bpm was changed by something else")
    assert reasons[str(paths[1])][1].startswith("its genre was changed by something else")
    assert reasons[str(paths[3])][0] == "changed since"
    assert reasons[str(paths[3])][1].startswith("its genre and bpm were changed")
    assert reasons[str(paths[2])] == ("restore", None)
    assert "undo --force" in proc.stderr
    # The field set by hand stays; the one tagger wrote beside it is given back.
    assert read_values(paths[0], "bpm") == ["100"]
    assert read_values(paths[0], "genre") == before[paths[0]][0]
    assert read_values(paths[1], "genre") == ["Chamber Pop"]
    assert read_values(paths[1], "bpm") == before[paths[1]][1]
    assert read_values(paths[3], "bpm") == ["100"]
    assert read_values(paths[3], "genre") == ["Chamber Pop"]
    text = run_cli("undo", "--db", db, check=False)  # the fields left alone, listed again
    assert text.returncode == 4 and f"left alone {paths[0]}: its bpm was changed" in text.stdout
    assert f"left alone {paths[1]}: its genre was changed" in text.stdout
    dry = run_cli("undo", "--db", db, "--dry-run", check=False)
    assert dry.returncode == 4  # as the undo would
    assert run_cli("undo", "--db", db, "--force").returncode == 0
    for path in paths:
        assert (read_values(path, "genre"), read_values(path, "bpm")) == before[path], path


@pytest.mark.slow
def test_undo_gives_the_database_the_files_own_tags_back(library, tmp_path):
    """The trial's run: scan, write, scan --rescan (which reads tagger's genres from the
    files), undo: the rows hold the files' own tags again, and the report's agreement counts
    only those."""
    music = tmp_path / "M3"
    music.mkdir()
    for name in ("track0.mp3", "track1.flac", "track4.m4a"):
        shutil.copy(library / name, music / name)
    f = mutagen.File(music / "track1.flac")
    f["genre"] = "Orchestral"
    f.save()
    originals = {p.name: p.read_bytes() for p in music.iterdir()}
    db = tmp_path / "e.db"
    run_cli("scan", "--db", db, "--model", "musicnn", music)
    own = {Path(r["path"]).name: r["tag_genre"] for r in rows(db)}
    assert own == {"track0.mp3": None, "track1.flac": "Orchestral", "track4.m4a": None}
    run_cli("write", "--db", db, "--overwrite", "--include-uncertain", music)
    run_cli("scan", "--db", db, "--model", "musicnn", "--rescan", music)
    assert all(r["tag_genre"] for r in rows(db))  # the rescan read tagger's genres
    run_cli("undo", "--db", db)
    assert {p.name: p.read_bytes() for p in music.iterdir()} == originals
    assert {Path(r["path"]).name: r["tag_genre"] for r in rows(db)} == own
    assert run_json("report", "--db", db)["agreement"]["compared"] == 1
    run_cli("scan", "--db", db, "--model", "musicnn", music)  # nothing to correct
    assert {Path(r["path"]).name: r["tag_genre"] for r in rows(db)} == own


def _stopped(db: Path, args: list, status: str, count: int) -> tuple[str, str]:
    """Run ``tagger ARGS`` until the journal holds ``count`` entries of ``status`` (the
    command is then blocked opening a FIFO), Ctrl-C it; its stdout and stderr, exit 130."""
    proc = subprocess.Popen(
        [*tagger_cmd(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 600  # a bound, not a timing: the event ends the wait
        while _journal(db, status) < count:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1].startswith("tagger: interrupted; everything finished so far")
    return out, err


def _journal(db: Path, status: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            sql = "SELECT COUNT(*) FROM tag_history WHERE status = ?"
            return int(conn.execute(sql, [status]).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0  # the write holds the database for a moment


def _listed_as_written(out: str, originals: dict[Path, bytes]) -> None:
    """Each file written before the Ctrl-C is listed, and the last line says it was stopped."""
    lines = out.splitlines()
    for p in originals:
        assert f"write {p}: (none) -> Classical" in lines
    assert lines[-1].startswith("tags: wrote 3, ") and lines[-1].endswith(", stopped by Ctrl-C")


def _undo_hint_gives_back(err: str, db: Path, originals: dict[Path, bytes]) -> None:
    """The hint names exactly the files written, and running it gives back their bytes."""
    hint = next(line for line in err.splitlines() if "interrupted after writing 3 files" in line)
    command = shlex.split(hint.split("`")[1])
    assert command[:4] == ["tagger", "undo", "--db", str(db)]
    assert sorted(command[4:]) == sorted(map(str, originals))
    assert all(read_values(p, "genre") == ["Classical"] for p in originals)
    run_cli(*command[1:])
    assert all(p.read_bytes() == data for p, data in originals.items())


def test_a_write_stopped_with_ctrl_c_lists_what_it_wrote_and_how_to_undo_it(tmp_path):
    """The write is stopped where it cannot go on by itself: the last file is a FIFO that no
    one writes to, whose opening blocks; the signal is sent once the journal holds every file
    before it as written (an event, not a guess at how long the write takes)."""
    music = tmp_path / "Music"
    music.mkdir()
    paths = [
        write_audio(music / f"{i:02d}.flac", synth_track("bells", 1.0, 22050, i), 22050)
        for i in range(4)
    ]
    db = tmp_path / "lib.db"
    _store(db, paths)
    originals = {p: p.read_bytes() for p in paths[:-1]}
    last = paths[-1]
    last.unlink()
    os.mkfifo(last)  # the write blocks opening it, until the Ctrl-C

    out, err = _stopped(db, ["write", "--db", db], "written", len(originals))
    _listed_as_written(out, originals)
    _undo_hint_gives_back(err, db, originals)


def test_an_undo_stopped_with_ctrl_c_lists_what_it_restored(tmp_path):
    """As the write above: the undo blocks opening the last file journaled, now a FIFO."""
    paths = [
        write_audio(tmp_path / f"{i}.flac", synth_track("bells", 1.0, 22050, i), 22050)
        for i in range(4)
    ]
    originals = {p: p.read_bytes() for p in paths}
    db = tmp_path / "lib.db"
    _store(db, paths)
    run_cli("write", "--db", db)
    paths[-1].unlink()
    os.mkfifo(paths[-1])
    out, _ = _stopped(db, ["undo", "--db", db], "undone", 3)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("restored ")] == [
        f"restored {p}: Classical -> (none)" for p in paths[:-1]
    ]
    assert lines[-1] == (
        "3 files restored, 0 changed since tagger wrote them (left alone), 0 errors, "
        "stopped by Ctrl-C"
    )
    assert all(p.read_bytes() == originals[p] for p in paths[:-1])


def test_write_and_undo_show_progress_as_lines_when_stderr_is_a_log(tmp_path):
    paths = [
        write_audio(tmp_path / f"{i}.flac", synth_track("bells", 1.0, 22050, i), 22050)
        for i in range(2)
    ]
    db = tmp_path / "lib.db"
    _store(db, paths)
    proc = run_cli("write", "--db", db)
    assert "writing: 2/2 files (100%), 0 errors" in proc.stderr
    dry = run_cli("write", "--db", db, "--dry-run", "--overwrite")
    assert "checking: 2/2 files (100%), 0 errors" in dry.stderr
    assert "writing:" not in run_cli("write", "--db", db, "--json").stderr
    assert "restoring: 2/2 files (100%), 0 errors" in run_cli("undo", "--db", db).stderr


@pytest.mark.parametrize("json_out", [False, True])
def test_a_scan_write_tags_stopped_with_ctrl_c_lists_what_it_wrote_and_how_to_undo_it(
    tmp_path, isolated_home, json_out
):
    """As the write above, through `scan --write-tags`: the scan finds every file unchanged
    (stored as the installed musicnn's results) and writes; the last file is a FIFO in a
    folder the config excludes from the walk (the walk would skip a FIFO anyway), whose
    stored row the write reaches last and blocks opening, until the Ctrl-C."""
    music = tmp_path / "Music"
    (music / "zz-excluded").mkdir(parents=True)
    paths = [
        write_audio(music / name, synth_track("bells", 1.0, 22050, i), 22050)
        for i, name in enumerate(["00.flac", "01.flac", "02.flac", "zz-excluded/03.flac"])
    ]
    db = tmp_path / "lib.db"
    _store(db, paths, model=("musicnn", resolve("musicnn")[0].version))
    originals = {p: p.read_bytes() for p in paths[:-1]}
    paths[-1].unlink()
    os.mkfifo(paths[-1])
    (isolated_home / "config.toml").write_text('exclude = ["*/zz-excluded"]\n')

    args = ["scan", music, "--db", db, "--model", "musicnn", "--write-tags"]
    out, err = _stopped(db, [*args, *(["--json"] if json_out else [])], "written", 3)
    if json_out:
        summary = json.loads(out)
        assert summary["status"] == "interrupted" and summary["skipped"] == 3
        tags = summary["tags"]
        assert tags["interrupted"] and tags["written"] == 3
        assert [c["path"] for c in tags["changes"] if c["action"] == "write"] == [
            str(p) for p in originals
        ]
    else:
        _listed_as_written(out, originals)
    _undo_hint_gives_back(err, db, originals)


def test_undo_of_a_file_moved_since_says_it_is_not_found(files, tmp_path):
    path = tmp_path / files["mp3-v24"].name
    shutil.copy(files["mp3-v24"], path)
    db = tmp_path / "lib.db"
    _store(db, [path])
    run_cli("write", "--db", db, "--overwrite")
    path.rename(tmp_path / "moved.mp3")
    proc = run_cli("undo", "--db", db, check=False)
    assert proc.returncode == 4
    assert f"{path}: file not found (moved or deleted since the scan)" in proc.stderr, proc.stderr


def test_a_write_killed_before_it_changed_the_file_is_reported_without_a_time(files, tmp_path):
    """A journal entry killed while preparing has no time of writing: the report says what
    happened, not ``(None)``."""
    from tagger.store import Store
    from tagger.tags import read_field

    path = tmp_path / files["flac"].name
    shutil.copy(files["flac"], path)
    db = tmp_path / "lib.db"
    _store(db, [path])
    store = Store(db)
    try:
        with store.writer_lock():
            store.history.begin(str(path), [], ["Jazz"], None, read_field(path))
            store.history.sweep()  # as the next write does: the entry failed, file untouched
    finally:
        store.close()
    text = run_cli("report", "--db", db).stdout
    assert f"{path}: genre: interrupted before the file was changed: genre left as it" in text
    # Nor does a scan without counts (killed before its summary, or stored as here) say None.
    assert "None" not in text, text


@pytest.mark.parametrize("kind", ["mp3-v23-v1", "mp3-v24"])
def test_undo_takes_back_the_copy_of_its_genre_another_tagger_put_in_id3v1(files, tmp_path, kind):
    """Picard (``write_id3v1``), beets and MP3Tag keep an ID3v1 tag in step with ID3v2 when
    they save: after such a save tagger's genre is in ID3v1 too, and undo takes it back from
    there as well; a genre of ID3v1 that is not tagger's stays."""
    from tagger.tagedit import id3v1

    path = tmp_path / files[kind].name
    shutil.copy(files[kind], path)
    before, v1_before = read_values(path, "genre"), id3v1.genre_index(str(path))
    db = tmp_path / "lib.db"
    _store(db, [path], genre="electronic")
    run_cli("write", "--db", db, "--overwrite")
    assert read_values(path, "genre") == ["Electronic"]
    id3.ID3(path).save(v2_version=3, v1=2)  # Picard's save: ID3v1 made or updated from ID3v2
    assert id3v1.name_of(id3v1.genre_index(str(path)) or 255) == "Electronic"
    summary = run_json("undo", "--db", db)
    assert summary["restored"] == 1 and summary["changes"][0]["fields"] == ["genre", "ID3v1 genre"]
    assert read_values(path, "genre") == before
    # ID3v1 names the genre from before again, as the other tagger's save would have made it.
    v1 = id3v1.genre_index(str(path))
    assert v1 == id3v1.index_of(before[0] if before else None), (before, v1_before, v1)
    # The user's own ID3v1 genre is theirs: a second write, a save, then a hand edit of it.
    run_cli("write", "--db", db, "--overwrite")
    id3.ID3(path).save(v2_version=3, v1=2)
    id3v1.set_genre_index(str(path), id3v1.index_of("Electronic"), id3v1.index_of("Jazz"))
    assert run_json("undo", "--db", db)["changes"][0].get("fields") is None  # the genre alone
    assert id3v1.name_of(id3v1.genre_index(str(path)) or 255) == "Jazz"
