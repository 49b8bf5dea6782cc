"""The MLP trained from the published GTZAN feature table (``tagger.training.table``).

A small generated table exercises the recipe (choose on valid, refit on
train + valid, test once); the shipped model is checked against the real
table in ``../shared/gtzan`` where it is present: its card's test accuracy is
what the model scores on the fault-filtered test rows, and its scaler holds
the train + valid rows' statistics.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tagger.errors import TaggerError
from tagger.features import SUMMARY, SUMMARY_NAMES
from tagger.training.splits import filtered_split
from tagger.training.table import read_table, run_recipe
from tagger.training.train import TrainConfig

GTZAN = Path(__file__).resolve().parents[2] / "shared" / "gtzan"
MODELS = Path(__file__).resolve().parents[1] / "models"
GENRES = ("blues", "jazz", "metal")


def _write_table(folder: Path, per_genre: int = 12) -> Path:
    """A GTZAN-shaped table of well-separated genres, with filtered-style split lists
    (clips 0-5 train, 6-8 valid, 9-11 test) and the corrupt clip's row."""
    rng = np.random.default_rng(0)
    path = folder / "features_30_sec.csv"
    sides: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "length", *SUMMARY_NAMES, "label"])
        for g, genre in enumerate(GENRES):
            for i in range(per_genre + (genre == "jazz")):
                n = 54 if i == per_genre else i
                row = rng.normal(3.0 * g, 1.0, len(SUMMARY_NAMES)) * (1 + np.arange(57))
                w.writerow([f"{genre}.{n:05d}.wav", 661794, *row.tolist(), genre])
                side = "train" if n < 6 else "valid" if n < 9 else "test"
                sides[side].append(f"{genre}/{genre}.{n:05d}")
    (folder / "splits").mkdir()
    for side, ids in sides.items():
        (folder / "splits" / f"{side}_filtered.txt").write_text("\n".join(ids) + "\n")
    return path


def test_read_table_keeps_the_column_order_and_leaves_the_corrupt_clip_out(tmp_path):
    table = read_table(_write_table(tmp_path))
    assert table.genres == list(GENRES) and len(table.tracks) == 36
    assert "jazz/jazz.00054" not in table.features
    with open(tmp_path / "features_30_sec.csv") as f:
        first = next(csv.DictReader(f))
    x = table.features["blues/blues.00000"]
    assert x.shape == (1, 57)
    np.testing.assert_array_equal(x[0], np.float32([float(first[c]) for c in SUMMARY_NAMES]))
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TaggerError, match="not the GTZAN feature table"):
        read_table(tmp_path / "other.csv")
    with pytest.raises(TaggerError, match="cannot read the feature table"):
        read_table(tmp_path / "none.csv")


@pytest.mark.slow  # TensorFlow: two short fits
def test_the_recipe_chooses_on_valid_refits_on_train_and_valid_and_tests_once(tmp_path):
    path = _write_table(tmp_path)
    table = read_table(path)
    split = filtered_split(table.tracks, tmp_path / "splits")
    cfg = TrainConfig(epochs=6, patience=2)
    run = run_recipe(table, split, cfg, tmp_path / "work", log=lambda line: None)
    card = run.trained.card.to_dict()
    assert card["name"] == "mlp" and card["genres"] == list(GENRES)
    assert card["features"] == SUMMARY.to_dict()
    assert card["split"] == {
        "name": "filtered",
        "train": 18,
        "valid": 9,
        "test": 9,
        "seed": 0,
        "fitted_on": "train + valid",
    }
    assert 1 <= card["training"]["best_epoch"] <= card["training"]["epochs_selection_run"] <= 6
    assert card["training"]["rows"] == 27  # the refit saw train + valid
    acc = card["accuracy"]
    assert sum(map(sum, card["confusion"]["matrix"])) == 9
    assert acc["track_accuracy"] > 1 / 3 + 0.3  # three well-separated genres
    assert card["temperature"] == round(run.temperature, 5) and run.best_epoch >= 1
    # The threshold, like the temperature, was chosen on the validation side.
    assert 0 < card["threshold"] <= 1 and acc["target_precision"] == 0.9
    assert 0 <= acc["kept_fraction"] <= 1
    # The scaler inside the net: the refit rows' mean, not the train side's alone.
    rows = np.concatenate([table.features[t.id] for t in split.train + split.valid])
    scaler = run.trained.net.get_layer("scaler")
    np.testing.assert_allclose(np.ravel(scaler.mean), rows.mean(axis=0), rtol=1e-5)


@pytest.mark.slow  # TensorFlow
@pytest.mark.skipif(
    not (GTZAN / "features_30_sec.csv").is_file(), reason="../shared/gtzan not present"
)
def test_the_shipped_mlp_scores_what_its_card_says_on_the_real_table():
    from tagger.models import load_model, resolve
    from tagger.models.base import compiled, softmax
    from tagger.training import metrics

    ref = replace(resolve(MODELS / "mlp.keras")[0], precision="float32")
    card = json.loads((MODELS / "mlp.json").read_text())
    assert card["synthetic"] is False and card["split"]["name"] == "filtered"
    assert card["command"].startswith("python training/train_mlp.py")
    assert {"licence", "data", "date", "code_version"} <= set(card)
    assert card["accuracy"]["random_split"]["split"]["name"] == "random(seed=0)"
    table = read_table(GTZAN / "features_30_sec.csv")
    split = filtered_split(table.tracks, GTZAN / "splits")
    model = load_model(ref)
    assert model.genres == table.genres and model.spec == SUMMARY
    x = np.concatenate([table.features[t.id] for t in split.test])
    truth = np.array([table.genres.index(t.genre) for t in split.test])
    probs = softmax(compiled(model.net)(x) / model.temperature)
    assert len(truth) == card["accuracy"]["test_tracks"] == 290
    # Another CPU's float32 kernels (AVX2, AVX-512) may round a near tie the other way: one
    # track's answer (1/290 of the accuracy), or move one track to the next bin of the ECE
    # (the bin it leaves and the one it joins each move by at most 1/290), beside the card's
    # rounding to 4 decimals.
    one_track = 1 / 290 + 5e-5
    accuracy = float((probs.argmax(axis=1) == truth).mean())
    assert abs(accuracy - card["accuracy"]["track_accuracy"]) <= one_track
    assert abs(metrics.ece(probs, truth) - card["accuracy"]["ece"]) <= 2 * one_track
    # It abstains as every trained net does, under the threshold its validation side chose.
    assert model.threshold == card["threshold"] and 0 < model.threshold < 1
    kept = probs.max(axis=1) >= model.threshold
    assert abs(kept.mean() - card["accuracy"]["kept_fraction"]) <= one_track
    # One track crossing the threshold moves the share right among k kept by at most 1/(k-1).
    right = (probs.argmax(axis=1) == truth)[kept]
    assert abs(right.mean() - card["accuracy"]["kept_accuracy"]) <= 1 / (len(right) - 1) + 5e-5
    rows = np.concatenate([table.features[t.id] for t in split.train + split.valid])
    scaler = model.net.get_layer("scaler")
    np.testing.assert_allclose(np.ravel(scaler.mean), rows.mean(axis=0), rtol=1e-4)
