"""``tagger ls``: the stored tracks, filtered the way ``beet ls`` users expect.

Reads the database only (no file is opened).  Each track has one status:
``ok``, the decode status a scan recorded (``truncated``, ``too_short``,
``silent``, ``error``; older databases only know ``ok``/``error``), or
``missing`` when the file has vanished since it was scanned.  An ``ok``
track the model abstained on (``uncertain``: its confidence under the model's
threshold, musicnn's top genre under half or a trained head's under the one
chosen on held-out tracks) is ``abstained``: stored, not written unless
``--include-uncertain``.  ``shown_status`` is that one status, the same in the
text, ``--json``, ``--csv``, ``--status`` and ``tagger report``'s counts.

File names are bytes on POSIX and need not be UTF-8.  ``--json`` keeps such a
name exact: ``path`` holds it as Python reads it (each undecodable byte an
escaped lone surrogate, ``\udce9`` for the byte 0xE9), which not every JSON
reader keeps, so ``path_bytes`` holds its exact bytes in base64 as well
(null for every name that is valid UTF-8).
"""

from __future__ import annotations

import base64
import csv
import io
import os
from dataclasses import asdict, dataclass

from .errors import TaggerError
from .genres import GenreMap, canonical, nearest_genres, spelling_key
from .paths import absolute, default_db, is_under, printable
from .store import Store, TrackRow
from .tempo import in_range

# What ``ls`` shows (``shown_status``), each one a ``--status`` filter.
STATUSES = ("ok", "abstained", "truncated", "too_short", "silent", "error", "missing")
HEADER = ("genre", "conf", "status", "bpm", "voice", "path")
COLUMNS = (
    "path",
    "genre",
    "confidence",
    "status",
    "error",
    "model",
    "model_version",
    "tag_genre",
    "written_genre",
    "uncertain",
    "bpm",
    "voice",
)


# What ``ls`` reads of each stored track.
LISTED_COLUMNS = (
    "path",
    "genre",
    "confidence",
    "error",
    "missing",
    "model",
    "model_version",
    "tag_genre",
    "written_genre",
    "status",
    "reason",
    "uncertain",
    "bpm",
    "voice",
)


@dataclass(frozen=True)
class Track:
    """One listed track; ``genre`` is spelled through the user's genre map."""

    path: str
    genre: str | None
    confidence: float | None
    status: str  # ``shown_status``: ``abstained`` for an ``ok`` track the model abstained on
    error: str | None  # the reason of any status but ok
    model: str | None
    model_version: str | None
    tag_genre: str | None
    written_genre: str | None
    # The model abstained (whatever the status): not written unless --include-uncertain.
    uncertain: bool = False
    bpm: float | None = None  # ``tagger.tempo``: None without a steady beat or not heard yet
    voice: str | None = None  # instrumental | vocal | None (unsure)

    def to_dict(self) -> dict:
        return asdict(self) | {"path_bytes": path_bytes(self.path)}


def path_bytes(path: str) -> str | None:
    """The exact bytes of a file name that is not valid UTF-8, in base64; None for the rest."""
    try:
        path.encode("utf-8")
        return None
    except UnicodeEncodeError:
        return base64.b64encode(os.fsencode(path)).decode("ascii")


def status_of(row: TrackRow) -> str:
    """A row's one status (see the module docstring)."""
    if row.missing:
        return "missing"
    if row.status:  # the decode status column, where the database has it
        return str(row.status)
    return "ok" if row.error is None else "error"


def shown_status(row: TrackRow) -> str:
    """The status every read-side output gives a row: ``status_of``, with ``abstained`` for
    an ``ok`` track the model abstained on (see the module docstring)."""
    st = status_of(row)
    return "abstained" if row.uncertain and st == "ok" else st


def roots_of(paths: list | None, stored: list[str] | None = None) -> list[str] | None:
    """Absolute roots of ``paths`` (None: no paths, all tracks).

    With ``stored`` (the database's paths), a path that does not exist and
    holds no stored track is an error, as for ``scan`` and ``write``: a typo
    must not read as an empty library.  A vanished folder whose tracks are
    stored (``missing``) still lists them.
    """
    if not paths:
        return None
    roots = [absolute(p) for p in paths]
    for p, root in zip(paths, roots):
        gone = stored is not None and not os.path.lexists(root)
        if gone and not any(is_under(s, {root}) for s in stored or ()):
            raise TaggerError(f"no such file or folder: {printable(p)}")
    return roots


