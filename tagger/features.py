"""Model inputs from decoded windows: one module for training and scanning alike.

A model file names its ``FeatureSpec``; ``extract`` turns a track's windows
into exactly the array that model was trained on.  Because ``tagger retrain``
and ``tagger scan`` both call ``extract`` with the spec stored in the model
card, what a model sees in a scan cannot drift from what it saw in training.

Three kinds of input:

``logmel``   3-second log-mel slices for the ResNet, ``log10(1 + 10000·mel)``.
``summary``  the 57 summary features of the original GTZAN study of a 30-second
             stretch (chroma, RMS, spectral centroid/bandwidth/rolloff, zero
             crossings, harmonic/percussive, tempo, 20 MFCC means/variances),
             computed as the published GTZAN feature table computed them.
``musicnn``  the musicnn front-end's input: 16 kHz, n_fft 512, hop 256,
             96 mel bands, 187 frames, ``log10(1 + 10000·mel)`` in float32.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import librosa
import numpy as np

from .paths import cache_dir

SUMMARY_NAMES: tuple[str, ...] = tuple(
    [
        f"{n}_{s}"
        for n in (
            "chroma_stft",
            "rms",
            "spectral_centroid",
            "spectral_bandwidth",
            "rolloff",
            "zero_crossing_rate",
            "harmony",
            "perceptr",
        )
        for s in ("mean", "var")
    ]
    + ["tempo"]
    + [f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")]
)
assert len(SUMMARY_NAMES) == 57


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides a model's input; stored in each model card."""

    kind: str = "logmel"  # logmel | summary | musicnn
    sr: int = 22050
    slice_seconds: float = 3.0
    n_slices: int = 10  # windows decoded per track in a scan
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 96
    frames: int | None = None  # crop each slice to this many frames (musicnn: 187)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FeatureSpec:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def key(self) -> str:
        """A stable string for cache keys: equal specs give equal keys."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "summary":
            return (len(SUMMARY_NAMES),)
        n = int(round(self.slice_seconds * self.sr))
        frames = self.frames or 1 + n // self.hop
        return (frames, self.n_mels)


LOGMEL = FeatureSpec("logmel")
# The MLP reads the published GTZAN table's 57 features, which describe a whole 30-second
# clip: one 30-second stretch of each track (training: each GTZAN clip's first 30 s).
SUMMARY = FeatureSpec("summary", slice_seconds=30.0, n_slices=1)
# 5 patches per track agree with the all-patches top genre on 91% of real tracks
# (benchmarks/musicnn_patches.py; 10 patches: 98%, at twice the cost).
MUSICNN = FeatureSpec("musicnn", sr=16000, n_slices=5, n_fft=512, hop=256, n_mels=96, frames=187)


def log_compress(mel_power: np.ndarray) -> np.ndarray:
    """``log10(1 + 10000·x)`` computed in float32.

    musicnn's own code rounds the power to float16 first, which overflows to
    infinity on loud frames; doing it in float32 keeps every value finite.
    """
    return np.log10(1.0 + 10000.0 * mel_power.astype(np.float32, copy=False))


@functools.lru_cache(maxsize=8)
def _window(n_fft: int) -> np.ndarray:
    """The periodic Hann window librosa's ``stft`` uses (float64, as librosa keeps it)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)


