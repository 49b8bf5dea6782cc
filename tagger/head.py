"""A small softmax classifier on stored track embeddings: fit, calibrate, abstain, save.

Why a linear softmax and not another net: the musicnn embedding (both nets'
penultimate layers, 400 values) already separates styles well; a linear head
has one global optimum (L-BFGS finds it in seconds on 10,000 tracks, with no
epochs, learning rates or early stopping to tune) and needs no TensorFlow, so
re-labelling a whole library from stored embeddings is one matrix product.

Everything here is a pure function of numpy arrays.  A head is saved as an
``.npz`` of plain arrays (loaded with ``allow_pickle=False``: no code in a
model file) beside a JSON card.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .model import softmax

# Weight decay on the standardised inputs.  Fixed rather than tuned: on real
# soundtracks, held-out accuracy moves by a few points between 1e-3 and 1e-1, best at the low end.
L2 = 1e-3
MAX_ITER = 300


@dataclass
class SoftmaxHead:
    """``softmax(((x - mean) / scale) @ weights + bias) / temperature)``."""

    genres: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray     # (dim, classes)
    bias: np.ndarray        # (classes,)
    temperature: float = 1.0
    threshold: float = 0.0  # abstain below this calibrated confidence

    def logits(self, x: np.ndarray) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mean) / self.scale
        return z @ self.weights + self.bias

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings -> (n, classes) calibrated probabilities."""
        return softmax(self.logits(x) / self.temperature)

    def save(self, path: Path) -> None:
        np.savez(path, genres=np.array(self.genres), mean=self.mean, scale=self.scale,
                 weights=self.weights, bias=self.bias,
                 temperature=np.float64(self.temperature), threshold=np.float64(self.threshold))

    @classmethod
    def load(cls, path: Path) -> "SoftmaxHead":
        with np.load(path, allow_pickle=False) as d:
            return cls(genres=[str(g) for g in d["genres"]], mean=d["mean"], scale=d["scale"],
                       weights=d["weights"], bias=d["bias"],
                       temperature=float(d["temperature"]), threshold=float(d["threshold"]))


def fit_head(x: np.ndarray, y: np.ndarray, genres: list[str], l2: float = L2,
             max_iter: int = MAX_ITER) -> SoftmaxHead:
    """Multinomial logistic regression with L2, by L-BFGS on the standardised inputs.

    ``y`` holds class indices into ``genres``.  Temperature and threshold are
    left at 1 and 0: they are chosen on held-out tracks (``tagger.training.metrics.fit_temperature``,
    ``choose_threshold``).
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
        bias = w[dim * k:].astype(np.float32)
        logits = z @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -float((log_p * onehot).sum()) / n + l2 * float((weights ** 2).sum())
        g = (np.exp(log_p) - onehot) / n
        grad = np.concatenate([(z.T @ g + 2 * l2 * weights).ravel(), g.sum(axis=0)])
        return loss, grad.astype(np.float64)

    res = minimize(loss_and_grad, np.zeros(dim * k + k), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})
    return SoftmaxHead(genres=list(genres), mean=mean, scale=scale.astype(np.float32),
                       weights=res.x[: dim * k].reshape(dim, k).astype(np.float32),
                       bias=res.x[dim * k:].astype(np.float32))


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float = 0.95,
                     min_kept: int = 10) -> float:
    """The lowest confidence at which the held-out tracks kept are right at least ``target`` of the time.

    Tracks are sorted by confidence, highest first; the kept set grows while
    its accuracy stays at or above ``target``, and the threshold is the
    confidence of the last track kept.  The first ``min_kept`` tracks are
    always considered together, so that one early mistake on a tiny held-out
    set does not make the head abstain on everything.  0.0 when every track
    can be kept; 1.0 when no such set exists (the head then never writes).
    """
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order])
    acc = hits / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(acc >= target)
    ok = ok[ok >= min(min_kept, len(order)) - 1]
    if len(ok) == 0:
        return 1.0
    last = int(ok[-1])
    if last == len(order) - 1:
        return 0.0
    return float(confidence[order[last]])
