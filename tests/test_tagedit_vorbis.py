"""``tagger.tagedit.vorbis``: the GENRE pairs of FLAC, Opus and Ogg Vorbis comments
edited at the byte level."""

from __future__ import annotations

import mutagen
import pytest
from tagedit_rig import audio_file, extensions, round_trip
from tagfuzz import reseal

from tagger.errors import TagError
from tagger.formats import by_extension
from tagger.tagedit import vorbis


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "bare"])
@pytest.mark.parametrize("ext", extensions("vorbis"))
def test_write_changes_only_the_genre_and_restore_gives_back_every_byte(tmp_path, ext, tagged):
    round_trip(vorbis.FAMILY, audio_file(tmp_path, ext, tagged))


@pytest.mark.parametrize("ext", extensions("vorbis"))
def test_a_vendor_string_longer_than_its_block_is_damage_not_a_vendor(tmp_path, ext):
    """A vendor length that runs past the comment block (or packet) is reported as damage, and
    nothing is written: taken as it stood, the whole block would be the vendor string and the
    new genre would land after it, where no reader looks."""
    path = audio_file(tmp_path, ext, True)
    data = bytearray(path.read_bytes())
    at = data.find(mutagen.File(path).tags.vendor.encode("utf-8")) - 4
    assert at > 0
    data[at : at + 4] = (1 << 30).to_bytes(4, "little")
    reseal(data)  # an Ogg page checksum made right again: only the comment packet is damaged
    path.write_bytes(data)
    fmt = by_extension(path)
    with open(path, "r+b") as f:
        with pytest.raises(TagError, match=r"^damaged Vorbis comment block$"):
            vorbis.FAMILY.read(f, fmt)
        with pytest.raises(TagError, match=r"^damaged Vorbis comment block$"):
            vorbis.FAMILY.write(f, fmt, ["Jazz"])
    assert path.read_bytes() == data
