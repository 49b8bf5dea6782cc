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


def test_a_well_formed_flacs_blocks_measure_by_contents_what_their_size_fields_say(tmp_path):
    """Contents and size field agree on a file no one damaged, picture included: a miscount
    of the length fields would take every sound FLAC for a damaged one (or walk its comments
    for ever)."""
    path = audio_file(tmp_path, ".flac", True)
    pictured = mutagen.File(path)
    picture = mutagen.flac.Picture()
    picture.mime, picture.desc, picture.data = "image/png", "front", b"\x89PNG" + bytes(300)
    pictured.add_picture(picture)
    pictured.save()
    with open(path, "rb") as f:
        _, _, blocks = vorbis._flac_blocks(f)
    measured = {b.kind: (b.declared, b.contents) for b in blocks if b.contents is not None}
    assert set(measured) == {4, 6}
    assert all(declared == contents for declared, contents in measured.values()), measured
    assert not any(b.overruns for b in blocks)
