"""``tagger write`` and ``tagger undo``: stored predictions into the files' tags, safely.

Rules, in the order they are applied to each analysed track:

1. the proposal is the top genre, or with ``top > 1`` up to K genres, each
   with probability >= ``min_confidence``; none passing -> *low confidence*,
   not written; a track the model abstained on (a head's confidence under
   the threshold in its card) -> *uncertain*, not written unless
   ``include_uncertain``;
2. a file whose genre already equals the proposal is left alone;
3. a file that already has a genre is left alone unless ``overwrite``;
4. a file whose size or mtime differ from its stored row is written only when
   its audio fingerprint (``tagger.payload.audio_fingerprint``) is the stored
   one: another program retagged it, and the analysis still holds.  New audio
   (another recording copied over it) is not written: an error naming the
   command that re-analyses it.  A file the write would refuse (a damaged
   structure, ``tags.refusal``) is not touched either; both are journaled as
   *refused*, so ``tagger report`` lists them;
5. otherwise the old values and the raw genre field (``tags.read_field``:
   the exact frames/pairs/items, their places, the tag version and padding,
   whether the tag existed) are journaled in ``tag_history`` (status
   *pending*), only the genre field is rewritten (``tags.write_genres``), and
   only then is the entry marked *written*, with the field as written, and
   the track's stored size and mtime updated, so the next incremental scan
   does not see a changed file.

Other fields named in ``fields`` (``bpm``: the stored tempo, rounded to a
whole number as ID3 and MP4 hold it) follow rules 2-4 for their own field: a
file that holds that value already is left alone, one with a value of its own
keeps it unless ``overwrite``, and each field written is its own journal
entry (its raw field names it), written, verified and undone like the genre.
A track without a tempo (no steady beat) has nothing to write there.

With ``album`` (``tagger write --album``) rule 1 reads the album's pooled
scores instead of the track's own (``tagger.albums``: grouping, pooling, and
which albums stay per track); a compilation or an album whose tracks disagree
is written track by track.  Rules 2-5, the journal and undo are the same.

A ``dry_run`` applies every rule and makes every check of the write (rule 5's
edit is made and verified on a copy outside the library, ``write_genres(...,
trial=True)``), so it lists exactly the files the write would refuse or fail,
with the same reasons; it changes no file and journals nothing.

``undo`` puts back, per file, the raw field from before the first write it
has not undone yet (``tags.restore_field``: byte for byte where the format
allows, removing a tag the write created), and the file's modification time
when every byte is the original's, and marks those entries undone; a
second undo finds nothing to do; the track's row takes the file's own tags
as they are then.  Whether something else changed a field since is told by
its value (``tags.same_value``), not its bytes: another tagger re-saving the
file keeps the value tagger wrote, and its changes stay.  A field that holds
another value was changed by something else since: it is left as it is, with
that reason, unless ``force``, and the file's other fields still come back
(a user's new BPM does not keep tagger's genre in the file).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from .albums import AlbumGenre, AlbumTrack, album_genres
from .clock import now
from .config import Settings, check_fields
from .errors import TaggerError
from .formats import BY_NAME
from .genres import GenreMap
from .paths import absolute, default_db, is_under, printable
from .payload import audio_fingerprint
from .progress import progress
from .results import Action, FileError, to_json
from .store import History, Store, TrackRow
from .tagedit import field_of
from .tags import (
    FileTags,
    TagError,
    Temps,
    give_id3v1_genre_back,
    give_mtime_back,
    plan,
    read_field,
    read_file_tags,
    read_genres,
    read_values,
    refusal,
    restore_bytes,
    restore_field,
    same_value,
    write_genres,
)

T = TypeVar("T")


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
    fields: tuple[str, ...] = ("genre",)  # the fields written (``config.WRITABLE_FIELDS``)
    voice_field: str = ""  # the key the voice is written under; "" writes none
    genre_map: GenreMap = field(default_factory=GenreMap)

    def __post_init__(self) -> None:  # a rule the config file would refuse is refused here too
        check_fields(self, "WriteOptions.")
        if "voice" in self.fields and not self.voice_field:
            raise TaggerError(
                "the voice has no standard tag field: name one in the config file "
                '(voice_field = "VOICE_INSTRUMENTAL") to write it'
            )

    @classmethod
    def from_settings(
        cls, settings: Settings, dry_run: bool = False, include_uncertain: bool = False
    ) -> WriteOptions:
        """The options these settings give ``tagger write`` and ``scan --write-tags``."""
        return settings.options_for(
            cls,
            id3v23=settings.id3_version == "2.3",
            dry_run=dry_run,
            include_uncertain=include_uncertain,
        )


@dataclass
class FieldChange:
    """Another field than the genre in a write (``bpm``): its values now, the proposal, and
    what happens to it."""

    field: str
    existing: list[str]
    proposed: list[str]
    action: Action


@dataclass
class Change:
    """One analysed file in a write: its genre now, the proposal, and what happens to it."""

    path: str
    existing: list[str]
    proposed: list[str]
    model_genre: str  # the track's own top genre, as the user spells it
    confidence: float
    action: Action
    album_mode: bool = False  # written with --album: ``album`` is part of the record
    album: str | None = None  # the album's label (None: the track is in no album)
    album_genre: str | None = None  # the album's pooled genre, where the album decides
    album_score: float | None = None
    note: str | None = None  # what else the write does (a compressed ID3v2.2 tag becomes v2.3)
    scan_id: int | None = None  # a write's journal entry: what ``tagger undo --scan ID`` takes
    fields: list[FieldChange] = field(default_factory=list)  # the other fields written

    @property
    def writes(self) -> bool:
        """Whether any field of this file is written (or would be)."""
        return self.action is Action.WRITE or any(f.action is Action.WRITE for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` record: ``album`` only in album mode, ``fields`` only when other
        fields than the genre are written, the rest only where known."""
        out = to_json(self)
        del out["album_mode"]
        if not self.album_mode:
            del out["album"]
        if not self.fields:
            del out["fields"]
        return _known(out, "album_genre", "album_score", "note", "scan_id")


