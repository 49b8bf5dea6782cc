"""The per-file work of a scan: decode -> features -> model, returning results.

This runs inside worker processes (joblib/loky or Dask).  It never touches the
database or the files' tags: it returns one ``TrackResult`` per file, and the
scanning process alone turns results into rows (``Store.put_results``).  The
model is loaded once per worker process (``MODELS``) and applied to all tracks
of a chunk in one batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .clock import now
from .decode import Decoded, DecodeError, decode
from .errors import TaggerError, one_line
from .features import FeatureSpec, extract
from .formats import BY_NAME, sniff_format
from .models import ModelCache, ModelRef, TrackPrediction, fallback_notice, resolve, with_precision
from .paths import absolute
from .payload import audio_fingerprint
from .tags import TagError, read_file_tags
from .tempo import Tempo, of_track
from .voice import voice

Item = tuple[str, int | None, float | None]  # path, size, mtime as the scan saw them
# A file the scan may keep without decoding: the format its fingerprint is read as (None:
# sniffed from its first bytes) and the fingerprints that mean "stored audio" (its own row's:
# only its tags changed; those of stored tracks whose path is gone: it was moved).
Check = tuple[str | None, frozenset[str]]
# The status of a checked file whose fingerprint is one of its check's: not decoded.
KEPT = "kept"

# The models this process has loaded.  A pool sends a worker process chunk after
# chunk as separate calls of ``analyse_files``, so the cache lives as long as the
# process does; each process (scanning process, loky or Dask worker) has its own.
MODELS = ModelCache()


@dataclass
class TrackResult:
    """What analysing one file found: decode facts and a prediction, or the reason there is none.

    One field per fact; the store maps fields to columns in one place.
    """

    path: str
    size: int | None
    mtime: float | None
    model: str
    model_version: str
    # ok | truncated (classified from what decodes) | too_short | silent | error (no genre);
    # ``reason`` is the one-line why of every status but ok.  ``KEPT``: a checked file of
    # stored audio, left undecoded for the scanning process to re-key (never stored as such).
    status: str = "ok"
    reason: str | None = None
    duration: float | None = None
    format: str | None = None
    slices: int | None = None
    tag_genre: str | None = None
    album: str | None = None
    artist: str | None = None
    album_artist: str | None = None
    compilation: bool = False
    # ``tagger.payload.audio_fingerprint``: the analysis is of this audio, whatever the tags.
    audio: str | None = None
    prediction: TrackPrediction | None = None
    # The model whose penultimate layers gave ``prediction.embedding``
    # (``musicnn 0.1.0+tagger1``): stored embeddings are reused only by that model.
    embedder: str | None = None
    # ``tagger.tempo``: beats per minute (one decimal) from the decoded windows, or None with
    # ``bpm_reason`` (no steady beat); ``tagger.voice``: instrumental | vocal | None (unsure).
    bpm: float | None = None
    bpm_reason: str | None = None
    voice: str | None = None
    scanned_at: str = field(default_factory=now)

    @classmethod
    def failed(cls, ref: ModelRef, item: Item, reason: str) -> TrackResult:
        return cls(*item, model=ref.name, model_version=ref.version, status="error", reason=reason)

    def fail(self, reason: str) -> None:
        self.status, self.reason, self.prediction = "error", reason, None
        self.bpm = self.bpm_reason = self.voice = None

    def hear(self, prediction: TrackPrediction, tempo: Tempo) -> None:
        """Take the model's prediction, the tempo of the same windows, and the voice the
        prediction's tags give."""
        self.prediction = prediction
        self.bpm, self.bpm_reason = tempo.bpm, tempo.reason
        self.voice = voice(prediction.tags)

    @property
    def error(self) -> str | None:
        """The reason when nothing could be analysed (status ``error``), else None."""
        return self.reason if self.status == "error" else None


class FileTimeout(BaseException):
    """Raised by the per-file alarm.

    A BaseException, like KeyboardInterrupt: it arrives asynchronously, and
    the decoders' ``except Exception`` fallbacks (try the next backend) must
    not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``FileTimeout`` in this thread after ``seconds`` (main thread only).

    This stops a decoder looping in Python; one stuck inside native code is
    stopped by the scanning process, which kills the worker (see ``pool``).
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise FileTimeout()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def track_input(
    path: str | os.PathLike, spec: FeatureSpec, n_slices: int | None = None
) -> tuple[Decoded, np.ndarray]:
    """A file's decoded windows and the model input ``spec`` makes of them.

    The one place where decoding and feature extraction meet, for scans,
    ``tagger show``, training and the benchmarks alike.  ``n_slices``
    overrides the spec's window count (training reads every slice).
    """
    dec = decode(path, spec.sr, n_slices or spec.n_slices, spec.slice_seconds)
    return dec, extract(dec.windows, spec)


def _decode_one(
    result: TrackResult,
    spec: FeatureSpec,
    timeout: float | None,
    read: tuple[str | None, str | None] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Fill ``result``'s decode facts and status; the model input and the windows it was
    made of, or None when no genre.  ``read``: (format, fingerprint) a check already read,
    used when the decoder found that format rather than read again."""
    x: np.ndarray | None = None
    windows: list[np.ndarray] = []
    try:
        with time_limit(timeout):
            dec, x = track_input(result.path, spec)
    except DecodeError as exc:  # no genre: nothing decodes, too short or silent
        result.status, result.reason = exc.status, str(exc)
        result.format = exc.format
        result.duration = round(exc.duration, 3) if exc.duration is not None else None
    except FileTimeout:
        result.fail(f"timed out after {timeout:g} s")
    except MemoryError:
        result.fail("out of memory while decoding")
    except Exception as exc:  # one bad file must never stop the others
        result.fail(f"{type(exc).__name__}: {one_line(exc)}")
    else:
        result.duration, result.format, result.slices = round(dec.duration, 3), dec.format, len(x)
        windows = dec.windows
        result.status, result.reason = dec.status, dec.reason
    if result.status == "error":
        return None
    fmt, audio = read or (None, None)
    result.audio = audio if audio and fmt == result.format else None
    result.audio = result.audio or fingerprint(result.path, result.format)
    read_tags(result)
    return None if x is None else (x, windows)


