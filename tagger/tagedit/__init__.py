"""One module per tag family, each editing only the genre field of a file at the byte level.

Each module has the same four functions, on a binary file object of the
format ``fmt`` (a ``tagger.formats.Format``):

* ``read(f, fmt) -> Field``: the raw genre field and how it sits in the file
  (the exact frames/pairs/items as hex, their positions, the tag version and
  padding, whether the tag container exists): what the journal keeps;
* ``write(f, fmt, genres, id3v23, sep) -> Field``: replace the genre values,
  keeping every other byte of the tags; returns the field as it was;
* ``restore(f, fmt, field, sep)``: put that field back exactly, removing a tag
  container the write created;
* ``plan(f, fmt) -> str | None``: what a write changes beyond the genre (an
  ID3v2.2 tag becomes v2.3), for ``--dry-run``.

``tagger.tags`` picks the module from the format's tag family and takes care
of the file itself (in place or a renamed copy, symlinks, hard links, owner).
"""

from __future__ import annotations

from typing import Any

Field = dict[str, Any]  # JSON-ready: bytes as hex strings