def _known(record: dict[str, Any], *optional: str) -> dict[str, Any]:
    """``record`` without those of the ``optional`` keys whose value is unknown (None)."""
    return {k: v for k, v in record.items() if not (k in optional and v is None)}


@dataclass(frozen=True)
class AlbumChoice:
    """An album holding a selected track, and the genres a write --album proposes for it."""

    album: AlbumGenre
    proposed: list[str]
    spell: Callable[[str], str] = str  # genres as the user spells them (``GenreMap.spell``)

    def to_dict(self) -> dict[str, Any]:
        return self.album.to_dict(self.spell) | {"proposed": self.proposed}


# The summary's count of each action that leaves a file as it is.
_COUNTS = {
    Action.LOW_CONFIDENCE: "low_confidence",
    Action.UNCERTAIN: "uncertain",
    Action.ALREADY_SET: "already_set",
    Action.KEEP_EXISTING: "kept_existing",
}


class _Tally:
    """What the write and undo summaries share: their failures, and the files acted on."""

    errors: int
    error_files: list[FileError]
    changes: list[Any]
    dry_run: bool
    acts: ClassVar[Action]  # what the command does to a file

    def fail(self, path: str, error: str, change: Any = None) -> None:
        """``path`` could not be handled: counted, listed, and its change marked."""
        self.errors += 1
        self.error_files.append(FileError(path, error))
        if change is None:
            return
        if not isinstance(change, Change):
            change.action = Action.ERROR
            return
        # A write: what it would have written fails with it.  A genre it keeps (or leaves
        # for another reason) stays so: only its other fields were to change.
        parts: list[Change | FieldChange] = [change, *change.fields]
        for part in parts:
            if part.action is Action.WRITE:
                part.action = Action.ERROR

    def _acted(self, done: int) -> int:
        """``done``, or with ``dry_run`` the files it would be."""
        if self.dry_run:
            return sum(c.action is self.acts for c in self.changes)
        return done

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary: every field in order, each change by its own record."""
        return to_json(self)


@dataclass
class WriteSummary(_Tally):
    """What ``tagger write`` did (or, with ``dry_run``, would do)."""

    acts: ClassVar[Action] = Action.WRITE

    considered: int = 0
    written: int = 0
    kept_existing: int = 0
    low_confidence: int = 0
    uncertain: int = 0
    already_set: int = 0
    errors: int = 0
    dry_run: bool = False
    changes: list[Change] = field(default_factory=list)
    error_files: list[FileError] = field(default_factory=list)
    albums: list[AlbumChoice] = field(default_factory=list)  # with ``album`` only
    interrupted: bool = False  # a Ctrl-C stopped it: ``changes`` holds the files reached

    def add(self, change: Change) -> None:
        self.changes.append(change)
        if change.action in _COUNTS:
            name = _COUNTS[change.action]
            setattr(self, name, getattr(self, name) + 1)

    @property
    def to_write(self) -> int:
        """Files written, or with ``dry_run`` files that would be."""
        if self.dry_run:
            return sum(c.writes for c in self.changes)
        return self.written


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C stopped ``write_tags`` or ``undo``: ``summary`` holds what it did up to there
    (every file it wrote or restored is so, and journaled; the one in hand when it stopped
    is *interrupted*)."""

    def __init__(self, summary: WriteSummary | UndoSummary):
        super().__init__()
        self.summary = summary


