"""tagger's fast feature code against librosa's own functions, on real and generated audio.

The summary features and spectrograms are computed in fewer passes than
librosa takes (``tagger.features``); each part must give librosa's values
within float tolerance, so that models trained before and after agree.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.ndimage
from tolerance import U32

from tagger import features as F
from tagger.features import MUSICNN, extract
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
    for axis, size in ((-2, (1, 17, 1)), (-1, (1, 1, 17))):
        np.testing.assert_array_equal(
            F.median_filter(mel, 17, axis),
            scipy.ndimage.median_filter(mel, size=size, mode="reflect"),
        )
    masked = d * 0.7
    ref = librosa.istft(np.swapaxes(masked, 1, 2), hop_length=512, length=slices.shape[1])
    # Two float32 inverse FFTs of 2,048 points: each frame off by at most log2(n)·η of its
    # 2-norm, η = μ + γ4·(√2 + μ) ≈ 7·u with twiddles good to μ = u (Higham 2002, Thm 24.2);
    # a frame's 2-norm is at most √2048 times its largest sample, four frames overlap at hop
    # 512, and dividing by the Hann windows' squared sum (1.5) shrinks the gap.
    atol = 2 * 11 * 7 * U32 * np.sqrt(2048) * 4 / 1.5 * np.abs(ref).max()
    np.testing.assert_allclose(F.istft(masked, 512, slices.shape[1]), ref, atol=atol, rtol=0)


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
