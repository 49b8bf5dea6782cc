"""Model inputs from decoded windows: one module for training and scanning alike.

A model file names its ``FeatureSpec``; ``extract`` turns a track's windows
into exactly the array that model was trained on.  Because ``tagger retrain``
and ``tagger scan`` both call ``extract`` with the spec stored in the model
card, what a model sees in a scan cannot drift from what it saw in training.

Three kinds of input:

``logmel``   3-second log-mel slices for the ResNet, ``log10(1 + 10000·mel)``.
``summary``  the 57 summary features of the original GTZAN study per 3-second
             slice (chroma, RMS, spectral centroid/bandwidth/rolloff, zero
             crossings, harmonic/percussive, tempo, 20 MFCC means/variances).
``musicnn``  the musicnn front-end's input: 16 kHz, n_fft 512, hop 256,
             96 mel bands, 187 frames, ``log10(1 + 10000·mel)`` in float32.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass

import librosa
import numpy as np

SUMMARY_NAMES: tuple[str, ...] = tuple(
    [f"{n}_{s}" for n in ("chroma_stft", "rms", "spectral_centroid", "spectral_bandwidth",
                          "rolloff", "zero_crossing_rate", "harmony", "perceptr")
     for s in ("mean", "var")]
    + ["tempo"]
    + [f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")]
)
assert len(SUMMARY_NAMES) == 57


@dataclass(frozen=True)
class FeatureSpec:
    """Everything that decides a model's input; stored in each model card."""

    kind: str = "logmel"          # logmel | summary | musicnn
    sr: int = 22050
    slice_seconds: float = 3.0
    n_slices: int = 10            # windows decoded per track in a scan
    n_fft: int = 2048
    hop: int = 512
    n_mels: int = 96
    frames: int | None = None     # crop each slice to this many frames (musicnn: 187)

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
# The MLP is the fast model: a scan computes its features on 3 windows spread over
# the track (training still uses every slice of each clip).
SUMMARY = FeatureSpec("summary", n_slices=3)
# 5 patches per track agree with the all-patches top genre on 91% of real tracks
# (benchmarks/musicnn_patches.py; 10 patches: 98%, at twice the cost).
MUSICNN = FeatureSpec("musicnn", sr=16000, n_slices=5, n_fft=512, hop=256, n_mels=96, frames=187)


def log_compress(mel_power: np.ndarray) -> np.ndarray:
    """``log10(1 + 10000·x)`` computed in float32.

    musicnn's own code rounds the power to float16 first, which overflows to
    infinity on loud frames; doing it in float32 keeps every value finite.
    """
    return np.log10(1.0 + 10000.0 * mel_power.astype(np.float32, copy=False))


def mel_slices(windows: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """(n, samples) windows -> (n, frames, n_mels) compressed mel slices."""
    mel = librosa.feature.melspectrogram(
        y=windows, sr=spec.sr, n_fft=spec.n_fft, hop_length=spec.hop, n_mels=spec.n_mels)
    out = log_compress(np.swapaxes(mel, -1, -2))
    if spec.frames:
        out = out[:, : spec.frames, :]
    return np.ascontiguousarray(out, dtype=np.float32)


def _mean_var(x: np.ndarray) -> list[np.ndarray]:
    """Per-slice mean and variance over every axis but the first."""
    flat = x.reshape(x.shape[0], -1)
    return [flat.mean(axis=1), flat.var(axis=1)]


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int = 128) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)


@functools.lru_cache(maxsize=8)
def _mask_spreader(sr: int, n_fft: int) -> np.ndarray:
    """(bins, mels) weights that spread a mel-band mask back over the STFT bins."""
    basis = _mel_basis(sr, n_fft, HPSS_BANDS)
    return basis.T / np.maximum(basis.sum(axis=0), 1e-10)[:, None]