def proposal(
    probabilities: dict[str, float],
    top: int = 1,
    min_confidence: float = 0.0,
    genre_map: GenreMap | None = None,
) -> list[str]:
    """Spellings of up to ``top`` genres whose probability passes ``min_confidence``."""
    return (genre_map or GenreMap()).choose(probabilities, top, min_confidence)


def _roots(
    paths: list | None, known: Iterable[str], hint: str = "scan it first"
) -> set[str] | None:
    """Absolute roots of ``paths``; a path under which the database holds no track is an error.

    ``write /no/such/path`` doing nothing and exiting 0 hides a typo, so it is
    refused the way ``scan`` refuses a missing path; ``hint`` says what to do
    about a path the database does not hold.
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
        raise TaggerError(f"no track in the database under {printable(p)} ({hint})")
    return set(roots)


def decide(
    existing: list[str], proposed: list[str], overwrite: bool, abstained: bool = False
) -> Action:
    """What happens to one file's genre: rules 1-3 of this module, shared with the beets plugin.

    ``abstained``: the model abstained on the track and uncertain tracks are
    not to be written.
    """
    if not proposed:
        return Action.LOW_CONFIDENCE
    if abstained:
        return Action.UNCERTAIN
    if existing == proposed:
        return Action.ALREADY_SET
    if existing and not overwrite:
        return Action.KEEP_EXISTING
    return Action.WRITE


def genre_decision(
    row: TrackRow,
    existing: list[str],
    opts: WriteOptions,
    album: AlbumGenre | None = None,
) -> tuple[list[str], Action]:
    """Rules 1-3 for one analysed track's genre: the genres proposed (its album's pooled
    scores where ``album`` decides, else its own) and what happens to a file whose genre is
    ``existing``.

    The one home of "would ``tagger write`` write this track": ``write_tags``
    asks it with the file's genre as it is now, ``tagger report`` with the
    genre the database last knew (``known_genres``), opening no file.
    """
    pooled = album.probabilities if album is not None and not album.per_track else None
    probabilities = (pooled if pooled is not None else row.probabilities) or {}
    proposed = proposal(probabilities, opts.top, opts.min_confidence, opts.genre_map)
    # The album decides for an abstained track, unless the album is per track.
    abstained = bool(row.uncertain) and not opts.include_uncertain and pooled is None
    return proposed, decide(existing, proposed, opts.overwrite, abstained)


def known_genres(row: TrackRow, separator: str = "; ") -> list[str]:
    """The genre values of a track's file as the database last knew them: what ``tagger
    write`` wrote there (joined by ``separator``), else what the scan read (joined by
    ``"; "``, ``tagger.worker``)."""
    if row.written_genre:
        return row.written_genre.split(separator)
    return row.tag_genre.split("; ") if row.tag_genre else []


def albums_of(present: Iterable[TrackRow], opts: WriteOptions) -> dict[str, AlbumGenre]:
    """path -> its album, pooled over all the album's present tracks (``album_genres``: with
    ``include_uncertain`` the abstained tracks vote too), for ``write --album``."""
    out: dict[str, AlbumGenre] = {}
    for album in album_genres(
        (AlbumTrack.from_row(r) for r in present), include_abstained=opts.include_uncertain
    ):
        out.update(dict.fromkeys((t.path for t in album.tracks), album))
    return out


def bpm_values(bpm: float | None) -> list[str]:
    """The tempo as written: a whole number (ID3's TBPM and MP4's tmpo hold no fraction)."""
    return [str(round(bpm))] if bpm is not None else []


def _field_change(name: str, row: TrackRow, opts: WriteOptions) -> FieldChange:
    """What happens to one other field than the genre (rules 2-3 for that field); the voice
    goes under the user's key (the field ``voice:KEY``)."""
    overwrite = opts.overwrite
    if name == "voice":
        name, proposed = f"voice:{opts.voice_field}", [row.voice] if row.voice else []
    else:
        proposed = bpm_values(row.bpm) if name == "bpm" else []
    existing = read_values(row.path, name, row.format)
    action = decide(existing, proposed, overwrite) if proposed else Action.NO_VALUE
    return FieldChange(name, existing, proposed, action)


