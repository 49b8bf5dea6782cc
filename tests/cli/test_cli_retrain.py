"""`tagger retrain` / `tagger evaluate` on a tiny GTZAN-shaped collection made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, run_json
from tolerance import U32, net_rtol, rounded, softmax_atol

from tagger.training.data import find_tracks
from tagger.training.synth import make_dataset

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    """4 synthetic genres x 8 tracks of 9 s, filtered-style split lists, one corrupt file."""
    root = tmp_path_factory.mktemp("toy")
    base = make_dataset(root, per_genre=8, seconds=9.0)
    (base / "pulse" / "pulse.00099.wav").write_bytes(b"RIFF" + bytes(100))  # corrupt
    tracks = sorted(t.id for t in find_tracks(root))
    sides = {"train": [], "valid": [], "test": []}
    for tid in tracks:
        n = int(tid.rsplit(".", 1)[1])
        sides["test" if n >= 6 else "valid" if n >= 4 else "train"].append(tid)
    (root / "splits").mkdir()
    for side, ids in sides.items():
        (root / "splits" / f"{side}_filtered.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    cache = tmp_path_factory.mktemp("cache")
    proc = run_cli(
        "retrain", "--data", toy, "--epochs", "8", "--out", out, "--cache-dir", cache, "--json"
    )
    return {"out": out, "cache": cache, "result": json.loads(proc.stdout), "stderr": proc.stderr}


def test_retrain_writes_loadable_models_and_cards(trained):
    out, result = trained["out"], trained["result"]
    assert "pulse.00099.wav" in trained["stderr"]  # the corrupt file is skipped with a warning
    for kind in ("resnet", "mlp"):
        card = json.loads((out / f"{kind}.json").read_text())
        assert (out / f"{kind}.keras").stat().st_size < 5_000_000
        assert card == result["models"][kind]
        assert card["synthetic"] is True and "NOT a genre model" in card["licence"]
        assert card["split"]["name"] == "filtered"
        assert card["split"]["train"] == 16 and card["split"]["test"] == 8
        acc = card["accuracy"]
        for key in (
            "track_accuracy",
            "slice_accuracy",
            "macro_f1",
            "ece",
            "ece_before_calibration",
        ):
            assert 0.0 <= acc[key] <= 1.0
        assert len(card["confusion"]["matrix"]) == 4
        assert sum(map(sum, card["confusion"]["matrix"])) == 8
        assert card["temperature"] > 0
        assert card["command"].startswith("tagger retrain")
        assert card["training"]["slices_per_second"] > 0


def test_evaluate_reads_models_back_above_chance(trained, toy, tmp_path):
    for kind in ("resnet", "mlp"):
        png = tmp_path / f"{kind}.png"
        rep = run_json(
            "evaluate",
            "--data",
            toy,
            "--model",
            trained["out"] / f"{kind}.keras",
            "--cache-dir",
            trained["cache"],
            "--plot",
            png,
        )
        for key in (
            "track_accuracy",
            "slice_accuracy",
            "macro_f1",
            "ece",
            "per_genre",
            "confusion",
        ):
            assert key in rep
        assert rep["tracks"] == 8
        assert rep["track_accuracy"] > 0.25 + 0.2, (kind, rep["track_accuracy"])  # chance is 0.25
        assert (
            rep["track_accuracy"] == trained["result"]["models"][kind]["accuracy"]["track_accuracy"]
        )
        assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    text = run_cli(
        "evaluate",
        "--data",
        toy,
        "--model",
        trained["out"] / "mlp.keras",
        "--cache-dir",
        trained["cache"],
    ).stdout
    assert "track accuracy" in text and "pulse" in text


def test_cached_second_run_does_not_decode_again(trained, toy, tmp_path):
    again = run_json(
        "retrain",
        "--data",
        toy,
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--out",
        tmp_path,
        "--cache-dir",
        trained["cache"],
    )
    assert again["decoded"] == {"mlp": 0}
    assert trained["result"]["decoded"]["mlp"] == 33  # 32 tracks + the corrupt one, once


def test_synthetic_models_are_never_the_default(trained, isolated_home):
    import shutil

    from tagger.models import resolve

    models = isolated_home / "models"
    models.mkdir()
    for f in ("resnet.keras", "resnet.json"):
        shutil.copy(trained["out"] / f, models / f)
    ref, notice = resolve(None)
    assert ref.name == "musicnn" and "no trained ResNet" in notice
    # The same file with a card that says it saw real data becomes the default.
    card = json.loads((models / "resnet.json").read_text())
    card["synthetic"] = False
    (models / "resnet.json").write_text(json.dumps(card))
    ref, notice = resolve(None)
    assert ref.name == "resnet" and notice is None and ref.source == "user"
    listed = run_json("models")
    assert [m["name"] for m in listed] == ["musicnn", "resnet", "mlp"]  # the MLP ships


def test_scan_with_a_trained_model(trained, library, tmp_path):
    for kind in ("resnet", "mlp"):
        db = tmp_path / f"{kind}.db"
        summary = run_json("scan", library, "--db", db, "--model", trained["out"] / f"{kind}.keras")
        assert summary["model"] == kind and summary["scanned"] == 8 and summary["errors"] == 0
        from conftest import rows

        # The net abstains under the threshold its validation tracks chose, as a head does.
        card = json.loads((trained["out"] / f"{kind}.json").read_text())
        assert 0 < card["threshold"] <= 1 and card["accuracy"]["target_precision"] == 0.9
        for t in rows(db):
            probs = json.loads(t["probabilities"])
            assert set(probs) == {"bells", "drone", "noise", "pulse"}
            # multiclass: a distribution; each stored to 5 decimals, float32's sum off by n·u
            n = len(probs)
            assert abs(sum(probs.values()) - 1) <= rounded(5, n) + 4 * n * U32
            assert t["tags"] is None
            assert bool(t["uncertain"]) == (t["confidence"] < card["threshold"]), t


def test_trained_models_run_on_openvino_without_tensorflow(trained, library):
    """retrain leaves each net as OpenVINO IR beside its .keras file: a worker runs it without
    importing TensorFlow (the seconds a scan waits for its first result), in float32 within
    float32's rounding of the Keras net, and says so."""
    import subprocess
    import sys
    from dataclasses import replace

    from tagger.models import load_model, resolve
    from tagger.models.base import compiled, softmax
    from tagger.worker import track_input

    track = library / "track1.flac"
    for kind in ("resnet", "mlp"):
        path = trained["out"] / f"{kind}.keras"
        card = json.loads((trained["out"] / f"{kind}.json").read_text())
        assert (trained["out"] / card["openvino"]["file"]).with_suffix(".bin").is_file()
        code = (
            "import sys\n"
            "from tagger.models import load_model, resolve\n"
            "from tagger.worker import track_input\n"
            f"model = load_model(resolve({str(path)!r})[0])\n"
            f"model.predict_tracks([track_input({str(track)!r}, model.spec)[1]])\n"
            "print(model.engine, 'tensorflow' in sys.modules)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        assert out[0] == "openvino" and out[-1] == "False", out
        model = load_model(replace(resolve(str(path))[0], precision="float32"))
        x = track_input(track, model.spec)[1]
        assert str(model.engine) == "openvino float32"
        logits = compiled(model.net)(x)
        keras = softmax(logits / model.temperature)
        # Another kernel's float32 summation order, through the softmax (tolerance).
        atol = softmax_atol(logits, net_rtol(model.net), model.temperature)
        np.testing.assert_allclose(model.forward(x), keras, atol=atol, rtol=0)


def test_k_fold_cross_validation(toy, trained, tmp_path):
    result = run_json(
        "retrain",
        "--data",
        toy,
        "--model",
        "mlp",
        "--folds",
        "2",
        "--epochs",
        "3",
        "--out",
        tmp_path,
        "--cache-dir",
        trained["cache"],
    )
    folds = result["folds"]["mlp"]
    assert folds["k"] == 2 and len(folds["track_accuracy"]) == 2
    assert abs(folds["mean"] - np.mean(folds["track_accuracy"])) <= rounded(4)  # 4 decimals
    assert result["models"] == {}  # cross-validation reports, it installs nothing
    assert not (tmp_path / "mlp.keras").exists()


def test_killed_training_resumes_at_the_epoch_it_reached(toy, trained, tmp_path):
    import csv

    from conftest import kill_tagger, start_tagger, stop_when

    out = tmp_path / "out"
    log = out / "work" / "resnet-log.csv"
    args = [
        "retrain",
        "--data",
        str(toy),
        "--model",
        "resnet",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--cache-dir",
        str(trained["cache"]),
    ]
    proc = start_tagger(*args)
    stop_when(  # training, once an epoch is logged (a header and a row)
        proc,
        lambda: log.exists() and len(log.read_text().splitlines()) >= 2,
        "training ended before it could be killed",
    )
    kill_tagger(proc)
    assert not (out / "resnet.keras").exists()
    done = len(log.read_text().splitlines()) - 1
    run_cli(*args)
    epochs = [int(r["epoch"]) for r in csv.DictReader(log.open())]
    assert epochs.count(0) == 1, epochs  # the second run did not start over
    assert epochs[done] >= done - 1, epochs  # it went on where the checkpoint was
    assert max(epochs) == 2
    assert (out / "resnet.keras").exists()
    card = json.loads((out / "resnet.json").read_text())["training"]
    assert card["epochs"] == 3 and card["epochs_this_run"] < 3


@pytest.mark.slow
def test_head_on_a_genre_folder(toy, library, tmp_path):
    """`retrain --data DIR --model head`: the folder's split lists, cached embeddings."""
    out, cache = tmp_path / "models", tmp_path / "cache"
    args = ("retrain", "--data", toy, "--model", "head", "--out", out, "--cache-dir", cache)
    card = run_json(*args)
    assert card["name"] == "head" and card["model_class"] == "softmax-head" and card["synthetic"]
    assert card["split"]["name"] == "filtered"
    acc = card["accuracy"]
    assert acc["tracks"] == 8  # test side: 2 per genre (the corrupt file is skipped)
    assert acc["accuracy"] >= 0.75 and set(acc["per_genre"]) == {"bells", "drone", "noise", "pulse"}
    again = run_cli(*args, "--json")
    assert "(0 extracted" in again.stderr  # every embedding, and the failure, came from the cache
    summary = run_json("scan", library, "--db", tmp_path / "lib.db", "--model", out / "head.npz")
    assert summary["model"] == "head" and summary["errors"] == 0 and summary["scanned"] == 8
