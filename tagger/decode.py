"""Decode only the part of a track a model needs, as mono float32 at a fixed rate.

A model looks at a handful of 3-second windows, so decoding a 10-minute file
whole would waste most of the time and memory of a scan.  ``plan_windows`` (a
pure function) picks where the windows lie; ``decode`` seeks to each of them
with the decoders the format's record names (``tagger.formats``): libsndfile
(soundfile) seeks sample-accurately in WAV/AIFF/FLAC/Ogg Vorbis/MP3, PyAV
(FFmpeg) decodes Opus in half libsndfile's time and reads everything else.
Either way the channels are mixed to mono by their mean and the windows
resampled by soxr here, so a track reaches the model the same whichever
library read it (a decode from the start, the fallback, streams through
FFmpeg's resampler instead: the same level and music, ``tests/test_decode.py``).

Only what decodes is used, never what a header promises.  The end of the
audio is found by reading just before the end the header gives; a file whose
audio stops earlier, or whose seeks fail, is decoded from the start with PyAV,
skipping packets FFmpeg cannot decode (as the ``ffmpeg`` tool does), and the
windows are planned over the audio that is really there.  No window is ever
filled with zeros.  What comes out has a status: ``ok``; ``truncated`` (less
audio than the header says, classified from what there is); or no genre at
all, raised as a ``DecodeError`` whose status is ``too_short`` (under
``MIN_SECONDS``), ``silent`` (every window under ``SILENCE_DBFS``) or
``error``, each with a one-line reason that is true.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import soundfile as sf
import soxr

from .errors import one_line
from .formats import UNKNOWN_DECODERS, Format, sniff
from .paths import unreachable

STATUSES = ("ok", "truncated", "too_short", "silent", "error")
MIN_SECONDS = 1.0  # less decodable audio than this says nothing about genre
SILENCE_DBFS = -60.0  # a window quieter than this (RMS) is silence
PROBE_SECONDS = 1.0  # read this much before the header's end to find the real one
HEAD_SECONDS = 60.0  # a sequential decode keeps this much, so a short file needs one pass


class DecodeError(Exception):
    """No genre can come from this file; the message is the one-line reason stored.

    ``status`` is ``error`` (no audio decodes), ``too_short`` or ``silent``;
    ``duration`` and ``format`` are filled in when the audio was decoded.
    """

    def __init__(
        self,
        reason: str,
        status: str = "error",
        duration: float | None = None,
        format: str | None = None,
    ):
        super().__init__(reason)
        self.status = status
        self.duration = duration
        self.format = format


@dataclass
class Decoded:
    """The decoded windows of one track and the facts of the stream they came from."""

    windows: list[np.ndarray]
    duration: float  # seconds of audio that decode
    samplerate: int
    channels: int
    format: str
    status: str = "ok"  # or "truncated"
    reason: str | None = None


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


def id3_cut_short(head: bytes, size: int) -> str | None:
    """Why a file of ``size`` bytes starting with ``head`` (its first 10) holds no audio, where
    it ends inside the ID3v2 tag its header declares (a download or copy cut short: the
    decoders only say "invalid data"); None otherwise."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return None
    # The tag's size after its 10-byte header, 7 bits a byte ("synchsafe").
    declared = 10 + sum(b << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
    if head[5] & 0x10:  # a footer follows the tag
        declared += 10
    if size >= declared:
        return None
    return (
        f"truncated: the file ends inside its ID3 tag ({size:,} of the {declared:,} bytes "
        "the tag declares; no audio)"
    )


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Exactly ``n`` samples of real audio: cut, or repeat a short track's audio."""
    if len(x) == 0:
        raise ValueError("an empty window has no audio to repeat")
    if len(x) >= n:
        return x[:n]
    return np.resize(x, n).astype(np.float32, copy=False)


def level_dbfs(x: np.ndarray) -> float:
    """RMS level of a window in dB relative to full scale (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def _to_mono_rate(x: np.ndarray, sr_in: int, sr: int) -> np.ndarray:
    """(samples, channels) or flat audio -> mono float32 at ``sr``, never NaN or inf."""
    if x.ndim == 2 and x.shape[1] > 1 and len(x):
        # One contiguous row per channel: numpy's reductions over a short last
        # axis (``mean(axis=1)``, ``mean(axis=0)`` in float64) cost ~12 ms a
        # track, the row sums and dot products below ~0.3 ms.
        channels = np.ascontiguousarray(x.T, dtype=np.float32)
        mono = channels.sum(axis=0) / np.float32(len(channels))
        # Channels that cancel in the mix (one of them phase-inverted) would make a
        # loud file "silent": take its loudest channel instead.
        power = [float(np.dot(c, c)) for c in channels]
        if float(np.dot(mono, mono)) < 1e-4 * max(power):
            mono = channels[int(np.argmax(power))]
    else:
        mono = x.reshape(-1).astype(np.float32, copy=False)
    if not np.isfinite(mono).all():
        mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
    if sr_in != sr and len(mono):
        mono = soxr.resample(mono, sr_in, sr, quality="HQ").astype(np.float32, copy=False)
    return mono


class _Fallback(Exception):
    """Seeking cannot give the windows (a seek failed, the audio ends early)."""


class _Source(Protocol):
    """An open file that reads mono audio at the target rate from any position."""

    header_duration: float | None
    samplerate: int
    channels: int

    def read(self, start: float, seconds: float) -> np.ndarray:
        """Up to ``seconds`` of audio from ``start``; shorter where the audio ends."""

    def close(self) -> None: ...


class _SoundfileSource:
    def __init__(self, path: str, sr: int):
        self.f = sf.SoundFile(_native(path))
        self.sr = sr
        self.samplerate, self.channels = self.f.samplerate, self.f.channels
        known = self.samplerate and 0 < self.f.frames < 2**62  # 2**63-1: "unknown" (an MP3 stream)
        self.header_duration = self.f.frames / self.samplerate if known else None

    def read(self, start: float, seconds: float) -> np.ndarray:
        self.f.seek(int(start * self.samplerate))
        x = self.f.read(int(round(seconds * self.samplerate)), dtype="float32", always_2d=True)
        return _to_mono_rate(x, self.samplerate, self.sr)

    def close(self) -> None:
        self.f.close()


class _AvSource:
    def __init__(self, path: str, sr: int):
        import av

        self.container = av.open(path, metadata_errors="ignore")
        if not self.container.streams.audio:
            self.container.close()
            raise DecodeError("no audio stream")
        self.stream = self.container.streams.audio[0]
        self.sr = sr
        self.samplerate = self.stream.codec_context.sample_rate or sr
        self.channels = self.stream.codec_context.channels or 1
        self.header_duration = _av_duration(self.container, self.stream)

    def read(self, start: float, seconds: float) -> np.ndarray:
        import av

        # Decoded at the file's own rate and resampled by soxr, as libsndfile's files are.
        rate = self.samplerate
        need = int(round(seconds * rate))
        resampler = _av_resampler(None)
        self.container.seek(int(start * av.time_base), any_frame=False, backward=True)
        parts: list[np.ndarray] = []
        got, skip = 0, None
        for frame in self.container.decode(self.stream):
            if skip is None:
                t0 = (
                    float(frame.pts * frame.time_base)
                    if frame.pts is not None and frame.time_base
                    else start
                )
                skip = max(0, int(round((start - t0) * rate)))
            for out in resampler.resample(frame):
                a = out.to_ndarray().T  # (samples, channels)
                if skip:
                    drop = min(skip, len(a))
                    a, skip = a[drop:], skip - drop
                parts.append(a)
                got += len(a)
            if got >= need:
                break
        if len({a.shape[1] for a in parts}) > 1:  # the layout changed: mix each part alone
            parts = [_to_mono_rate(a, rate, rate)[:, None] for a in parts]
        x = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        return _to_mono_rate(x[:need], rate, self.sr)

    def close(self) -> None:
        self.container.close()


def _av_duration(container, stream) -> float | None:
    import av

    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _native(path: str) -> str | bytes:
    """``path`` as the operating system names it: its bytes on POSIX.

    soundfile encodes a ``str`` path strictly, so a name that is not valid
    UTF-8 (its bytes decoded to lone surrogates by Python) made libsndfile
    refuse the file and the next decoder read it instead: the same audio gave
    another result under another name.  Bytes go to libsndfile as they are.
    PyAV takes such a ``str`` as it is.
    """
    return os.fsencode(path) if os.name == "posix" else path


SOURCES: dict[str, Callable[[str, int], _Source]] = {"soundfile": _SoundfileSource, "av": _AvSource}


def _by_seeking(
    src: _Source, sr: int, n_windows: int, length: float
) -> tuple[list[np.ndarray], float]:
    """The windows and the decodable duration, reading only the windows and the end."""
    header = src.header_duration
    if not header or header <= 0:
        raise _Fallback("the header gives no duration")
    probe = max(0.0, header - PROBE_SECONDS)
    tail = src.read(probe, header - probe)
    if len(tail) == 0:
        raise _Fallback(f"no audio at {probe:.1f} s")
    duration = probe + len(tail) / sr
    slack = int(0.05 * sr)  # resampling and seek granularity
    windows = []
    for start, seconds in plan_windows(duration, n_windows, length):
        w = src.read(start, seconds)
        if len(w) < int(round(seconds * sr)) - slack or len(w) == 0:
            raise _Fallback(f"audio stops inside the window at {start:.1f} s")
        windows.append(w)
    return windows, duration


def _av_chunks(path: str, sr: int) -> Iterator[np.ndarray]:
    """The whole audio stream from its start, mono at ``sr``, skipping undecodable packets."""
    import av

    with av.open(path, metadata_errors="ignore") as container:
        if not container.streams.audio:
            raise DecodeError("no audio stream")
        stream = container.streams.audio[0]
        resampler = _av_resampler(sr)
        for packet in container.demux(stream):
            try:
                frames = stream.decode(packet)
            except av.error.InvalidDataError:
                continue  # a damaged packet: skip it and go on, as ffmpeg does
            for frame in frames:
                for out in resampler.resample(frame):
                    yield _to_mono_rate(out.to_ndarray().T, sr, sr)
        for out in resampler.resample(None):
            yield _to_mono_rate(out.to_ndarray().T, sr, sr)


def _av_resampler(sr: int | None):
    """FFmpeg's resampler to planar float at ``sr`` (None: the file's rate), every channel kept.

    The mix to mono is ``_to_mono_rate``'s, the mean of the channels as for
    libsndfile's files: FFmpeg's own stereo-to-mono mix scales the sum by
    1/sqrt(2), so the same music came out 3 dB louder from M4A than from FLAC.
    """
    import av

    return av.AudioResampler(format="fltp", rate=sr)


def _collect(
    chunks: Iterator[np.ndarray], plan: list[tuple[float, float]], sr: int, keep: int
) -> tuple[list[np.ndarray] | None, int, np.ndarray, bool]:
    """Fill the planned windows from a stream of samples.

    Returns (the windows, or None if the stream ended first; samples read; the
    first ``keep`` samples; whether the stream ended).  Stops as soon as the
    windows are filled.
    """
    spans = [(int(round(s * sr)), int(round((s + d) * sr))) for s, d in plan]
    parts: list[list[np.ndarray]] = [[] for _ in spans]
    head: list[np.ndarray] = []
    pos = 0
    for chunk in chunks:
        a, b = pos, pos + len(chunk)
        if a < keep:
            head.append(chunk[: keep - a])
        for i, (s, e) in enumerate(spans):
            if s < b and e > a:
                parts[i].append(chunk[max(s - a, 0) : e - a])
        pos = b
        if spans and pos >= spans[-1][1]:
            return [_cat(p) for p in parts], pos, _cat(head), False
    filled = bool(spans) and pos >= spans[-1][1]
    return ([_cat(p) for p in parts] if filled else None), pos, _cat(head), True


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _sequential(
    path: str, sr: int, n_windows: int, length: float, header: float | None
) -> tuple[list[np.ndarray], float]:
    """The windows and the decodable duration, decoding from the start (PyAV).

    The windows are first planned over the header's duration and the decode
    stops once they are filled.  If the audio ends sooner, that is the real
    duration: the windows are planned again over it and cut from the kept
    start of the file, or (a long truncated file) read in a second pass.
    """
    keep = int(HEAD_SECONDS * sr)
    plan = plan_windows(header, n_windows, length) if header else []
    windows, pos, head, ended = _collect(_av_chunks(path, sr), plan, sr, keep)
    if not ended:
        return windows or [], header or pos / sr
    duration = pos / sr
    replan = plan_windows(duration, n_windows, length)
    if windows is not None and replan == plan:
        return windows, duration
    if pos <= keep:
        return [head[int(round(s * sr)) : int(round((s + d) * sr))] for s, d in replan], duration
    windows, _, _, _ = _collect(_av_chunks(path, sr), replan, sr, 0)
    if windows is None:
        raise DecodeError("the audio decodes differently on a second pass")
    return windows, duration


def _seconds(x: float) -> str:
    return f"{x:.1f} s" if x < 600 else f"{x / 60:.0f} min"


def _judge(
    windows: list[np.ndarray],
    duration: float,
    header: float | None,
    sr: int,
    n: int,
    fmt: str,
    samplerate: int,
    channels: int,
) -> Decoded:
    """A status for what decoded: too short and silent raise, truncated is flagged."""
    promised = f" of {_seconds(header)}" if header and header - duration > 0.5 else ""
    if (duration <= 0 or not windows) and fmt == "unknown":
        raise DecodeError("not an audio file", format=fmt)
    if duration <= 0 or not windows:
        raise DecodeError(
            f"no audio decodes (the header promises {_seconds(header)})"
            if header and header >= 0.1
            else "no audio decodes",
            format=fmt,
        )
    if duration < MIN_SECONDS:
        of = f"{promised} decodable" if promised else ""
        raise DecodeError(f"too short ({duration:.1f} s{of})", "too_short", duration, fmt)
    loudest = max(level_dbfs(w) for w in windows)
    if loudest < SILENCE_DBFS:
        level = (
            "digital silence" if loudest == float("-inf") else f"loudest window {loudest:.0f} dBFS"
        )
        raise DecodeError(f"silent ({level})", "silent", duration, fmt)
    dec = Decoded([fit_length(w, n) for w in windows], duration, samplerate, channels, fmt)
    if header and header - duration > max(1.0, 0.05 * header):
        dec.status = "truncated"
        dec.reason = f"truncated: {_seconds(duration)}{promised} decodable"
    return dec


def _unless_out_of_memory(exc: Exception) -> None:
    """Re-raise ``exc`` when this process ran out of memory (the worker says so).

    FFmpeg's ENOMEM is not that: PyAV raises it as a ``MemoryError`` too when
    a damaged header asks for what cannot be set up (a 16.8 MHz sample rate),
    which is the file's fault, a decoder's failure like any other.
    """
    import av

    if isinstance(exc, MemoryError) and not isinstance(exc, av.error.FFmpegError):
        raise exc


def translate(exc: BaseException) -> str:
    """libsndfile's and FFmpeg's error texts as what they mean, in one line."""
    import av

    if isinstance(exc, DecodeError):
        return str(exc)
    if isinstance(exc, (EOFError, av.error.EOFError)):
        return "truncated: the file ends inside its header"
    if isinstance(exc, (av.error.DecoderNotFoundError, av.error.PatchWelcomeError)):
        return "unsupported codec (FFmpeg has no decoder for it)"
    if isinstance(exc, av.error.InvalidDataError):
        return "invalid data"
    if isinstance(exc, av.error.MemoryError):
        return "FFmpeg cannot set up decoding for what its header states"
    text = one_line(exc)
    low = text.lower()
    for needle, meaning in (
        ("format not recognised", "not an audio file"),
        ("unknown format", "not an audio file"),
        ("not a regular file", "no audio frames found"),
        ("lost sync", "damaged data (the decoder lost sync)"),
        ("psf_fseek", "seek failed"),
        ("unseekable", "seek failed"),
        ("unsupported", "unsupported encoding"),
        ("unimplemented", "unsupported encoding"),
    ):
        if needle in low:
            return meaning
    # Anything else is a library's or Python's own text, which says nothing to a person.
    return "the decoders reject its data"


_QUIET = threading.Lock()
_quiet_depth = 0
_saved_stderr: int | None = None


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """File descriptor 2 on /dev/null while the decoders run.

    libmpg123 (inside libsndfile) and FFmpeg print their notes on damaged data
    (``Note: Illegal Audio-MPEG-Header 0x... at offset 573.``, ``Trying to
    resync...``) from C, straight to the process's stderr: a scan's terminal or
    log filled with them, beside the progress.  The reason a scan records says
    what matters in one line.  Threads share the descriptor, so the first to
    enter redirects it and the last to leave puts it back.
    """
    global _quiet_depth, _saved_stderr
    with _QUIET:
        if _quiet_depth == 0:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError):  # no stderr at all: nothing to quiet
                saved = None
            if saved is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            _saved_stderr = saved
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _saved_stderr is not None:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = None


def decode(path: str | os.PathLike, sr: int, n_windows: int, length: float) -> Decoded:
    """Decode up to ``n_windows`` windows of ``length`` seconds of ``path`` at ``sr`` Hz.

    Each window has exactly ``round(length * sr)`` samples of the file's own
    audio (a track shorter than a window is repeated, never zero-padded).
    Raises ``DecodeError`` (with its status and a one-line reason) when no
    genre can come from the file.  The decoders' own notes on damaged data
    never reach the terminal (``quiet_native_stderr``).
    """
    with quiet_native_stderr():
        return _decode(os.fspath(path), sr, n_windows, length)


def _decode(path: str, sr: int, n_windows: int, length: float) -> Decoded:
    problem = unreachable(path)
    if problem:
        raise DecodeError(problem)
    try:
        with open(path, "rb") as f:
            head = f.read(10)
            if not head:
                raise DecodeError("empty file (0 bytes)")
            # Said only where nothing decodes: a decoder is the judge of what is audio.
            cut_short = id3_cut_short(head, os.fstat(f.fileno()).st_size)
    except IsADirectoryError:
        raise DecodeError("a folder, not an audio file") from None
    except PermissionError:  # the one place "permission denied" is true: opening is refused
        raise DecodeError("permission denied (the file cannot be opened for reading)") from None
    except OSError as exc:
        raise DecodeError(exc.strerror or one_line(exc)) from None
    fmt: Format | None = sniff(path)
    name = fmt.name if fmt else "unknown"
    n = int(round(length * sr))
    failures: list[str] = []
    header, samplerate, channels = None, 0, 0
    for decoder in fmt.decoders if fmt else UNKNOWN_DECODERS:
        try:
            src = SOURCES[decoder](path, sr)
        except DecodeError:
            raise
        except Exception as exc:  # each library raises its own error types
            _unless_out_of_memory(exc)
            failures.append(translate(exc))
            continue
        try:
            header = header or src.header_duration
            samplerate, channels = samplerate or src.samplerate, channels or src.channels
            windows, duration = _by_seeking(src, sr, n_windows, length)
        except Exception as exc:  # a failed seek, a short window: decode from the start
            _unless_out_of_memory(exc)
            failures.append(translate(exc))
            continue
        finally:
            src.close()
        return _judge(windows, duration, header, sr, n, name, samplerate, channels)
    try:
        windows, duration = _sequential(path, sr, n_windows, length, header)
    except Exception as exc:
        _unless_out_of_memory(exc)
        failures.append(translate(exc))
        raise DecodeError(cut_short or _explain(fmt, failures)) from None
    return _judge(windows, duration, header, sr, n, name, samplerate or sr, channels or 1)


def _explain(fmt: Format | None, failures: list[str]) -> str:
    """The one-line reason when nothing decodes: FFmpeg's view (the last), then libsndfile's."""
    last = failures[-1]
    if last.startswith(("truncated", "unsupported", "no audio")):
        return last
    if fmt is None:
        return "not an audio file"
    return f"damaged {fmt.name} file: no decodable audio ({last})"
