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
    def from_dict(cls, d: dict) -> "FeatureSpec":
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


def _hpss_signals(D: np.ndarray, mel: np.ndarray, mel_basis: np.ndarray,
                  hop: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive signals by median-filtering HPSS on the mel spectrogram.

    Median filtering the full 1025-bin STFT costs ~130 ms per 3-second slice,
    more than every other feature together.  The soft masks are computed on the
    128-band mel power instead (8x fewer rows) and spread back over the STFT
    bins through the mel filterbank, then both parts are inverted as in
    ``librosa.effects.hpss``.
    """
    mask_h, _ = librosa.decompose.hpss(mel, kernel_size=17, mask=True)
    weights = mel_basis.T / np.maximum(mel_basis.sum(axis=0), 1e-10)[:, None]
    lin_h = np.clip(weights @ mask_h, 0.0, 1.0)
    harm = librosa.istft(D * lin_h, hop_length=hop, length=length)
    perc = librosa.istft(D * (1.0 - lin_h), hop_length=hop, length=length)
    return harm, perc


def summary_features(windows: np.ndarray, sr: int, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """(n, samples) windows -> (n, 57) summary features, in ``SUMMARY_NAMES`` order.

    One STFT per slice feeds every spectral feature; the harmonic and
    percussive signals come from HPSS of the same STFT.
    """
    D = librosa.stft(windows, n_fft=n_fft, hop_length=hop)
    S = np.abs(D)
    power = S ** 2
    mel_basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=128)
    mel = mel_basis @ power
    harm, perc = _hpss_signals(D, mel, mel_basis, hop, windows.shape[-1])
    mel_db = librosa.power_to_db(mel)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop)
    tempo = librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop).reshape(len(windows))
    centroid = librosa.feature.spectral_centroid(S=S, sr=sr)
    cols: list[np.ndarray] = []
    for feat in (
        librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0),  # no per-slice tuning estimate
        librosa.feature.rms(S=S, frame_length=n_fft),
        centroid,
        librosa.feature.spectral_bandwidth(S=S, sr=sr, centroid=centroid),
        librosa.feature.spectral_rolloff(S=S, sr=sr),
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
