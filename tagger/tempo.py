"""A track's tempo from what a scan already has, or no tempo when there is no steady beat.

Pure functions, numpy only (a worker never imports librosa's feature modules
for this).  The method is the classic one of Ellis (2007, "Beat tracking by
dynamic programming") and ``librosa.feature.tempo``: an onset-strength
envelope (the half-wave rectified rise of log-mel power from frame to frame),
its autocorrelation, and the lag that maximises autocorrelation times a
log-normal prior on tempo centred at 120 BPM, the tempo listeners prefer when
nothing else is known (Moelants & McKinney 2004), one octave wide (librosa's
``std_bpm``).  What differs is where the envelope comes from:

* **The windows a scan decodes**, not the whole track: each 3-second window's
  envelope is autocorrelated on its own (unbiased, so long lags are not
  penalised for having fewer products) and the windows' autocorrelations are
  averaged.  Nothing is decoded for tempo.
* **The net's own spectrogram**: musicnn and the ResNet take log-compressed
  mel slices, and the envelope is their rise from frame to frame, so the
  tempo costs a scan about a millisecond a track (``benchmarks/tempo.py``).
  The MLP, whose input is summary features, gets its envelope from the
  windows (a small STFT of its own).

The octave prior stays at 120 BPM.  Centring it by musicnn's ``fast``/``slow``
tags (MagnaTagATune's listeners' words) was measured beside it
(``benchmarks/tempo.py``, row "fast/slow prior") and chose the octave no
better on the annotated clips, so the product leaves the tags out of it.

A track without a steady beat gets no tempo, with the reason: the best
periodicity must stand out of what chance gives.  The autocorrelation of an
envelope with no period, at a lag longer than its notes, is about normal with
the variance Bartlett's formula gives; a peak under ``PULSE_SIGMAS`` of those
deviations (a one-sided 3-sigma test: about one aperiodic track in 700 is
given a tempo by chance) is not a beat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .features import FeatureSpec

# What the estimator returns.
MIN_BPM, MAX_BPM = 40.0, 240.0  # the range searched (a 3-second window holds two beats at 40)
PRIOR_BPM = 120.0  # preferred tempo without other evidence (Moelants & McKinney 2004; librosa)
PRIOR_OCTAVES = 1.0  # the prior's standard deviation in octaves (librosa's ``std_bpm``)
PULSE_SIGMAS = 3.0  # a beat's periodicity must stand this many chance deviations out
FRAME_RATE = 100.0  # onset envelope frames per second (10 ms: under 1% of a 120 BPM period)
N_BANDS = 40  # mel bands of the onset envelope
TOP_DB = 80.0  # the log-mel floor below each window's loudest bin (librosa's power_to_db)

NO_PULSE = "no steady beat"
TOO_SHORT = "too short for a tempo"
# A tempo needs this much real audio: two beats of the slowest tempo searched.  A track
# shorter than a window is repeated to fill it, and the repetition's period would pass for
# a beat (1.3 s of audio looped "beats" at 47 BPM).
MIN_AUDIO_SECONDS = 2 * 60.0 / MIN_BPM


@dataclass(frozen=True)
class Tempo:
    """A track's tempo: ``bpm`` (one decimal), or None with the ``reason`` there is none."""

    bpm: float | None
    reason: str | None = None
    pulse: float = 0.0  # the strongest periodicity, in deviations of an aperiodic envelope


def _mel_bank(sr: int, n_fft: int) -> np.ndarray:
    from .features import mel_filterbank

    return mel_filterbank(sr, n_fft, N_BANDS)


def onset_envelopes(windows: Sequence[np.ndarray] | np.ndarray, sr: int) -> np.ndarray:
    """(n, samples) windows -> (n, frames) onset strength at ``FRAME_RATE`` frames a second.

    The mean over mel bands of the rise of log-mel power from one frame to the
    next (librosa's ``onset_strength`` with lag 1), per window.
    """
    from .features import stft_frames

    x = np.asarray(np.stack(list(windows)) if not isinstance(windows, np.ndarray) else windows)
    hop = max(1, round(sr / FRAME_RATE))
    n_fft = 1 << max(8, math.ceil(math.log2(4 * hop)))  # about 40 ms: a note's attack
    spectra = stft_frames(x.astype(np.float32, copy=False), n_fft, hop)
    power = spectra.real**2 + spectra.imag**2
    mel = power @ _mel_bank(sr, n_fft).T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - TOP_DB)
    flux = np.maximum(0.0, np.diff(db, axis=1))
    return flux.mean(axis=2)


def mel_envelopes(logmel: np.ndarray) -> np.ndarray:
    """(n, frames, bands) log-compressed mel slices -> (n, frames - 1) onset strength.

    The same rise of log-mel power as ``onset_envelopes``, from the spectrogram a
    musicnn or ResNet scan has already made for its net (``features.mel_slices``:
    ``log10(1 + 10000·power)``, which floors quiet bins as a dB floor would), so
    the tempo costs a scan next to nothing.
    """
    return np.maximum(0.0, np.diff(logmel.astype(np.float32, copy=False), axis=1)).mean(axis=2)


def autocorrelation(envelopes: np.ndarray) -> tuple[np.ndarray, int]:
    """Mean over windows of each envelope's unbiased, normalised autocorrelation.

    Returns (r, frames): ``r[k]`` at lag ``k`` frames (``r[0]`` = 1), and the
    frames each window gave, from which the chance level 1/√N follows.
    """
    env = envelopes - envelopes.mean(axis=1, keepdims=True)
    n = env.shape[1]
    spectrum = np.fft.rfft(env, 2 * n, axis=1)
    r = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n]
    energy = r[:, :1]
    live = energy[:, 0] > 0
    if not live.any():
        return np.zeros(n), n
    r = r[live] / energy[live]
    r = r * n / (n - np.arange(n))  # unbiased: each lag's sum over the products it has
    return r.mean(axis=0), n * int(live.sum())


