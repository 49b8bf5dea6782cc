"""Decode only the part of a track a model needs, as mono float32 at a fixed rate.

A model looks at a handful of 3-second windows, so decoding a 10-minute file
whole would waste most of the time and memory of a scan.  ``plan_windows`` (a
pure function) picks where the windows lie; ``decode`` seeks to each of them.
libsndfile (through soundfile) reads WAV/AIFF/FLAC/Ogg/Opus/MP3 and seeks
sample-accurately; PyAV (FFmpeg) reads what libsndfile cannot (M4A/AAC, WMA)
and is the fallback when libsndfile rejects a file it should read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from .errors import one_line
from .formats import UNKNOWN_DECODERS, sniff


class DecodeError(Exception):
    """A file that cannot be decoded; the message is the one-line reason stored in the DB."""


@dataclass
class Decoded:
    """The decoded windows of one track and the facts of the stream they came from."""

    windows: list[np.ndarray]
    duration: float
    samplerate: int
    channels: int
    format: str


def plan_windows(duration: float, n_windows: int, length: float) -> list[tuple[float, float]]:
    """Start and length (seconds) of up to ``n_windows`` windows of ``length`` seconds.

    A track that holds them all back to back (a 30-second GTZAN clip holds ten
    3-second slices) is cut into consecutive windows from its start, so training
    and scanning see the same slices.  A longer track gets its windows spread
    evenly over its middle 80% (intros and fade-outs say little about genre).
    A track shorter than one window gives one window of what there is; the
    caller repeat-pads it.
    """
    if duration <= 0 or n_windows <= 0:
        return []
    if duration < length:
        return [(0.0, duration)]
    fitting = int(duration // length)
    if fitting <= n_windows:
        return [(i * length, length) for i in range(fitting)]
    lo, hi = 0.1 * duration, 0.9 * duration
    if hi - lo < n_windows * length:
        lo = (duration - n_windows * length) / 2
        hi = lo + n_windows * length
    step = (hi - lo - length) / (n_windows - 1) if n_windows > 1 else 0.0
    return [(lo + i * step, length) for i in range(n_windows)]


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Exactly ``n`` samples: cut, or repeat-pad a short window (silence if empty)."""
    if len(x) >= n:
        return x[:n]
    if len(x) == 0:
        return np.zeros(n, dtype=np.float32)
    return np.resize(x, n).astype(np.float32, copy=False)


def _to_mono_rate(x: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    mono = x.mean(axis=1) if x.ndim == 2 else x
    mono = np.nan_to_num(mono.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    if sr_in != sr and len(mono):
        mono = soxr.resample(mono, sr_in, sr, quality="HQ").astype(np.float32, copy=False)
    return mono


def _decode_soundfile(path: str, sr: int, n_windows: int, length: float, fmt: str) -> Decoded:
    with sf.SoundFile(path) as f:
        sr_in, channels, frames = f.samplerate, f.channels, f.frames
        duration = frames / sr_in if sr_in else 0.0
        windows = []
        for start, dur in plan_windows(duration, n_windows, length):
            f.seek(int(start * sr_in))
            x = f.read(int(round(dur * sr_in)), dtype="float32", always_2d=True)
            windows.append(_to_mono_rate(x, sr_in, sr))
    return Decoded(windows, duration, sr_in, channels, fmt)


def _decode_av(path: str, sr: int, n_windows: int, length: float, fmt: str) -> Decoded:
    import av

    with av.open(path, metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise DecodeError("no audio stream")
        stream = container.streams.audio[0]
        if container.duration:
            duration = container.duration / av.time_base
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = n_windows * length  # unknown: read from the start
        channels = stream.codec_context.channels or 1
        sr_in = stream.codec_context.sample_rate or sr
        windows = []
        for start, dur in plan_windows(duration, n_windows, length):
            need = int(round(dur * sr))
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            if start > 0:
                container.seek(int(start * av.time_base), any_frame=False, backward=True)
            parts: list[np.ndarray] = []
            got, skip = 0, None
            for frame in container.decode(stream):
                if skip is None:
                    t0 = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else start
                    skip = max(0, int(round((start - t0) * sr)))
                for out in resampler.resample(frame):
                    a = out.to_ndarray().reshape(-1)
                    if skip:
                        drop = min(skip, len(a))
                        a, skip = a[drop:], skip - drop
                    parts.append(a)
                    got += len(a)
                if got >= need:
                    break
            x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            windows.append(_to_mono_rate(x[:need], sr, sr))
    return Decoded(windows, duration, sr_in, channels, fmt)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    return one_line(exc)


def decode(path: str | os.PathLike, sr: int, n_windows: int, length: float) -> Decoded:
    """Decode up to ``n_windows`` windows of ``length`` seconds of ``path`` at ``sr`` Hz.

    Each returned window has exactly ``round(length * sr)`` samples (short
    tracks are repeat-padded).  Raises ``DecodeError`` with a one-line reason.
    """
    path = os.fspath(path)
    try:
        if os.path.isdir(path):
            raise DecodeError("is a directory, not an audio file")
        if os.path.getsize(path) == 0:
            raise DecodeError("empty file (0 bytes)")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise DecodeError(_reason(exc)) from None
    fmt = sniff(path)
    errors = []
    for backend in fmt.decoders if fmt else UNKNOWN_DECODERS:
        try:
            fn = _decode_soundfile if backend == "soundfile" else _decode_av
            dec = fn(path, sr, n_windows, length, fmt.name if fmt else "unknown")
        except DecodeError:
            raise
        except (MemoryError, KeyboardInterrupt):
            raise
        except Exception as exc:  # each library raises its own error types
            errors.append(_reason(exc))
            continue
        if not dec.windows or dec.duration <= 0:
            errors.append("no audio samples")
            continue
        n = int(round(length * sr))
        dec.windows = [fit_length(w, n) for w in dec.windows]
        return dec
    if fmt is None:
        raise DecodeError(f"not a recognised audio file ({errors[-1]})")
    raise DecodeError(f"cannot decode {fmt.name}: {errors[0]}")
