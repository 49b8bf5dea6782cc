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


@pytest.mark.parametrize("version", [3, 4])
def test_a_cover_lyrics_and_a_long_comment_are_frames_in_either_version(tmp_path, version):
    """v2.3 frame sizes are plain integers, v2.4's sync-safe: a frame of 128 bytes or more (a
    cover, lyrics, a long comment) read with the other version's rule runs off the frame list."""
    from mutagen import id3 as mid3

    path = audio_file(tmp_path, ".mp3", tagged=True)
    tags = mid3.ID3(path)
    cover = bytes(range(256)) * 12  # 3,072 bytes: sizes with bytes >= 0x80 in every position
    tags.add(mid3.APIC(encoding=1, mime="image/jpeg", type=3, desc="", data=cover))
    tags.add(mid3.USLT(encoding=1, lang="eng", desc="", text="la " * 200))
    tags.add(mid3.COMM(encoding=1, lang="eng", desc="", text="c" * 300))
    tags.save(path, v2_version=version)
    with open(path, "rb") as f:
        tag = id3.parse(f.read())
    assert tag.version == version and not tag.junk
    assert {b"APIC", b"USLT", b"COMM"} <= set(tag.frame_ids)
    round_trip(id3.FAMILY, path)
