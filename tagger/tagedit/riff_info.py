"""A WAV file's ``LIST``/``INFO`` chunk: the text fields FFmpeg and Windows write there.

FFmpeg writes a WAV file's metadata (``-metadata genre=Jazz``) only there, as
do many rippers and Windows' own property pages; mutagen reads only a WAV
file's ``id3 `` chunk.  So a genre kept there was invisible: such a file
counted as untagged, and a write added an ID3 genre beside the one the file
already had.  This module reads those fields: the field table
(``tagger.tagedit.FIELDS``, its ``info`` column) says which INFO id holds
which field, and the ID3 family reads them where its own chunk has none, so a
file with a genre there has one (kept unless ``--overwrite``).  Writes go to
the ID3 chunk only and never touch the INFO chunk, as they never touch an
MP3's APEv2 tag.

Chunk headers are read and the chunks skipped, never the audio: the walk
costs a few small reads however long the file.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

_MAX_INFO = 1 << 20  # an INFO chunk is text: a larger one is not read (a damaged size field)


def read_info(f: BinaryIO) -> dict[str, str]:
    """The INFO ids (``IGNR``, ``IPRD``, ...) and their texts in the RIFF/WAVE file ``f``; an
    empty dict when it has no INFO list or is not such a file.  Texts are UTF-8 (FFmpeg),
    else Latin-1 (older Windows software), without their terminating NULs."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return {}
    end = 8 + struct.unpack("<I", head[4:8])[0]
    pos = 12
    found: dict[str, str] = {}
    while pos + 8 <= end:
        f.seek(pos)
        chunk = f.read(8)
        if len(chunk) < 8:
            break
        cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"LIST" and 4 <= size <= _MAX_INFO:
            body = f.read(size)
            if body[:4] == b"INFO":
                found.update(_subchunks(body[4:]))
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return found


def _subchunks(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    at = 0
    while at + 8 <= len(body):
        cid, size = body[at : at + 4], struct.unpack("<I", body[at + 4 : at + 8])[0]
        data = body[at + 8 : at + 8 + size]
        text = _text(data.split(b"\0", 1)[0]).strip()
        name = cid.decode("latin-1")
        if text and name.isalnum():
            out.setdefault(name, text)
        at += 8 + size + (size & 1)
    return out


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
