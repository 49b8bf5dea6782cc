"""``tagger write`` and ``tagger undo``: stored predictions into the files' tags, safely.

Rules, in the order they are applied to each analysed track:

1. the proposal is the top genre, or with ``top > 1`` up to K genres, each
   with probability >= ``min_confidence``; none passing -> *low confidence*,
   not written; a track the model abstained on (a head's confidence under
   the threshold in its card) -> *uncertain*, not written unless
   ``include_uncertain``;
2. a file whose genre already equals the proposal is left alone;
3. a file that already has a genre is left alone unless ``overwrite``;
4. otherwise the old values and the raw genre field (``tags.read_field``:
   the exact frames/pairs/items, their places, the tag version and padding,
   whether the tag existed) are journaled in ``tag_history`` (status
   *pending*), only the genre field is rewritten (``tags.write_genres``), and
   only then is the entry marked *written*, with the field as written, and
   the track's stored size and mtime updated, so the next incremental scan
   does not see a changed file.

With ``album`` (``tagger write --album``) rule 1 reads the album's pooled
scores instead of the track's own (``tagger.albums``: grouping, pooling, and
which albums stay per track); a compilation or an album whose tracks disagree
is written track by track.  Rules 2-4, the journal and undo are the same.

``undo`` puts back, per file, the raw field from before the first write it
has not undone yet (``tags.restore_field``: byte for byte where the format
allows, removing a tag the write created) and marks those entries undone; a
second undo finds nothing to do.  A file whose genre field is no longer what
tagger wrote was changed by something else since: it is left alone, with
that reason, unless ``force``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .albums import AlbumGenre, AlbumTrack, album_genres
from .config import check_fields
from .errors import TaggerError
from .genres import GenreMap
from .paths import absolute, default_db, is_under, printable
from .store import Store, now
from .tags import (
    TagError,
    Temps,
    plan,
    read_field,
    read_genres,
    refusal,
    restore_bytes,
    restore_field,
    same_field,
    write_genres,
)


@dataclass
class WriteOptions:
    overwrite: bool = False
    min_confidence: float = 0.0
    top: int = 1
    id3v23: bool = False
    separator: str = "; "
    dry_run: bool = False
    include_uncertain: bool = False  # also write tracks the model abstained on
    album: bool = False  # one genre per album, pooled from its tracks (``tagger.albums``)
    genre_map: GenreMap = field(default_factory=GenreMap)

    def __post_init__(self) -> None:  # a rule the config file would refuse is refused here too
        check_fields(self, "WriteOptions.")


@dataclass
class WriteSummary:
    considered: int = 0
    written: int = 0
    kept_existing: int = 0
    low_confidence: int = 0
    uncertain: int = 0
    already_set: int = 0
    errors: int = 0
    dry_run: bool = False
    changes: list[dict] = field(default_factory=list)  # path, existing, proposed, action
    error_files: list[dict] = field(default_factory=list)
    # With ``album``: each album holding a selected track (``AlbumGenre.to_dict`` + proposed).
    albums: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def proposal(
    probabilities: dict[str, float],
    top: int = 1,
    min_confidence: float = 0.0,
    genre_map: GenreMap | None = None,
) -> list[str]:
    """Spellings of up to ``top`` genres whose probability passes ``min_confidence``."""
    return (genre_map or GenreMap()).choose(probabilities, top, min_confidence)


def _roots(paths: list | None, known: Iterable[str]) -> set[str] | None:
    """Absolute roots of ``paths``; a path under which the database holds no track is an error.

    ``write /no/such/path`` doing nothing and exiting 0 hides a typo, so it is
    refused the way ``scan`` refuses a missing path.
    """
    if not paths:
        return None
    roots = [absolute(p) for p in paths]
    known = list(known)
    for p, root in zip(paths, roots):
        if any(is_under(k, [root]) for k in known):
            continue
        if not os.path.exists(root):
            raise TaggerError(f"no such file or folder: {printable(p)}")
        raise TaggerError(f"no track in the database under {printable(p)} (scan it first)")
    return set(roots)


def decide(
    existing: list[str], proposed: list[str], overwrite: bool, abstained: bool = False
) -> str:
    """What happens to one file's genre: rules 1-3 of this module, shared with the beets plugin.

    ``abstained``: the model abstained on the track and uncertain tracks are
    not to be written.  Returns ``low confidence``, ``uncertain``, ``already
    set``, ``keep existing`` or ``write``.
    """
    if not proposed:
        return "low confidence"
    if abstained:
        return "uncertain"
    if existing == proposed:
        return "already set"
    if existing and not overwrite:
        return "keep existing"
    return "write"


def _selected(path: str, roots: set[str] | None) -> bool:
    return roots is None or is_under(path, roots)


def _stat_fields(path: str) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime": st.st_mtime}


def write_tags(
    paths: list | None = None,
    db=None,
    options: WriteOptions | None = None,
    scan_id: int | None = None,
    store: Store | None = None,
) -> WriteSummary:
    """Write stored genres into files under ``paths`` (all analysed tracks if None)."""
    opts = options or WriteOptions()
    own = store is None
    store = store or Store(default_db(db), create=False)
    summary = WriteSummary(dry_run=opts.dry_run)
    try:
        roots = _roots(paths, store.known())
        # A dry run changes nothing, so it needs no writer lock: it may run
        # while a scan holds the database.
        with store.writer_lock() if own and not opts.dry_run else contextlib.nullcontext():
            present = store.tracks("missing = 0")
            rows = [
                r
                for r in present
                if r["error"] is None and r["genre"] is not None and _selected(r["path"], roots)
            ]
            albums = _albums(present, rows, opts, summary) if opts.album else {}
            history = store.history
            for row in rows:
                summary.considered += 1
                path = row["path"]
                album = albums.get(path)
                pooled = album.probabilities if album and not album.per_track else None
                probs = (pooled if pooled is not None else row["probabilities"]) or {}
                new = proposal(probs, opts.top, opts.min_confidence, opts.genre_map)
                try:
                    old = read_genres(path, row["format"])
                except TagError as exc:
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": str(exc)})
                    continue
                # The album decides for an abstained track, unless the album is per track.
                abstained = (
                    bool(row.get("uncertain")) and not opts.include_uncertain and pooled is None
                )
                change = {
                    "path": path,
                    "existing": old,
                    "proposed": new,
                    "model_genre": opts.genre_map.spell(row["genre"]),
                    "confidence": row["confidence"],
                    "action": decide(old, new, opts.overwrite, abstained),
                }
                if opts.album:
                    change["album"] = album.key.label if album else None
                if album and pooled is not None and album.genre:
                    change["album_genre"] = opts.genre_map.spell(album.genre)
                    change["album_score"] = round(album.score, 4)
                if change["action"] == "low confidence":
                    summary.low_confidence += 1
                elif change["action"] == "uncertain":
                    summary.uncertain += 1
                elif change["action"] == "already set":
                    summary.already_set += 1
                elif change["action"] == "keep existing":
                    summary.kept_existing += 1
                summary.changes.append(change)
                if change["action"] != "write":
                    continue
                refused = refusal(path, row["format"])  # damaged: not touched, not journaled
                if refused:
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": refused})
                    change["action"] = "error"
                    continue
                try:
                    note = plan(path, row["format"])
                except TagError:
                    note = None
                if note:
                    change["note"] = note  # e.g. an ID3v2.2 tag that will become v2.3
                if opts.dry_run:
                    continue
                try:
                    old_field = read_field(path, row["format"])
                except TagError as exc:
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": str(exc)})
                    change["action"] = "error"
                    continue
                entry = history.begin(
                    path, old, new, scan_id if scan_id is not None else row["scan_id"], old_field
                )
                try:
                    write_genres(
                        path,
                        new,
                        row["format"],
                        opts.id3v23,
                        opts.separator,
                        temps=history.temps,
                        before_commit=functools.partial(history.prepared, entry),
                    )
                    new_field = read_field(path, row["format"])
                except TagError as exc:
                    history.finish(entry, "failed", str(exc))
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": str(exc)})
                    change["action"] = "error"
                    continue
                history.finish(
                    entry,
                    "written",
                    new_field=new_field,
                    track_update={
                        "path": path,
                        **_stat_fields(path),
                        "written_genre": opts.separator.join(new),
                        "written_at": now(),
                    },
                )
                summary.written += 1
    finally:
        if own:
            store.close()
    return summary


def _albums(
    present: list[dict], rows: list[dict], opts: WriteOptions, summary: WriteSummary
) -> dict[str, AlbumGenre]:
    """path -> its album, for the selected tracks.

    Albums are pooled over all their present tracks, selected or not (writing
    one folder of a two-disc album still gives it the album's genre); each
    album holding a selected track is listed in ``summary.albums``.
    """
    selected = {r["path"] for r in rows}
    out: dict[str, AlbumGenre] = {}
    for album in album_genres(
        (AlbumTrack.from_row(r) for r in present), include_abstained=opts.include_uncertain
    ):
        paths = {t.path for t in album.tracks} & selected
        if not paths:
            continue
        proposed = (
            []
            if album.per_track
            else proposal(album.probabilities, opts.top, opts.min_confidence, opts.genre_map)
        )
        summary.albums.append(album.to_dict(opts.genre_map.spell) | {"proposed": proposed})
        out.update(dict.fromkeys(paths, album))
    return out


@dataclass
class UndoSummary:
    restored: int = 0
    changed_since: int = 0
    errors: int = 0
    dry_run: bool = False
    changes: list[dict] = field(default_factory=list)
    error_files: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _changed_since(entries: list[dict], current: dict) -> bool:
    """True when the file's genre field is neither what tagger wrote last nor what was there.

    A write killed before it was marked done is 'pending' with no written field:
    the file then holds either the old field or the new one, both tagger's.
    """
    last = entries[-1]
    if last["new_field"] is not None:
        return not same_field(current, last["new_field"])
    return False


def undo(
    paths: list | None = None,
    db=None,
    scan_id: int | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> UndoSummary:
    """Restore the genre fields journaled before tagger's writes (``tagger undo``).

    The raw field is put back exactly (same frames, pairs, encodings, version;
    a tag container the write created is removed).  A file whose genre was
    changed by something else after tagger wrote it is left alone, and said so,
    unless ``force``.
    """
    store = Store(default_db(db), create=False)
    summary = UndoSummary(dry_run=dry_run)
    try:
        roots = _roots(paths, store.known())
        if scan_id is not None and not any(s["id"] == scan_id for s in store.scans()):
            raise TaggerError(f"no scan #{scan_id} in {store.path} (see `tagger report`)")
        with store.writer_lock() if not dry_run else contextlib.nullcontext():
            history = store.history
            for path, entries in history.undoable(scan_id).items():
                if not _selected(path, roots):
                    continue
                original = entries[0]["old_values"]
                field = entries[0]["old_field"]
                ids = [e["id"] for e in entries]
                try:
                    current = read_genres(path)
                    current_field = read_field(path) if field is not None else None
                except TagError as exc:
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": str(exc)})
                    continue
                change = {"path": path, "current": current, "restore": original}
                if (
                    current_field is not None
                    and _changed_since(entries, current_field)
                    and not same_field(current_field, field)
                    and not force
                ):
                    summary.changed_since += 1
                    change["action"] = "changed since"
                    change["reason"] = (
                        "its genre was changed by something else after tagger "
                        "wrote it (--force restores anyway)"
                    )
                    summary.changes.append(change)
                    continue
                change["action"] = "restore"
                summary.changes.append(change)
                if dry_run:
                    continue
                try:
                    if not _give_bytes_back(path, entries, history.temps):
                        if field is not None:
                            restore_field(path, field, temps=history.temps)
                        elif current != original:  # journaled before raw fields were kept
                            write_genres(path, original, temps=history.temps)
                except TagError as exc:
                    summary.errors += 1
                    summary.error_files.append({"path": path, "error": str(exc)})
                    change["action"] = "error"
                    continue
                history.mark_undone(
                    ids,
                    track_update={
                        "path": path,
                        **_stat_fields(path),
                        "written_genre": None,
                        "written_at": None,
                    },
                )
                summary.restored += 1
    finally:
        store.close()
    return summary


def _give_bytes_back(path: str, entries: list[dict], temps: Temps) -> bool:
    """Undo the writes newest first with the bytes the journal kept; True when all gave back.

    Each step applies only to the exact bytes that write left (its digest); a
    file changed since by something else is put back field by field instead.
    """
    for entry in reversed(entries):
        if entry["undo"] is None or not restore_bytes(path, entry["undo"], temps):
            return False
    return True
