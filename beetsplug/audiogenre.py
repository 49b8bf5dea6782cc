"""beets plugin ``audiogenre``: genres heard by tagger's model, set through beets.

Enable it with ``plugins: audiogenre`` in beets' ``config.yaml``, then::

    beet audiogenre [QUERY]         # analyse the matching items, set their genres
    beet audiogenre -a [QUERY]      # one genre per album, from all of its tracks
                                    # (as `tagger write --album`: compilations and
                                    # albums whose tracks disagree stay per track)
    beet audiogenre -p [QUERY]      # show what would change, change nothing

The analysis is tagger's own: the items' files are scanned into a tagger
database (``tagger.scan``), so a file analysed before is not decoded again
while its audio is unchanged.  That database is the plugin's own by default,
``audiogenre.db`` beside beets' library, so beets' copies of the music never
become tracks of the user's tagger library; ``db`` (in beets' section, or
tagger's ``config.toml``) shares one on purpose.  What ``tagger scan`` already
analysed is not decoded again either: a file whose audio (its fingerprint) the
user's tagger library holds, by the same model or with the embedding a trained
head needs, has that analysis copied into the plugin's database.
Each track's tempo and voice from the same results go to beets' ``bpm`` field
(a whole number) and a ``voice`` flexible attribute (``instrumental`` or
``vocal``; unset when tagger is unsure), per track in album mode too, a value
the item has already kept unless ``overwrite``.
The genres are then set on the beets items (or albums) and saved by beets
itself: beets' database and, when beets' ``import.write`` setting (or
``-w``/``-W``) says so, the files' tags, so beets and the files agree.  After
beets rewrites a file's tags, tagger's stored size and mtime for it are
updated (only metadata changed, so the analysis still holds), and the next run
does not decode it again either.

Settings: a key set in beets' ``audiogenre`` section (or on the command line)
wins; a key left unset there takes tagger's own ``config.toml`` value (``db``,
``model``, ``jobs``, ``precision``, ``overwrite``, ``min_confidence``,
``top``), then tagger's default, so a user who set up tagger once gets the
same database, model and rules from beets.  tagger's ``[genres]`` map and
whitelist spell the genres set in beets as they spell those ``tagger write``
puts in files.

beets 2.7 and later keep genres as a list (``genres``), written as one tag
value per genre; older beets have one ``genre`` string, and several genres are
joined with ``separator`` as lastgenre did.

tagger is imported only when there is work: beets loads every plugin for
every command (``beet ls`` too), and tagger's audio stack takes a noticeable
time to import.
"""

from __future__ import annotations

import enum
import os
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from beets import ui
from beets.library import Album, Item, ReadError
from beets.plugins import BeetsPlugin

if TYPE_CHECKING:
    from tagger.config import Settings
    from tagger.genres import GenreMap
    from tagger.results import Action
    from tagger.store import Store, TrackRow

# beets 2.7 replaced the single ``genre`` string with the multi-valued ``genres``.
GENRE_FIELD = "genres" if "genres" in Item._fields else "genre"


# The summary's counts (keys of its Counter, each printed as "N <noun> <rest>"): files beets
# rewrote, items whose bpm or voice changed.
FILES_WRITTEN = ("file", "written")
TEMPO_SET = ("item", "given a tempo or voice")
VOICE_FIELD = "voice"  # the flexible attribute: instrumental | vocal (unset: unsure)


class Outcome(enum.StrEnum):
    """What happened to one target (an item, or an album); the summary line counts them.

    Each value is the phrase the summary line prints after the count, in this order.
    """

    CHANGED = "changed"
    ALREADY_SET = "already set"
    KEPT = "kept their genres"
    LOW_CONFIDENCE = "below min_confidence"
    UNCERTAIN = "uncertain"
    PER_TRACK = "set per track"
    NOT_ANALYSED = "not analysed"
    FILE_MISSING = "file missing"


class Rules(NamedTuple):
    """``tagger write``'s rules, as this run applies them."""

    overwrite: bool
    min_confidence: float
    top: int
    include_uncertain: bool
    genre_map: GenreMap