def fingerprint(path: str, format: str | None) -> str | None:
    """The file's audio fingerprint; None where its container is too damaged to tell where
    the audio lies (such a file is decoded again whenever its size or mtime changes)."""
    try:
        return audio_fingerprint(path, BY_NAME.get(format or ""))
    except (TagError, OSError):
        return None


def read_tags(result: TrackResult) -> None:
    """Fill the tag fields a scan records from the file's tags as they are now."""
    try:
        tags = read_file_tags(result.path, result.format)
    except TagError:
        return  # an unreadable tag block does not make the audio unusable
    for name, value in tags.columns().items():
        setattr(result, name, value)


def analyse_files(
    ref: ModelRef,
    items: list[Item],
    timeout: float | None = 120.0,
    threads: int | None = None,
    checks: dict[str, Check] | None = None,
) -> list[TrackResult]:
    """One result per (path, size, mtime); failures carry their one-line reason.

    A file with a check is fingerprinted first: when that is stored audio (``Check``) it
    is returned ``KEPT``, undecoded, and the model is loaded only if a file needs it.
    """
    checks = checks or {}
    results = [TrackResult(*item, model=ref.name, model_version=ref.version) for item in items]
    read: dict[str, tuple[str | None, str | None]] = {}
    for r in results:
        if r.path in checks:
            fmt, stored = checks[r.path]
            fmt = fmt or sniff_format(r.path)
            read[r.path] = fmt, fingerprint(r.path, fmt)
            if read[r.path][1] in stored:
                r.status, r.audio = KEPT, read[r.path][1]
    todo = [r for r in results if r.status != KEPT]
    if not todo:
        return results
    model = MODELS.get(ref, threads)
    inputs = [(r, _decode_one(r, model.spec, timeout, read.get(r.path))) for r in todo]
    decoded = [(r, heard) for r, heard in inputs if heard is not None]
    if decoded:
        try:
            preds = model.predict_tracks([x for _, (x, _) in decoded])
        except Exception as exc:
            for r, _ in decoded:
                r.fail(f"model failed: {one_line(exc)}")
        else:
            for (r, (x, windows)), pred in zip(decoded, preds):
                r.hear(
                    model.for_track(pred, r.path, r.album),
                    of_track(model.spec, x, windows, r.duration or 0.0),
                )
                r.embedder = model.embedder if pred.embedding is not None else None
    return results


def predict_file(
    path: str | os.PathLike,
    model: str | None = None,
    precision: str | None = None,
    db: str | os.PathLike | None = None,
) -> tuple[ModelRef, TrackPrediction, str | None]:
    """(model used, prediction, notice) for one file, without the database (``tagger show``);
    ``db``: whose library head ``library`` (or the default) means."""
    ref, prediction, _, notice = hear_file(path, model, precision, db)
    return ref, prediction, notice


def hear_file(
    path: str | os.PathLike,
    model: str | None = None,
    precision: str | None = None,
    db: str | os.PathLike | None = None,
) -> tuple[ModelRef, TrackPrediction, Tempo, str | None]:
    """(model used, prediction, tempo, notice) for one file, without the database (``db``
    says only whose library head ``library``, or the default, means)."""
    if not os.path.isfile(path):
        raise TaggerError(f"no such file: {path}")
    ref, notice = resolve(model, db)
    ref, _, engine_notice = with_precision(ref, precision)
    loaded = MODELS.get(ref)
    # The graph can pass the cheap check and still fail to compile here.
    engine_notice = engine_notice or fallback_notice(ref.name, loaded.fallback)
    notice = "\n".join(n for n in (notice, engine_notice) if n) or None
    try:
        dec, x = track_input(path, loaded.spec)
    except DecodeError as exc:
        raise TaggerError(f"{path}: {exc}") from None
    try:
        album = read_file_tags(os.fspath(path)).album
    except TagError:
        album = None
    pred = loaded.for_track(loaded.predict_tracks([x])[0], absolute(path), album)
    return ref, pred, of_track(loaded.spec, x, dec.windows, dec.duration), notice


def top_k(probabilities: dict[str, float], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` most probable genres, best first."""
    return sorted(probabilities.items(), key=lambda kv: -kv[1])[:k]


def worker_threads(jobs: int) -> int:
    """TensorFlow threads per worker so that all workers together fill the CPUs once."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))
