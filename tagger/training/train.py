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
6. ``<name>.keras`` and its card ``<name>.json`` written to the output folder
   (``install``).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tagger import __version__
from tagger.models import ModelCard, ModelKind, card_for, write_card
from tagger.paths import output_folder
from tagger.runtime import keras_module

from . import metrics
from .augment import augment_batch
from .data import Track
from .head import TARGET_PRECISION, abstention
from .splits import Split, assert_disjoint


@dataclass
class TrainConfig:
    epochs: int = 60
    batch: int = 64
    learning_rate: float = 2e-3
    patience: int = 10
    seed: int = 0
    width: int = 24  # ResNet base width


def slices_of(
    tracks: list[Track], feats: dict[str, np.ndarray], genres: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Track]]:
    """Stack the slices of the tracks that have features: X, slice labels, track index, tracks."""
    kept = [t for t in tracks if t.id in feats]
    xs = [feats[t.id] for t in kept]
    labels = np.concatenate([[genres.index(t.genre)] * len(x) for t, x in zip(kept, xs)])
    index = np.concatenate([[i] * len(x) for i, x in enumerate(xs)])
    return np.concatenate(xs).astype(np.float32), labels.astype(int), index.astype(int), kept


def _sequence(
    keras, x: np.ndarray, y: np.ndarray, n_classes: int, batch: int, seed: int, spectrogram: bool
):
    class Batches(keras.utils.PyDataset):
        """Shuffled, augmented training batches, reshuffled every epoch."""

        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x))

        def __len__(self):
            return int(np.ceil(len(x) / batch))

        def __getitem__(self, i):
            idx = self.order[i * batch : (i + 1) * batch]
            onehot = np.eye(n_classes, dtype=np.float32)[y[idx]]
            return augment_batch(x[idx], onehot, self.rng, spectrogram)

        def on_epoch_end(self):
            self.order = self.rng.permutation(len(x))

    return Batches()


def code_version() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"tagger {__version__}" + (f" ({rev})" if rev else "")


@dataclass
class Fitted:
    """A trained net and what its training run measured."""

    net: Any  # compiled, as trained
    clean: Any  # the same weights in a never-compiled net: what is saved
    epochs_run: int  # in this call (a resumed run does fewer)
    epochs_total: int
    seconds: float
    slices: int
    best_epoch: int  # the epoch whose weights were kept (1-based); the last without validation


@dataclass
class Job:
    """One model to train: its kind, the split of tracks and their features, the genres
    (the label order), the settings, where checkpoints go, and where progress is told."""

    kind: ModelKind
    split: Split
    feats: dict[str, np.ndarray]
    genres: list[str]
    cfg: TrainConfig
    work_dir: Path
    log: Callable[[str], None] = print


