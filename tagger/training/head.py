"""Fitting a softmax head on track embeddings, and choosing where it abstains.

Why a linear softmax and not another net: the musicnn embedding (both nets'
penultimate layers, 400 values) already separates styles well; a linear head
has one global optimum (L-BFGS finds it in seconds on 10,000 tracks, with no
epochs, learning rates or early stopping to tune) and needs no TensorFlow, so
re-labelling a whole library from stored embeddings is one matrix product.

Everything here is a pure function of numpy arrays; the head itself, and how
it is saved and used, is ``tagger.models.head``.
"""

from __future__ import annotations

import numpy as np

from tagger.models.head import SoftmaxHead

# Weight decay on the standardised inputs.  Fixed rather than tuned: on real
# soundtracks, held-out accuracy moves by a few points between 1e-3 and 1e-1, best at the low end.
L2 = 1e-3
MAX_ITER = 300


def fit_head(
    x: np.ndarray, y: np.ndarray, genres: list[str], l2: float = L2, max_iter: int = MAX_ITER
) -> SoftmaxHead:
    """Multinomial logistic regression with L2, by L-BFGS on the standardised inputs.

    ``y`` holds class indices into ``genres``.  Temperature and threshold are
    left at 1 and 0: they are chosen on held-out tracks
    (``tagger.training.metrics.fit_temperature``, ``choose_threshold``).
    """
    from scipy.optimize import minimize

    x = np.asarray(x, np.float32)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3  # a constant column (a dead ReLU unit) stays finite
    z = (x - mean) / scale
    n, dim = z.shape
    k = len(genres)
    onehot = np.zeros((n, k), np.float32)
    onehot[np.arange(n), y] = 1.0

    def loss_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        weights = w[: dim * k].reshape(dim, k).astype(np.float32)
        bias = w[dim * k :].astype(np.float32)
        logits = z @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -float((log_p * onehot).sum()) / n + l2 * float((weights**2).sum())
        g = (np.exp(log_p) - onehot) / n
        grad = np.concatenate([(z.T @ g + 2 * l2 * weights).ravel(), g.sum(axis=0)])
        return loss, grad.astype(np.float64)

    res = minimize(
        loss_and_grad,
        np.zeros(dim * k + k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter},
    )
    return SoftmaxHead(
        genres=list(genres),
        mean=mean,
        scale=scale.astype(np.float32),
        weights=res.x[: dim * k].reshape(dim, k).astype(np.float32),
        bias=res.x[dim * k :].astype(np.float32),
    )


def average_heads(heads: list[SoftmaxHead]) -> SoftmaxHead:
    """One linear head whose logits are the mean of ``heads``' logits, exactly.

    Why the shipped head is the fold heads' average and not one more head
    fitted on every track: the temperature and the threshold are measured on
    the fold heads' held-out predictions, so a confidence of the average means
    on a new track what it meant there (heads that disagree on a track give it
    a lower confidence, never a higher one).  A head fitted on all tracks is
    sharper than any head it was measured by, and its threshold would keep
    fewer tracks than the held-out figures promise.

    Each head is ``((x - m) / s) @ W + b``, linear in ``x``; so is their mean:
    ``x @ mean(W / s) + mean(b - (m / s) @ W)``.
    """
    weights = np.mean([h.weights / h.scale[:, None] for h in heads], axis=0)
    bias = np.mean([h.bias - (h.mean / h.scale) @ h.weights for h in heads], axis=0)
    dim = weights.shape[0]
    return SoftmaxHead(
        genres=list(heads[0].genres),
        mean=np.zeros(dim, np.float32),
        scale=np.ones(dim, np.float32),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
    )


# The share of the tracks a model labels that must be right: where it is not, it abstains
# (``choose_threshold``); every trained model and head is calibrated to it.
TARGET_PRECISION = 0.9


def choose_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float = 0.95, min_kept: int = 10
) -> float:
    """The lowest confidence at which the held-out tracks kept are right ``target`` of the time.

    Tracks are sorted by confidence, highest first; the kept set grows while
    its accuracy stays at or above ``target``, and the threshold is the
    confidence of the last track kept.  The first ``min_kept`` tracks are
    always considered together, so that one early mistake on a tiny held-out
    set does not make the head abstain on everything.  1.0 when no such set
    exists (the head then never writes).  When every held-out track can be
    kept, the threshold is still the lowest confidence held out: below it the
    folds showed nothing, and a confidence no held-out track had (a near tie
    between genres, a track like none it learnt) is not vouched for.
    """
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    acc = hits / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(acc >= target)
    ok = ok[ok >= min(min_kept, len(order)) - 1]
    if len(ok) == 0:
        return 1.0
    return float(confidence[order[int(ok[-1])]])


def abstention(
    valid_conf: np.ndarray,
    valid_right: np.ndarray,
    test_conf: np.ndarray,
    test_right: np.ndarray,
    target: float = TARGET_PRECISION,
) -> dict:
    """A trained net's threshold, chosen on its validation tracks, and what it keeps of the test.

    Why a net needs one as a head does: a track no genre clearly wins is then
    flagged uncertain and not written, instead of getting a confident wrong
    genre.  ``*_conf`` are the top-genre probabilities (after the temperature),
    ``*_right`` whether each track's top genre is its true one.
    """
    threshold = choose_threshold(valid_conf, valid_right, target)
    return {"threshold": threshold, **kept_figures(test_conf, test_right, threshold)}


def kept_figures(confidence: np.ndarray, right: np.ndarray, threshold: float) -> dict:
    """The share of tracks at or above ``threshold`` (``kept_fraction``) and the share of
    those whose top genre is right (``kept_accuracy``; None when none is kept)."""
    kept = confidence >= threshold
    return {
        "kept_fraction": round(float(kept.mean()), 4),
        "kept_accuracy": round(float(right[kept].mean()), 4) if kept.any() else None,
    }


def head_figures(
    probs: np.ndarray,
    y: np.ndarray,
    genres: list[str],
    temperature: float,
    threshold: float,
    target: float,
) -> dict:
    """What a head's card records about its held-out tracks (calibrated probabilities)."""
    from .metrics import confusion, ece, per_class

    pred = probs.argmax(axis=1)
    cm = confusion(y, pred, len(genres))
    precision, recall, f1 = per_class(cm)
    return {
        "tracks": int(len(y)),
        "accuracy": round(float((pred == y).mean()), 4),
        "macro_f1": round(float(f1.mean()), 4),
        "ece": round(ece(probs, y), 4),
        "temperature": round(temperature, 4),
        "threshold": round(threshold, 4),
        "threshold_target_precision": target,
        **kept_figures(probs.max(axis=1), pred == y, threshold),
        "per_genre": {
            g: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "count": int(cm[i].sum()),
            }
            for i, g in enumerate(genres)
        },
        "confusion": cm.tolist(),
    }