Target = Item | Album  # what gets a genre: one track, or an album
Files = list[tuple[Item, str]]  # its tracks that exist on disk, with their paths


class Pending:
    """Each item's changes of this run, shown and saved once the genre, tempo and voice are
    all set: one block per item in ``-p``'s listing and one write of its file, however many
    of its fields changed."""

    def __init__(self) -> None:
        # path: the item and the fields set on it (none: its file only needs writing)
        self.items: dict[str, tuple[Item, list[str]]] = {}

    def changed(self, item: Item, path: str, fields: list[str]) -> None:
        """``item``'s ``fields`` were set: show them, store the item, write its file."""
        self.items[path] = (item, self.items.get(path, (item, []))[1] + fields)

    def to_write(self, item: Item, path: str) -> None:
        """``item`` differs from its file (set earlier without writing): write the file,
        with nothing more to show."""
        self.items.setdefault(path, (item, []))

    def save(self, write: bool, pretend: bool, log: Any) -> list[str]:
        """Show, store and (with ``write``) write each item once; the paths beets rewrote."""
        rewritten = []
        for path, (item, fields) in self.items.items():
            if fields:
                ui.show_model_changes(item, fields=fields)
            if pretend:
                continue
            if write and item.try_write():
                rewritten.append(path)
                if not fields:
                    log.info("{}: written to the file (set earlier without writing)", item)
            if fields:
                item.store()
        return rewritten


class AudioGenrePlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        # The plugin's own keys; those it shares with tagger (db, model, jobs, precision,
        # overwrite, min_confidence, top) come from tagger's settings table in
        # ``tagger_settings``, when there is work.
        self.config.add(
            {
                "auto": False,  # analyse and set genres of newly imported items
                "include_uncertain": False,  # also tracks the model abstained on (trained heads)
                "separator": ", ",  # joins several genres on beets < 2.7 (one string field)
            }
        )
        self._imported: list[int] = []
        if self.config["auto"].get(bool):
            self.register_listener("import_task_files", self._collect_imported)
            self.register_listener("import", self._tag_imported)

    # --- command line ----------------------------------------------------------
    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("audiogenre", help="set genres from tagger's analysis of the audio")
        cmd.parser.usage = (
            "%prog [options] [QUERY...]\n\nAnalyse the items matching QUERY with tagger's genre "
            "model (files analysed before are not decoded again) and set their genres through "
            "beets."
        )
        cmd.parser.add_option(
            "-a",
            "--album",
            action="store_true",
            default=False,
            help="set album genres: the genres heard across each matching "
            "album's tracks (beets gives them to its items); compilations and albums "
            "whose tracks disagree get their tracks' own genres",
        )
        cmd.parser.add_option(
            "-p",
            "--pretend",
            action="store_true",
            default=False,
            help="show what would change; change neither beets nor the files "
            "(the analysis is still kept in tagger's database)",
        )
        cmd.parser.add_option(
            "-o",
            "--overwrite",
            action="store_true",
            default=None,
            help="replace genres that items already have",
        )
        cmd.parser.add_option(
            "-k",
            "--keep",
            dest="overwrite",
            action="store_false",
            help="keep genres that items already have (the default)",
        )
        cmd.parser.add_option(
            "-c",
            "--min-confidence",
            dest="min_confidence",
            type="float",
            metavar="P",
            help="set only genres with probability >= P (0-1)",
        )
        cmd.parser.add_option(
            "-t",
            "--top",
            type="int",
            metavar="K",
            help="set up to K genres that pass --min-confidence, each after the first "
            "at least half as likely as the first",
        )
        cmd.parser.add_option(
            "--include-uncertain",
            dest="include_uncertain",
            action="store_true",
            default=None,
            help="also set genres of tracks the model abstained on (a trained head's "
            "confidence under its threshold)",
        )
        cmd.parser.add_option(
            "-w",
            "--write",
            action="store_true",
            default=None,
            help="write the genres into the files' tags (default: beets' import.write setting)",
        )
        cmd.parser.add_option(
            "-W",
            "--nowrite",
            dest="write",
            action="store_false",
            help="change only beets' database, not the files",
        )
        cmd.func = self._command
        return [cmd]

    def _command(self, lib: Any, opts: Any, args: list[str]) -> None:
        self.config.set_args(
            {
                k: getattr(opts, k)
                for k in ("overwrite", "min_confidence", "top", "include_uncertain")
                if getattr(opts, k) is not None
            }
        )
        targets: list[Target] = list(lib.albums(args) if opts.album else lib.items(args))
        if not targets:
            raise ui.UserError(
                f"audiogenre: no {'albums' if opts.album else 'items'} match "
                f"{' '.join(args) or 'the library'}"
            )
        self.tag(targets, write=ui.should_write(opts.write), pretend=opts.pretend)

    # --- import -------------------------------------------------------------------
    def _collect_imported(self, session: Any, task: Any) -> None:
        """Remember the items of each import task once their files are in place.

        They are analysed together when the whole import has finished, so the
        worker processes (a few seconds each to start) start once per import,
        not once per album.
        """
        self._imported.extend(item.id for item in task.imported_items())

    def _tag_imported(self, lib: Any, paths: Any) -> None:
        ids, self._imported = self._imported, []
        items = [item for item in (lib.get_item(i) for i in ids) if item is not None]
        if items:
            self.tag(items, write=ui.should_write(), pretend=False)

    # --- the work -------------------------------------------------------------------
    def tagger_settings(self) -> Settings:
        """tagger's own settings (``config.toml``, ``$TAGGER_DB``): what beets leaves unset.

        The keys beets' section shares with tagger are declared here, unset
        (None: tagger's value), from the rows of tagger's settings table that
        beets takes; not in ``__init__``, because beets loads every plugin for
        every command and importing tagger takes a noticeable time.
        """
        from tagger.config import SETTINGS, ConfigError, load_config

        self.config.add({s.key: None for s in SETTINGS.values() if s.beets})
        try:
            return load_config()
        except ConfigError as exc:
            raise ui.UserError(f"audiogenre: {exc}") from None

    def database(self, settings: Settings) -> str | os.PathLike:
        """The tagger database this plugin keeps its analyses in.

        Its own by default, ``audiogenre.db`` beside beets' library: the files
        beets imports are copies of the user's music, and counted in tagger's
        own library they would be tracks twice (in ``tagger report``, in
        ``similar``).  Shared only on purpose: ``db`` in beets' ``audiogenre``
        section, or tagger's ``config.toml`` ``db`` / ``$TAGGER_DB``.
        """
        from beets import config

        if self.config["db"].get():
            return self.config["db"].as_filename()
        if settings.db is not None:
            return settings.db
        return os.path.join(os.path.dirname(config["library"].as_filename()), "audiogenre.db")

    def setting(self, key: str, settings: Settings) -> Any:
        """beets' value of tagger's setting ``key`` (command line or config.yaml), else tagger's.

        beets' value is checked by tagger's settings table, as a config file's
        is: a bad one is one line, ``audiogenre.KEY: must be ..., not VALUE``.
        """
        from tagger.config import SETTINGS, ConfigError

        value = self.config[key].get()
        if value is None:
            return getattr(settings, key)
        try:
            return SETTINGS[key].parse(value, prefix="audiogenre.")
        except ConfigError as exc:
            raise ui.UserError(str(exc)) from None

    def options(self, settings: Settings) -> Rules:
        """The rules of this run from the configuration (and the command line), checked.

        ``jobs``, ``model`` and ``precision`` are checked here too, so that a
        mistake is said before any work.  tagger's config file has checked its
        own values.
        """
        for key in ("jobs", "model", "precision"):
            self.setting(key, settings)
        overwrite = self.setting("overwrite", settings)
        min_confidence = self.setting("min_confidence", settings)
        top = self.setting("top", settings)
        include_uncertain = self.config["include_uncertain"].get(bool)
        return Rules(overwrite, min_confidence, top, include_uncertain, settings.genre_map)

    def tag(self, targets: list[Target], write: bool, pretend: bool) -> Counter:
        """Analyse the targets' files with tagger and set their genres; counts each outcome."""
        import tagger
        from tagger.paths import default_db
        from tagger.store import Store

        settings = self.tagger_settings()
        rules = self.options(settings)
        counts: Counter = Counter()
        work: list[tuple[Target, Files]] = []
        for target in targets:
            files: Files = []
            for item in target.items() if isinstance(target, Album) else [target]:
                path = os.path.abspath(os.fsdecode(item.path))
                if os.path.isfile(path):
                    files.append((item, path))
                else:
                    counts[Outcome.FILE_MISSING] += 1
                    self._log.warning("{}: file not found: {}", item, path)
            work.append((target, files))
        paths: list[str | os.PathLike] = [*sorted({p for _, f in work for _, p in f})]
        if not paths:
            return self._summary(counts, targets, pretend)
        db = self.database(settings)
        try:
            summary = tagger.scan(
                paths,
                db=db,
                options=_scan_options(
                    model=self.setting("model", settings),
                    jobs=self.setting("jobs", settings),
                    precision=self.setting("precision", settings),
                    reuse=str(default_db(settings.db)),  # what `tagger scan` analysed
                ),
            )
            store = Store(summary.db, create=False)
        except tagger.TaggerError as exc:
            raise ui.UserError(f"audiogenre: {exc}") from None
        except KeyboardInterrupt:  # beets would end quietly, with exit status 0
            raise ui.UserError(
                "audiogenre: interrupted; the files analysed so far are kept in tagger's "
                "database, run the same command to go on (no genres were set)"
            ) from None
        if summary.notice and summary.scanned + summary.errors:
            self._log.info("{}", summary.notice)  # only when the default model did work
        if summary.copied:
            self._log.info(
                "{} analysed before by `tagger scan` (the same audio): copied from {}, not decoded",
                summary.copied,
                default_db(settings.db),
            )
        try:
            rows = {r.path: r for r in store.tracks_at([os.fspath(p) for p in paths])}
            pending = Pending()
            for target, files in work:
                outcome = self._tag_one(target, files, rows, rules, write, pretend, pending)
                counts[outcome] += 1
            for _, files in work:  # each track's own tempo and voice, in both modes
                for item, path in files:
                    if self._tempo_and_voice(
                        item, path, rows, rules, write and not pretend, pending
                    ):
                        counts[TEMPO_SET] += 1
            rewritten = pending.save(write, pretend, self._log)
            _record_rewrites(store, sorted(set(rewritten)))
            counts[FILES_WRITTEN] = len(set(rewritten))
        finally:
            store.close()
        return self._summary(counts, targets, pretend)

    def _tag_one(
        self,
        target: Target,
        files: Files,
        rows: dict[str, TrackRow],
        rules: Rules,
        write: bool,
        pretend: bool,
        pending: Pending,
    ) -> Outcome:
        """Set one target's genres; returns what happened.  An item's change goes to
        ``pending``; an album's own field is shown and stored here, its items' changes go
        to ``pending`` (``_set_album``).

        An album is pooled and judged as ``tagger write --album`` does
        (``tagger.albums``), beets' album being the album: a compilation, an
        album with one voting track and one whose tracks disagree get their
        items' own genres instead.
        """
        from tagger.albums import AlbumKey, AlbumTrack, album_genre
        from tagger.results import Action
        from tagger.write import decide, proposal

        analysed = []
        for item, path in files:
            row = rows.get(path)
            if row is None or row.error or not row.probabilities:
                # too short, silent, failed: the reason the scan stored
                reason = (row and (row.error or row.reason)) or "no result in tagger's database"
                self._log.warning("{}: not analysed: {}", item, reason)
            else:
                analysed.append(row)
        if not analysed:
            return Outcome.NOT_ANALYSED
        if isinstance(target, Album):
            album = album_genre(
                AlbumKey(target.album or None, target.albumartist or None, None),
                [
                    replace(
                        AlbumTrack.from_row(rows[path]),
                        album=target.album,
                        album_artist=target.albumartist,
                        compilation=bool(target.comp),
                    )
                    for _, path in files
                    if path in rows
                ],
                include_abstained=rules.include_uncertain,
            )
            if album.per_track:
                self._log.info("{}: per track: {}", target, album.why(rules.genre_map.spell))
                for item, path in files:
                    self._tag_one(item, [(item, path)], rows, rules, write, pretend, pending)
                return Outcome.PER_TRACK
            heard, abstained = album.probabilities, False
        else:
            # A track the model abstained on is "uncertain" unless asked to include it.
            heard = analysed[0].probabilities or {}  # analysed rows have probabilities
            abstained = bool(analysed[0].uncertain) and not rules.include_uncertain
        best = max(heard, key=heard.__getitem__)
        heard_text = f"{rules.genre_map.spell(best)} {heard[best]:.2f}"
        names = proposal(heard, rules.top, rules.min_confidence, rules.genre_map)
        existing = _existing(target)
        separator = self.config["separator"].as_str()
        action = decide(existing, _as_field(names, separator), rules.overwrite, abstained)
        if action is Action.LOW_CONFIDENCE:
            self._log.info(
                "{}: no genre at min_confidence {} (tagger: {})",
                target,
                rules.min_confidence,
                heard_text,
            )
            return Outcome.LOW_CONFIDENCE
        if action is Action.UNCERTAIN:
            self._log.info(
                "{}: the model abstained (tagger: {}; --include-uncertain sets it)",
                target,
                heard_text,
            )
            return Outcome.UNCERTAIN
        if isinstance(target, Album):
            return self._set_album(target, files, names, action, rules, write, pretend, pending)
        if action is Action.ALREADY_SET:
            self._log.debug("{}: already {}", target, "; ".join(existing))
            if write and not pretend and _file_differs(target, GENRE_FIELD):
                pending.to_write(target, files[0][1])  # set earlier without writing (-W)
            return Outcome.ALREADY_SET
        if action is Action.KEEP_EXISTING:
            self._log.info(
                "{}: keep {} (tagger: {}; --overwrite replaces it)",
                target,
                "; ".join(existing),
                heard_text,
            )
            return Outcome.KEPT
        _set_genres(target, names, separator)
        pending.changed(target, files[0][1], [GENRE_FIELD])
        return Outcome.CHANGED

    def _set_album(
        self,
        album: Album,
        files: Files,
        names: list[str],
        action: Action,
        rules: Rules,
        write: bool,
        pretend: bool,
        pending: Pending,
    ) -> Outcome:
        """An album's pooled genre, set as ``tagger write --album`` writes it: the album's
        own field and each of its items is given it where empty (or with ``overwrite``),
        every genre already there kept otherwise.  An album whose field already holds a
        genre still gets it into its items that have none (beets takes an imported album's
        genre from one of its tracks, so the untagged ones would never get theirs)."""
        from tagger.results import Action

        separator = self.config["separator"].as_str()
        value = _as_field(names, separator)
        album_changed = action is Action.WRITE
        if album_changed:
            _set_genres(album, names, separator)
            ui.show_model_changes(album, fields=[GENRE_FIELD])
            if not pretend:
                album.store(inherit=False)  # each item below, by the same rules
        items_changed = 0
        for item, path in files:
            own = _existing(item)
            if own != value and (not own or rules.overwrite):
                _set_genres(item, names, separator)
                pending.changed(item, path, [GENRE_FIELD])
                items_changed += 1
            elif own == value and write and not pretend and _file_differs(item, GENRE_FIELD):
                pending.to_write(item, path)  # set earlier without writing (-W)
        if album_changed or items_changed:
            return Outcome.CHANGED
        if action is Action.ALREADY_SET:
            self._log.debug("{}: already {}", album, "; ".join(names))
            return Outcome.ALREADY_SET
        self._log.info(
            "{}: keep {} (tagger: {}; --overwrite replaces it)",
            album,
            "; ".join(_existing(album)),
            "; ".join(names),
        )
        return Outcome.KEPT

    def _tempo_and_voice(
        self,
        item: Item,
        path: str,
        rows: dict[str, TrackRow],
        rules: Rules,
        write: bool,
        pending: Pending,
    ) -> bool:
        """Set beets' ``bpm`` (a whole number, as beets keeps it) and the ``voice`` flexible
        attribute from the track's stored result; True when either changed.

        A value the item has already is kept unless ``overwrite``, as genres are; beets'
        ``bpm`` of 0 means none.  The change goes to ``pending``, beside the item's genre.
        """
        row = rows.get(path)
        if row is None or row.error:
            return False
        changed = []
        if row.bpm is not None:
            bpm = round(row.bpm)
            if item.bpm != bpm and (not item.bpm or rules.overwrite):
                item.bpm = bpm
                changed.append("bpm")
        if row.voice is not None:
            old = item.get(VOICE_FIELD)
            if old != row.voice and (not old or rules.overwrite):
                item[VOICE_FIELD] = row.voice
                changed.append(VOICE_FIELD)
        if changed:
            pending.changed(item, path, changed)
            return True
        # Set earlier without writing (-W): the file is written now, as a genre is.
        ours = row.bpm is not None and item.bpm == round(row.bpm)
        if write and ours and _file_differs(item, "bpm"):
            pending.to_write(item, path)
        return False

    def _summary(self, counts: Counter, targets: list[Target], pretend: bool) -> Counter:
        n = counts[Outcome.CHANGED]
        noun = ("album" if targets and isinstance(targets[0], Album) else "item") + "s" * (n != 1)
        parts = [f"pretend: {n} {noun} would change" if pretend else f"{n} {noun} changed"]
        for key in (TEMPO_SET, FILES_WRITTEN):
            if counts[key]:
                noun, rest = key
                parts.append(f"{counts[key]} {noun}{'s' * (counts[key] != 1)} {rest}")
        parts += [f"{counts[o]} {o}" for o in list(Outcome)[1:] if counts[o]]
        self._log.info("{}", ", ".join(parts))
        return counts