def _selected(path: str, roots: set[str] | None) -> bool:
    return roots is None or is_under(path, roots)


def _stat_fields(path: str) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime": st.st_mtime}


def _shell_word(path: str) -> str:
    """``path`` as one shell word that gives back its bytes (bash's, zsh's and ksh's
    ``$'...'`` for a name that is not UTF-8), for commands printed to be run."""
    raw = os.fsencode(path)
    try:
        return shlex.quote(raw.decode("utf-8"))
    except UnicodeDecodeError:
        escaped = (chr(b) if 32 <= b < 127 and b not in b"'\\" else f"\\x{b:02x}" for b in raw)
        return "$'" + "".join(escaped) + "'"


def undo_command(paths: list[str], db: str | None = None, most: int = 10) -> str:
    """The command that puts back the writes of ``paths`` (naming them when ``most`` or
    fewer), for a write that was interrupted."""
    words = ["tagger", "undo", *(["--db", _shell_word(db)] if db else [])]
    if len(paths) > most:
        return " ".join([*words, "FILE..."])
    return " ".join([*words, *map(_shell_word, paths)])


def audio_changed(row: TrackRow) -> str | None:
    """Why the stored result of ``row`` is not of the file's audio any more (None: it is).

    A file whose size and mtime are the stored ones is the file analysed; else
    its audio fingerprint decides: the stored one means another program only
    retagged it.
    """
    try:
        st = os.stat(row.path)
    except OSError:
        return None  # a vanished file is the write's to report
    if (st.st_size, st.st_mtime) == (row.size, row.mtime):
        return None
    rescan = f"re-analyse it first: tagger scan {_shell_word(row.path)}"
    if row.audio is None:
        return (
            "not written: the file changed since it was analysed, before tagger kept audio "
            f"fingerprints, so whether its audio is the same is unknown; {rescan}"
        )
    try:
        if audio_fingerprint(row.path, BY_NAME.get(row.format or "")) == row.audio:
            return None
    except (TagError, OSError):
        pass  # a structure that no longer shows where the audio is: not the audio analysed
    return f"not written: its audio changed since it was analysed; {rescan}"


