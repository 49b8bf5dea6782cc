"""Unit tests of the pure parts: windows, formats, migrations, the genre merge, cards, planning.

Fast (no TensorFlow, no audio decoding): ``pytest -m "not slow"`` runs them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tagger.decode import plan_windows
from tagger.errors import TaggerError, one_line
from tagger.features import MUSICNN
from tagger.formats import BY_EXTENSION, BY_NAME, FORMATS, sniff_bytes
from tagger.models import KINDS, ModelCard, card_for, read_card, resolve, write_card
from tagger.models.musicnn_genres import GENRES, MSD_LABELS, MTT_LABELS, merge_genres
from tagger.paths import is_under
from tagger.scan import classify
from tagger.store import MIGRATIONS, SCHEMA_VERSION, Store


# --- windows -------------------------------------------------------------------------------
def test_a_30_second_clip_is_cut_into_consecutive_slices():
    assert plan_windows(30.0, 10, 3.0) == [(3.0 * i, 3.0) for i in range(10)]


def test_a_long_track_spreads_its_windows_over_its_middle():
    wins = plan_windows(300.0, 5, 3.0)
    assert len(wins) == 5 and all(d == 3.0 for _, d in wins)
    starts = [s for s, _ in wins]
    assert starts[0] == pytest.approx(30.0) and starts[-1] + 3.0 == pytest.approx(270.0)
    assert starts == sorted(starts) and len(set(starts)) == 5


def test_windows_never_reach_past_the_end():
    for duration in (3.0, 3.5, 7.9, 29.99, 31.0, 45.0, 61.0, 7200.0):
        for n in (1, 3, 5, 10):
            for start, length in plan_windows(duration, n, 3.0):
                assert start >= 0 and start + length <= duration + 1e-9, (duration, n)


def test_no_windows_for_nothing():
    assert plan_windows(0.0, 5, 3.0) == [] and plan_windows(10.0, 0, 3.0) == []


# --- formats -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "head,name",
    [
        (b"fLaC\0\0\0\x22", "flac"),
        (b"OggS\0\x02" + bytes(22) + b"\x13OpusHead", "opus"),
        (b"OggS\0\x02" + bytes(22) + b"\x7fFLAC\x01\x00\x00\x01fLaC", "oggflac"),
        (b"OggS\0\x02" + bytes(22) + b"\x01vorbis", "ogg"),
        (b"RIFF\0\0\0\0WAVEfmt ", "wav"),
        (b"FORM\0\0\0\0AIFC", "aiff"),
        (b"\0\0\0\x20ftypM4A ", "m4a"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"), "wma"),
        (b".snd\0\0\0\x18", "au"),
        (b"ID3\x04\0", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
    ],
)
def test_formats_are_sniffed_from_their_first_bytes(head, name):
    fmt = sniff_bytes(head)
    assert fmt is not None and fmt.name == name


def test_text_is_no_format():
    assert sniff_bytes(b"this is a text file, not audio\n") is None


def test_every_format_record_is_complete_and_its_extensions_unique():
    seen: set[str] = set()
    for fmt in FORMATS:
        assert not seen & set(fmt.extensions), fmt.name
        seen |= set(fmt.extensions)
        assert "av" in fmt.decoders  # FFmpeg reads every format
        assert (fmt.tag_class is None) == (fmt.genre_key is None) == (fmt.tag_family is None)
        assert all(e.startswith(".") and e == e.lower() for e in fmt.extensions)
    assert BY_EXTENSION[".aif"] is BY_NAME["aiff"] and BY_EXTENSION[".oga"] is BY_NAME["ogg"]


# --- the musicnn genre merge ---------------------------------------------------------------
def _tags(**named: float) -> tuple[np.ndarray, np.ndarray]:
    mtt, msd = np.zeros(50), np.zeros(50)
    for key, value in named.items():
        net, _, tag = key.partition("_")
        labels, vec = (MTT_LABELS, mtt) if net == "mtt" else (MSD_LABELS, msd)
        vec[labels.index(tag.replace("_", " "))] = value
    return mtt, msd


def test_classical_gates_every_msd_genre():
    mtt, msd = _tags(mtt_classical=0.9, msd_jazz=0.8, msd_ambient=0.7)
    scores = dict(zip(GENRES, merge_genres(mtt, msd)))
    assert max(scores, key=scores.get) == "classical"
    assert scores["jazz"] == pytest.approx(0.8 * 0.1)


def test_genres_both_nets_know_take_the_mean_and_tags_take_the_max():
    mtt, msd = _tags(mtt_rock=0.6, msd_hard_rock=0.2, msd_classic_rock=0.4)
    scores = dict(zip(GENRES, merge_genres(mtt, msd)))
    assert scores["rock"] == pytest.approx((0.6 + 0.4) / 2)


# --- cards and the registry ----------------------------------------------------------------
def test_a_card_survives_a_write_read_round_trip(tmp_path):
    card = card_for(
        KINDS["mlp"], "2026.1", ["a", "b"], accuracy={"track_accuracy": 0.5}, synthetic=True
    )
    path = write_card(tmp_path, card)
    assert path.name == "mlp.json"
    back = read_card(path)
    assert back == card and back.get("accuracy") == {"track_accuracy": 0.5}
    assert back.model_class == "keras-classifier" and back.spec == KINDS["mlp"].spec


def test_a_card_without_model_class_is_read_by_its_name(tmp_path):
    raw = {"name": "musicnn", "version": "1", "features": MUSICNN.to_dict(), "genres": []}
    assert ModelCard.from_dict(raw).model_class == "musicnn"
    raw["name"] = "resnet"
    assert ModelCard.from_dict(raw).model_class == "keras-classifier"
    with pytest.raises(TaggerError, match="lacks"):
        ModelCard.from_dict({"name": "x"})


def test_models_resolve_by_registered_name_or_file_with_one_line_errors(tmp_path):
    assert resolve("musicnn")[0].model_class == "musicnn"
    with pytest.raises(TaggerError, match="no trained mlp model is installed"):
        resolve("mlp")
    with pytest.raises(TaggerError, match="no such model"):
        resolve(tmp_path / "none.keras")
    bogus = tmp_path / "mine.keras"
    bogus.write_bytes(b"x")
    (tmp_path / "mine.json").write_text(
        json.dumps(
            {
                "name": "mine",
                "version": "1",
                "model_class": "teleport",
                "features": MUSICNN.to_dict(),
            }
        )
    )
    ref = resolve(bogus)[0]
    with pytest.raises(TaggerError, match="unknown model class 'teleport'"):
        ref.load()


# --- migrations ----------------------------------------------------------------------------
@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_every_older_schema_migrates_to_the_current_one(tmp_path, start):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    for steps in MIGRATIONS[:start]:
        for sql in steps:
            conn.execute(sql)
    conn.execute(f"PRAGMA user_version = {start}")
    conn.commit()
    conn.close()
    Store(db).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_newer_database_is_refused_untouched(tmp_path):
    db = tmp_path / "new.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()
    with pytest.raises(TaggerError, match="newer"):
        Store(db)
    assert db.read_bytes() == before and not Path(f"{db}-wal").exists()


# --- planning a scan -----------------------------------------------------------------------
def test_only_changed_files_or_other_model_versions_are_analysed(tmp_path):
    ref = resolve("musicnn")[0]
    files = []
    for name in ("same", "touched", "other-model", "new"):
        f = tmp_path / f"{name}.mp3"
        f.write_bytes(b"ID3")
        files.append(f)
    st = {f.stem: os.stat(f) for f in files}

    def row(name: str, version: str = ref.version, mtime_shift: float = 0.0) -> dict:
        return {
            "size": st[name].st_size,
            "mtime": st[name].st_mtime + mtime_shift,
            "model": ref.name,
            "model_version": version,
        }

    known = {
        str(tmp_path / "same.mp3"): row("same"),
        str(tmp_path / "touched.mp3"): row("touched", mtime_shift=1.0),
        str(tmp_path / "other-model.mp3"): row("other-model", version="0.0.1"),
    }
    gone = tmp_path / "gone.mp3"  # found by a walk, deleted before it was stat'ed
    todo, unchanged, failed = classify([*files, gone], known, ref, rescan=False)
    assert unchanged == [str(tmp_path / "same.mp3")]
    assert sorted(Path(p).stem for p, _, _ in todo) == ["new", "other-model", "touched"]
    assert [r.path for r in failed] == [str(gone)] and failed[0].error
    todo, unchanged, _ = classify(files, known, ref, rescan=True)
    assert len(todo) == 4 and unchanged == []


def test_a_path_is_under_a_root_it_equals_or_a_folder_above_it():
    roots = {"/music/a.flac", "/music/Album", "/"}
    assert is_under("/music/a.flac", roots) and is_under("/music/Album/b.mp3", roots)
    assert is_under("/elsewhere/c.mp3", {"/"})
    assert not is_under("/music/Album2/b.mp3", roots - {"/"})  # a sibling with the same prefix
    assert not is_under("/music/a.flac.bak", roots - {"/"})
    assert not is_under("/music/a.flac", set())


def test_one_line_reasons():
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(KeyError()) == "KeyError"


def _resolve_as_nobody(home: str, conn) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    os.environ["TAGGER_HOME"] = home
    try:
        resolve(None)
        conn.send("no error")
    except TaggerError as exc:
        conn.send(str(exc))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_an_unreadable_model_folder_is_one_line_naming_it():
    import multiprocessing as mp
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="tagger-home-", dir="/tmp"))
    try:
        os.chmod(home, 0o755)
        (home / "models").mkdir(mode=0o700)  # root's: nobody cannot enter it
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(target=_resolve_as_nobody, args=(str(home), child))
        proc.start()
        assert parent.poll(60)
        said = parent.recv()
        proc.join()
    finally:
        shutil.rmtree(home)
    assert said == (
        f"cannot read the model folder {home / 'models'}: cannot enter folder "
        f"{home / 'models'} (permission denied)"
    )


def test_cpu_flags_come_from_cpuinfo(tmp_path):
    from tagger.inference import cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "absent")) is None


def test_every_package_folder_is_installed():
    """A plain `pip install .` installs only the packages pyproject lists: none may be missing."""
    from tagger.config import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(root).parts) for p in (root / "tagger").rglob("__init__.py")
    }
    assert found - listed == set()
