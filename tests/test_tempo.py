"""The tempo estimator on signals whose tempo is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tagger.features import MUSICNN, SUMMARY, extract
from tagger.tempo import NO_PULSE, TOO_SHORT, estimate, in_range, of_track, parse_range

SR = 16000


def clicks(bpm: float, seconds: float = 3.0, offset: float = 0.0, seed: int = 0) -> np.ndarray:
    """Decaying noise bursts every beat over faint noise: a drum machine at ``bpm``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = 0.01 * rng.standard_normal(n)
    burst = rng.standard_normal(400) * np.exp(-np.arange(400) / 80.0)
    t = offset
    while t * SR < n - 400:
        i = int(round(t * SR))
        x[i : i + 400] += burst
        t += 60.0 / bpm
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize("bpm", [72.0, 100.0, 128.0, 174.0])
def test_a_steady_beat_is_found_within_two_percent(bpm):
    windows = [clicks(bpm, offset=0.05 * i, seed=i) for i in range(5)]
    got = estimate(windows, SR).bpm
    assert got is not None
    # The octave is the prior's to choose; the period itself must be right.
    assert min(abs(got * f - bpm) / bpm for f in (1, 2, 0.5)) < 0.02, got


def test_noise_and_silence_have_no_tempo():
    rng = np.random.default_rng(1)
    noise = [(0.1 * rng.standard_normal(3 * SR)).astype(np.float32) for _ in range(5)]
    assert (estimate(noise, SR).bpm, estimate(noise, SR).reason) == (None, NO_PULSE)
    silence = [np.zeros(3 * SR, np.float32)] * 5
    assert estimate(silence, SR).bpm is None
    assert estimate([], SR).bpm is None


def test_the_prior_settles_an_octave_the_audio_leaves_open():
    """Beats at 90 BPM with every other one as loud: 90 and 180 both fit the audio."""
    windows = []
    for i in range(5):
        w = clicks(180.0, offset=0.03 * i, seed=10 + i)
        windows.append(w + clicks(90.0, offset=0.03 * i, seed=20 + i))
    slow = estimate(windows, SR, centre=80.0).bpm
    fast = estimate(windows, SR, centre=200.0).bpm
    assert slow is not None and fast is not None
    assert math.isclose(fast, 2 * slow, rel_tol=0.03), (slow, fast)
    assert abs(slow - 90) / 90 < 0.03


def test_a_scan_hears_the_tempo_in_the_nets_own_mel_slices():
    """musicnn's input (log-compressed mel slices) gives the tempo the windows give."""
    windows = [clicks(100.0, offset=0.05 * i, seed=i) for i in range(5)]
    x = extract(windows, MUSICNN)
    got = of_track(MUSICNN, x, windows, 15.0).bpm
    assert got is not None and min(abs(got * f - 100) / 100 for f in (1, 2, 0.5)) < 0.02, got
    summary = of_track(SUMMARY, np.zeros((5, 57)), windows, 15.0)
    assert summary.bpm == estimate(windows, SUMMARY.sr).bpm


@pytest.mark.parametrize(
    "text, bounds",
    [
        ("120-130", (120.0, 130.0)),
        ("140-", (140.0, None)),
        ("-90", (None, 90.0)),
        ("128", (128.0, 128.0)),
    ],
)
def test_ranges_as_users_type_them(text, bounds):
    assert parse_range(text) == bounds


@pytest.mark.parametrize("text", ["", "-", "fast", "130-120", "1-2-3", "nan-"])
def test_a_range_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        parse_range(text)


def test_no_tempo_is_in_no_range():
    assert in_range(125.0, (120.0, 130.0)) and in_range(140.0, (140.0, None))
    assert not in_range(None, (None, None)) and not in_range(119.9, (120.0, 130.0))


@pytest.mark.slow  # loads musicnn
def test_a_track_shorter_than_two_slow_beats_gets_no_tempo(tmp_path):
    """The decoder repeats a short track to fill a window, and the repetition's period would
    pass for a beat: 1.3 s of a steady 100 BPM "beat" at 60/1.3 = 46 BPM."""
    import soundfile as sf

    from tagger.worker import hear_file

    beat = clicks(100.0, seconds=8.0)
    sf.write(tmp_path / "short.wav", beat[: int(1.3 * SR)], SR)
    sf.write(tmp_path / "long.wav", beat, SR)
    short = hear_file(tmp_path / "short.wav", "musicnn")[2]
    assert (short.bpm, short.reason) == (None, TOO_SHORT)
    long = hear_file(tmp_path / "long.wav", "musicnn")[2].bpm  # the same beat, long enough
    assert long is not None and min(abs(long * f - 100) / 100 for f in (1, 2, 0.5)) < 0.02