def stft_frames(
    windows: np.ndarray, n_fft: int, hop: int, pad_mode: str = "constant"
) -> np.ndarray:
    """(n, samples) -> (n, frames, 1 + n_fft // 2) complex64 short-time spectra.

    librosa's ``stft`` defaults (centred frames, zero padding, periodic Hann
    window, stored as complex64), frames first; ``pad_mode="reflect"`` mirrors
    the ends instead, librosa's default before 0.10.  The musicnn and ResNet inputs
    need nothing else of librosa, and importing librosa's feature module
    (scipy.signal, numba) costs a fresh worker 2-3 s before its first file.
    Computed in float64 like librosa (in float32, near-silent bins lose enough
    precision to move the log-compressed value by 3e-4), with scipy's FFT: on
    batches of frames several times faster than numpy's.
    """
    import scipy.fft

    edges = [(0, 0)] * (windows.ndim - 1) + [(n_fft // 2, n_fft // 2)]
    padded = np.pad(windows, edges, mode=pad_mode)  # type: ignore[call-overload]
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    return scipy.fft.rfft(frames * _window(n_fft), axis=-1).astype(np.complex64, copy=False)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(
        hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, hz * 3.0 / 200.0
    )


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * 200.0 / 3.0)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sr: int, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangular filters: ``librosa.filters.mel`` defaults
    (Slaney scale and area normalisation, 0 Hz to Nyquist), without importing librosa."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None].astype(np.float32)


def mel_slices(windows: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(n, samples) windows -> (n, frames, n_mels) compressed mel slices."""
    spectra = stft_frames(windows, spec.n_fft, spec.hop)
    if spec.frames:
        spectra = spectra[:, : spec.frames]
    power = spectra.real**2 + spectra.imag**2
    mel = power @ mel_filterbank(spec.sr, spec.n_fft, spec.n_mels).T
    return np.ascontiguousarray(log_compress(mel), dtype=np.float32)


def _mean_var(x: np.ndarray) -> list[np.ndarray]:
    """Per-window mean and variance over every axis but the first."""
    flat = x.reshape(x.shape[0], -1)
    return [flat.mean(axis=1), flat.var(axis=1)]


@functools.lru_cache(maxsize=8)
def _chroma_filterbank(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning)


def spectral_shape(
    S: np.ndarray, sr: int, n_fft: int, roll_percent: float = 0.85
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth (p = 2) and rolloff of magnitudes (..., frames, bins).

    librosa's definitions (bandwidth over the L1-normalised spectrum, rolloff
    as the lowest bin holding ``roll_percent`` of the energy), with the sums
    over bins as one matrix product: the bandwidth is ``sqrt(E[f^2] - E[f]^2)``
    under the normalised spectrum, accumulated in float64 so that the
    subtraction loses nothing a float32 result would keep.  Returns
    (..., frames) arrays.
    """
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    moments = np.stack([np.ones_like(freqs), freqs, freqs**2], axis=1)  # (bins, 3)
    sums = S.astype(np.float64) @ moments  # (..., frames, 3)
    total = np.maximum(sums[..., 0], np.finfo(np.float32).tiny)
    centroid = sums[..., 1] / total
    bandwidth = np.sqrt(np.maximum(sums[..., 2] / total - centroid**2, 0.0))
    cumulative = np.cumsum(S, axis=-1)
    idx = np.argmax(cumulative >= roll_percent * cumulative[..., -1:], axis=-1)
    rolloff = freqs.astype(S.dtype)[idx]
    return centroid.astype(np.float32), bandwidth.astype(np.float32), rolloff


def _running_median_rows(x: np.ndarray, size: int) -> np.ndarray:
    """Median of every ``size``-long window along each row of a 2-D array, edges mirrored.

    One sorted window per row, updated by removing the sample that leaves and
    inserting the one that enters (at most ``size`` moves a step): compiled, about
    7x faster in CPU time than ``scipy.ndimage.median_filter`` on a 30-second
    spectrogram, and the same values (a median is a selection).
    """
    rows, n = x.shape
    h = size // 2
    out = np.empty_like(x)
    win = np.empty(size, x.dtype)
    padded = np.empty(n + 2 * h, x.dtype)
    for r in range(rows):
        for i in range(n + 2 * h):  # "reflect" as scipy.ndimage names it: d c b a | a b c d
            k = (i - h) % (2 * n)
            padded[i] = x[r, k if k < n else 2 * n - 1 - k]
        win[:] = np.sort(padded[:size])
        out[r, 0] = win[h]
        for j in range(1, n):
            old, new = padded[j - 1], padded[j - 1 + size]
            k = np.searchsorted(win, old)
            if new >= old:
                while k + 1 < size and win[k + 1] < new:
                    win[k] = win[k + 1]
                    k += 1
            else:
                while k > 0 and win[k - 1] > new:
                    win[k] = win[k - 1]
                    k -= 1
            win[k] = new
            out[r, j] = win[h]
    return out


def median_filter(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median of odd ``size`` along ``axis`` with mirrored edges:
    ``scipy.ndimage.median_filter``'s ``reflect`` mode, which ``librosa.decompose.hpss``
    uses, and the same values."""
    moved = np.moveaxis(x, axis, -1)
    rows = np.ascontiguousarray(moved).reshape(-1, moved.shape[-1])
    return np.moveaxis(_median_kernel()(rows, size).reshape(moved.shape), -1, axis)


@functools.cache
def _median_kernel():
    """``_running_median_rows`` compiled by numba (which librosa brings), on first use only:
    the musicnn and ResNet workers never import numba.

    The machine code is cached on disk (compiling takes seconds, loading it
    milliseconds), in ``$NUMBA_CACHE_DIR`` where the user set one, else in
    tagger's cache folder: numba's own default is a ``__pycache__`` beside this
    module, which would write into the installed package.  Where neither can be
    written the kernel is compiled in every worker rather than cached there.
    """
    import numba
    import numba.core.config

    config: Any = numba.core.config  # its settings are made from the environment at import
    folder = config.CACHE_DIR or str(cache_dir() / "numba")  # config: $NUMBA_CACHE_DIR
    try:
        os.makedirs(folder, exist_ok=True)
        cached = os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        cached = False
    if not cached:
        return numba.njit(nogil=True)(_running_median_rows)
    saved, config.CACHE_DIR = config.CACHE_DIR, folder  # read once, as the cache is located
    try:
        return numba.njit(cache=True, nogil=True)(_running_median_rows)
    finally:
        config.CACHE_DIR = saved


@functools.lru_cache(maxsize=8)
def _window_sum(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """Overlap-added squared window: what ``istft`` divides by (librosa's ``window_sumsquare``)."""
    sq = np.broadcast_to(_window(n_fft).astype(np.float32) ** 2, (1, n_frames, n_fft))
    return _overlap_add(np.ascontiguousarray(sq), hop)[0]


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """(n, frames, n_fft) -> (n, n_fft + hop * (frames - 1)), for ``hop`` dividing ``n_fft``."""
    n, n_frames, n_fft = frames.shape
    out = np.zeros((n, n_fft + hop * (n_frames - 1)), frames.dtype)
    for k in range(n_fft // hop):  # each hop-long quarter of every frame, all frames at once
        out[:, k * hop : k * hop + n_frames * hop] += frames[:, :, k * hop : (k + 1) * hop].reshape(
            n, -1
        )
    return out


def istft(spectra: np.ndarray, hop: int, length: int) -> np.ndarray:
    """(n, frames, bins) -> (n, length) float32: ``librosa.istft`` (centred, Hann) for hops that
    divide ``n_fft``, with scipy's FFT in float32 and the overlap-add as hop-sized block sums."""
    import scipy.fft

    n_fft = 2 * (spectra.shape[-1] - 1)
    frames = scipy.fft.irfft(spectra, n=n_fft, axis=-1) * _window(n_fft).astype(np.float32)
    y = _overlap_add(frames, hop)
    norm = _window_sum(n_fft, hop, spectra.shape[-2])
    nonzero = norm > np.finfo(np.float32).tiny
    y[:, nonzero] /= norm[nonzero]
    return y[:, n_fft // 2 : n_fft // 2 + length]


def zero_crossing_rate(windows: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """(n, samples) -> (n, frames): ``librosa.feature.zero_crossing_rate`` (centred frames with
    edge padding, |x| <= 1e-10 counts as zero, sign changes between a frame's consecutive
    samples), from one pass over the signal and running sums instead of per-frame copies."""
    y = np.pad(windows, [(0, 0), (frame_length // 2, frame_length // 2)], mode="edge")
    y = np.where(np.abs(y) <= 1e-10, 0.0, y)
    changes = np.signbit(y[:, 1:]) != np.signbit(y[:, :-1])  # between sample j and j + 1
    running = np.concatenate([np.zeros((len(y), 1), np.int64), np.cumsum(changes, axis=1)], axis=1)
    starts = np.arange(0, y.shape[1] - frame_length + 1, hop)
    inside = running[:, starts + frame_length - 1] - running[:, starts]
    return inside / frame_length


def rms(windows: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """(n, samples) -> (n, frames): ``librosa.feature.rms(y=...)``, the root mean square of each
    centred, unwindowed frame, the signal mirrored at its ends (``pad_mode="reflect"``, the
    default when the table was made), from running sums of the squares in float64."""
    half = frame_length // 2
    y = np.pad(windows.astype(np.float64), [(0, 0), (half, half)], mode="reflect")
    running = np.concatenate([np.zeros((len(y), 1)), np.cumsum(y * y, axis=1)], axis=1)
    starts = np.arange(0, y.shape[1] - frame_length + 1, hop)
    power = (running[:, starts + frame_length] - running[:, starts]) / frame_length
    return np.sqrt(np.maximum(power, 0.0))


def power_to_db(power: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """``librosa.power_to_db(ref=1.0, amin=1e-10, top_db=80)`` of each window (axis 0) on its
    own: librosa's floor is 80 dB under the loudest value of the whole array it is given."""
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    loudest = db.reshape(len(db), -1).max(axis=1).reshape((-1,) + (1,) * (db.ndim - 1))
    return np.maximum(db, loudest - top_db)


# librosa.decompose.hpss's defaults, which ``librosa.effects.hpss`` uses.
HPSS_KERNEL = 31


def hpss(D: np.ndarray, windows: np.ndarray, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive signals, (n, samples) each, as the GTZAN table has them.

    ``librosa.effects.hpss`` as it was when the table was made: median filters
    of the magnitude along time and along frequency (31 frames, 31 bins),
    Wiener-like soft masks (power 2; a bin where both filters are zero belongs
    to neither) on the complex STFT ``D`` (frames-first), each part inverted
    *without* a target length (the centred frames give ``hop * (frames - 1)``
    samples) and then zero-padded to the input's length, as
    ``util.fix_length(istft(...), len(y))`` did.  Inverting to the exact length
    instead moves the table's harmonic and percussive means by up to 1% of
    their spread across GTZAN.

    The masks sum to one wherever a filter is non-zero, and the inverse of the
    whole STFT is the input itself, so the percussive part is the input less
    the harmonic one (less the inverse of the rare bins that belong to
    neither): one inverse transform instead of two.
    """
    S = np.abs(D)
    harm = median_filter(S, HPSS_KERNEL, axis=-2)  # along time
    perc = median_filter(S, HPSS_KERNEL, axis=-1)  # along frequency
    harm *= harm
    total = harm + perc * perc
    live = total > 0
    mask_h = np.divide(harm, total, out=np.zeros_like(total), where=live)
    samples = windows.shape[-1]
    inverted = hop * (D.shape[-2] - 1)
    kept = min(inverted, samples)
    harmonic = np.zeros((len(D), samples), np.float32)
    harmonic[:, :kept] = istft(D * mask_h, hop, inverted)[:, :kept]
    percussive = np.zeros_like(harmonic)
    percussive[:, :kept] = windows[:, :kept] - harmonic[:, :kept]
    stray = ~live & (S > 0)
    if stray.any():
        percussive[:, :kept] -= istft(D * stray, hop, inverted)[:, :kept]
    return harmonic, percussive


def summary_features(windows: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """(n, samples) windows -> (n, 57) summary features, in ``SUMMARY_NAMES`` order.

    Each column is what the published GTZAN feature table
    (``features_30_sec.csv``) holds: librosa's function of that name on the
    whole window with its defaults at the time (frames of 2,048 samples, hop
    512, centred and mirrored at the ends), then the mean and variance over
    every frame (for chroma: every frame and pitch class; for
    ``harmony``/``perceptr``: every sample of ``librosa.effects.hpss``'s
    harmonic and percussive signals).  RMS is of the unwindowed frames, chroma
    uses the tuning librosa estimates from the spectrum, tempo is
    ``librosa.beat.beat_track``'s (8-second autocorrelation window).  One
    STFT feeds every spectral feature; ``tests/test_features.py`` holds each
    part to librosa's own function and the whole to the table.
    """
    import scipy.fft

    D = stft_frames(windows, n_fft, hop, pad_mode="reflect")  # (n, frames, bins)
    S = np.abs(D)
    power = S**2
    harm, perc = hpss(D, windows, hop)
    mel_db = power_to_db(power @ mel_filterbank(sr, n_fft).T)  # (n, frames, 128)
    # The table's tempo is ``librosa.beat.beat_track``'s: its onset envelope is the median
    # over mel bands of the rise in dB, not ``onset_strength``'s default mean.
    onset = librosa.onset.onset_strength(
        S=np.swapaxes(mel_db, -1, -2), sr=sr, hop_length=hop, aggregate=np.median
    )
    tempo = librosa.feature.tempo(
        onset_envelope=onset, sr=sr, hop_length=hop, ac_size=min(8.0, windows.shape[-1] / sr)
    ).reshape(len(windows))
    centroid, bandwidth, rolloff = spectral_shape(S, sr, n_fft)
    chroma = np.stack(
        [
            librosa.util.normalize(
                p @ _chroma_filterbank(sr, n_fft, _tuning(p, sr, n_fft)).T, norm=np.inf, axis=-1
            )
            for p in power
        ]
    )
    cols: list[np.ndarray] = []
    for feat in (
        chroma,
        rms(windows, n_fft, hop),
        centroid,
        bandwidth,
        rolloff,
        zero_crossing_rate(windows, n_fft, hop),
        harm,
        perc,
    ):
        cols += _mean_var(feat)
    cols.append(tempo)
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=-1)[..., :20]  # (n, frames, 20)
    for i in range(20):
        cols += _mean_var(mfcc[..., i])
    return np.nan_to_num(np.stack(cols, axis=1)).astype(np.float32)


def _tuning(power: np.ndarray, sr: int, n_fft: int) -> float:
    """librosa's tuning estimate for ``chroma_stft`` from a (frames, bins) power spectrum."""
    return float(librosa.estimate_tuning(S=power.T, sr=sr, n_fft=n_fft, bins_per_octave=12))


def extract(windows: list[np.ndarray] | np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """A track's model input: one row per window, as the model named by ``spec`` wants."""
    x = np.asarray(np.stack(windows) if isinstance(windows, list) else windows, dtype=np.float32)
    if spec.kind == "summary":
        return summary_features(x, spec.sr, spec.n_fft, spec.hop)
    if spec.kind in ("logmel", "musicnn"):
        return mel_slices(x, spec)
    raise ValueError(f"unknown feature kind {spec.kind!r}")
