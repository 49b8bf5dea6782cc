"""``tagger.models.registry``: each model kind says what it is, resolving a model by name or
file (the CLI's help made from the table: tests/cli/test_cli.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tagger.errors import TaggerError
from tagger.features import MUSICNN
from tagger.models import KINDS, card_for, current_embedder, load_model, resolve
from tagger.models.card import MULTILABEL
from tagger.models.musicnn import embedder_id
from tagger.training.retrain import HEADS, NETS


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


def test_models_resolve_by_registered_name_or_file_with_one_line_errors(tmp_path):
    assert resolve("musicnn")[0].model_class == "musicnn"
    with pytest.raises(TaggerError, match="no trained resnet model is installed"):
        resolve("resnet")
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
        load_model(ref)


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


def test_each_kind_says_whether_it_is_multilabel_what_it_runs_on_and_how_it_is_trained():
    assert [k.name for k in KINDS.values() if k.multilabel] == ["musicnn"]
    assert {k.name: k.embedder for k in KINDS.values() if k.embedder} == {
        "library": "musicnn",
        "head": "musicnn",
    }
    assert {k.name for k in KINDS.values() if not k.trainable} == {"musicnn"}
    assert NETS == ("resnet", "mlp") and HEADS == ("head",)
    for kind in KINDS.values():
        card = card_for(kind, "1", ["a", "b"])
        assert card.model_class == kind.loader.model_class
        assert (card.kind == MULTILABEL) == kind.multilabel
    ref = resolve("musicnn")[0]
    assert ref.multilabel and ref.kind == MULTILABEL
    assert current_embedder() == embedder_id(ref.card)
