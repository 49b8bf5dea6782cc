"""``tagger.formats``: each format's record, and formats told from content, not the name."""

from __future__ import annotations

import pytest

from tagger.formats import BY_EXTENSION, BY_NAME, FORMATS, sniff_bytes, sniff_format
from tagger.training.synth import synth_track, write_audio


def test_sniff_format_reads_content_not_extension(tmp_path):
    y = synth_track("bells", 1.0, 24000, 0)
    opus = write_audio(tmp_path / "a.opus", y, 24000)
    disguised = tmp_path / "really_opus.ogg"
    disguised.write_bytes(opus.read_bytes())
    assert sniff_format(disguised) == "opus"
    for ext, fmt in [
        (".flac", "flac"),
        (".mp3", "mp3"),
        (".m4a", "m4a"),
        (".wma", "wma"),
        (".wav", "wav"),
        (".aiff", "aiff"),
        (".ogg", "ogg"),
    ]:
        assert sniff_format(write_audio(tmp_path / f"s{ext}", y, 24000)) == fmt
    (tmp_path / "t.mp3").write_text("hello")
    assert sniff_format(tmp_path / "t.mp3") is None


# --- formats -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "head,name",
    [
        (b"fLaC\0\0\0\x22", "flac"),
        (b"OggS\0\x02" + bytes(22) + b"\x13OpusHead", "opus"),
        (b"OggS\0\x02" + bytes(22) + b"\x7fFLAC\x01\x00\x00\x01fLaC", "oggflac"),
        (b"OggS\0\x02" + bytes(22) + b"\x01vorbis", "ogg"),
        (b"RIFF\0\0\0\0WAVEfmt ", "wav"),
        (b"FORM\0\0\0\0AIFC", "aiff"),
        (b"\0\0\0\x20ftypM4A ", "m4a"),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"), "wma"),
        (b".snd\0\0\0\x18", "au"),
        (b"ID3\x04\0", "mp3"),
        (b"\xff\xfb\x90\x64", "mp3"),
        (b"\xff\xf1\x50\x80", "aac"),
    ],
)
def test_formats_are_sniffed_from_their_first_bytes(head, name):
    fmt = sniff_bytes(head)
    assert fmt is not None and fmt.name == name


def test_text_is_no_format():
    assert sniff_bytes(b"this is a text file, not audio\n") is None


def test_every_format_record_is_complete_and_its_extensions_unique():
    seen: set[str] = set()
    for fmt in FORMATS:
        assert not seen & set(fmt.extensions), fmt.name
        seen |= set(fmt.extensions)
        assert "av" in fmt.decoders  # FFmpeg reads every format
        assert (fmt.tag_class is None) == (fmt.genre_key is None) == (fmt.tag_family is None)
        assert all(e.startswith(".") and e == e.lower() for e in fmt.extensions)
    assert BY_EXTENSION[".aif"] is BY_NAME["aiff"] and BY_EXTENSION[".oga"] is BY_NAME["ogg"]
