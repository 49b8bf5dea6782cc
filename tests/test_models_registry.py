"""``tagger.models`` registry: model cards and resolving a model by name or file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tagger.errors import TaggerError
from tagger.features import MUSICNN
from tagger.models import KINDS, ModelCard, card_for, read_card, resolve, write_card


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