def _refuse(
    summary: WriteSummary,
    history: History | None,
    change: Change,
    reason: str,
) -> None:
    """``change``'s file is not written, for ``reason``: counted, listed and (unless a dry run,
    ``history`` None) journaled as *refused*, so ``tagger report`` lists it."""
    summary.fail(change.path, reason, change)
    if history is not None:
        entry = history.begin(change.path, change.existing, change.proposed, change.scan_id)
        history.finish(entry, "refused", reason)


def _field_failed(summary: WriteSummary, change: Change, name: str, reason: str) -> None:
    """A field after the first failed: the file is counted and listed as an error, but only
    that field is marked so, since the fields written before it stay written (and journaled)."""
    summary.fail(change.path, f"{name}: {reason}")
    if name == "genre":
        change.action = Action.ERROR
    for other in change.fields:
        if other.field == name:
            other.action = Action.ERROR


def write_tags(
    paths: list | None = None,
    db=None,
    options: WriteOptions | None = None,
    scan_id: int | None = None,
    store: Store | None = None,
    show_progress: bool = False,
) -> WriteSummary:
    """Write stored genres (and the other ``fields``) into files under ``paths`` (all analysed
    tracks if None).

    ``show_progress``: a bar on stderr (plain lines when it is not a terminal,
    ``tagger.progress``).  A Ctrl-C raises ``Interrupted``, which holds
    the summary of what was done up to there.
    """
    opts = options or WriteOptions()
    own = store is None
    store = store or Store(default_db(db), create=False)
    summary = WriteSummary(dry_run=opts.dry_run)
    bar = None
    inflight: list[Any] = []  # the change being written, and the fields written so far
    try:
        roots = _roots(paths, store.known())
        # A dry run changes nothing, so it needs no writer lock: it may run
        # while a scan holds the database.
        with store.writer_lock() if own and not opts.dry_run else contextlib.nullcontext():
            present = store.tracks(present=True)
            rows = [
                r
                for r in present
                if r.error is None and r.genre is not None and _selected(r.path, roots)
            ]
            albums = _albums(present, rows, opts, summary) if opts.album else {}
            history = store.history
            bar = progress(len(rows), show_progress, "checking" if opts.dry_run else "writing")
            for row in _ticking(rows, bar, summary):
                inflight.clear()
                summary.considered += 1
                path = row.path
                album = albums.get(path)
                try:
                    old = read_genres(path, row.format)
                except TagError as exc:
                    summary.fail(path, str(exc))
                    continue
                new, action = genre_decision(row, old, opts, album)
                album_genre = album.genre if album and not album.per_track else None
                genre_asked = "genre" in opts.fields
                change = Change(
                    path=path,
                    existing=old,
                    proposed=new if genre_asked else [],
                    model_genre=opts.genre_map.spell(row.genre or ""),  # analysed rows only
                    confidence=row.confidence or 0.0,
                    action=action if genre_asked else Action.NOT_ASKED,
                    album_mode=opts.album,
                    album=album.key.label if album else None,
                    album_genre=opts.genre_map.spell(album_genre) if album_genre else None,
                    album_score=round(album.score, 4) if album and album_genre else None,
                )
                try:
                    change.fields = [
                        _field_change(name, row, opts) for name in opts.fields if name != "genre"
                    ]
                except TagError as exc:
                    summary.fail(path, str(exc))
                    continue
                summary.add(change)
                inflight[:] = [change, set()]
                if not change.writes:
                    continue
                change.scan_id = scan_id if scan_id is not None else row.scan_id
                journal = None if opts.dry_run else history
                # New audio, or a damaged structure: not touched, journaled as refused.
                refused = audio_changed(row) or refusal(path, row.format)
                if refused:
                    _refuse(summary, journal, change, refused)
                    continue
                change.note = plan(path, row.format)  # e.g. a compressed ID3v2.2 tag becomes v2.3
                writes = [("genre", old, new)] if change.action is Action.WRITE else []
                writes += [
                    (f.field, f.existing, f.proposed)
                    for f in change.fields
                    if f.action is Action.WRITE
                ]
                try:  # a field that cannot be read refuses the dry run as it does the write
                    for name, _, _ in writes:
                        read_field(path, row.format, name)
                except TagError as exc:
                    _refuse(summary, journal, change, str(exc))
                    continue
                if opts.dry_run:  # each field's whole write on a copy outside the library
                    for name, _, values in writes:
                        try:
                            write_genres(
                                path,
                                values,
                                row.format,
                                opts.id3v23,
                                opts.separator,
                                trial=True,
                                field=name,
                            )
                        except TagError as exc:
                            summary.fail(path, str(exc), change)
                            break
                        inflight[1].add(name)
                    continue
                done = 0
                for name, before, values in writes:
                    try:
                        old_field = read_field(path, row.format, name)
                    except TagError as exc:
                        if done:  # the fields before it stay written
                            _field_failed(summary, change, name, str(exc))
                        else:
                            _refuse(summary, journal, change, str(exc))
                        break
                    entry = history.begin(path, before, values, change.scan_id, old_field)
                    try:
                        write_genres(
                            path,
                            values,
                            row.format,
                            opts.id3v23,
                            opts.separator,
                            temps=history.temps,
                            before_commit=functools.partial(history.prepared, entry),
                            field=name,
                        )
                        new_field = read_field(path, row.format, name)
                    except TagError as exc:
                        history.finish(entry, "failed", str(exc))
                        if done:  # the fields before it stay written
                            _field_failed(summary, change, name, str(exc))
                        else:
                            summary.fail(path, str(exc), change)
                        break
                    written = (
                        {"written_genre": opts.separator.join(values), "written_at": now()}
                        if name == "genre"
                        else {}
                    )
                    history.finish(
                        entry,
                        "written",
                        new_field=new_field,
                        track_update={"path": path, **_stat_fields(path), **written},
                    )
                    inflight[1].add(name)
                    done += 1
                if done:  # the file changed (a field that failed after it is listed)
                    summary.written += 1
    except KeyboardInterrupt:
        summary.interrupted = True
        if inflight:
            _stopped(inflight[0], inflight[1])
        if bar is not None:
            bar.leave = False  # cleared: the lines of what was done follow
        raise Interrupted(summary) from None
    finally:
        if bar is not None:
            bar.close()
        if own:
            store.close()
    return summary


