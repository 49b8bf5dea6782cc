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

from tagger import features as F
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
    np.testing.assert_allclose(np.swapaxes(d, 1, 2), ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    for sr, n_fft, n_mels in ((16000, 512, 96), (SR, 2048, 128), (SR, 2048, 64)):
        np.testing.assert_allclose(
            F.mel_filterbank(sr, n_fft, n_mels),
            librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels),
            atol=1e-8,
            rtol=0,
        )


def test_summary_parts_are_librosas(slices):
    d = F.stft_frames(slices, 2048, 512)
    S = np.abs(d)
    S_lib = np.swapaxes(S, 1, 2)
    centroid, bandwidth, rolloff = F.spectral_shape(S, SR, 2048)
    np.testing.assert_allclose(
        centroid, librosa.feature.spectral_centroid(S=S_lib, sr=SR)[:, 0], rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(
        bandwidth, librosa.feature.spectral_bandwidth(S=S_lib, sr=SR)[:, 0], rtol=1e-4, atol=1e-2
    )
    np.testing.assert_array_equal(rolloff, librosa.feature.spectral_rolloff(S=S_lib, sr=SR)[:, 0])
    np.testing.assert_allclose(
        F.zero_crossing_rate(slices, 2048, 512),
        librosa.feature.zero_crossing_rate(slices, frame_length=2048, hop_length=512)[:, 0],
        atol=1e-12,
    )
    mel = np.abs(d[..., :64]) ** 2
    for axis, size in ((-2, (1, 17, 1)), (-1, (1, 1, 17))):
        np.testing.assert_array_equal(
            F.median_filter(mel, 17, axis),
            scipy.ndimage.median_filter(mel, size=size, mode="reflect"),
        )
    masked = d * 0.7
    np.testing.assert_allclose(
        F.istft(masked, 512, slices.shape[1]),
        librosa.istft(np.swapaxes(masked, 1, 2), hop_length=512, length=slices.shape[1]),
        atol=1e-6,
    )
