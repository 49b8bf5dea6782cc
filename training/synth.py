"""Generated GTZAN-shaped audio, for tests, benchmarks and dry runs of training.

These are NOT music and no model trained on them is a genre model: they exist
so that every part of scanning and training can be exercised without the GTZAN
audio.  Each synthetic "genre" differs from the others in timbre (harmonic
content, noise colour) and rhythm (tempo, onset pattern), so a working
pipeline learns to separate them well above chance and a broken one does not.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# name -> (fundamental Hz, harmonics, tempo BPM, noise share, beat pattern over 8 steps)
RECIPES: dict[str, tuple[float, int, float, float, tuple[int, ...]]] = {
    "drone": (110.0, 8, 60.0, 0.02, (1, 0, 0, 0, 0, 0, 0, 0)),
    "pulse": (220.0, 2, 128.0, 0.05, (1, 0, 1, 0, 1, 0, 1, 0)),
    "noise": (440.0, 1, 90.0, 0.60, (1, 0, 0, 1, 0, 0, 1, 0)),
    "bells": (880.0, 4, 100.0, 0.01, (1, 1, 0, 1, 0, 0, 1, 0)),
}


def synth_track(genre: str, seconds: float = 30.0, sr: int = 22050, seed: int = 0) -> np.ndarray:
    """A mono float32 signal in [-1, 1] for one synthetic genre; varies with ``seed``."""
    f0, harmonics, bpm, noise_share, pattern = RECIPES[genre]
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 *= 2 ** (rng.uniform(-2, 2) / 12)          # a different key per track
    bpm *= rng.uniform(0.92, 1.08)
    tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k
               for k in range(1, harmonics + 1))
    step = 60.0 / bpm / 2
    steps = (t // step).astype(int)
    hits = np.array(pattern)[steps % len(pattern)]
    env = hits * np.exp(-(t % step) * 12.0)
    noise = rng.standard_normal(n)
    y = (1 - noise_share) * tone * (0.3 + 0.7 * env) + noise_share * noise * env
    y = 0.5 * y / (np.abs(y).max() + 1e-9)
    return y.astype(np.float32)


_AV_CODECS = {".m4a": ("aac", "mp4"), ".mp4": ("aac", "mp4"), ".aac": ("aac", "adts"),
              ".wma": ("wmav2", "asf")}
_SF_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
               ".ogg": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"),
               ".mp3": ("MP3", "MPEG_LAYER_III"), ".aiff": ("AIFF", "PCM_16"),
               ".aif": ("AIFF", "PCM_16"), ".au": ("AU", "PCM_16")}


def write_audio(path: str | os.PathLike, y: np.ndarray, sr: int) -> Path:
    """Write ``y`` (mono or (n, channels)) in the format named by the extension.

    libsndfile (soundfile) writes WAV/AIFF/FLAC/Ogg Vorbis/Opus/MP3; PyAV
    (FFmpeg) writes M4A/AAC and WMA.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in _SF_FORMATS:
        import soundfile as sf

        fmt, subtype = _SF_FORMATS[ext]
        if ext == ".opus" and sr not in (8000, 12000, 16000, 24000, 48000):
            import soxr

            y, sr = soxr.resample(y, sr, 48000), 48000
        sf.write(path, y, sr, format=fmt, subtype=subtype)
        return path
    if ext in _AV_CODECS:
        import av

        codec, container_fmt = _AV_CODECS[ext]
        data = y if y.ndim == 2 else y[:, None]
        layout = "mono" if data.shape[1] == 1 else "stereo"
        with av.open(str(path), "w", format=container_fmt) as out:
            stream = out.add_stream(codec, rate=sr, layout=layout)
            stream.bit_rate = 128000  # wmav2 refuses to open without one
            planar = np.ascontiguousarray(data.T.astype(np.float32))
            for i in range(0, planar.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(planar[:, i:i + 1024], format="fltp",
                                                   layout=layout)
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        return path
    raise ValueError(f"cannot write {ext} files")


def make_dataset(root: str | os.PathLike, genres: tuple[str, ...] = tuple(RECIPES),
                 per_genre: int = 10, seconds: float = 30.0, ext: str = ".wav",
                 sr: int = 22050, layout: str = "genres") -> Path:
    """A GTZAN-shaped folder: ``root/genres/<genre>/<genre>.000NN<ext>``.

    ``layout="flat"`` writes ``root/<genre>/...`` instead (the generic layout).
    """
    base = Path(root) / "genres" if layout == "genres" else Path(root)
    for g in genres:
        (base / g).mkdir(parents=True, exist_ok=True)
        for i in range(per_genre):
            seed = sum(map(ord, g)) * 1000 + i
            write_audio(base / g / f"{g}.{i:05d}{ext}", synth_track(g, seconds, sr, seed), sr)
    return base