def _scan_options(**fields: Any) -> Any:
    """tagger's ScanOptions, except that the ``scans`` table records the beets run.

    A scan records its arguments; here they would be one path per item, which
    for a whole library is megabytes in every ``scans`` row and in
    ``tagger report --json``.
    """
    from tagger.scan import ScanOptions

    class BeetsScanOptions(ScanOptions):
        def arguments(self, paths: list[str]) -> dict[str, Any]:
            return super().arguments([]) | {
                "paths": None,
                "beets": "audiogenre",
                "items": len(paths),
            }

    return BeetsScanOptions(**fields)


def _file_differs(item: Item, field: str) -> bool:
    """Whether the file's ``field`` (the genre field, or ``bpm``) is not the item's (set with
    writing off): what ``beet write -p`` would show for it, read from the file as beets
    reads it."""
    try:
        on_disk = Item.from_path(item.path)
    except ReadError:  # beets cannot read the file: beets could not write it either
        return False
    if field == GENRE_FIELD:
        return _existing(on_disk) != _existing(item)
    return bool(on_disk.get(field) != item.get(field))


def _existing(target: Target) -> list[str]:
    value = target.get(GENRE_FIELD)
    if GENRE_FIELD == "genres":
        return list(value or [])
    return [value] if value else []


def _as_field(names: list[str], separator: str) -> list[str]:
    """The proposal in the form ``_existing`` returns, so the two compare."""
    if GENRE_FIELD == "genres" or not names:
        return names
    return [separator.join(names)]


def _set_genres(target: Target, names: list[str], separator: str) -> None:
    if GENRE_FIELD == "genres":
        target.genres = names
    else:
        target.genre = separator.join(names)


def _record_rewrites(store: Store, paths: list[str]) -> None:
    """Tell tagger's database that beets rewrote these files' tags (not their audio).

    Without this their new size and mtime would make the next scan decode them again.
    """
    stats = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        stats.append((path, st.st_size, st.st_mtime))
    if stats:
        with store.writer_lock():
            store.set_file_stats(stats)
