"""``tagger.tagedit.mp4``: the ©gen item of an MP4/M4A file's ilst, edited at the byte level."""

from __future__ import annotations

import pytest
from tagedit_rig import audio_file, extensions, round_trip

from tagger.errors import TagError
from tagger.formats import by_extension
from tagger.tagedit import mp4


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare"])
@pytest.mark.parametrize("ext", extensions("mp4"))
def test_write_changes_only_the_genre_and_restore_gives_back_every_byte(tmp_path, ext, tagged):
    round_trip(mp4.FAMILY, audio_file(tmp_path, ext, tagged))


@pytest.mark.parametrize("value", ["65536", "70000", "32768", "-1", "12.5"])
def test_a_bpm_tmpo_cannot_hold_is_refused_by_the_editor_with_its_cause(tmp_path, value):
    """``tmpo`` is a signed 16-bit integer: a value past 32767 would wrap round (65535 reads
    back as -1) or not fit at all; the editor says so, not that the file is damaged, and
    leaves the file alone."""
    path = audio_file(tmp_path, ".m4a", True)
    original = path.read_bytes()
    with open(path, "r+b") as f, pytest.raises(TagError) as refused:
        mp4.FAMILY.write(f, by_extension(path), [value], field="bpm")
    assert "damaged" not in str(refused.value) and "\n" not in str(refused.value)
    assert f"the bpm value {value if value.isdigit() else repr(value)} is " in str(refused.value)
    assert path.read_bytes() == original
