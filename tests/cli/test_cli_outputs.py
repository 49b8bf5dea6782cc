"""The read-side commands and the CLI's messages, as a new user meets them: one spelling of
each genre, one status per track, counts that add up, one-line errors for paths that do
not exist or cannot be written, and help for every option."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import psutil
import typer
from conftest import make_library, rows, run_cli, run_json, spawn, stop_when, store_scan, tagger_cmd
from soundtracks import store_library
from test_cli_messages import LIBRARY, stored
from typer.core import TyperArgument

from tagger.cli import app
from tagger.models import TrackPrediction
from tagger.models.registry import resolve
from tagger.training.synth import synth_track, write_audio
from tagger.worker import TrackResult


def _one_error_line(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one line a user's mistake gets (no traceback), with the documented exit code."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_an_output_file_that_cannot_be_written_is_one_line_naming_it(tmp_path):
    db = tmp_path / "lib.db"
    stored(tmp_path / "Music", db, LIBRARY)
    missing = tmp_path / "no" / "such" / "r.png"
    line = _one_error_line(run_cli("report", "--db", db, "--plot", missing, check=False))
    assert line == f"tagger: error: cannot write plot {missing}: No such file or directory"
    not_a_folder = tmp_path / "lib.db" / "r.svg"  # a folder that is a file
    line = _one_error_line(run_cli("report", "--db", db, "--plot", not_a_folder, check=False))
    assert line == f"tagger: error: cannot write plot {not_a_folder}: Not a directory"
    assert not missing.parent.exists()
    good = tmp_path / "r.png"
    assert run_cli("report", "--db", db, "--plot", good).stdout.splitlines()[-1] == f"plot: {good}"
    assert good.stat().st_size > 10_000 and sorted(p.name for p in tmp_path.iterdir()) == [
        "Music",
        "lib.db",
        "r.png",
    ]  # no temporary file left beside it


def test_a_model_folder_that_cannot_be_made_is_one_line_before_any_work(tmp_path):
    """``retrain --out`` under a file: one line naming the folder and the reason, before a
    file is decoded (no "features ... ready" line first), not a traceback after training."""
    from tagger.training.synth import make_dataset

    data = make_dataset(tmp_path / "data", per_genre=2, seconds=1.0)
    not_a_folder = tmp_path / "afile" / "models"
    (tmp_path / "afile").write_text("")
    proc = run_cli("retrain", "--data", data, "--model", "mlp", "--out", not_a_folder, check=False)
    assert proc.returncode == 1 and "ready" not in proc.stderr, proc.stderr
    assert _one_error_line(proc) == (
        f"tagger: error: cannot write the model into {not_a_folder}: Not a directory"
    )


def test_ls_and_report_refuse_a_path_that_does_not_exist(tmp_path):
    db = tmp_path / "lib.db"
    files = stored(tmp_path / "Music", db, LIBRARY)
    for cmd in ("ls", "report"):
        proc = run_cli(cmd, tmp_path / "Musik", "--db", db, check=False)
        assert _one_error_line(proc) == f"tagger: error: no such file or folder: {tmp_path}/Musik"
    # A folder that vanished after its scan still lists its stored tracks.
    gone = files[2].parent
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    listed = run_json("ls", gone, "--db", db)
    assert [t["path"] for t in listed] == sorted(str(f) for f in files[2:])
    assert run_json("report", gone, "--db", db)["totals"]["tracks"] == 2
    # A folder that exists and holds no stored track is no error: nothing matches.
    (tmp_path / "empty").mkdir()
    assert run_cli("ls", tmp_path / "empty", "--db", db, check=False).returncode == 0


def test_a_database_named_in_a_missing_folder_is_refused_the_default_one_made(
    tmp_path, isolated_home
):
    empty = tmp_path / "empty"
    empty.mkdir()
    db = tmp_path / "typo" / "lib.db"
    proc = run_cli("scan", empty, "--db", db, check=False)
    assert _one_error_line(proc) == (
        f"tagger: error: cannot create database {db}: the folder {db.parent} does not exist"
    )
    assert not db.parent.exists()
    # The default database's own folder (here $TAGGER_HOME) is made for it.
    home = tmp_path / "new home"
    run_cli("scan", empty, env={"TAGGER_HOME": str(home)})
    assert (home / "library.db").is_file()


def _musicnn_rows(root: Path, db: Path) -> dict[str, Path]:
    """Real files stored as a musicnn scan stores them: canonical genre names, one track
    flagged uncertain (its top genre under half)."""
    ref = resolve("musicnn")[0]
    tracks = {
        "rap": ("hiphop", {"hiphop": 0.8, "rnb": 0.3}, False, "Rap"),
        "soul": ("rnb", {"rnb": 0.4, "hiphop": 0.35}, True, None),
        "loud": ("metal", {"metal": 0.9, "rock": 0.6}, False, "Heavy Metal"),
    }
    results, files = [], {}
    for i, (name, (genre, probs, uncertain, tag)) in enumerate(tracks.items()):
        f = write_audio(root / f"{name}.flac", synth_track("pulse", 1.0, 22050, seed=i), 22050)
        st = f.stat()
        results.append(
            TrackResult(
                str(f),
                st.st_size,
                st.st_mtime,
                ref.name,
                ref.version,
                format="flac",
                duration=1.0,
                tag_genre=tag,
                prediction=TrackPrediction(genre, probs[genre], probs, uncertain=uncertain),
            )
        )
        files[name] = f
    store_scan(db, results, ref.name, ref.version)
    return files


def test_every_command_spells_a_genre_one_way_in_text_and_json(tmp_path):
    db = tmp_path / "lib.db"
    root = tmp_path / "Music"
    root.mkdir()
    files = _musicnn_rows(root, db)
    assert {t["genre"] for t in run_json("ls", "--db", db)} == {"Hip-Hop", "R&B", "Metal"}
    rep = run_json("report", "--db", db)
    assert {g["genre"] for g in rep["groups"]} == {"Hip-Hop", "R&B", "Metal"}
    assert rep["agreement"]["tag_genres"] == ["Hip-Hop", "Metal"]
    assert rep["agreement"]["predicted_genres"] == ["Hip-Hop", "Metal"]
    shown = run_json("show", files["rap"], "--db", db)
    assert shown["stored_at"]  # the stored result, as the scan stored it
    assert shown["genre"] == "Hip-Hop" and set(shown["probabilities"]) == {"Hip-Hop", "R&B"}
    assert [t["genre"] for t in shown["top"]] == ["Hip-Hop", "R&B"]
    text = run_cli("show", files["rap"], "--db", db).stdout.splitlines()
    assert [line.split()[0] for line in text[1:3]] == ["Hip-Hop", "R&B"]
    musicnn = next(m for m in run_json("models") if m["name"] == "musicnn")
    assert "Hip-Hop" in musicnn["genres"] and "hiphop" not in musicnn["genres"]
    models_text = run_cli("models").stdout
    assert "Hip-Hop" in models_text and "hiphop" not in models_text
    # The user's own spelling from the config, everywhere alike.
    config = Path(os.environ["TAGGER_CONFIG"])
    config.write_text('[genres]\nmap = { hiphop = "Hip Hop" }\n')
    assert run_json("show", files["rap"], "--db", db)["genre"] == "Hip Hop"
    assert "Hip Hop" in {t["genre"] for t in run_json("ls", "--db", db)}
    assert "Hip Hop" in {g["genre"] for g in run_json("report", "--db", db)["groups"]}


def test_a_track_the_model_abstained_on_has_one_status_everywhere(tmp_path):
    """A trained head's abstention and musicnn's uncertain track are the same status in ls's
    text, --json, --csv and --status, and in report's counts."""
    db = tmp_path / "lib.db"
    head = stored(tmp_path / "Music", db, LIBRARY)  # one abstained (a head)
    files = _musicnn_rows(tmp_path / "Music", db)  # one uncertain (musicnn)
    flagged = sorted([str(head[1]), str(files["soul"])])
    listed = run_json("ls", "--db", db)
    assert sorted(t["path"] for t in listed if t["status"] == "abstained") == flagged
    assert all(t["uncertain"] is (t["path"] in flagged) for t in listed)
    text = run_cli("ls", "--db", db).stdout.splitlines()[1:]
    assert sorted(line.split()[-1] for line in text if "  abstained  " in line) == flagged
    csv_rows = run_cli("ls", "--db", db, "--csv").stdout.splitlines()[1:]
    assert sum(",abstained," in line for line in csv_rows) == 2
    status = [t["path"] for t in run_json("ls", "--db", db, "--status", "abstained")]
    assert sorted(status) == flagged
    rep = run_json("report", "--db", db)
    assert rep["totals"]["statuses"] == {"ok": 5, "abstained": 2}
    assert "status: 2 abstained, 5 ok" in run_cli("report", "--db", db).stdout.splitlines()
    capped = run_cli("report", "--db", db, "--uncertain", "1").stdout.splitlines()
    listed_apart = capped[capped.index(next(x for x in capped if x.startswith("abstained (2"))) :]
    assert listed_apart[1].split()[-1] in flagged  # the least certain one, then how many more
    assert listed_apart[2] == "  ... and 1 more (`tagger ls --status abstained` lists all)"
    helped = run_cli("ls", "--help").stdout
    assert "musicnn" in helped.split("--status")[1].split("--model")[0]