def _ticking(items: list[T], bar: Any, summary: _Tally) -> Iterator[T]:
    """``items``, moving the progress ``bar`` on as each one is done."""
    for item in items:
        yield item
        bar.set_postfix(errors=summary.errors, refresh=False)
        bar.update(1)


def _stopped(change: Change, written: set[str]) -> None:
    """A Ctrl-C came while ``change``'s file was in hand: its fields not ``written`` yet are
    *interrupted*, not written (one whose file had already changed is journaled *pending*,
    and the next command that writes the database tells by the file's digest)."""
    if change.action is Action.WRITE and "genre" not in written:
        change.action = Action.INTERRUPTED
    for other in change.fields:
        if other.action is Action.WRITE and other.field not in written:
            other.action = Action.INTERRUPTED


def _albums(
    present: list[TrackRow], rows: list[TrackRow], opts: WriteOptions, summary: WriteSummary
) -> dict[str, AlbumGenre]:
    """path -> its album, for the selected tracks.

    Albums are pooled over all their present tracks, selected or not (writing
    one folder of a two-disc album still gives it the album's genre); each
    album holding a selected track is listed in ``summary.albums``.
    """
    selected = {r.path for r in rows}
    out = {p: a for p, a in albums_of(present, opts).items() if p in selected}
    for album in {id(a): a for a in out.values()}.values():  # each album once, in order
        proposed = (
            []
            if album.per_track
            else proposal(album.probabilities, opts.top, opts.min_confidence, opts.genre_map)
        )
        summary.albums.append(AlbumChoice(album, proposed, opts.genre_map.spell))
    return out


