"""``tagger.tagedit.id3``: the genre frame (TCON) of MP3, WAV and AIFF files' ID3v2 tags
edited at the byte level."""

from __future__ import annotations

import pytest
from tagedit_rig import audio_file, extensions, round_trip

from tagger.tagedit import id3


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare"])
@pytest.mark.parametrize("ext", extensions("id3"))
def test_write_changes_only_the_genre_and_restore_gives_back_every_byte(tmp_path, ext, tagged):
    round_trip(id3.FAMILY, audio_file(tmp_path, ext, tagged))