def chance_deviation(r: np.ndarray, below: int, frames: float) -> float:
    """The standard deviation of an aperiodic envelope's autocorrelation at a long lag.

    Bartlett's formula: an envelope correlated with itself only over short lags
    (a note's attack spans a few frames) has ``(1 + 2·Σ r[j]²) / N`` for
    variance, the sum over the lags ``j < below`` that are shorter than any beat.
    """
    short = r[1:below]
    return math.sqrt((1.0 + 2.0 * float(np.sum(short**2))) / max(frames, 1.0))


def estimate(
    windows: Sequence[np.ndarray] | np.ndarray, sr: int, centre: float = PRIOR_BPM
) -> Tempo:
    """The tempo of a track from its decoded windows (``sr`` samples a second)."""
    if len(windows) == 0:
        return Tempo(None, "no audio")
    hop = max(1, round(sr / FRAME_RATE))
    return from_envelopes(onset_envelopes(windows, sr), sr / hop, centre)


def from_envelopes(envelopes: np.ndarray, frame_rate: float, centre: float = PRIOR_BPM) -> Tempo:
    """The tempo from each window's onset envelope (``frame_rate`` frames a second), the
    octave chosen by a log-normal prior centred at ``centre`` BPM."""
    if envelopes.size == 0:
        return Tempo(None, "no audio")
    r, frames = autocorrelation(envelopes)
    fps = frame_rate
    lags = np.arange(len(r))
    lo = max(1, int(math.floor(60.0 * fps / MAX_BPM)))
    hi = min(len(r) // 2, int(math.ceil(60.0 * fps / MIN_BPM)))  # lags a window holds twice
    if hi <= lo + 2:
        return Tempo(None, TOO_SHORT)
    band = lags[lo : hi + 1]
    bpm = 60.0 * fps / band
    log_prior = -0.5 * (np.log2(bpm / centre) / PRIOR_OCTAVES) ** 2
    strength = np.maximum(r[lo : hi + 1], 0.0)
    score = np.where(strength > 0, np.log(np.maximum(strength, 1e-12)) + log_prior, -np.inf)
    # Only true peaks compete: a lag beside a stronger neighbour is its slope.
    inner = np.r_[
        False, (strength[1:-1] >= strength[:-2]) & (strength[1:-1] >= strength[2:]), False
    ]
    if not inner.any():
        return Tempo(None, NO_PULSE)
    # Whether there is a beat at all is the audio's say alone: the strongest peak in chance
    # deviations (each lag's own, as fewer products make a long lag's value noisier).
    sigma = chance_deviation(r, lo, frames) * np.sqrt(len(r) / (len(r) - band))
    pulse = float(np.max(np.where(inner, strength / sigma, 0.0)))
    if pulse < PULSE_SIGMAS:
        return Tempo(None, NO_PULSE, pulse=pulse)
    best = int(np.argmax(np.where(inner, score, -np.inf)))
    # The peak's lag to a fraction of a frame: a parabola through it and its neighbours.
    y0, y1, y2 = strength[best - 1], strength[best], strength[best + 1]
    denom = y0 - 2 * y1 + y2
    offset = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    lag = band[best] + float(np.clip(offset, -0.5, 0.5))
    return Tempo(round(60.0 * fps / lag, 1), pulse=pulse)


def parse_range(text: str) -> tuple[float | None, float | None]:
    """A tempo range as users type it: ``120-130``, ``140-`` (open end), ``-90`` or ``128``.

    Both ends are included; a ValueError names what is wrong (the CLI's one-line usage error).
    """
    lo_text, dash, hi_text = text.strip().partition("-")
    try:
        lo = float(lo_text) if lo_text.strip() else None
        hi = float(hi_text) if hi_text.strip() else None
    except ValueError:
        raise ValueError(f"{text!r} is not a tempo range (like 120-130, 140- or -90)") from None
    if not dash:
        hi = lo
    if lo is None and hi is None:
        raise ValueError(f"{text!r} is not a tempo range (like 120-130, 140- or -90)")
    if any(v is not None and (not math.isfinite(v) or v < 0) for v in (lo, hi)):
        raise ValueError(f"{text!r}: a tempo is a positive number of beats per minute")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{text!r}: the range's low end is above its high end")
    return lo, hi


def in_range(bpm: float | None, bounds: tuple[float | None, float | None]) -> bool:
    """Whether a stored tempo lies in ``bounds`` (ends included); no tempo is in no range."""
    lo, hi = bounds
    return bpm is not None and (lo is None or bpm >= lo) and (hi is None or bpm <= hi)


def of_track(
    spec: FeatureSpec, model_input: np.ndarray, windows: Sequence[np.ndarray], seconds: float
) -> Tempo:
    """A scanned track's tempo from what the scan already has: the model's mel slices where
    its input is a spectrogram (musicnn, ResNet), else the decoded windows.  ``seconds``: how
    much audio the track decodes to (its windows may repeat a short track's)."""
    if seconds < MIN_AUDIO_SECONDS:
        return Tempo(None, TOO_SHORT)
    if spec.kind in ("musicnn", "logmel") and model_input.ndim == 3:
        return from_envelopes(mel_envelopes(model_input), spec.sr / spec.hop)
    return estimate(windows, spec.sr)
