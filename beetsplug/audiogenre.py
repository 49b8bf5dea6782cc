"""beets plugin ``audiogenre``: genres heard by tagger's model, set through beets.

Enable it with ``plugins: audiogenre`` in beets' ``config.yaml``, then::

    beet audiogenre [QUERY]         # analyse the matching items, set their genres
    beet audiogenre -p [QUERY]      # show what would change, change nothing

The analysis is tagger's own: the items' files are scanned into tagger's
database (``tagger.scan``), so a file analysed before, by this plugin or by
``tagger scan``, is not decoded again while its size and mtime are unchanged.
The genres are then set on the beets items and saved by beets itself
(``Item.try_sync``): beets' database and, when beets' ``import.write`` setting
(or ``-w``/``-W``) says so, the files' tags, so beets and the files never
disagree.  After beets rewrites a file's tags, tagger's stored size and mtime
for it are updated (only metadata changed, the audio and therefore the
analysis are the same), so the next run does not decode it again either.

beets 2.7 and later keep genres as a list (``genres``), written as one tag
value per genre; older beets have one ``genre`` string, and several genres are
joined with ``separator`` as lastgenre did.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from beets import ui
from beets.library import Item
from beets.plugins import BeetsPlugin

if TYPE_CHECKING:
    from tagger.store import Store

# beets 2.7 replaced the single ``genre`` string with the multi-valued ``genres``.
GENRE_FIELD = "genres" if "genres" in Item._fields else "genre"


class AudioGenrePlugin(BeetsPlugin):
    def __init__(self) -> None:
        super().__init__()
        self.config.add({
            "auto": False,          # analyse and set genres of newly imported items
            "db": None,             # tagger's database; None: tagger's default ($TAGGER_DB, ...)
            "model": None,          # resnet, mlp, musicnn or a .keras file; None: tagger's default
            "jobs": None,           # worker processes; None: one per CPU core
            "overwrite": False,     # replace genres items already have
            "min_confidence": 0.0,  # a genre below this probability is not set
            "top": 1,               # up to this many genres per item
            "separator": ", ",      # joins several genres on beets < 2.7 (one string field)
        })
        self._imported: list[int] = []
        if self.config["auto"].get(bool):
            self.register_listener("import_task_files", self._collect_imported)
            self.register_listener("import", self._tag_imported)

    # --- command line ----------------------------------------------------------
    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand(
            "audiogenre",
            help="set genres from tagger's analysis of the audio",
        )
        cmd.parser.usage = "%prog [options] [QUERY...]"
        cmd.parser.usage += (
            "\n\nAnalyse the items matching QUERY with tagger's genre model (files analysed "
            "before are not decoded again) and set their genres through beets.")
        cmd.parser.add_option("-p", "--pretend", action="store_true", default=False,
                              help="show what would change; change neither beets nor the files "
                                   "(the analysis is still kept in tagger's database)")
        cmd.parser.add_option("-o", "--overwrite", action="store_true", default=None,
                              help="replace genres that items already have")
        cmd.parser.add_option("-k", "--keep", dest="overwrite", action="store_false",
                              help="keep genres that items already have (the default)")
        cmd.parser.add_option("-c", "--min-confidence", dest="min_confidence", type="float",
                              metavar="P", help="set only genres with probability >= P (0-1)")
        cmd.parser.add_option("-t", "--top", type="int", metavar="K",
                              help="set up to K genres that pass --min-confidence")
        cmd.parser.add_option("-w", "--write", action="store_true", default=None,
                              help="write the genres into the files' tags (default: beets' "
                                   "import.write setting)")
        cmd.parser.add_option("-W", "--nowrite", dest="write", action="store_false",
                              help="change only beets' database, not the files")
        cmd.func = self._command
        return [cmd]

    def _command(self, lib: Any, opts: Any, args: list[str]) -> None:
        self.config.set_args({k: getattr(opts, k) for k in ("overwrite", "min_confidence", "top")
                              if getattr(opts, k) is not None})
        items = list(lib.items(args))
        if not items:
            raise ui.UserError(f"no items match {' '.join(args) or 'the library'}")
        self.tag_items(items, write=ui.should_write(opts.write), pretend=opts.pretend)

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
            self.tag_items(items, write=ui.should_write(), pretend=False, progress=False)

    # --- the work -------------------------------------------------------------------
    def options(self) -> tuple[bool, float, int]:
        """(overwrite, min_confidence, top) from the configuration, checked."""
        overwrite = self.config["overwrite"].get(bool)
        min_confidence = float(self.config["min_confidence"].as_number())
        top = self.config["top"].get(int)
        if not 0.0 <= min_confidence <= 1.0:
            raise ui.UserError(f"audiogenre: min_confidence must be between 0 and 1, "
                               f"not {min_confidence}")
        if top < 1:
            raise ui.UserError(f"audiogenre: top must be 1 or more, not {top}")
        return overwrite, min_confidence, top

    def tag_items(self, items: list[Item], write: bool, pretend: bool,
                  progress: bool = True) -> Counter:
        """Analyse ``items`` with tagger and set their genres; returns the count of each outcome."""
        # Imported here, not at the top: beets loads plugins for every command
        # (`beet ls` too), and tagger's audio stack takes a noticeable time to import.
        import tagger
        from tagger.store import Store

        overwrite, min_confidence, top = self.options()
        db = self.config["db"].as_filename() if self.config["db"].get() else None
        counts: Counter = Counter()
        present: list[tuple[Item, str]] = []
        for item in items:
            path = os.path.abspath(os.fsdecode(item.path))
            if os.path.isfile(path):
                present.append((item, path))
            else:
                counts["missing"] += 1
                self._log.warning("{}: file not found: {}", item, path)
        if not present:
            return self._summary(counts, pretend)
        files: list[str | os.PathLike] = [*sorted({path for _, path in present})]
        try:
            options = _scan_options(model=self.config["model"].get(),
                                    jobs=self.config["jobs"].get(), progress=progress)
            summary = tagger.scan(files, db=db, options=options,
                                  notify=lambda notice: self._log.info("{}", notice))
            store = Store(summary.db, create=False)
        except tagger.TaggerError as exc:
            raise ui.UserError(f"audiogenre: {exc}") from None
        rewritten: list[str] = []
        try:
            rows = store.tracks_at(path for _, path in present)
            for item, path in present:
                outcome = self._tag_one(item, rows.get(path), overwrite, min_confidence, top,
                                        write, pretend)
                counts[outcome] += 1
                if outcome == "written":
                    rewritten.append(path)
            _record_rewrites(store, rewritten)
        finally:
            store.close()
        return self._summary(counts, pretend)

    def _tag_one(self, item: Item, row: dict | None, overwrite: bool, min_confidence: float,
                 top: int, write: bool, pretend: bool) -> str:
        """Set one item's genres; returns what happened (``written`` when its file was too)."""
        if row is None or row["error"]:
            reason = row["error"] if row else "tagger found no audio file there"
            self._log.warning("{}: not analysed: {}", item, reason)
            return "not analysed"
        from tagger.write import decide, proposal

        separator = self.config["separator"].as_str()
        names = proposal(row["probabilities"] or {}, top, min_confidence)
        existing = _existing(item)
        action = decide(existing, _as_field(names, separator), overwrite)
        heard = f"{row['genre']} {row['confidence']:.2f}"
        if action == "low confidence":
            self._log.info("{}: no genre at --min-confidence {} (tagger: {})",
                           item, min_confidence, heard)
            return "low confidence"
        if action == "already set":
            self._log.debug("{}: already {}", item, _shown(existing))
            return "already set"
        if action == "keep existing":
            self._log.info("{}: keep {} (tagger: {}; --overwrite replaces it)",
                           item, _shown(existing), heard)
            return "kept"
        _set_genres(item, names, separator)
        ui.show_model_changes(item, fields=[GENRE_FIELD])
        if pretend:
            return "set"
        # What Item.try_sync(write, move=False) does, keeping try_write's answer.
        rewritten = write and item.try_write()
        item.store()
        return "written" if rewritten else "set"

    def _summary(self, counts: Counter, pretend: bool) -> Counter:
        changed = counts["set"] + counts["written"]
        parts = [f"pretend: {changed} items would change" if pretend else
                 f"{changed} items changed ({counts['written']} files written)"]
        for key, label in (("already set", "already set"), ("kept", "kept their genres"),
                           ("low confidence", "below min_confidence"),
                           ("not analysed", "not analysed"), ("missing", "file missing")):
            if counts[key]:
                parts.append(f"{counts[key]} {label}")
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
            return super().arguments([]) | {"paths": None, "beets": "audiogenre",
                                            "items": len(paths)}

    return BeetsScanOptions(**fields)


def _existing(item: Item) -> list[str]:
    value = item.get(GENRE_FIELD)
    if GENRE_FIELD == "genres":
        return list(value or [])
    return [value] if value else []


def _as_field(names: list[str], separator: str) -> list[str]:
    """The proposal in the form ``_existing`` returns, so the two compare."""
    if GENRE_FIELD == "genres" or not names:
        return names
    return [separator.join(names)]


def _set_genres(item: Item, names: list[str], separator: str) -> None:
    if GENRE_FIELD == "genres":
        item.genres = names
    else:
        item.genre = separator.join(names)


def _shown(genres: list[str]) -> str:
    return "; ".join(genres)


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