def fit(job: Job) -> Fitted:
    """Train the job's net on the train split, early-stopped on the validation split.

    Checkpoints every epoch in ``work_dir`` (a killed run resumes there); the
    best weights by validation loss are restored at the end.  A split with no
    validation side trains for exactly ``cfg.epochs`` (a final fit on train +
    valid, its epoch count chosen before on the validation split).
    """
    kind, split, feats, genres, cfg = job.kind, job.split, job.feats, job.genres, job.cfg
    work_dir, log = job.work_dir, job.log
    assert kind.build is not None, f"{kind.name} is not trainable"
    keras = keras_module()
    keras.utils.set_random_seed(cfg.seed)
    x_tr, y_tr, _, _ = slices_of(split.train, feats, genres)
    n = len(genres)
    validation = None
    if split.valid:
        x_va, y_va, _, _ = slices_of(split.valid, feats, genres)
        validation = (x_va, np.eye(n, dtype=np.float32)[y_va])
    net = kind.build(kind.spec, n, x_tr, cfg.width)
    steps = int(np.ceil(len(x_tr) / cfg.batch)) * cfg.epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        cfg.learning_rate / 10,
        decay_steps=max(1, steps),
        warmup_target=cfg.learning_rate,
        warmup_steps=max(1, steps // 20),
    )
    net.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    ckpt = work_dir / f"{kind.name}-checkpoint"
    ckpt.mkdir(parents=True, exist_ok=True)
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=cfg.patience, restore_best_weights=True
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(ckpt)),
        *([stopping] if validation else []),
        keras.callbacks.CSVLogger(str(work_dir / f"{kind.name}-log.csv"), append=True),
    ]
    t0 = time.time()
    hist = net.fit(
        _sequence(keras, x_tr, y_tr, n, cfg.batch, cfg.seed, kind.spec.kind == "logmel"),
        validation_data=validation,
        epochs=cfg.epochs,
        callbacks=callbacks,
        verbose=2 if sys.stderr.isatty() else 0,
    )
    seconds = time.time() - t0
    clean = kind.build(kind.spec, n, x_tr, cfg.width)  # no optimizer state in the file
    clean.set_weights(net.get_weights())
    total = hist.epoch[-1] + 1 if hist.epoch else 0
    # EarlyStopping keeps the best epoch's weights (0-based ``best_epoch``) once it has run.
    best = stopping.best_epoch + 1 if validation and hist.epoch else total
    fitted = Fitted(net, clean, len(hist.epoch), total, seconds, len(x_tr), best)
    log(
        f"{kind.name}: trained {fitted.epochs_run} epochs in {seconds:.0f} s "
        f"({fitted.epochs_total} in all)"
    )
    shutil.rmtree(ckpt, ignore_errors=True)  # finished: nothing left to resume
    return fitted


def measure(net: Any, split: Split, feats: dict[str, np.ndarray], genres: list[str]) -> dict:
    """Temperature fitted on validation, then one pass over the test split, pooled per track."""

    def logits(x: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [np.asarray(net.predict_on_batch(x[i : i + 256])) for i in range(0, len(x), 256)]
        )

    def tracks(lg: np.ndarray, idx: np.ndarray, kept: list[Track], t: float):
        """(slice probabilities, pooled track probabilities, each track's true genre)."""
        probs = metrics.softmax(lg / t)
        return (
            probs,
            metrics.pool_tracks(probs, idx),
            np.array([genres.index(k.genre) for k in kept]),
        )

    def scored(lg: np.ndarray, y: np.ndarray, idx: np.ndarray, kept: list[Track], t: float):
        probs, pooled, truth = tracks(lg, idx, kept, t)
        return metrics.report(genres, pooled, truth, probs, y)

    def right(lg: np.ndarray, idx: np.ndarray, kept: list[Track], t: float):
        """(pooled track probabilities, whether each track's top genre is right)."""
        _, pooled, truth = tracks(lg, idx, kept, t)
        return pooled, pooled.argmax(axis=1) == truth

    x_va, y_va, i_va, tr_va = slices_of(split.valid, feats, genres)
    x_te, y_te, i_te, tr_te = slices_of(split.test, feats, genres)
    lv = logits(x_va)
    temperature = metrics.fit_temperature(lv, y_va)
    t0 = time.time()
    lt = logits(x_te)
    seconds = time.time() - t0
    # Abstain where the validation tracks say a confidence is not right often enough, as a
    # head does (``choose_threshold``): a track no genre clearly wins is flagged, not written.
    pv, right_va = right(lv, i_va, tr_va, temperature)
    pt, right_te = right(lt, i_te, tr_te, temperature)
    return {
        "temperature": temperature,
        "inference_seconds": seconds,
        "raw": scored(lt, y_te, i_te, tr_te, 1.0),
        "test": scored(lt, y_te, i_te, tr_te, temperature),
        "valid": scored(lv, y_va, i_va, tr_va, temperature),
        **abstention(pv.max(axis=1), right_va, pt.max(axis=1), right_te),
    }