def matches_genre(genre: str | None, wanted: str, genre_map: GenreMap) -> bool:
    """``--genre`` matches the model's name, the user's spelling, or any synonym of either.

    Spellings compare as retrain compares them (``genres.spelling_key``: case,
    spacing and punctuation aside), so ``dark-electro`` finds ``Dark Electro``.
    """
    if genre is None:
        return False
    want = spelling_key(wanted)
    names = {spelling_key(n) for n in (genre, genre_map.label(genre), genre_map.spell(genre))}
    return want in names or (canonical(wanted) is not None and canonical(wanted) == genre)


def near_genres(db, wanted: str, genre_map: GenreMap | None = None) -> list[str]:
    """The stored genres (as ``ls`` shows them) close to ``wanted``: the hint when none match."""
    gmap = genre_map or GenreMap()
    store = Store(default_db(db), create=False, reading=True)
    try:
        names = {gmap.label(g) for g in store.genres()}
    finally:
        store.close()
    return nearest_genres(wanted, sorted(names))


def list_tracks(
    db=None,
    paths: list | None = None,
    genre: str | None = None,
    below: float | None = None,
    status: str | None = None,
    model: str | None = None,
    genre_map: GenreMap | None = None,
    bpm: tuple[float | None, float | None] | None = None,
    voice: str | None = None,
) -> list[Track]:
    """Tracks under ``paths`` (all when None) that pass every filter given, sorted by path.

    ``bpm``: a range from ``tempo.parse_range``; ``voice``: instrumental or vocal.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(status)
    gmap = genre_map or GenreMap()
    store = Store(default_db(db), create=False, reading=True)
    try:
        rows = store.tracks(columns=LISTED_COLUMNS)
    finally:
        store.close()
    roots = roots_of(paths, [r.path for r in rows])
    out = []
    for r in rows:
        if roots is not None and not is_under(r.path, roots):
            continue
        shown = shown_status(r)
        if status is not None and shown != status:
            continue
        if model is not None and r.model != model:
            continue
        if below is not None and (r.confidence is None or r.confidence >= below):
            continue
        if genre is not None and not matches_genre(r.genre, genre, gmap):
            continue
        if bpm is not None and not in_range(r.bpm, bpm):
            continue
        if voice is not None and r.voice != voice:
            continue
        out.append(
            Track(
                path=r.path,
                genre=gmap.label(r.genre) if r.genre else None,
                confidence=r.confidence,
                status=shown,
                error=r.reason or r.error,
                model=r.model,
                model_version=r.model_version,
                tag_genre=r.tag_genre,
                written_genre=r.written_genre,
                uncertain=bool(r.uncertain),
                bpm=r.bpm,
                voice=r.voice,
            )
        )
    return out


def to_text(tracks: list[Track]) -> str:
    """A header, then one line per track: genre, confidence, status, tempo, voice, path (the
    error after it).

    A track the model abstained on shows ``abstained`` where its status would
    say ``ok``: its genre is stored but not written by default.
    """
    width = max([5] + [len(t.genre or "-") for t in tracks])
    genre, conf, status, bpm, voice, path = HEADER
    lines = [f"{genre:<{width}}  {conf}  {status:<9}  {bpm:>5}  {voice:<12}  {path}"]
    for t in tracks:
        conf = f"{t.confidence:.2f}" if t.confidence is not None else "   -"
        bpm = f"{t.bpm:5.1f}" if t.bpm is not None else "    -"
        line = (
            f"{t.genre or '-':<{width}}  {conf}  {t.status:<9}  {bpm}  {t.voice or '-':<12}  "
            f"{printable(t.path)}"
        )
        if t.error:
            line += f"  ({t.error})"
        lines.append(line)
    return "\n".join(lines)


def to_csv(tracks: list[Track]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for t in tracks:
        w.writerow({**asdict(t), "path": printable(t.path)})
    return buf.getvalue()
