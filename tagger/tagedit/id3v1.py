"""An MP3's ID3v1 genre byte, put back by ``tagger undo`` when another tagger copied tagger's
genre into it.

tagger writes an MP3's genre into its ID3v2 tag only.  Picard (its default
``write_id3v1``), beets and MP3Tag keep an ID3v1 tag that is there in step
with ID3v2 when they save: after ``tagger write`` and such a save, the ID3v1
block at the file's end names tagger's genre too.  Undo puts the ID3v2 field
back; the ID3v1 copy would go on naming tagger's genre (players and mutagen
read it where ID3v2 has none), and the file would still carry tagger's
answer.  So undo also gives the ID3v1 genre byte back, when it names the
genre tagger wrote and nothing else has changed it since.

The block is the last 128 bytes, ``TAG`` then fixed fields, the genre an
index into the ID3v1 genre list (255: none) in its last byte.  One byte is
rewritten in place, after checking the block and the byte it replaces; the
audio before it is never read or written.
"""

from __future__ import annotations

import os

from mutagen.id3 import TCON

from ..errors import TagError

BLOCK = 128
NONE = 255  # "no genre" in ID3v1


def genre_index(path: str) -> int | None:
    """The ID3v1 genre byte of the file, None when it has no ID3v1 block."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < BLOCK:
            return None
        f.seek(size - BLOCK)
        block = f.read(BLOCK)
    return block[-1] if block[:3] == b"TAG" else None


def index_of(genre: str | None) -> int:
    """The ID3v1 index of ``genre`` (case aside), ``NONE`` when the list has no such genre."""
    names = [g.casefold() for g in TCON.GENRES]
    key = (genre or "").casefold()
    return names.index(key) if key in names else NONE


def name_of(index: int) -> str | None:
    """The genre an ID3v1 index names (None: none, or past the list)."""
    return TCON.GENRES[index] if index < len(TCON.GENRES) else None


def set_genre_index(path: str, expected: int, new: int) -> None:
    """Rewrite the genre byte from ``expected`` to ``new`` in place, verified.

    Refused, untouched, when the last 128 bytes are no longer an ID3v1 block
    holding ``expected`` (the file changed since it was read).
    """
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        block = os.pread(fd, BLOCK, size - BLOCK) if size >= BLOCK else b""
        if block[:3] != b"TAG" or block[-1] != expected:
            raise TagError("its ID3v1 tag changed while tagger read it; left as it is")
        os.pwrite(fd, bytes([new]), size - 1)
        os.fsync(fd)
        if os.pread(fd, 1, size - 1) != bytes([new]) or os.fstat(fd).st_size != size:
            raise TagError("its ID3v1 genre did not read back as written")
    finally:
        os.close(fd)