def card_of(
    kind: ModelKind,
    fitted: Fitted,
    measured: dict,
    split: Split,
    genres: list[str],
    cfg: TrainConfig,
) -> ModelCard:
    """The model card of a training run (data, command and licence are added by the caller)."""
    test, raw = measured["test"], measured["raw"]
    base, base_genre = metrics.majority_baseline(test["confusion"]["matrix"], genres)
    return card_for(
        kind,
        dt.datetime.now(dt.timezone.utc).strftime("%Y.%m.%d.%H%M%S"),
        genres,
        not_default=metrics.no_better_than_baseline(
            test["track_accuracy"], base, base_genre, "test track accuracy"
        ),
        parameters=int(fitted.net.count_params()),
        temperature=round(measured["temperature"], 5),
        threshold=round(measured["threshold"], 5),
        split=split.describe() | {"seed": cfg.seed},
        accuracy={
            "track_accuracy": test["track_accuracy"],
            "slice_accuracy": test["slice_accuracy"],
            "macro_f1": test["macro_f1"],
            "ece_before_calibration": raw["ece"],
            "ece": test["ece"],
            "valid_track_accuracy": measured["valid"]["track_accuracy"],
            "threshold": round(measured["threshold"], 4),
            "target_precision": TARGET_PRECISION,
            "kept_fraction": measured["kept_fraction"],
            "kept_accuracy": measured["kept_accuracy"],
            "baseline_accuracy": round(base, 4),
            "baseline_genre": base_genre,
            "measured_on": "test split, once, after choosing on validation",
        },
        per_genre=test["per_genre"],
        confusion=test["confusion"],
        training={
            "epochs": fitted.epochs_total,
            "epochs_this_run": fitted.epochs_run,
            "max_epochs": cfg.epochs,
            "seconds_this_run": round(fitted.seconds, 1),
            "slices": fitted.slices,
            "slices_per_second": round(
                fitted.slices * fitted.epochs_run / max(fitted.seconds, 1e-9), 1
            ),
            "batch": cfg.batch,
            "learning_rate": cfg.learning_rate,
            "inference_seconds_test": round(measured["inference_seconds"], 2),
        },
        code_version=code_version(),
        date=dt.date.today().isoformat(),
        licence="weights trained by tagger; usable as the training data's licence allows",
    )


@dataclass
class Trained:
    net: Any  # never compiled: saving it writes no optimizer state
    card: ModelCard


def train(job: Job) -> Trained:
    """Train, calibrate and test one model on its split; nothing is installed (see ``install``)."""
    assert_disjoint(job.split)
    fitted = fit(job)
    measured = measure(fitted.net, job.split, job.feats, job.genres)
    return Trained(
        fitted.clean, card_of(job.kind, fitted, measured, job.split, job.genres, job.cfg)
    )


def install(trained: Trained, out_dir: Path) -> Path:
    """Write ``<name>.keras``, the same net as OpenVINO IR, and the card, each atomically.

    The IR (``<name>.xml`` + ``.bin``) lets scans run the net without importing
    TensorFlow (a worker starts in about a second instead of seven) and in
    bfloat16 where the CPU has it; the card's ``openvino`` entry names it and
    the weights it was made from.  Where OpenVINO is missing or the graph
    does not match Keras, the card has no entry and scans use TensorFlow.
    """
    from ..inference import RuntimeUnavailable, convert_checked

    name = trained.card.name
    with output_folder(out_dir, "the model"):
        tmp = out_dir / f".{name}.tmp.keras"
        trained.net.save(tmp)
        keras_file = out_dir / f"{name}.keras"
        os.replace(tmp, keras_file)
        probe = np.random.default_rng(0).standard_normal((8, *trained.net.input_shape[1:]))
        trained.card.details.pop("openvino", None)
        try:
            trained.card.details["openvino"] = convert_checked(
                trained.net, out_dir / f"{name}.xml", [keras_file], probe.astype(np.float32)
            )
        except RuntimeUnavailable:
            pass  # scans run the .keras file on TensorFlow
        write_card(out_dir, trained.card)
    return out_dir / f"{name}.keras"