@dataclass
class Restore:
    """One journaled file in an undo: its genre now, the genre it gets back, what happens."""

    path: str
    current: list[str]  # the genre now (or the first field restored, where no genre was written)
    restore: list[str]
    action: Action = Action.RESTORE
    reason: str | None = None  # why a file changed since is left alone
    fields: list[str] = field(default_factory=lambda: ["genre"])  # the fields put back

    def to_dict(self) -> dict[str, Any]:
        out = _known(to_json(self), "reason")
        if self.fields == ["genre"]:
            del out["fields"]
        return out


@dataclass
class UndoSummary(_Tally):
    """What ``tagger undo`` did (or, with ``dry_run``, would do)."""

    acts: ClassVar[Action] = Action.RESTORE

    restored: int = 0
    changed_since: int = 0  # files left alone: every field tagger wrote was changed since
    partly: int = 0  # files restored but for a field changed since, left as it is
    errors: int = 0
    dry_run: bool = False
    changes: list[Restore] = field(default_factory=list)
    error_files: list[FileError] = field(default_factory=list)
    interrupted: bool = False  # a Ctrl-C stopped it: ``changes`` holds the files reached

    @property
    def to_restore(self) -> int:
        """Files restored, or with ``dry_run`` files that would be."""
        return self._acted(self.restored)


# What ``Restore.fields`` calls an MP3's ID3v1 genre that another tagger copied tagger's genre
# into, given back with the genre (``tags.give_id3v1_genre_back``).
ID3V1_COPY = "ID3v1 genre"


def _changed_since(entries: list[dict], current: dict) -> bool:
    """True when the file's field holds neither the value tagger wrote last nor the one that
    was there before tagger.

    Values, not bytes, decide (``same_value``): another tagger re-saving the
    file re-encodes or moves the field without changing it.  A write killed
    before it was marked done is 'pending' with no written field: the file then
    holds either the old field or the new one, both tagger's.
    """
    last = entries[-1]
    if last["new_field"] is None or same_value(current, last["new_field"]):
        return False
    return not same_value(current, entries[0]["old_field"])