def _options(command) -> list:
    return [p for p in command.params if not isinstance(p, TyperArgument)]


def test_every_option_of_every_command_says_what_it_does():
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {"scan", "write", "undo", "ls", "report", "retrain"} <= set(commands)
    bare = [
        f"{name} {'/'.join(p.opts)}"
        for name, c in commands.items()
        for p in _options(c)
        if not (p.help or "").strip()
    ]
    assert bare == []
    id3 = next(p for p in _options(commands["write"]) if "--id3v23" in p.opts)
    assert "no ID3v2 tag" in id3.help and "keeps its version" in id3.help


def test_a_bad_backend_is_a_usage_error_in_tagger_words(tmp_path):
    proc = run_cli("scan", tmp_path, "--backend", "foo", check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        "tagger scan: error: --backend must be loky or dask, not 'foo'"
    )
    assert "Value error" not in proc.stderr


def test_scan_counts_agree_with_the_progress_and_the_report(tmp_path):
    """A file moved since its scan and analysed again (--rescan) is one step of the progress;
    a too-short file is analysed by the scan and listed as heard without a genre."""
    lib = tmp_path / "lib"
    make_library(lib, seconds=4.0, formats=(".flac", ".ogg", ".mp3"))
    write_audio(lib / "short.wav", synth_track("drone", 0.4, 22050, seed=9), 22050)
    db = tmp_path / "lib.db"

    def scan(*more: str) -> tuple[str, str]:
        proc = run_cli("scan", lib, "--db", db, "--jobs", "1", *more)  # stderr: not a terminal
        (last,) = [line for line in proc.stderr.splitlines() if line.startswith("scanning: ")]
        return last, proc.stdout.splitlines()[0]

    progress, summary = scan()
    assert progress.startswith("scanning: 4/4 files (100%)")
    assert summary.startswith(
        "4 audio files: 4 analysed (1 without a genre: too short or silent), 0 unchanged, 0 errors"
    )
    header = run_cli("report", "--db", db).stdout.splitlines()[0]
    assert header.startswith(  # 4 analysed: 3 with a genre and 1 without, as the report says
        "4 tracks: 3 with a genre, 1 heard without one (too short or silent), 0 errors, "
        "0 missing; 0 genre tags written"
    )
    (lib / "track1.ogg").rename(lib / "renamed.ogg")
    progress, summary = scan("--rescan")
    assert progress.startswith("scanning: 4/4 files (100%)")
    assert summary.startswith("4 audio files: 4 analysed (1 without a genre: too short or ")
    assert "0 unchanged (1 moved or renamed" in summary