def spectral_shape(S: np.ndarray, sr: int, n_fft: int, roll_percent: float = 0.85
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth (p = 2) and rolloff of magnitudes (..., bins, frames).

    The same definitions as librosa's (bandwidth over the L1-normalised
    spectrum, rolloff as the lowest bin holding ``roll_percent`` of the
    energy), computed together in a few vectorised passes: 3x faster than the
    three librosa calls, which each re-normalise the spectrum.
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft).astype(S.dtype)[:, None]  # stay float32
    total = S.sum(axis=-2, keepdims=True)
    norm = S / np.maximum(total, np.finfo(np.float32).tiny)
    centroid = (freqs * norm).sum(axis=-2, keepdims=True)
    bandwidth = np.sqrt((norm * (freqs - centroid) ** 2).sum(axis=-2, keepdims=True))
    cumulative = np.cumsum(S, axis=-2)
    idx = np.argmax(cumulative >= roll_percent * cumulative[..., -1:, :], axis=-2)
    rolloff = freqs[idx, 0][..., None, :]
    return centroid, bandwidth, rolloff


HPSS_BANDS = 64


def _hpss_signals(D: np.ndarray, power: np.ndarray, windows: np.ndarray, sr: int, n_fft: int,
                  hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive signals by median-filtering HPSS on the mel spectrogram.

    Median filtering the full 1025-bin STFT costs ~130 ms per 3-second slice,
    more than every other feature together.  The soft masks are computed on a
    64-band mel power instead (16x fewer rows, ~4 ms a slice) and spread back
    over the STFT bins through the mel filterbank; the harmonic part is inverted as in
    ``librosa.effects.hpss``.  The masks sum to one and the Hann-window inverse
    STFT reconstructs the input exactly, so the percussive part is the rest of
    the signal, with no second inverse transform.
    """
    mel = _mel_basis(sr, n_fft, HPSS_BANDS) @ power
    mask_h, _ = librosa.decompose.hpss(mel, kernel_size=17, mask=True)
    lin_h = np.clip(_mask_spreader(sr, n_fft) @ mask_h, 0.0, 1.0)
    harm = librosa.istft(D * lin_h, hop_length=hop, length=windows.shape[-1])
    return harm, windows - harm


def summary_features(windows: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """(n, samples) windows -> (n, 57) summary features, in ``SUMMARY_NAMES`` order.

    One STFT per slice feeds every spectral feature; the harmonic and
    percussive signals come from HPSS of the same STFT.
    """
    D = librosa.stft(windows, n_fft=n_fft, hop_length=hop)
    S = np.abs(D)
    power = S ** 2
    mel = _mel_basis(sr, n_fft) @ power
    harm, perc = _hpss_signals(D, power, windows, sr, n_fft, hop)
    mel_db = librosa.power_to_db(mel)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop)
    # The autocorrelation window defaults to 8 s; a 3-second slice has 3 s to offer,
    # the rest would be padding (and 7x the cost).
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop,
                                  ac_size=min(8.0, windows.shape[-1] / sr)).reshape(len(windows))
    centroid, bandwidth, rolloff = spectral_shape(S, sr, n_fft)
    cols: list[np.ndarray] = []
    for feat in (
        librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0),  # no per-slice tuning estimate
        librosa.feature.rms(S=S, frame_length=n_fft),
        centroid,
        bandwidth,
        rolloff,
        librosa.feature.zero_crossing_rate(windows, frame_length=n_fft, hop_length=hop),
        harm,
        perc,
    ):
        cols += _mean_var(feat)
    cols.append(tempo)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)  # (n, 20, frames)
    for i in range(20):
        cols += _mean_var(mfcc[:, i])
    return np.nan_to_num(np.stack(cols, axis=1)).astype(np.float32)


def extract(windows: list[np.ndarray] | np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """A track's model input: one row per window, as the model named by ``spec`` wants."""
    x = np.asarray(np.stack(windows) if isinstance(windows, list) else windows, dtype=np.float32)
    if spec.kind == "summary":
        return summary_features(x, spec.sr, spec.n_fft, spec.hop)
    if spec.kind in ("logmel", "musicnn"):
        return mel_slices(x, spec)
    raise ValueError(f"unknown feature kind {spec.kind!r}")
