"""tagger's fast feature code against librosa's own functions, on real and generated audio.

The summary features and spectrograms are computed in fewer passes than
librosa takes (``tagger.features``); each part must give librosa's values
within float tolerance, so that models trained before and after agree.  The
57 summary features as a whole must reproduce the published GTZAN feature
table on the real GTZAN clips in ``../shared/gtzan`` (skipped where absent).
"""

from __future__ import annotations

import csv
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.ndimage
import soundfile as sf
from tolerance import U32

from tagger import features as F
from tagger.decode import decode
from tagger.features import MUSICNN, SUMMARY, SUMMARY_NAMES, extract
from tagger.training.synth import synth_track

SR = 22050


@pytest.fixture(scope="module")
def slices() -> np.ndarray:
    """Three 3-second slices: a tonal, a percussive and a noisy signal, one with silence."""
    ys = [
        synth_track(g, 3.0, SR, seed=i)[: 3 * SR] for i, g in enumerate(("drone", "pulse", "noise"))
    ]
    ys[2][: SR // 2] = 0.0  # a silent start: zero bins, no crossings
    return np.stack(ys).astype(np.float32)


def test_spectrogram_and_filterbank_are_librosas(slices):
    d = F.stft_frames(slices, 2048, 512)
    ref = librosa.stft(slices, n_fft=2048, hop_length=512)
    # Both transform in float64 and round each component to float32 (u of its size): the
    # complex gap is at most 2·√2·u of the largest value; float64's own is 1e-9 of that.
    atol = 2 * np.sqrt(2) * U32 * np.abs(ref).max() * (1 + 1e-6)
    np.testing.assert_allclose(np.swapaxes(d, 1, 2), ref, rtol=0, atol=atol)
    for sr, n_fft, n_mels in ((16000, 512, 96), (SR, 2048, 128), (SR, 2048, 64)):
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
        # float64 filters rounded to float32, tagger's times a float32 norm: three roundings.
        atol = 3 * U32 * np.abs(ref).max()
        np.testing.assert_allclose(F.mel_filterbank(sr, n_fft, n_mels), ref, atol=atol, rtol=0)


def test_summary_parts_are_librosas(slices):
    d = F.stft_frames(slices, 2048, 512)
    S = np.abs(d)
    S_lib = np.swapaxes(S, 1, 2)
    centroid, bandwidth, rolloff = F.spectral_shape(S, SR, 2048)
    # librosa normalises the spectrum in float32: a sum of 1,025 non-negative terms, off by at
    # most 1,025·u of its value (no cancellation), then one division and tagger's float32
    # result: (1,025 + 2)·u relative.  The bandwidth's square is a mean of (f - centroid)² under
    # the same weights, insensitive to the centroid to first order (its derivative there is 0),
    # so the same bound holds for it (and half of it for its root).  A silent frame is 0 in both.
    rtol = (1025 + 2) * U32
    np.testing.assert_allclose(
        centroid, librosa.feature.spectral_centroid(S=S_lib, sr=SR)[:, 0], rtol=rtol, atol=0
    )
    np.testing.assert_allclose(
        bandwidth, librosa.feature.spectral_bandwidth(S=S_lib, sr=SR)[:, 0], rtol=rtol, atol=0
    )
    np.testing.assert_array_equal(rolloff, librosa.feature.spectral_rolloff(S=S_lib, sr=SR)[:, 0])
    np.testing.assert_allclose(
        F.zero_crossing_rate(slices, 2048, 512),
        librosa.feature.zero_crossing_rate(slices, frame_length=2048, hop_length=512)[:, 0],
        atol=1e-12,  # exact: a count of crossings over 2,048 (a power of two)
    )
    mel = np.abs(d[..., :64]) ** 2
    for axis, size in ((-2, (1, 17, 1)), (-1, (1, 1, 17)), (-2, (1, 31, 1)), (-1, (1, 1, 31))):
        np.testing.assert_array_equal(
            F.median_filter(mel, size[axis], axis),
            scipy.ndimage.median_filter(mel, size=size, mode="reflect"),
        )
    np.testing.assert_array_equal(  # fewer samples than the kernel: mirrored again and again
        F.median_filter(mel[:, :5, :3], 31, -2),
        scipy.ndimage.median_filter(mel[:, :5, :3], size=(1, 31, 1), mode="reflect"),
    )
    masked = d * 0.7
    ref = librosa.istft(np.swapaxes(masked, 1, 2), hop_length=512, length=slices.shape[1])
    # Two float32 inverse FFTs of 2,048 points: each frame off by at most log2(n)·η of its
    # 2-norm, η = μ + γ4·(√2 + μ) ≈ 7·u with twiddles good to μ = u (Higham 2002, Thm 24.2);
    # a frame's 2-norm is at most √2048 times its largest sample, four frames overlap at hop
    # 512, and dividing by the Hann windows' squared sum (1.5) shrinks the gap.
    atol = 2 * 11 * 7 * U32 * np.sqrt(2048) * 4 / 1.5 * np.abs(ref).max()
    np.testing.assert_allclose(F.istft(masked, 512, slices.shape[1]), ref, atol=atol, rtol=0)


def test_table_parts_are_librosas_of_the_time(slices):
    """RMS, HPSS and the dB scale as librosa computed them when the GTZAN table was made."""
    ref = librosa.feature.rms(y=slices, pad_mode="reflect")[:, 0]
    # Sums of 2,048 float32 squares: librosa's in float32 (off by 2,048·u of the sum at most),
    # tagger's in float64 (off by far less); a square root halves the relative error.
    np.testing.assert_allclose(F.rms(slices, 2048, 512), ref, rtol=2048 * U32, atol=0)
    d = F.stft_frames(slices, 2048, 512, pad_mode="reflect")
    ref_d = librosa.stft(slices, n_fft=2048, hop_length=512, pad_mode="reflect")
    atol = 2 * np.sqrt(2) * U32 * np.abs(ref_d).max() * (1 + 1e-6)  # as in the first test
    np.testing.assert_allclose(np.swapaxes(d, 1, 2), ref_d, rtol=0, atol=atol)
    harm, perc = F.hpss(d, slices, 512)
    ref_h, ref_p = librosa.decompose.hpss(ref_d)
    for got, part in ((harm, ref_h), (perc, ref_p)):
        # librosa < 0.8: istft without a length, then fix_length to the input's.
        want = librosa.util.fix_length(librosa.istft(part, hop_length=512), size=slices.shape[1])
        # The masked spectra differ by the STFTs' rounding (above) times a mask <= 1, plus the
        # two inverse FFTs' own error (bounded as for ``istft`` in the test before).
        atol = 2 * 11 * 7 * U32 * np.sqrt(2048) * 4 / 1.5 * np.abs(want).max() + atol
        np.testing.assert_allclose(got, want, atol=atol, rtol=0)
        assert np.all(got[:, 512 * (d.shape[1] - 1) :] == 0)  # the zero-padded tail
    mel = (np.abs(d) ** 2) @ F.mel_filterbank(SR, 2048).T
    for one, want in zip(F.power_to_db(mel), mel):  # each window floored on its own
        np.testing.assert_allclose(one, librosa.power_to_db(want), rtol=1e-6, atol=1e-4)


# The published table's rows, and the real clips it describes, where the data is present
# (CI has ../shared beside the clone; development trees link it there).
GTZAN = Path(__file__).resolve().parents[2] / "shared" / "gtzan"
TABLE = GTZAN / "features_30_sec.csv"
DEV = sorted((GTZAN / "dev").glob("*/*.flac")) if TABLE.is_file() else []
# The harmonic and percussive means are centred on zero (|mean| ~ 1e-4 of a signal
# within ±1): a relative tolerance of a number that small would measure rounding, so they
# are held to 1% of their spread across the table instead.
CENTRED = ("harmony_mean", "perceptr_mean")


def _table() -> dict[str, dict[str, float]]:
    with open(TABLE, newline="") as f:
        return {
            r["filename"].rsplit(".", 1)[0]: {k: float(r[k]) for k in SUMMARY_NAMES}
            for r in csv.DictReader(f)
        }


def _dev_params() -> list:
    """Every dev clip; the first of each genre in the quick run, the rest marked slow (each
    clip costs about half a second: HPSS of 30 seconds is the bulk)."""
    seen: set[str] = set()
    params = []
    for path in DEV:
        genre = path.parent.name
        params.append(
            pytest.param(path, id=path.stem, marks=() if genre not in seen else pytest.mark.slow)
        )
        seen.add(genre)
    return params or [pytest.param(None, marks=pytest.mark.skip(reason=f"{TABLE} not present"))]


@pytest.mark.parametrize("clip", _dev_params())
def test_summary_features_reproduce_the_gtzan_table(clip):
    """Each of the 57 columns within 1% of the published table's value for that clip
    (the centred means: 1% of the column's spread; tempo: 2 BPM), computed on the whole
    clip as the table was, decoded by tagger's own decoder."""
    table = _table()
    want = table[clip.stem]
    frames = sf.info(str(clip)).frames  # 22,050 Hz, as GTZAN is: one window, the whole clip
    windows = decode(clip, SR, 1, frames / SR).windows
    assert len(windows) == 1 and len(windows[0]) == frames
    got = dict(zip(SUMMARY_NAMES, F.summary_features(np.stack(windows), SR)[0].tolist()))
    spread = {n: float(np.std([row[n] for row in table.values()])) for n in CENTRED}
    wrong = []
    for name in SUMMARY_NAMES:
        gap = abs(got[name] - want[name])
        limit = 2.0 if name == "tempo" else 0.01 * spread.get(name, abs(want[name]))
        if not gap <= limit:
            wrong.append(f"{name}: {got[name]:.6g}, table {want[name]:.6g}")
    assert not wrong, f"{clip.stem}: " + "; ".join(wrong)


def test_summary_spec_reads_one_30_second_stretch():
    """The MLP's input: one 30-second window of a track, 57 features of it."""
    assert (SUMMARY.slice_seconds, SUMMARY.n_slices, SUMMARY.input_shape()) == (30.0, 1, (57,))
    y = synth_track("pulse", 30.0, SR, seed=3)[: 30 * SR].astype(np.float32)
    x = extract([y], SUMMARY)
    assert x.shape == (1, 57) and np.isfinite(x).all()


@pytest.mark.slow
def test_spectrogram_matches_the_recorded_input(parity):
    """tagger's own feature code still produces the inputs the references were made from."""
    from tagger.training.synth import fixed_signals

    patches = np.concatenate(
        [extract([s.astype(np.float32)], MUSICNN) for s in fixed_signals().values()]
    )
    # The STFT is float64 (negligible); the mel sum of 257 non-negative float32 products is off
    # by at most 257·u of its value (and |X|² by 4·u more), twice over for the recording's own;
    # log10(1 + C·m) turns a relative error r of m into an absolute one under r / ln 10; log10's
    # own rounding adds u of the patch's value.
    atol = 2 * (257 + 4) * U32 / np.log(10) + 2 * U32 * np.abs(parity["patches"]).max()
    np.testing.assert_allclose(patches, parity["patches"], atol=atol, rtol=0)


@pytest.mark.slow
def test_numba_caches_the_median_kernel_outside_the_package(tmp_path):
    """The compiled running median is cached in tagger's cache folder, or in the user's own
    ``$NUMBA_CACHE_DIR``, never in a ``__pycache__`` of the installed package (which may be
    read-only, and is not tagger's to fill)."""
    import os
    import shutil
    import subprocess
    import sys

    package = tmp_path / "site" / "tagger"  # an installed copy of the package
    shutil.copytree(Path(F.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    run = (
        "import numpy as np; from tagger import features; "
        f"assert features.__file__ == {str(package / 'features.py')!r}; "
        "features.median_filter(np.ones((2, 9)), 3, 1)"
    )

    def compiled(env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "TAGGER_HOME")}
        subprocess.run(
            [sys.executable, "-c", run],
            env=base | {"PYTHONPATH": str(package.parent), **env},
            cwd=tmp_path,  # not a checkout: ``-c`` puts the working folder first on the path
            check=True,
            timeout=600,
        )

    def cached(folder: Path) -> list[str]:
        return sorted(p.suffix for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))

    compiled({"XDG_CACHE_HOME": str(tmp_path / "cache")})  # the platform's cache folder
    assert cached(package) == []
    assert cached(tmp_path / "cache" / "tagger" / "numba") == [".nbc", ".nbi"]
    compiled({"TAGGER_HOME": str(tmp_path / "home"), "NUMBA_CACHE_DIR": str(tmp_path / "own")})
    assert cached(package) == [] and not (tmp_path / "home" / "cache" / "numba").exists()
    assert cached(tmp_path / "own") == [".nbc", ".nbi"]
