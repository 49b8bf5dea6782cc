"""What tagger says, word for word, where a new user stumbled: each message in its new form."""

from __future__ import annotations

import json
from pathlib import Path

import mutagen
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
    lines = run_cli("undo", "--db", db).stdout.splitlines()
    assert (
        f"left alone {one}: its genre was changed by something else after tagger wrote it "
        "(--force restores anyway)" in lines
    )
    assert all(line.count("left alone") <= 1 for line in lines)
    assert lines[-1] == "1 file restored, 1 changed since tagger wrote them (left alone), 0 errors"


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
    assert csv[0].endswith(",uncertain")


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


def test_the_default_model_notice_is_two_short_lines(tmp_path):
    f = write_audio(tmp_path / "a.flac", synth_track("drone", 4.0, 22050, seed=1), 22050)
    proc = run_cli("show", f)
    notice = [line for line in proc.stderr.splitlines() if line]
    assert notice[0].startswith("tagger: notice: using the shipped pretrained musicnn taggers (")
    assert notice[1] == (
        "tagger: hint: after a scan, `tagger retrain --from-library` learns your library's own "
        "genres"
    )
    assert all(len(line) <= 125 for line in notice), notice  # was one line of 230
    assert json.loads(run_cli("show", f, "--json").stdout)["genre"]
