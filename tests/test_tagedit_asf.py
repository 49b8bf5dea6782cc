"""``tagger.tagedit.asf``: the WM/Genre attribute of a WMA file's extended content
edited at the byte level."""

from __future__ import annotations

import pytest
from tagedit_rig import audio_file, extensions, round_trip

from tagger.tagedit import asf


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare"])
@pytest.mark.parametrize("ext", extensions("asf"))
def test_write_changes_only_the_genre_and_restore_gives_back_every_byte(tmp_path, ext, tagged):
    round_trip(asf.FAMILY, audio_file(tmp_path, ext, tagged))
