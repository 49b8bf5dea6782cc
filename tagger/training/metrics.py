"""Evaluation metrics and temperature scaling, as pure numpy functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tagger.models import softmax


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Rows: true genre, columns: predicted genre."""
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / cm.sum(axis=1))
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return precision, recall, f1


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(logits / T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.log(p[np.arange(len(labels)), labels] + 1e-12).mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def pool_tracks(slice_probs: np.ndarray, track_index: np.ndarray) -> np.ndarray:
    """Mean slice probabilities per track (tracks numbered 0..T-1 in ``track_index``)."""
    n = int(track_index.max()) + 1
    out = np.zeros((n, slice_probs.shape[1]))
    np.add.at(out, track_index, slice_probs)
    return out / np.bincount(track_index, minlength=n)[:, None]


def report(
    genres: list[str],
    track_probs: np.ndarray,
    track_labels: np.ndarray,
    slice_probs: np.ndarray,
    slice_labels: np.ndarray,
) -> dict:
    """The evaluation figures that model cards and ``tagger evaluate`` print."""
    n = len(genres)
    pred = track_probs.argmax(axis=1)
    cm = confusion(track_labels, pred, n)
    precision, recall, f1 = per_class(cm)
    return {
        "track_accuracy": round(float((pred == track_labels).mean()), 4),
        "slice_accuracy": round(float((slice_probs.argmax(axis=1) == slice_labels).mean()), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "ece": round(ece(track_probs, track_labels), 4),
        "tracks": len(track_labels),
        "slices": len(slice_labels),
        "per_genre": {
            g: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(cm[i].sum()),
            }
            for i, (g, p, r, f) in enumerate(zip(genres, precision, recall, f1))
        },
        "confusion": {"genres": genres, "matrix": cm.tolist()},
    }


def spelt(record: Any, label: Callable[[str], str]) -> Any:
    """A report or card (``report``'s figures, a model card, ``tagger retrain``'s result) with
    its genre names as every command prints them (``label``: ``GenreMap.label``, so GTZAN's
    ``hiphop`` is ``Hip-Hop`` here as in ``ls`` and ``report``): the ``genres`` lists, the
    keys of ``per_genre`` and ``baseline_genre``, at any depth.  The record is not changed."""
    if isinstance(record, list):
        return [spelt(v, label) for v in record]
    if not isinstance(record, dict):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "genres" and isinstance(value, list) and all(isinstance(g, str) for g in value):
            out[key] = [label(g) for g in value]
        elif key == "per_genre" and isinstance(value, dict):
            out[key] = {label(g): spelt(v, label) for g, v in value.items()}
        elif key == "baseline_genre" and isinstance(value, str):
            out[key] = label(value)
        else:
            out[key] = spelt(value, label)
    return out


def majority_baseline(confusion: list[list[int]], genres: list[str]) -> tuple[float, str]:
    """The accuracy of always answering the most common true genre of a confusion matrix (rows:
    true genres), and that genre: what a model must beat to be worth anything."""
    counts = [sum(row) for row in confusion]
    best = max(range(len(counts)), key=counts.__getitem__)
    return counts[best] / max(sum(counts), 1), genres[best]


def no_better_than_baseline(accuracy: float, base: float, genre: str, what: str) -> str | None:
    """Why a trained model must not become the default, where its ``accuracy`` does not beat
    always answering ``genre`` (``base``): it would replace, at the next scan, every result the
    model before it stored.  None where it beats it."""
    if accuracy > base:
        return None
    return f"its {what}, {accuracy:.3f}, is no better than always answering {genre} ({base:.3f})"