def undo(
    paths: list | None = None,
    db=None,
    scan_id: int | None = None,
    dry_run: bool = False,
    force: bool = False,
    show_progress: bool = False,
) -> UndoSummary:
    """Restore the fields (genre, bpm) journaled before tagger's writes (``tagger undo``).

    The raw field is put back exactly (same frames, pairs, encodings, version;
    a tag container the write created is removed).  A file whose genre was
    changed by something else after tagger wrote it is left alone, and said so,
    unless ``force``.  ``show_progress``: a bar on stderr, as ``write_tags``; a
    Ctrl-C raises ``Interrupted`` with the summary so far.
    """
    store = Store(default_db(db), create=False)
    summary = UndoSummary(dry_run=dry_run)
    bar = None
    inflight: list[Restore] = []  # the file being restored
    try:
        roots = _roots(paths, store.known(), "so nothing tagger wrote there to undo")
        if scan_id is not None and not any(s["id"] == scan_id for s in store.scans()):
            raise TaggerError(f"no scan #{scan_id} in {store.path} (see `tagger report`)")
        with store.writer_lock() if not dry_run else contextlib.nullcontext():
            history = store.history
            todo = [(p, e) for p, e in history.undoable(scan_id).items() if _selected(p, roots)]
            bar = progress(len(todo), show_progress, "checking" if dry_run else "restoring")
            for path, entries in _ticking(todo, bar, summary):
                inflight.clear()
                groups = _by_field(entries)  # each field's entries, oldest first
                shown = "genre" if "genre" in groups else next(iter(groups))
                try:
                    current = read_values(path, shown)
                    changed = [
                        name
                        for name, group in groups.items()
                        if group[0]["old_field"] is not None
                        and _changed_since(group, read_field(path, None, name))
                    ]
                    # A field something else changed since is left as it is (unless
                    # ``force``); the file's other fields still come back.
                    back = list(groups) if force else [n for n in groups if n not in changed]
                    if back and shown not in back:  # the line names a field put back
                        shown = back[0]
                        current = read_values(path, shown)
                except TagError as exc:
                    summary.fail(path, str(exc))
                    continue
                change = Restore(
                    path, current, groups[shown][0]["old_values"], fields=back or list(groups)
                )
                summary.changes.append(change)
                if not dry_run:
                    inflight[:] = [change]
                if changed and not force:
                    change.reason = (
                        f"its {' and '.join(changed)} "
                        f"{'were' if len(changed) > 1 else 'was'} changed by something else after "
                        "tagger wrote it (--force restores anyway)"
                    )
                    if not back:
                        summary.changed_since += 1
                        change.action = Action.CHANGED_SINCE
                        continue
                    summary.partly += 1
                if dry_run:
                    continue
                ids = [e["id"] for name in back for e in groups[name]]
                try:
                    exact = back == list(groups) and _give_bytes_back(path, entries, history.temps)
                    if not exact:  # changed by something else since: field by field
                        for name in reversed(back):  # newest field first
                            _restore(path, groups[name], history.temps)
                        genre = groups["genre"] if "genre" in back else []
                        if (
                            genre
                            and (genre[0]["old_field"] or {}).get("family") == "id3"
                            and give_id3v1_genre_back(
                                path, genre[-1]["new_values"], genre[0]["old_values"]
                            )
                            is not None
                        ):
                            change.fields.append(ID3V1_COPY)  # another tagger's copy of ours
                    # Every byte the original's: so is the modification time.
                    if entries[0]["undo"] is not None:
                        give_mtime_back(path, entries[0]["undo"], verified=exact)
                except TagError as exc:
                    summary.fail(path, str(exc), change)
                    continue
                try:
                    own_tags = read_file_tags(path).columns()
                except TagError:  # as a scan records a file whose tags it cannot read: none
                    own_tags = FileTags([]).columns()
                # The row takes the file's own tags as they are now: a scan since the write
                # read tagger's genre there, which must not count as the user's.
                history.mark_undone(
                    ids,
                    track_update={
                        "path": path,
                        **_stat_fields(path),
                        **({"written_genre": None, "written_at": None} if "genre" in back else {}),
                        **own_tags,
                    },
                )
                summary.restored += 1
                inflight.clear()
    except KeyboardInterrupt:
        summary.interrupted = True
        for change in inflight:  # not marked undone: the next undo finishes it
            if change.action is Action.RESTORE:
                change.action = Action.INTERRUPTED
        if bar is not None:
            bar.leave = False  # cleared: the lines of what was done follow
        raise Interrupted(summary) from None
    finally:
        if bar is not None:
            bar.close()
        store.close()
    return summary


def _restore(path: str, group: list[dict], temps: Temps) -> None:
    """Put one field back as it was before tagger's first write of it, in a file something
    else changed since; a field that holds that value already (whatever its bytes) is left
    as the other program saved it."""
    field = group[0]["old_field"]
    if field is not None:
        if not same_value(read_field(path, None, field_of(field)), field):
            restore_field(path, field, temps=temps)
    elif read_genres(path) != group[0]["old_values"]:
        # journaled before raw fields were kept (genres only)
        write_genres(path, group[0]["old_values"], temps=temps)


def _by_field(entries: list[dict]) -> dict[str, list[dict]]:
    """A file's journal entries by the field each holds, in the order the fields were first
    written (an entry journaled before raw fields were kept holds the genre)."""
    out: dict[str, list[dict]] = {}
    for e in entries:
        out.setdefault(field_of(e["old_field"]) if e["old_field"] else "genre", []).append(e)
    return out


def _give_bytes_back(path: str, entries: list[dict], temps: Temps) -> bool:
    """Undo the writes newest first with the bytes the journal kept; True when all gave back.

    Each step applies only to the exact bytes that write left (its digest); a
    file changed since by something else is put back field by field instead.
    """
    for entry in reversed(entries):
        if entry["undo"] is None or not restore_bytes(path, entry["undo"], temps):
            return False
    return True