def test_scan_json_interrupted_prints_what_it_did(tmp_path):
    lib = tmp_path / "lib"
    make_library(lib, seconds=4.0)
    db = tmp_path / "lib.db"
    proc = spawn(
        [*tagger_cmd(), "scan", str(lib), "--db", str(db), "--jobs", "1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def analysing() -> bool:
        """The scan's workers are started: it is analysing (its loky pool is made then)."""
        children = psutil.Process(proc.pid).children(recursive=True)
        return any("loky" in " ".join(c.cmdline()) for c in children)

    stop_when(proc, analysing, "the scan ended before its workers started", db=db)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends, to the stopped group
    os.killpg(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["status"] == "interrupted" and summary["files_seen"] == len(list(lib.iterdir()))
    (scan_row,) = rows(db, "SELECT status FROM scans")
    assert scan_row["status"] == "interrupted"
    assert summary["scanned"] + summary["errors"] == len(rows(db, "SELECT path FROM tracks"))


def test_the_first_scan_notice_says_how_many_genres_the_default_names(tmp_path):
    empty = tmp_path / "one"
    empty.mkdir()
    write_audio(empty / "a.flac", synth_track("drone", 2.0, 22050, seed=1), 22050)
    proc = run_cli("scan", empty, "--db", tmp_path / "lib.db", "--jobs", "1")
    n = len(resolve("musicnn")[0].genres)
    assert (
        f"tagger: notice: they name {n} genres and no others (`tagger models` lists them)"
        in proc.stderr.splitlines()
    )


def test_a_model_folder_that_cannot_be_written_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    n = 24
    albums = [f"album{i % 6}" for i in range(n)]
    genres = [["Rock", "Jazz"][i % 2] for i in range(n)]
    db = tmp_path / "lib.db"
    names = [f"t{i:02d}.ogg" for i in range(n)]
    store_library(tmp_path / "lib", db, names, albums, albums, genres, rng.normal(size=(n, 400)))
    out = tmp_path / "lib.db" / "models"  # under a file: no folder can be made there
    args = ("retrain", "--from-library", "--db", db, "--min-tracks", "4", "--out", out)
    proc = run_cli(*args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"tagger: error: cannot write the model into {out}: Not a directory"
    )


def test_similar_spells_genres_as_ls_and_says_why_a_playlist_cannot_be_written(tmp_path):
    rng = np.random.default_rng(1)
    db = tmp_path / "lib.db"
    names = [f"t{i}.ogg" for i in range(4)]
    files = store_library(
        tmp_path / "lib", db, names, ["a"] * 4, ["A"] * 4, [None] * 4, rng.normal(size=(4, 400))
    )
    found = run_json("similar", files[0], "--db", db)
    assert [r["genre"] for r in found["results"]] == ["Ambient"] * 3  # stored as "ambient"
    assert {t["genre"] for t in run_json("ls", "--db", db)} == {"Ambient"}
    m3u = tmp_path / "no" / "x.m3u"
    proc = run_cli("similar", files[0], "--db", db, "--m3u", m3u, check=False)
    assert _one_error_line(proc) == (
        f"tagger: error: cannot write playlist {m3u}: No such file or directory"
    )


def test_retrain_and_evaluate_spell_gtzan_genres_as_every_command_does(tmp_path):
    """A GTZAN-shaped folder names its genres as GTZAN does (``hiphop``, ``rnb``): a head
    trained on it, and its evaluation, print them as ls, report and show do, text and JSON,
    and in the user's own spelling once the config maps one."""
    root = tmp_path / "gtzan"
    for g, recipe in (("hiphop", "pulse"), ("rnb", "bells")):
        (root / "genres" / g).mkdir(parents=True)
        for i in range(3):
            y = synth_track(recipe, 6.0, 22050, seed=i)
            write_audio(root / "genres" / g / f"{g}.{i:05d}.wav", y, 22050)
    (root / "splits").mkdir()
    for i, side in enumerate(("train", "valid", "test")):
        ids = [f"{g}/{g}.{i:05d}" for g in ("hiphop", "rnb")]
        (root / "splits" / f"{side}_filtered.txt").write_text("\n".join(ids) + "\n")
    out = tmp_path / "models"
    trained = run_cli("retrain", "--data", root, "--model", "head", "--out", out)
    card = run_json("retrain", "--data", root, "--model", "head", "--out", out)
    head = out / "head.npz"
    assert json.loads((out / "head.json").read_text())["genres"] == ["hiphop", "rnb"]  # the model's
    rep = run_json("evaluate", "--data", root, "--model", head)
    evaluated = run_cli("evaluate", "--data", root, "--model", head)
    for text in (trained.stdout, evaluated.stdout):
        assert "Hip-Hop" in text and "R&B" in text and "hiphop" not in text and "rnb" not in text
    assert card["genres"] == ["Hip-Hop", "R&B"]
    assert set(card["accuracy"]["per_genre"]) == {"Hip-Hop", "R&B"}
    assert set(rep["per_genre"]) == {"Hip-Hop", "R&B"}
    assert rep["confusion"]["genres"] == ["Hip-Hop", "R&B"]
    assert "training" not in evaluated.stdout  # a head's card has no epochs to print

    Path(os.environ["TAGGER_CONFIG"]).write_text('[genres]\nmap = { hiphop = "Hip Hop" }\n')
    assert set(run_json("evaluate", "--data", root, "--model", head)["per_genre"]) == {
        "Hip Hop",
        "R&B",
    }
