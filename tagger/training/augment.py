"""Augmentation for training batches, as pure numpy functions of (batch, rng).

Spectrogram slices (ResNet): random resized time crops, time and frequency
masking (SpecAugment), gain changes applied exactly in the compressed domain,
and mixup.  Summary features (MLP): mixup only (they are already averages).
"""

from __future__ import annotations

import numpy as np


def gain(x: np.ndarray, rng: np.random.Generator, db: float = 6.0) -> np.ndarray:
    """Scale the mel power by a random factor per slice: exact for ``log10(1 + 10000·p)``."""
    g = 10 ** (rng.uniform(-db, db, size=(len(x), 1, 1)) / 10)
    return np.log10(1 + g * (np.power(10.0, x) - 1)).astype(np.float32)


def resized_crop(x: np.ndarray, rng: np.random.Generator, min_keep: float = 0.8) -> np.ndarray:
    """Crop 80-100% of each slice's frames at a random offset and stretch back to full length."""
    n, frames = x.shape[0], x.shape[1]
    out = np.empty_like(x)
    for i in range(n):
        keep = int(frames * rng.uniform(min_keep, 1.0))
        start = rng.integers(0, frames - keep + 1)
        idx = start + np.minimum((np.arange(frames) * keep / frames).astype(int), keep - 1)
        out[i] = x[i, idx]
    return out


def mask(
    x: np.ndarray,
    rng: np.random.Generator,
    n_time: int = 2,
    n_freq: int = 2,
    max_time: int = 15,
    max_freq: int = 12,
) -> np.ndarray:
    """SpecAugment: blank random time and frequency stripes with the slice mean."""
    out = x.copy()
    frames, bands = x.shape[1], x.shape[2]
    for i in range(len(x)):
        fill = out[i].mean()
        for _ in range(n_time):
            w = rng.integers(0, max_time + 1)
            s = rng.integers(0, max(1, frames - w))
            out[i, s : s + w, :] = fill
        for _ in range(n_freq):
            w = rng.integers(0, max_freq + 1)
            s = rng.integers(0, max(1, bands - w))
            out[i, :, s : s + w] = fill
    return out


def mixup(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Blend each example with a random partner; labels blend the same way."""
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    perm = rng.permutation(len(x))
    lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    return lx * x + (1 - lx) * x[perm], lam[:, None] * y + (1 - lam[:, None]) * y[perm]


def augment_batch(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, spectrogram: bool
) -> tuple[np.ndarray, np.ndarray]:
    if spectrogram:
        x = mask(resized_crop(gain(x, rng), rng), rng)
    return mixup(x, y, rng)
