"""``tagger.training.data``: a ``<genre>/<files>`` folder read into tracks."""

from __future__ import annotations

import pytest

from tagger.training.data import find_tracks

pytestmark = pytest.mark.slow  # TensorFlow, worker pools or the real CLI: seconds each


def test_known_corrupt_gtzan_file_is_skipped_with_a_warning(tmp_path):
    for name in ("jazz/jazz.00053.wav", "jazz/jazz.00054.wav", "blues/blues.00000.au"):
        (tmp_path / "genres" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "genres" / name).write_bytes(b"x")
    with pytest.warns(UserWarning, match="jazz.00054"):
        tracks = find_tracks(tmp_path)
    assert [t.id for t in tracks] == ["blues/blues.00000", "jazz/jazz.00053"]
    assert {t.genre for t in tracks} == {"blues", "jazz"}
