"""What tagger says, word for word, where a new user stumbled: each message in its new form."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mutagen
import pytest
from conftest import run_cli, run_json, store_scan

from tagger.models import TrackPrediction
from tagger.training.synth import synth_track, write_audio
from tagger.worker import TrackResult


def stored(root: Path, db: Path, tracks: list[tuple[str, str, float, bool]]) -> list[Path]:
    """Real FLAC files ``root/<folder>/<name>.flac`` stored with the given (folder/name, genre,
    confidence, abstained) results, as a scan with a trained head stores them."""
    results, files = [], []
    for i, (name, genre, conf, abstained) in enumerate(tracks):
        f = root / f"{name}.flac"
        f.parent.mkdir(parents=True, exist_ok=True)
        write_audio(f, synth_track("bells", 1.0, 22050, seed=i), 22050)
        st = f.stat()
        probs = {genre: conf, "Other": round(1 - conf, 5)}
        results.append(
            TrackResult(
                str(f),
                st.st_size,
                st.st_mtime,
                "library",
                "1",
                format="flac",
                duration=1.0,
                prediction=TrackPrediction(genre, conf, probs, uncertain=abstained),
            )
        )
        files.append(f)
    store_scan(db, results, "library")
    return files


LIBRARY = [
    ("Albums/A/one", "Dark Electro", 0.9, False),
    ("Albums/A/two", "Dark Electro", 0.55, True),
    ("Albums/B/three", "Techno", 0.8, False),
    ("Albums/B/four", "Techno", 0.6, False),
]


def test_undo_counts_in_words_and_says_left_alone_once(tmp_path):
    db = tmp_path / "lib.db"
    one, two, *_ = stored(tmp_path / "Music", db, LIBRARY)
    run_cli("write", one, "--db", db)
    text = run_cli("undo", "--db", db).stdout
    assert text.splitlines()[-1] == (
        "1 file restored, 0 changed since tagger wrote them (left alone), 0 errors"
    )
    run_cli("write", one, two, "--db", db, "--include-uncertain")
    audio = mutagen.File(one)
    audio["genre"] = "Changed By Hand"
    audio.save()
    proc = run_cli("undo", "--db", db, check=False)
    assert proc.returncode == 4  # a file not restored: finished with errors
    lines = proc.stdout.splitlines()
    assert (
        f"left alone {one}: its genre was changed by something else after tagger wrote it "
        "(--force restores anyway)" in lines
    )
    assert all(line.count("left alone") <= 1 for line in lines)
    assert lines[-1] == "1 file restored, 1 changed since tagger wrote them (left alone), 0 errors"
    assert proc.stderr.splitlines()[-1] == (
        "tagger: not restored: 1 file changed by something else since tagger's write (listed "
        "above); `tagger undo --force` restores anyway"
    )


def test_ls_matches_spellings_as_retrain_does_and_hints_at_near_genres(tmp_path):
    db = tmp_path / "lib.db"
    files = stored(tmp_path / "Music", db, LIBRARY)
    found = run_json("ls", "--db", db, "--genre", "dark-electro")
    assert [t["path"] for t in found] == sorted(str(f) for f in files[:2])
    miss = run_cli("ls", "--db", db, "--genre", "tecno", check=False)
    assert miss.stderr.strip() == "tagger: no tracks match (stored genres close to 'tecno': Techno)"
    none = run_cli("ls", "--db", db, "--genre", "polka", check=False)
    assert none.stderr.strip() == (
        "tagger: no tracks match (`tagger report` lists the stored genres)"
    )


def test_ls_shows_abstained_tracks_and_its_json_says_so(tmp_path):
    db = tmp_path / "lib.db"
    one, two, *_ = stored(tmp_path / "Music", db, LIBRARY)
    lines = {line.split()[-1]: line for line in run_cli("ls", "--db", db).stdout.splitlines()}
    assert "  abstained  " in lines[str(two)] and "  ok  " in lines[str(one)]
    by_path = {t["path"]: t for t in run_json("ls", "--db", db)}
    assert by_path[str(two)]["uncertain"] is True and by_path[str(one)]["uncertain"] is False
    csv = run_cli("ls", "--db", db, "--csv").stdout.splitlines()
    assert csv[0].endswith(",uncertain,bpm,voice")
    # Every status ls prints is one --status takes: abstained is not also ok.
    assert [t["path"] for t in run_json("ls", "--db", db, "--status", "abstained")] == [str(two)]
    assert str(two) not in [t["path"] for t in run_json("ls", "--db", db, "--status", "ok")]


def test_ls_has_a_header_and_its_json_keeps_a_name_that_is_not_utf8(tmp_path):
    import base64

    db = tmp_path / "lib.db"
    odd_name = os.fsdecode(b"Odd/z\xe9")
    one, odd = stored(tmp_path / "Music", db, [LIBRARY[0], (odd_name, "Techno", 0.8, False)])
    text = run_cli("ls", "--db", db).stdout.splitlines()
    assert text[0].split() == ["genre", "conf", "status", "bpm", "voice", "path"]
    assert len(text) == 3
    assert text[0].index("conf") == text[1].index("0.90")  # the columns line up
    listed = {t["path"]: t for t in run_json("ls", "--db", db)}
    assert listed[str(one)]["path_bytes"] is None
    assert base64.b64decode(listed[str(odd)]["path_bytes"]) == os.fsencode(odd)
    assert os.path.exists(base64.b64decode(listed[str(odd)]["path_bytes"]))


def test_report_lists_each_track_once_and_genres_per_folder(tmp_path):
    db = tmp_path / "lib.db"
    _, two, _, four = stored(tmp_path / "Music", db, LIBRARY)
    rep = run_json("report", "--db", db)
    assert [u["path"] for u in rep["abstained"]] == [str(two)]
    assert str(two) not in [u["path"] for u in rep["uncertain"]]
    text = run_cli("report", "--db", db).stdout
    least = text.split("least certain:")[1].split("abstained")[0]
    assert str(two) not in least and str(four) in least
    folders = run_json("report", "--db", db, "--by", "folder")
    genres = {Path(g["folder"]).name: g["genres"] for g in folders["groups"]}
    assert genres == {"A": {"Dark Electro": 2}, "B": {"Techno": 2}}
    table = run_cli("report", "--db", db, "--by", "folder").stdout
    assert any(line.rstrip().endswith("Dark Electro 2") for line in table.splitlines())
    assert "genres" in run_cli("report", "--db", db, "--by", "folder", "--csv").stdout


def test_models_says_how_to_choose_the_default_and_points_to_installed_help(isolated_home):
    text = run_cli("models").stdout
    assert "README" not in text
    config = isolated_home / "config.toml"
    assert text.splitlines()[-1] == (
        f'default: musicnn; to choose another, set `model = "NAME"` in {config} '
        "(`--model NAME` for one command)"
    )
    config.write_text('model = "musicnn"\n')
    rows = run_json("models")
    (chosen,) = [r for r in rows if r["default"]]
    assert chosen["name"] == "musicnn" and chosen["why_default"] == (
        f"set by `model` in config file {config}"
    )


def test_the_default_model_notice_is_three_short_lines(tmp_path):
    f = write_audio(tmp_path / "a.flac", synth_track("drone", 4.0, 22050, seed=1), 22050)
    proc = run_cli("show", f)
    notice = [line for line in proc.stderr.splitlines() if line]
    assert notice[0].startswith("tagger: notice: using the shipped pretrained musicnn taggers (")
    assert notice[1] == (  # what it can name, then what would do better
        "tagger: notice: they name 15 genres and no others (`tagger models` lists them)"
    )
    assert notice[2] == (
        "tagger: hint: after a scan, `tagger retrain --from-library` learns your library's own "
        "genres"
    )
    assert all(len(line) <= 125 for line in notice), notice  # was one line of 230
    assert json.loads(run_cli("show", f, "--json").stdout)["genre"]


def _cli_as_nobody(home: Path, commands: list[list[str]], conn) -> None:
    """Run each command through ``tagger.cli.main`` as the user nobody: (exit code, stderr).

    Forked from the test (the suite runs as root, who reads any file), the
    command line warmed up first so that what it imports lazily is loaded
    before this process loses the right to read the installation.
    """
    import contextlib
    import io
    import pwd

    import typer._click._textwrap  # noqa: F401  (the usage's line wrapping, lazily imported)

    from tagger import cli

    os.environ.update(HOME=str(home), TAGGER_HOME=str(home), TAGGER_CONFIG=str(home / "c.toml"))

    def main(args: list[str]) -> tuple[int, str]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as exc:
                code = exc.code
        return int(code or 0), err.getvalue()

    for warm in (["scan", "/nonexistent"], ["show", "/nonexistent"], ["scan", "--resume", "/"]):
        main(warm)
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    conn.send([main(args) for args in commands])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_an_unreadable_path_is_one_line_and_exit_1_like_a_missing_one(tmp_path):
    import multiprocessing as mp
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="tagger-perm-", dir="/tmp"))
    try:
        os.chmod(root, 0o777)
        (root / "home").mkdir(mode=0o777)
        clip = write_audio(root / "ok.flac", synth_track("pulse", 2.0, 22050, 1), 22050)
        (root / "closed").mkdir()
        shutil.copy(clip, root / "closed" / "inside.flac")
        os.chmod(root / "closed", 0o700)
        os.chmod(clip, 0o600)
        db = str(root / "home" / "lib.db")
        commands = [
            ["scan", str(root / "closed"), "--db", db],
            ["scan", str(clip), "--db", db],
            ["show", str(clip), "--db", db],
            ["show", str(root / "closed" / "inside.flac"), "--db", db],
            ["scan", str(root / "missing.flac"), "--db", db],
        ]
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(
            target=_cli_as_nobody, args=(root / "home", commands, child)
        )
        proc.start()
        assert parent.poll(120)
        said = parent.recv()
        proc.join()
    finally:
        shutil.rmtree(root)
    assert said == [
        (
            1,
            f"tagger: error: cannot read {root}/closed: permission denied "
            "(the folder cannot be listed)\n",
        ),
        (1, f"tagger: error: cannot read {clip}: permission denied (the file cannot be opened)\n"),
        (1, f"tagger: error: cannot read {clip}: permission denied (the file cannot be opened)\n"),
        (
            1,
            f"tagger: error: cannot read {root}/closed/inside.flac: cannot enter folder "
            f"{root}/closed (permission denied)\n",
        ),
        (1, f"tagger: error: no such file or folder: {root}/missing.flac\n"),
    ]


def test_a_file_that_is_not_audio_named_on_the_command_line_is_an_error_not_a_row(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not music\n")
    db = tmp_path / "lib.db"
    proc = run_cli("scan", notes, "--db", db, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"tagger: error: {notes}: not an audio file (tagger reads ")
    assert len(proc.stderr.splitlines()) == 1 and not db.exists()
