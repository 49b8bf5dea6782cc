"""``tagger.tagedit.mp4``: the ©gen item of an MP4/M4A file's ilst, edited at the byte level."""

from __future__ import annotations

import pytest
from tagedit_rig import audio_file, extensions, round_trip

from tagger.tagedit import mp4


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare"])
@pytest.mark.parametrize("ext", extensions("mp4"))
def test_write_changes_only_the_genre_and_restore_gives_back_every_byte(tmp_path, ext, tagged):
    round_trip(mp4.FAMILY, audio_file(tmp_path, ext, tagged))
