"""Train a ResNet or MLP on a genre collection, calibrate it, test it once, write it out.

Used by ``tagger retrain``.  The run:

1. features of every track through the cache (``training.cache``), i.e. the
   same decode and feature code a scan uses;
2. a split by track (``training.splits``), checked disjoint;
3. training on train-split slices with augmentation, a warm-up + cosine
   learning-rate schedule, early stopping on validation loss (best weights
   restored) and a checkpoint every epoch (``BackupAndRestore``), so a killed
   run resumes at the epoch it reached;
4. temperature scaling fitted on the validation split;
5. one evaluation on the test split, pooled per track;
6. ``<name>.keras`` and its card ``<name>.json`` written to the output folder.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger import __version__
from tagger.features import LOGMEL, SUMMARY, FeatureSpec
from tagger.runtime import keras_module

from . import metrics
from .augment import augment_batch
from .data import Track
from .splits import Split, assert_disjoint

SPECS: dict[str, FeatureSpec] = {"resnet": LOGMEL, "mlp": SUMMARY}


@dataclass
class TrainConfig:
    epochs: int = 60
    batch: int = 64
    learning_rate: float = 2e-3
    patience: int = 10
    seed: int = 0
    width: int = 24  # ResNet base width


def slices_of(tracks: list[Track], feats: dict[str, np.ndarray], genres: list[str]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Track]]:
    """Stack the slices of the tracks that have features: X, slice labels, track index, tracks."""
    kept = [t for t in tracks if t.id in feats]
    xs = [feats[t.id] for t in kept]
    labels = np.concatenate([[genres.index(t.genre)] * len(x) for t, x in zip(kept, xs)])
    index = np.concatenate([[i] * len(x) for i, x in enumerate(xs)])
    return np.concatenate(xs).astype(np.float32), labels.astype(int), index.astype(int), kept


def _sequence(keras, x: np.ndarray, y: np.ndarray, n_classes: int, batch: int, seed: int,
              spectrogram: bool):
    class Batches(keras.utils.PyDataset):
        """Shuffled, augmented training batches, reshuffled every epoch."""

        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))

        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            idx = self.order[i * batch:(i + 1) * batch]
            onehot = np.eye(n_classes, dtype=np.float32)[y[idx]]
            return augment_batch(x[idx], onehot, self.rng, spectrogram)

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

    return Batches()


def build(kind: str, spec: FeatureSpec, n_classes: int, x_train: np.ndarray, cfg: TrainConfig):
    if kind == "resnet":
        from tagger.nets.resnet import build_resnet

        return build_resnet(spec.input_shape(), n_classes, width=cfg.width)
    if kind == "mlp":
        from tagger.nets.mlp import build_mlp

        return build_mlp(x_train.shape[1], n_classes, mean=x_train.mean(axis=0),
                         variance=x_train.var(axis=0) + 1e-8)
    raise ValueError(kind)


def code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"tagger {__version__}" + (f" ({rev})" if rev else "")


def train(kind: str, split: Split, feats: dict[str, np.ndarray], genres: list[str],
          out_dir: Path, cfg: TrainConfig, work_dir: Path, log=print) -> dict:
    """Train one model on ``split``; returns the model card (also written beside the model)."""
    assert_disjoint(split)
    keras = keras_module()
    keras.utils.set_random_seed(cfg.seed)
    spec = SPECS[kind]
    x_tr, y_tr, _, _ = slices_of(split.train, feats, genres)
    x_va, y_va, i_va, tr_va = slices_of(split.valid, feats, genres)
    x_te, y_te, i_te, tr_te = slices_of(split.test, feats, genres)
    n = len(genres)
    net = build(kind, spec, n, x_tr, cfg)
    steps = int(np.ceil(len(x_tr) / cfg.batch)) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate / 10, decay_steps=max(1, steps), warmup_target=cfg.learning_rate,
        warmup_steps=max(1, steps // 20))
    net.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    ckpt = work_dir / f"{kind}-checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(str(ckpt)),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                      restore_best_weights=True),
        keras.callbacks.CSVLogger(str(work_dir / f"{kind}-log.csv"), append=True),
    ]
    onehot_va = np.eye(n, dtype=np.float32)[y_va]
    t0 = time.time()
    hist = net.fit(_sequence(keras, x_tr, y_tr, n, cfg.batch, cfg.seed, kind == "resnet"),
                   validation_data=(x_va, onehot_va), epochs=cfg.epochs, callbacks=callbacks,
                   verbose=2 if sys.stderr.isatty() else 0)
    seconds = time.time() - t0
    epochs_run = len(hist.epoch)                     # in this call (a resumed run did fewer)
    epochs_total = hist.epoch[-1] + 1 if hist.epoch else 0
    log(f"{kind}: trained {epochs_run} epochs in {seconds:.0f} s ({epochs_total} in all)")

    def logits(x):
        return np.concatenate([np.asarray(net.predict_on_batch(x[i:i + 256]))
                               for i in range(0, len(x), 256)])

    lv = logits(x_va)
    temperature = metrics.fit_temperature(lv, y_va)
    t_inf = time.time()
    lt = logits(x_te)
    infer_seconds = time.time() - t_inf
    raw = metrics.report(genres, metrics.pool_tracks(metrics.softmax(lt), i_te),
                         np.array([genres.index(t.genre) for t in tr_te]),
                         metrics.softmax(lt), y_te)
    test = metrics.report(genres, metrics.pool_tracks(metrics.softmax(lt / temperature), i_te),
                          np.array([genres.index(t.genre) for t in tr_te]),
                          metrics.softmax(lt / temperature), y_te)
    valid = metrics.report(genres, metrics.pool_tracks(metrics.softmax(lv / temperature), i_va),
                           np.array([genres.index(t.genre) for t in tr_va]),
                           metrics.softmax(lv / temperature), y_va)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / f"{kind}.keras"
    tmp = out_dir / f".{kind}.tmp.keras"
    clean = build(kind, spec, n, x_tr, cfg)  # uncompiled: no optimizer state in the file
    clean.set_weights(net.get_weights())
    clean.save(tmp)
    os.replace(tmp, model_path)
    card = {
        "name": kind,
        "version": dt.datetime.now(dt.timezone.utc).strftime("%Y.%m.%d.%H%M%S"),
        "kind": "multiclass",
        "architecture": ("residual CNN on 3-second log-mel slices" if kind == "resnet"
                         else "MLP on 57 summary features per 3-second slice"),
        "parameters": int(net.count_params()),
        "genres": genres,
        "features": spec.to_dict(),
        "temperature": round(temperature, 5),
        "split": split.describe() | {"seed": cfg.seed},
        "accuracy": {
            "track_accuracy": test["track_accuracy"], "slice_accuracy": test["slice_accuracy"],
            "macro_f1": test["macro_f1"], "ece_before_calibration": raw["ece"],
            "ece": test["ece"], "valid_track_accuracy": valid["track_accuracy"],
            "measured_on": "test split, once, after choosing on validation",
        },
        "per_genre": test["per_genre"],
        "confusion": test["confusion"],
        "training": {"epochs": epochs_total, "epochs_this_run": epochs_run,
                     "max_epochs": cfg.epochs, "seconds_this_run": round(seconds, 1),
                     "slices": int(len(x_tr)),
                     "slices_per_second": round(len(x_tr) * epochs_run / max(seconds, 1e-9), 1),
                     "batch": cfg.batch, "learning_rate": cfg.learning_rate,
                     "inference_seconds_test": round(infer_seconds, 2)},
        "code_version": code_version(),
        "date": dt.date.today().isoformat(),
        "licence": "weights trained by tagger; usable as the training data's licence allows",
    }
    (out_dir / f"{kind}.json").write_text(json.dumps(card, indent=2) + "\n")
    shutil.rmtree(ckpt, ignore_errors=True)  # finished: nothing left to resume
    return card
