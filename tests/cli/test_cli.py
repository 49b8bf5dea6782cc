"""The command line as a new user meets it: help, errors, exit codes, ls, report, write/undo.

Most tests here need a database of analysed tracks but not the model: the
database is a real SQLite file made by tagger's own migrations, holding rows
for real audio files (``stored_library``); the tests that need the model scan.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest
from conftest import raw_genres, rows, run_cli, run_json
from tolerance import scan_atol

from tagger.models import KINDS
from tagger.models.registry import installed
from tagger.store import Store
from tagger.tags import write_genres
from tagger.training.retrain import HEADS, NETS


def insert_tracks(db: Path, tracks: list[dict]) -> None:
    """Rows as a scan stores them (the schema made by tagger's migrations)."""
    Store(db).close()
    conn = sqlite3.connect(db)
    with conn:
        for t in tracks:
            st = os.stat(t["path"]) if os.path.exists(t["path"]) else None
            row = {
                "size": st.st_size if st else 0,
                "mtime": st.st_mtime if st else 0,
                "model": "musicnn",
                "model_version": "1",
                "missing": 0,
                "scan_id": 1,
                **t,
            }
            if isinstance(row.get("probabilities"), dict):
                row["probabilities"] = json.dumps(row["probabilities"])
            conn.execute(
                f"INSERT INTO tracks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
    conn.close()


def analysed(path: Path, fmt: str, **probs: float) -> dict:
    best = max(probs, key=probs.get)
    return {
        "path": str(path),
        "format": fmt,
        "genre": best,
        "confidence": probs[best],
        "probabilities": probs,
    }


@pytest.fixture
def stored(library, tmp_path):
    """The library with a database of results: mp3 ambient 0.19 (file says Romantic
    Classical), flac hiphop 0.8, ogg classical 0.55, wav a decode error."""
    write_genres(library / "track0.mp3", ["Romantic Classical"])
    db = tmp_path / "lib.db"
    insert_tracks(
        db,
        [
            analysed(library / "track0.mp3", "mp3", ambient=0.19, classical=0.17, rock=0.02)
            | {"tag_genre": "Romantic Classical"},
            analysed(library / "track1.flac", "flac", hiphop=0.8, jazz=0.15, rock=0.05),
            analysed(library / "track2.ogg", "ogg", classical=0.55, jazz=0.4)
            | {"tag_genre": "Orchestral"},
            {
                "path": str(library / "track5.wav"),
                "format": "wav",
                "error": "cannot decode: invalid data",
            },
        ],
    )
    return library, db


def _drain(fd: int, out: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        out.append(chunk)


def test_help_reads_like_a_unix_tool():
    scan_help = run_cli("scan", "--help").stdout
    assert "Usage: tagger scan [OPTIONS] PATH..." in scan_help
    assert "<bool>" not in scan_help and "list[Path]" not in scan_help and "{" not in scan_help
    assert "  --rescan  " in scan_help or "  --rescan\n" in scan_help
    assert "[PATH...]" in run_cli("write", "--help").stdout
    top = run_cli("--help").stdout
    for cmd in ("scan", "write", "undo", "ls", "report", "show", "models", "config"):
        assert f"  {cmd} " in top
    listed = top.split("Commands:", 1)[1].split("Exit codes", 1)[0].strip().splitlines()
    assert len(listed) == 11 and all(line.endswith(".") for line in listed), listed  # no cut
    assert "4 finished, but some files" in " ".join(top.split())
    assert run_cli("--version").stdout.strip().startswith("tagger ")


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan"], "Missing argument 'PATH'"),
        (["scan", "--bogus", "x"], "No such option: --bogus"),
        (["scan", "--backend", "nonsense", "x"], "--backend must be loky or dask, not 'nonsense'"),
        (["report", "--json", "--csv"], "--json and --csv cannot be used together"),
        (["ls", "--status", "fine"], "--status must be one of ok, abstained, truncated"),
    ],
)
def test_usage_error_is_one_line_and_the_usage(args, message):
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith(f"tagger {args[0]}: error: ") and message in lines[0]
    assert lines[1].startswith(f"usage: tagger {args[0]} [OPTIONS]")
    assert "notice" not in proc.stderr  # nothing about models before a usage error


def test_write_and_undo_refuse_paths_and_ids_that_match_nothing(stored, tmp_path):
    library, db = stored
    for cmd in ("write", "undo"):
        proc = run_cli(cmd, "/no/such/path", "--db", db, check=False)
        assert (proc.returncode, proc.stderr.strip()) == (
            1,
            "tagger: error: no such file or folder: /no/such/path",
        )
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(exist_ok=True)
        proc = run_cli(cmd, elsewhere, "--db", db, "--dry-run", check=False)  # never scanned
        assert proc.returncode == 1 and "no track in the database under" in proc.stderr
        hint = "(scan it first)" if cmd == "write" else "(so nothing tagger wrote there to undo)"
        assert proc.stderr.strip().endswith(hint), proc.stderr
    proc = run_cli("undo", "--scan", "999", "--db", db, check=False)
    assert proc.returncode == 1 and "no scan #999" in proc.stderr
    assert run_cli("write", library / "track1.flac", "--db", db, "--dry-run").returncode == 0


def test_dry_run_says_what_will_happen_even_while_a_scan_holds_the_database(stored):
    library, db = stored
    store = Store(db)
    with store.writer_lock():  # what a running scan holds
        proc = run_cli("write", "--db", db, "--dry-run")
        assert (
            f"keep {library / 'track0.mp3'}: Romantic Classical (tagger: Ambient 0.19)"
            in proc.stdout.splitlines()
        )
        assert f"would write {library / 'track1.flac'}: (none) -> Hip-Hop" in proc.stdout
        busy = run_cli("write", "--db", db, check=False)
        assert busy.returncode == 3 and "in use by another tagger process" in busy.stderr
    store.close()
    assert raw_genres(library / "track1.flac") == []


def test_failed_writes_and_undos_exit_4(stored):
    library, db = stored
    (library / "track2.ogg").chmod(0o444)
    proc = run_cli("write", "--db", db, check=False)
    assert proc.returncode == 4
    assert f"error: {library / 'track2.ogg'}:" in proc.stderr and "read-only" in proc.stderr
    assert raw_genres(library / "track1.flac") == ["Hip-Hop"]  # the others were written
    (library / "track1.flac").chmod(0o444)
    proc = run_cli("undo", "--db", db, check=False)
    assert proc.returncode == 4 and "read-only" in proc.stderr


def test_config_defaults_and_genre_map_reach_the_tags(stored, isolated_home):
    library, db = stored
    (isolated_home / "config.toml").write_text(
        f'db = "{db}"\ntop = 2\nmin_confidence = 0.1\noverwrite = true\n'
        '[genres]\nmap = { hiphop = "Rap", classical = "Classical Music" }\n'
        'whitelist = ["Rap", "Classical Music", "Jazz", "Ambient"]\n'
    )
    run_cli("write", library / "track1.flac", "--keep-existing")
    # jazz (0.15) is under half of hiphop's 0.8, so top 2 writes one genre
    assert raw_genres(library / "track1.flac") == ["Rap"]
    run_cli("write", library / "track2.ogg")  # classical 0.55, jazz 0.4: both, as mapped
    assert raw_genres(library / "track2.ogg") == ["Classical Music", "Jazz"]
    run_cli("write", library / "track0.mp3", "--top", "1")  # overwrite from the config
    assert raw_genres(library / "track0.mp3") == ["Ambient"]
    dry = run_cli("write", library / "track0.mp3", "--dry-run", "--keep-existing", "--top", "2")
    assert (
        dry.stdout.splitlines()[0]
        == f"keep {library / 'track0.mp3'}: Ambient (tagger: Ambient 0.19)"
    )
    listed = run_json("ls", "--genre", "rap")
    assert [t["genre"] for t in listed] == ["Rap"]
    rep = run_json("report")
    assert {g["genre"] for g in rep["groups"]} == {"Ambient", "Rap", "Classical Music"}


def test_ls_filters_like_beet_ls(stored):
    library, db = stored
    text = run_cli("ls", "--db", db).stdout.splitlines()
    assert text[0].split() == ["genre", "conf", "status", "bpm", "voice", "path"]
    assert len(text) == 5 and text[1].split()[:3] == ["Ambient", "0.19", "ok"]
    assert "error" in text[4] and "cannot decode: invalid data" in text[4]
    names = lambda *a: [Path(t["path"]).name for t in run_json("ls", "--db", db, *a)]  # noqa: E731
    assert names("--genre", "Hip Hop") == ["track1.flac"]  # a synonym of hiphop
    assert names("--genre", "classical") == ["track2.ogg"]
    assert names("--below", "0.6") == ["track0.mp3", "track2.ogg"]
    assert names("--status", "error") == ["track5.wav"]
    assert names("--model", "resnet") == []
    assert names(library / "track1.flac") == ["track1.flac"]
    assert names("--status", "missing") == []
    csv_lines = run_cli("ls", "--db", db, "--csv", "--genre", "ambient").stdout.splitlines()
    assert csv_lines[0].startswith("path,genre,confidence,status")
    assert csv_lines[1].startswith(f"{library / 'track0.mp3'},Ambient,0.19,ok")
    empty = run_cli("ls", "--db", db, "--genre", "polka")
    assert empty.stdout == "" and "no tracks match" in empty.stderr


def test_report_lists_failed_files_and_limits_to_paths(stored, tmp_path):
    library, db = stored
    broken = [
        {
            "path": str(library / f"broken{i:02}.mp3"),
            "format": "mp3",
            "error": f"truncated at byte {i}",
        }
        for i in range(25)
    ]
    insert_tracks(db, broken)
    store = Store(db)
    store.start_scan("musicnn", "1", {"paths": [str(library)], "jobs": 2})
    store.close()
    text = run_cli("report", "--db", db).stdout
    assert "failed files (26):" in text and "... and 6 more (--errors lists all)" in text
    assert f"{library / 'broken00.mp3'}: truncated at byte 0" in text
    everything = run_cli("report", "--db", db, "--errors").stdout
    assert "broken24.mp3: truncated at byte 24" in everything and "more (--errors" not in everything
    # agreement matrix: the whole genre names, never cut to 8 characters
    header = next(x for x in text.splitlines() if x.startswith("tag / predicted"))
    assert header.split() == ["tag", "/", "predicted", "Ambient", "Classical"]
    rep = run_json("report", library / "track1.flac", "--db", db)
    assert rep["totals"]["tracks"] == 1 and rep["groups"][0]["genre"] == "Hip-Hop"
    assert rep["last_scan"]["arguments"] == {"paths": [str(library)], "jobs": 2}
    assert rep["confidence_histogram"]["counts"] == [0] * 8 + [1, 0]  # 0.8
    plot = tmp_path / "report.png"
    run_cli("report", "--db", db, "--plot", plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_models_says_what_is_missing_and_show_and_similar_refuse_a_folder(library):
    text = run_cli("models").stdout
    assert "musicnn" in text
    assert "resnet  not installed; train it with `tagger retrain --data DIR --model resnet" in text
    assert re.search(r"^mlp  \S+  \(multiclass, shipped\)", text, re.M)  # trained on GTZAN
    for command in ("show", "similar"):  # the true cause, never "no such file"
        proc = run_cli(command, library, check=False)
        assert proc.returncode == 1 and "notice" not in proc.stderr
        assert proc.stderr == (
            f"tagger: error: {library} is a folder; `tagger {command}` takes one file "
            f"(`tagger ls {library}` lists a folder's stored results)\n"
        )
        missing = run_cli(command, library / "gone.mp3", check=False)
        assert missing.stderr == f"tagger: error: no such file: {library / 'gone.mp3'}\n"


@pytest.mark.slow
def test_scan_and_show_as_a_new_user_sees_them(library, tmp_path, isolated_home):
    """Messages appear only when they are true: the notice and 'starting' only when the
    model runs, a hint for a folder without audio, exclusions honoured, show reusing
    the stored result, a warning for an unencrypted remote Dask scheduler."""
    db = tmp_path / "lib.db"
    for f in sorted(library.iterdir())[3:]:  # keep track0.mp3, track1.flac, track2.ogg
        f.unlink()
    (library / "skip").mkdir()
    (library / "skip" / "x.flac").write_bytes((library / "track1.flac").read_bytes())
    (isolated_home / "config.toml").write_text('exclude = ["*/skip"]\n')
    empty = tmp_path / "Empty"
    empty.mkdir()

    proc = run_cli("scan", empty, "--db", db, "--jobs", "1")
    assert "hint: no audio files found under" in proc.stderr
    assert "notice" not in proc.stderr and "starting" not in proc.stderr

    proc = run_cli("scan", library, "--db", db, "--jobs", "1")
    assert (
        proc.stderr.count("notice: using the shipped pretrained musicnn taggers (no trained") == 1
    )
    assert proc.stderr.index("notice") < proc.stderr.index("starting 1 worker ")
    assert proc.stdout.startswith("3 audio files: 3 analysed")  # skip/x.flac excluded
    # stderr is a pipe, as in a log: plain progress lines, no carriage-return bar.
    assert "\r" not in proc.stderr
    assert "tagger: " not in proc.stderr.splitlines()[-1]
    assert proc.stderr.splitlines()[-1].startswith("scanning: 3/3 files (100%), 0 errors, ")

    again = run_cli(
        "scan", library, "--db", db, "--backend", "dask", "--scheduler", "tcp://10.11.12.13:8786"
    )  # nothing to do: never connects
    assert "notice" not in again.stderr and "starting" not in again.stderr
    assert again.stderr.startswith(
        "tagger: warning: the Dask scheduler tcp://10.11.12.13:8786 is reached without TLS"
    )
    assert (
        "warning"
        not in run_cli(
            "scan",
            library,
            "--db",
            db,
            "--backend",
            "dask",
            "--scheduler",
            "tls://10.11.12.13:8786",
        ).stderr
    )

    shown = run_cli("show", library / "track1.flac", "--db", db)
    assert "stored" in shown.stdout.splitlines()[0] and shown.stderr == ""
    stored = json.loads(run_cli("show", library / "track1.flac", "--db", db, "--json").stdout)
    fresh = run_cli("show", library / "track1.flac", "--db", db, "--fresh", "--json")
    assert "notice" not in fresh.stderr  # said once per database, by its first scan
    fresh = json.loads(fresh.stdout)
    assert stored["stored_at"] and fresh["stored_at"] is None
    assert stored["genre"] == fresh["genre"]
    # Another batch than the scan's: see tolerance.scan_atol.
    assert stored["probabilities"] == pytest.approx(fresh["probabilities"], abs=scan_atol())

    # The model runs again: the database's first scan has said the notice.
    proc = run_cli("scan", library / "track0.mp3", "--db", db, "--jobs", "1", "--rescan")
    assert "notice" not in proc.stderr and "starting 1 worker" in proc.stderr
    first = run_cli("show", library / "track0.mp3", "--db", tmp_path / "other.db", "--fresh")
    assert first.stderr.count("notice: using the shipped") == 1  # a database without a scan


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_draws_the_bar_once(library, tmp_path):
    import fcntl
    import pty
    import shlex
    import signal
    import struct
    import subprocess
    import termios
    import threading
    import time

    from conftest import freeze_workers, spawn, tagger_cmd, thaw

    for i in range(3):  # 32 files: four chunks of eight
        for f in list(library.glob("track*")):
            if f.stem[-1].isdigit() and "_" not in f.stem:
                (library / f"{f.stem}_{i}{f.suffix}").write_bytes(f.read_bytes())
    total = len(list(library.iterdir()))
    db = tmp_path / "lib.db"
    master, slave = pty.openpty()  # a terminal (100 columns), so the progress bar is drawn
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = spawn(
        [*tagger_cmd(), "scan", str(library), "--db", str(db), "--jobs", "1"],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    terminal: list[bytes] = []
    reader = threading.Thread(target=lambda: _drain(master, terminal), daemon=True)
    reader.start()
    drawn = re.compile(rb"\| [1-9][0-9]*/%d \[" % total)  # the bar shows a first result
    while proc.poll() is None and not drawn.search(b"".join(terminal)):
        time.sleep(0.01)  # waits for an event (the bar drawn), bounded by the scan itself
    workers = freeze_workers(proc)  # a few ms after the first file: the others are still to do
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    thaw(workers)
    assert proc.wait(timeout=120) == 130
    reader.join(timeout=10)
    out = b"".join(terminal).decode(errors="replace")
    resume = shlex.join(["tagger", "scan", str(library), "--db", str(db), "--jobs", "1"])
    assert f"interrupted; everything finished so far is saved (`{resume}` resumes)" in out, out
    assert "Traceback" not in out, out
    assert out.index("starting 1 worker") < out.index("scanning")
    # The bar is cleared where it stood and the message takes its line: not drawn again.
    assert "\n" not in out[out.rindex("scanning") : out.index("tagger: interrupted")], out
    done = len(rows(db, "SELECT path FROM tracks"))
    assert 0 < done < total
    resumed = run_json("scan", library, "--db", db, "--jobs", "1")
    assert (resumed["skipped"], resumed["scanned"]) == (done, total - done)


def test_a_scheduler_that_hangs_up_is_one_line(library, tmp_path):
    """What a plain tcp:// client meets at a TLS scheduler: the connection is dropped."""
    import socket
    import threading

    pytest.importorskip("distributed")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def hang_up() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        proc = run_cli(
            "scan",
            library / "track1.flac",
            "--db",
            tmp_path / "x.db",
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
            check=False,
        )
    finally:
        server.close()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(
        f"tagger: error: cannot connect to the Dask scheduler tcp://127.0.0.1:{port}: "
    )


def test_the_clis_model_choices_and_help_come_from_the_registry():
    def flat(*args: str) -> str:
        return " ".join(run_cli(*args, "--help").stdout.split())

    for command in ("scan", "show"):
        text = flat(command)
        assert all(name in text for name in KINDS)
        assert all(k.title in text for k in KINDS.values() if k.default_rank is not None)
    assert f"{', '.join(NETS + HEADS)}, or all (every net: {' and '.join(NETS)})" in flat("retrain")
    assert f"{NETS[0]} (default)" in flat("evaluate")
    listed = run_cli("models").stdout
    for kind in KINDS.values():
        assert kind.name in listed
    for kind in (k for k in KINDS.values() if k.trained_from == "data"):
        # the shipped MLP is listed as installed; the others say how to train them
        assert f"tagger retrain --data DIR --model {kind.name}`" in listed or (
            installed(kind.name) is not None
        )
