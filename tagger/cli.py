"""The ``tagger`` command line: parses arguments and calls the library, nothing more.

Defaults come from the config file (``tagger.config``); an option given on the
command line wins.  Exit codes are defined once, in ``tagger.errors``.
"""

from __future__ import annotations

import functools
import inspect
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional

import typer
from typer import _click as click
from typer._click import exceptions as click_errors  # typer vendors click; no public alias
from typer.core import TyperArgument, TyperCommand

from . import __version__
from .config import (
    SETTINGS,
    WRITE_COMMANDS,
    ConfigError,
    Settings,
    config_path,
    load_config,
    options_of,
)
from .errors import (
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_FINISHED_WITH_ERRORS,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Interrupted,
    TaggerError,
)
from .formats import BY_EXTENSION
from .models.registry import model_help
from .paths import printable
from .results import Action
from .training.retrain import HEADS, NETS
from .voice import VOICES

if TYPE_CHECKING:
    from .results import FileError
    from .scan import ScanSummary
    from .write import AlbumChoice, Change, FieldChange, UndoSummary, WriteSummary

EXIT_CODES_HELP = (
    f"Exit codes: 0 done (files that cannot be decoded are recorded, not fatal); "
    f"{EXIT_ERROR} an error stated in one line (missing path, bad config, no model); "
    f"{EXIT_USAGE} bad usage; {EXIT_BUSY} the database is in use by another tagger; "
    f"{EXIT_FINISHED_WITH_ERRORS} finished, but some files could not be tagged or restored; "
    f"{EXIT_INTERRUPTED} interrupted (what finished is saved; the last line names the command "
    "that resumes)."
)


class TaggerCommand(TyperCommand):
    """Help and usage that name arguments the Unix way (``PATH...``, ``[PATH...]``)."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [
            _argument_label(p) for p in self.get_params(ctx) if isinstance(p, TyperArgument)
        ]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        params = self.get_params(ctx)
        args = [(_argument_label(p), p.help or "") for p in params if isinstance(p, TyperArgument)]
        opts = [
            rec
            for p in params
            if not isinstance(p, TyperArgument) and (rec := p.get_help_record(ctx)) is not None
        ]
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


def _argument_label(param: click.Parameter) -> str:
    label = (param.metavar or param.name or "ARG").upper()
    if param.nargs != 1:
        label += "..."
    return label if param.required else f"[{label}]"


class _App(typer.Typer):
    """Every command, including ones added later, renders its help with ``TaggerCommand``."""

    def command(self, *args: Any, cls: type | None = None, **kwargs: Any):
        return super().command(*args, cls=cls or TaggerCommand, **kwargs)


app = _App(
    help="Offline batch genre tagger for music libraries: scan, store in SQLite, "
    "write genre tags, report.  Defaults come from the config file (`tagger config`).",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"tagger {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Offline batch genre tagger for music libraries."""


# --- options shared by several commands ------------------------------------------------
def _optional(*decls: str, help: str, metavar: str | None = None, **kwargs: Any) -> Any:
    """An option that is None unless given (its default is said in ``help``)."""
    return typer.Option(None, *decls, metavar=metavar, show_default=False, help=help, **kwargs)


def _switch(flag: str, help: str) -> Any:
    """An on/off option, off unless given."""
    return typer.Option(False, flag, help=help)


def _probability(default: float, flag: str, help: str, at_least: float = 0.0) -> Any:
    """A probability P, from ``at_least`` to 1."""
    return typer.Option(default, flag, min=at_least, max=1.0, metavar="P", help=help)


def _setting_option(name: str, help: str | None = None) -> Any:
    """The option that sets the setting ``name`` for one command, as its table row declares it.

    Flags, placeholder and help come from ``tagger.config.SETTINGS``, and the
    value is checked there, as a config file's or beets' is: a bad one is a
    usage error naming the flag, with the config file's words.
    """
    setting = SETTINGS[name]

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            return setting.from_option(value)
        except ConfigError as exc:
            raise click_errors.UsageError(str(exc), ctx) from None

    return _optional(
        *setting.flags,
        metavar=setting.metavar,
        help=help or setting.option_help,
        callback=check,
    )


# ``readable=False``: click's check made an unreadable path a usage error (exit 2 and the
# usage); the command says why in one line and exits 1, as for a missing path.
PathsArg = typer.Argument(
    None,
    readable=False,
    metavar="PATH",
    show_default=False,
    help="Only tracks under these files or folders (default: all).",
)
JsonOption = _switch("--json", help="Print JSON for scripts instead of text.")
BpmOption = _optional(
    "--bpm",
    metavar="RANGE",
    help="Only tracks whose tempo lies in RANGE (beats per minute, ends included): "
    "120-130, 140- (140 and up), -90 (up to 90).",
)
# retrain and evaluate read the same collection the same way
SplitDirOption = _optional(
    "--split-dir",
    metavar="DIR",
    help="Folder with train/valid/test_filtered.txt (default: DATA/splits).",
)
CacheDirOption = _optional(
    "--cache-dir",
    metavar="DIR",
    help="Feature and embedding cache (default: the user cache folder).",
)

# Options whose help the model registry writes (the kinds and their engines).
OPTION_HELP = {"model": model_help()}
_DRY_RUN_HELP = {
    "write": "Print what would happen to each file (with --album, each album first) "
    "and change nothing.",
    "scan": "Print what the scan would do to each file (analyse, re-label, skip as "
    "moved, mark missing) and change nothing: no database is made or changed.",
}


@dataclass(frozen=True)
class Given:
    """What a command's setting options gave (None where not given), and its --dry-run."""

    settings: dict[str, Any]
    dry_run: bool = False


def with_settings(cmd: str) -> Callable[[Callable], Callable]:
    """Give the command ``cmd`` the options of the settings that name it in the table (the
    tag-writing rules, and --dry-run, where it writes tags); it receives them as
    ``given: Given``, so that a new setting is one row of the table."""
    names = options_of(cmd)
    params = [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Optional[SETTINGS[name].option_type],
            default=_setting_option(name, OPTION_HELP.get(name)),
        )
        for name in names
    ]
    writes = cmd in WRITE_COMMANDS  # it takes the write options, and a --dry-run
    if writes:
        dry_run = _switch("--dry-run", help=_DRY_RUN_HELP[cmd])
        params.append(
            inspect.Parameter(
                "dry_run", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=bool, default=dry_run
            )
        )

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "given"]

        takes = "given" in sig.parameters  # a command that reads no setting need not

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names}
            dry_run = kwargs.pop("dry_run") if writes else False
            if takes:
                kwargs["given"] = Given(given, dry_run)
            return fn(*args, **kwargs)

        at = next((i for i, p in enumerate(own) if p.name == "json_out"), len(own))
        shown = own[:at] + params + own[at:]  # the settings' options before --json in --help
        wrapper.__signature__ = sig.replace(parameters=shown)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in shown}
        return wrapper

    return decorate


def command(name: str) -> Callable[[Callable], Callable]:
    """``tagger NAME``: registered, its errors one line each, its setting options from the
    table."""

    def decorate(fn: Callable) -> Callable:
        return app.command(name)(handles_errors(with_settings(name)(fn)))

    return decorate


def _settings(given: Given | None = None) -> Settings:
    """The config file's settings with the command line's values on top."""
    return load_config().override(**(given.settings if given else {}))


# --- output helpers -------------------------------------------------------------------
def _err(msg: str) -> None:
    for line in msg.splitlines():  # a notice may hold two lines (model, runtime)
        typer.echo(f"tagger: {line}", err=True)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _print_failures(files: list[FileError], limit: int | None = 20, more: str = "") -> None:
    for e in files[:limit]:
        typer.echo(f"  error: {printable(e.path)}: {e.error}", err=True)
    if limit is not None and len(files) > limit:
        typer.echo(f"  ... and {len(files) - limit} more{more}", err=True)


def _exit_if_failed(errors: int) -> None:
    """Exit 4 (finished, but some files could not be tagged or restored) after ``errors``."""
    if errors:
        raise typer.Exit(EXIT_FINISHED_WITH_ERRORS)


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``0 errors``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _genres(names: list[str]) -> str:
    return "; ".join(names) or "(none)"


def _print_write(summary: WriteSummary, changes: bool) -> None:
    """Per album (with --album) and per file what happens (or would), then one line of counts."""
    if changes:
        # A track alone in its album (a loose single) is written per track, plainly: one line
        # counts them rather than one line each.
        alone = [a for a in summary.albums if len(a.album.tracks) == 1]
        for a in summary.albums:
            if len(a.album.tracks) > 1:
                typer.echo(_album_line(a))
        if alone:
            their = "its" if len(alone) == 1 else "their"
            typer.echo(
                f"per track: {_count(len(alone), 'track')} alone in {their} album or folder "
                "(an album genre needs 2 voting tracks)"
            )
        for c in summary.changes:
            if c.action is Action.WRITE or summary.dry_run:
                typer.echo(_change_line(c, summary.dry_run))
            for f in c.fields:
                if f.action is Action.WRITE or (
                    summary.dry_run and f.action is not Action.NO_VALUE
                ):
                    typer.echo(_field_line(c.path, f, summary.dry_run))
    typer.echo(
        f"tags: {'would write' if summary.dry_run else 'wrote'} {summary.to_write}, "
        f"kept existing {summary.kept_existing}, already set {summary.already_set}, "
        f"low confidence {summary.low_confidence}, uncertain {summary.uncertain}, "
        f"errors {summary.errors}{', stopped by Ctrl-C' if summary.interrupted else ''}"
    )
    _print_failures(summary.error_files)


def _album_line(choice: AlbumChoice) -> str:
    """``album Requiem — Mozart: 12 tracks, Classical 0.61, 11/12 agree -> Classical``."""
    a, spell = choice.album, choice.spell
    heard = (
        f", {spell(a.genre)} {a.score:.2f}, {len(a.agreeing)}/{len(a.voters)} agree"
        if a.genre
        else ""
    )
    n = len(a.tracks)
    head = f"{printable(a.key.label)}: {n} track{'s' * (n != 1)}{heard}"
    if not a.per_track:
        return f"album {head} -> {_genres(choice.proposed)}"
    return f"per track {head}: {a.why(spell)}"


def _field_line(path: str, f: FieldChange, dry_run: bool) -> str:
    """``write bpm FILE: (none) -> 128``, ``keep bpm FILE: 127``."""
    where = f"{f.field} {printable(path)}"
    if f.action is Action.WRITE:
        return (
            f"{'would write' if dry_run else 'write'} {where}: {_genres(f.existing)} -> "
            f"{_genres(f.proposed)}"
        )
    if f.action is Action.KEEP_EXISTING:
        return f"keep {where}: {_genres(f.existing)} (tagger: {_genres(f.proposed)})"
    if f.action is Action.ERROR:  # the reason is among the errors, on stderr
        return (
            f"{'would not write' if dry_run else 'error'} {where}: {_genres(f.existing)} -> "
            f"{_genres(f.proposed)}"
        )
    return f"{f.action} {where}: {_genres(f.existing)}"


def _change_line(c: Change, dry_run: bool) -> str:
    """``keep FILE: Romantic Classical (tagger: Ambient 0.19)``: what will happen, plainly."""
    path = printable(c.path)
    tagger_says = (
        f"(album: {c.album_genre} {c.album_score:.2f})"
        if c.album_genre
        else f"(tagger: {c.model_genre} {c.confidence:.2f})"
    )
    if c.action is Action.WRITE:
        note = f"  ({c.note})" if c.note else ""  # e.g. a compressed ID3v2.2 tag becomes v2.3
        return (
            f"{'would write' if dry_run else 'write'} {path}: {_genres(c.existing)} -> "
            f"{_genres(c.proposed)}{note}"
        )
    if c.action is Action.ERROR and dry_run:  # the reason is among the errors, on stderr
        return f"would not write {path}: {_genres(c.existing)} -> {_genres(c.proposed)}"
    if c.action is Action.KEEP_EXISTING:
        return f"keep {path}: {_genres(c.existing)} {tagger_says}"
    if c.action is Action.ALREADY_SET:
        return f"already set {path}: {_genres(c.existing)}"
    return f"{c.action} {path}: {_genres(c.existing)} {tagger_says}"


def handles_errors(fn: Callable) -> Callable:
    """Turn user-facing failures into one line on stderr and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TaggerError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _err(f"interrupted; everything finished so far is saved (`{resume_command()}` resumes)")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def resume_command(argv: list[str] | None = None) -> str:
    """The command that goes on from where this one was interrupted, as the user typed it.

    The same command resumes, except a ``scan --rescan``: run again it would
    redo every file, so ``--resume`` is added and only what it had not reached
    is analysed.
    """
    import shlex

    args = list(sys.argv[1:] if argv is None else argv)
    if "scan" in args and "--rescan" in args and "--resume" not in args:
        args.insert(args.index("--rescan") + 1, "--resume")
    return shlex.join(["tagger", *args])


def _bpm_range(text: str | None) -> tuple[float | None, float | None] | None:
    """``--bpm``'s range, or a usage error naming what is wrong with it."""
    if text is None:
        return None
    from .tempo import parse_range

    try:
        return parse_range(text)
    except ValueError as exc:
        _usage_error(f"--bpm: {exc}")
        raise  # not reached: _usage_error exits


def _usage_error(message: str) -> None:
    raise click_errors.UsageError(message)


def _one_of_json_csv(json_out: bool, csv_out: bool) -> None:
    if json_out and csv_out:
        _usage_error("--json and --csv cannot be used together")


BACKENDS = ("loky", "dask")  # what runs a scan's workers: ``pool.make_runner``


# --- commands ---------------------------------------------------------------------------
def _print_scan_plan(summary: ScanSummary, with_tags: bool) -> None:
    """``scan --dry-run``: each file and what the scan would do to it, then the counts."""
    would = summary.would or {}
    retagged = set(would.get("retagged", []))
    moved_from = summary.moved_from or {}
    for key, verb in (
        ("analyse", "would analyse"),
        ("relabel", "would re-label (from its stored embedding)"),
        ("unchanged", "would skip (unchanged)"),
        ("missing", "would mark missing"),
    ):
        for path in would.get(key, []):
            said = (  # its tags changed outside tagger, its audio did not
                verb.replace("(unchanged)", "(same audio, its new tags read)")
                if path in retagged
                else verb
            )
            if path in moved_from:  # the stored row of its old path follows it
                said = verb.replace("(unchanged)", "(moved, its analysis kept)")
                said += f" {printable(path)} (from {printable(moved_from[path])})"
                typer.echo(said)
                continue
            typer.echo(f"{said} {printable(path)}")
    _print_failures(summary.error_files)
    typer.echo(
        f"dry run, nothing changed: {summary.files_seen} audio files: would analyse "
        f"{summary.scanned}, re-label {summary.relabelled}, skip {summary.skipped} unchanged"
        f"{_retagged(summary.retagged)}{_moved(summary.moved)}, mark {summary.missing} missing  "
        f"[{summary.model} {summary.model_version}]"
    )
    if with_tags and summary.tags is not None:
        _print_write(summary.tags, changes=True)


def _retagged(n: int) -> str:
    """The scan summary's note on files whose tags changed outside tagger, audio unchanged."""
    return f" ({n} retagged outside tagger, same audio: not decoded)" if n else ""


def _moved(n: int) -> str:
    """The scan summary's note on files moved or renamed since their scan."""
    return f" ({n} moved or renamed: analysis kept, not decoded)" if n else ""


@command("scan")
def scan(
    given: Given,  # the setting options, from command()
    paths: List[Path] = typer.Argument(
        ..., readable=False, metavar="PATH", show_default=False, help="Folders or files to scan."
    ),
    rescan: bool = _switch("--rescan", help="Analyse every file again, even unchanged ones."),
    resume: bool = _switch(
        "--resume",
        help="With --rescan: finish an interrupted rescan, skipping the files it already redid.",
    ),
    timeout: float = typer.Option(
        120.0,
        "--timeout",
        min=1,
        metavar="S",
        help="Seconds one file may take before it is recorded as an error.",
    ),
    backend: str = typer.Option(
        "loky",
        "--backend",
        metavar="loky|dask",
        help="loky (worker processes on this machine) or dask (a Dask cluster; see --scheduler).",
    ),
    scheduler: Optional[str] = _optional(
        "--scheduler",
        metavar="ADDR",
        help="Dask scheduler address, "
        "e.g. tls://10.0.0.5:8786 (default with --backend "
        "dask: a local cluster).",
    ),
    write_tags: bool = _switch(
        "--write-tags",
        help="Then write the genres into the files' tags (with the options below).",
    ),
    include_uncertain: bool = _switch(
        "--include-uncertain",
        help="With --write-tags: also write tracks the model is unsure of (as `tagger write`).",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Analyse audio files and store their genres in SQLite.

    Each file is decoded, its genre predicted and the result stored.

    Unchanged files (same size, mtime and model version) are skipped, so an
    interrupted scan resumes where it stopped.  Files that cannot be decoded are
    recorded with the reason and the scan goes on.  Folders and globs listed in
    the config's `exclude` are skipped.
    """
    from .scan import ScanOptions
    from .scan import scan as run_scan
    from .write import WriteOptions

    settings = _settings(given)
    if backend not in BACKENDS:  # a usage error in its own words, not a validator's
        _usage_error(f"--backend must be {' or '.join(BACKENDS)}, not {backend!r}")
    options = settings.options_for(  # model, jobs, exclude, precision: the settings
        ScanOptions,
        rescan=rescan,
        timeout=timeout,
        progress=not json_out,
        backend=backend,
        scheduler=scheduler,
        keep_workers=False,
        write=WriteOptions.from_settings(settings, given.dry_run, include_uncertain)
        if write_tags
        else None,
        dry_run=given.dry_run,
        resume=resume,
    )
    if resume and not rescan:
        _usage_error("--resume finishes an interrupted --rescan; give both")
    try:
        summary = run_scan([str(p) for p in paths], db=settings.db, options=options, notify=_err)
    except Interrupted as exc:
        if json_out:  # a script still learns what was done (status "interrupted")
            _print_json(exc.summary.to_dict())
        elif exc.summary.tags:  # --write-tags: the files it wrote before the Ctrl-C
            _print_write(exc.summary.tags, changes=True)
        if exc.summary.tags:
            _undo_hint(exc.summary.tags, given)
        raise
    if json_out:
        _print_json(summary.to_dict())
    elif summary.dry_run:
        _print_scan_plan(summary, bool(summary.tags))
    else:
        relabelled = (
            f"{summary.relabelled} re-labelled from stored embeddings, "
            if summary.relabelled
            else ""
        )
        unheard = sum(summary.statuses.get(k, 0) for k in ("too_short", "silent"))
        no_genre = f" ({unheard} without a genre: too short or silent)" if unheard else ""
        typer.echo(
            f"{summary.files_seen} audio files: {summary.scanned} analysed{no_genre}, {relabelled}"
            f"{summary.skipped} unchanged{_retagged(summary.retagged)}{_moved(summary.moved)}, "
            f"{summary.errors} errors, "
            f"{summary.missing} missing  [{summary.model} {summary.model_version} on "
            f"{summary.engine}, {summary.seconds:.1f} s]"
        )
        if summary.files_seen == 0:
            _err(
                "hint: no audio files found under "
                + ", ".join(map(printable, paths))
                + f" (looked for {' '.join(BY_EXTENSION)}; hidden folders, "
                "folders holding a .taggerignore and the config's `exclude` are skipped)"
            )
        _print_failures(summary.error_files, more=" (`tagger report --errors` lists all)")
        for f in summary.unreadable_folders:
            typer.echo(f"  unreadable folder: {printable(f.path)}: {f.error}", err=True)
        if summary.tags:
            _print_write(summary.tags, changes=given.dry_run)
        typer.echo(f"database: {summary.db}")
    _exit_if_failed(summary.tags.errors if summary.tags else 0)


@command("write")
def write(
    given: Given,  # the setting options, from command()
    paths: Optional[List[Path]] = PathsArg,
    include_uncertain: bool = _switch(
        "--include-uncertain",
        help="Also write tracks the model abstained on (a "
        "trained head's confidence under the threshold chosen on held-out tracks, "
        "or musicnn's top genre under half its probability; `tagger report` lists them).",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Write the stored genres into the files' tags.

    The files' own tags: ID3, Vorbis comments, MP4 or ASF.

    Only the fields asked change (--fields: the genre unless told); every other
    tag, the tag version and the audio stay byte for byte.  Each field is
    journaled first, so `tagger undo` can put it back exactly.  A file whose audio changed since
    its scan is not written (`tagger scan` it again first).  A --dry-run makes
    every check of the write on a copy outside the library, so it lists the
    files the write would refuse and why; it changes nothing and may run while
    a scan holds the database.  Exits 4 when some files could not (with
    --dry-run: would not) be written.
    """
    from .write import Interrupted, WriteOptions, WriteSummary
    from .write import write_tags as run_write

    settings = _settings(given)
    try:
        summary = run_write(
            [str(p) for p in paths] if paths else None,
            db=settings.db,
            options=WriteOptions.from_settings(settings, given.dry_run, include_uncertain),
            show_progress=not json_out,
        )
    except Interrupted as stop:  # what it wrote, and how to put it back; then exit 130
        assert isinstance(stop.summary, WriteSummary)
        summary = stop.summary
        if json_out:
            _print_json(summary.to_dict())
        else:
            _print_write(summary, changes=True)
        _undo_hint(summary, given)
        raise KeyboardInterrupt from None
    if json_out:
        _print_json(summary.to_dict())
    else:
        _print_write(summary, changes=True)
    _exit_if_failed(summary.errors)


def _undo_hint(summary: WriteSummary, given: Given) -> None:
    """After a Ctrl-C stopped a write (``write``, ``scan --write-tags``): how many files it
    wrote and the ``tagger undo`` that puts exactly those back."""
    from .write import undo_command

    written = [c.path for c in summary.changes if c.writes]
    if written and not summary.dry_run:
        db = given.settings.get("db")
        _err(
            f"interrupted after writing {_count(len(written), 'file')} (listed above); "
            f"`{undo_command(written, str(db) if db else None)}` puts them back"
        )


@command("undo")
def undo(
    given: Given,  # the setting options, from command()
    paths: Optional[List[Path]] = PathsArg,
    dry_run: bool = _switch("--dry-run", help="Show what would be restored."),
    scan: Optional[int] = _optional(
        "--scan", metavar="ID", help="Only the writes of this scan id."
    ),
    force: bool = _switch(
        "--force",
        help="Also restore a genre or BPM that was changed by something else after "
        "tagger wrote it.",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Put back the genre fields tagger wrote, byte for byte.

    A file another program re-saved since keeps that program's changes and gets
    back the fields tagger wrote, when they still hold what tagger wrote.  A
    genre (or BPM) changed by something else since is left as it is unless
    --force; the file's other fields come back.  Exits 4 when some files or
    fields were not restored (left alone, or failed; with --dry-run: would
    not be).
    """
    from .write import Interrupted, UndoSummary
    from .write import undo as run_undo

    settings = _settings(given)
    try:
        summary = run_undo(
            [str(p) for p in paths] if paths else None,
            db=settings.db,
            scan_id=scan,
            dry_run=dry_run,
            force=force,
            show_progress=not json_out,
        )
    except Interrupted as stop:  # what it restored so far; then exit 130
        assert isinstance(stop.summary, UndoSummary)
        _print_undo(stop.summary, json_out)
        raise KeyboardInterrupt from None
    _print_undo(summary, json_out)
    if summary.changed_since or summary.partly:
        left = [
            f"{_count(summary.changed_since, 'file')}" if summary.changed_since else "",
            f"a field of {_count(summary.partly, 'file')}" if summary.partly else "",
        ]
        _err(
            f"not restored: {' and '.join(w for w in left if w)} changed by something else "
            "since tagger's write (listed above); `tagger undo --force` restores anyway"
        )
    # some files, or fields, not restored: 4
    _exit_if_failed(summary.errors + summary.changed_since + summary.partly)


def _print_undo(summary: UndoSummary, json_out: bool) -> None:
    """Per file what undo did (or would), then one line of counts; failures on stderr."""
    if json_out:
        _print_json(summary.to_dict())
        return
    dry_run = summary.dry_run
    for c in summary.changes:
        if c.action is Action.CHANGED_SINCE:
            typer.echo(f"left alone {printable(c.path)}: {c.reason}")
        elif c.action is Action.RESTORE:  # failures are listed below, on stderr
            # As write names them: the genre plainly, another field by its name.
            first, *rest = c.fields
            typer.echo(
                f"{'would restore' if dry_run else 'restored'} "
                f"{'' if first == 'genre' else f'{first} '}{printable(c.path)}: "
                f"{_genres(c.current)} -> {_genres(c.restore)}"
                + (f" (and {', '.join(rest)})" if rest else "")
                + (f"; left alone: {c.reason}" if c.reason else "")
            )
    typer.echo(
        f"{_count(summary.to_restore, 'file')} {'to restore' if dry_run else 'restored'}"
        + (f" ({summary.partly} of them partly)" if summary.partly else "")
        + f", {summary.changed_since} changed since tagger wrote them (left alone), "
        f"{_count(summary.errors, 'error')}"
        f"{', stopped by Ctrl-C' if summary.interrupted else ''}"
    )
    _print_failures(summary.error_files, limit=None)


@command("ls")
def ls_cmd(
    given: Given,  # the setting options, from command()
    paths: Optional[List[Path]] = PathsArg,
    genre: Optional[str] = _optional(
        "--genre",
        "-g",
        metavar="G",
        help="Only tracks of this genre (the model's name, your "
        "spelling from the config, or a synonym).",
    ),
    below: Optional[float] = _optional(
        "--below", min=0.0, max=1.0, metavar="P", help="Only tracks whose confidence is below P."
    ),
    status: Optional[str] = _optional(
        "--status",
        metavar="S",
        help="Only tracks with this status: ok, abstained (the model abstained: its top genre "
        "under its threshold, half for musicnn, the one chosen on held-out tracks for a "
        "trained head; not written unless --include-uncertain), truncated, too_short, "
        "silent, error, missing.",
    ),
    model: Optional[str] = _optional(
        "--model", "-m", metavar="NAME", help="Only tracks analysed by this model."
    ),
    bpm: Optional[str] = BpmOption,
    voice: Optional[str] = _optional(
        "--voice", metavar="V", help="Only tracks heard as instrumental, or as vocal."
    ),
    json_out: bool = JsonOption,
    csv_out: bool = _switch("--csv", help="Print CSV."),
) -> None:
    """List stored tracks: genre, confidence, status, tempo, voice.

    As `beet ls` lists a beets library, under a header line.  With --json, a
    file name that is not valid UTF-8 also comes as its exact bytes in base64
    (`path_bytes`; null for every other name).

    Reads only the database; no file is opened.
    """
    from . import listing

    _one_of_json_csv(json_out, csv_out)
    if status is not None and status not in listing.STATUSES:
        _usage_error(f"--status must be one of {', '.join(listing.STATUSES)}")
    if voice is not None and voice not in VOICES:
        _usage_error(f"--voice must be one of {', '.join(VOICES)}")
    settings = _settings(given)
    tracks = listing.list_tracks(
        settings.db,
        [str(p) for p in paths] if paths else None,
        genre=genre,
        below=below,
        status=status,
        model=model,
        genre_map=settings.genre_map,
        bpm=_bpm_range(bpm),
        voice=voice,
    )
    if json_out:
        _print_json([t.to_dict() for t in tracks])
    elif csv_out:
        typer.echo(listing.to_csv(tracks), nl=False)
    elif tracks:
        typer.echo(listing.to_text(tracks))
    else:
        near = listing.near_genres(settings.db, genre, settings.genre_map) if genre else []
        hint = f" (stored genres close to {genre!r}: {', '.join(near)})" if near else ""
        if genre and not near:
            hint = " (`tagger report` lists the stored genres)"
        _err(f"no tracks match{hint}")


@command("report")
def report(
    given: Given,  # the setting options, from command()
    paths: Optional[List[Path]] = PathsArg,
    by: str = typer.Option(
        "genre",
        "--by",
        metavar="genre|folder|format|model|album|voice",
        help="Group by genre, folder, format, model, album (each album's pooled genre, "
        "its score, how many tracks agree, and the tracks that disagree, as `write --album` "
        "pools them), or voice (instrumental, vocal, unsure).",
    ),
    uncertain: int = typer.Option(
        10, "--uncertain", min=0, metavar="N", help="List the N tracks the model is least sure of."
    ),
    low_confidence: float = _probability(
        0.4, "--low-confidence", help="Confidence under which a track counts as low."
    ),
    errors: bool = _switch("--errors", help="List every failed file (default: the first 20)."),
    json_out: bool = JsonOption,
    csv_out: bool = _switch("--csv", help="Print the grouped table as CSV."),
    plot: Optional[Path] = _optional(
        "--plot",
        metavar="FILE",
        help="Also draw tracks per group, the confidence "
        "distribution and the agreement matrix (.png or .svg).",
    ),
) -> None:
    """Genre statistics, failed files and agreement with tags.

    Agreement: how often the stored genre matches the genre tag a file already had.
    """
    from . import report as rp
    from .write import WriteOptions

    _one_of_json_csv(json_out, csv_out)
    if by not in rp.GROUPINGS:
        _usage_error(f"--by must be one of {', '.join(rp.GROUPINGS)}")
    if plot and plot.suffix.lower() not in (".png", ".svg"):
        _usage_error("--plot needs a .png or .svg file name")
    settings = _settings(given)
    rep = rp.build_report(
        settings.db,
        by=by,
        uncertain=uncertain,
        low_confidence=low_confidence,
        paths=[str(p) for p in paths] if paths else None,
        genre_map=settings.genre_map,
        # tagger write's options, for the low-confidence tracks it would write (the genre's)
        write=settings.options_for(WriteOptions, fields=("genre",)),
    )
    if plot:
        rep.plot = str(rp.plot(rep, plot))
    if json_out:
        _print_json(rep.to_dict())
    elif csv_out:
        typer.echo(rp.to_csv(rep), nl=False)
    else:
        typer.echo(rp.to_text(rep, errors=None if errors else rp.ERRORS_SHOWN))
        if plot:
            typer.echo(f"plot: {plot}")


@command("show")
def show(
    given: Given,  # the setting options, from command()
    file: Path = typer.Argument(
        ..., readable=False, metavar="FILE", show_default=False, help="An audio file."
    ),
    top: int = typer.Option(3, "--top", min=1, metavar="K", help="How many genres to list."),
    fresh: bool = _switch(
        "--fresh",
        help="Run the model even when the database holds a current result for the file.",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Print the top genres of one file.

    A result stored by a scan is used when the file is unchanged and the model
    is the same (instant); otherwise, or with --fresh, the model runs (seconds).
    The database is never changed.
    """
    from .show import show as run_show
    from .worker import top_k

    settings = _settings(given)
    shown = run_show(file, settings.model, settings.db, fresh=fresh, precision=settings.precision)
    ref, pred = shown.ref, shown.prediction
    label = settings.genre_map.label  # one spelling in every output, --json too
    probabilities = settings.genre_map.labelled(pred.probabilities)
    best = top_k(probabilities, top)
    if shown.notice:
        _err(shown.notice)
    if json_out:
        _print_json(
            {
                "path": str(file),
                "model": ref.name,
                "model_version": ref.version,
                "engine": pred.engine,
                "kind": ref.kind,
                "genre": label(pred.genre),
                "confidence": pred.confidence,
                "uncertain": pred.uncertain,
                "top": [{"genre": g, "probability": p} for g, p in best],
                "probabilities": probabilities,
                "tags": pred.tags,
                "bpm": shown.bpm,
                "bpm_reason": shown.bpm_reason,
                "voice": shown.voice,
                "stored_at": shown.stored_at,
            }
        )
        return
    where = (
        f"stored {shown.stored_at}; --fresh to recompute"
        if shown.stored_at
        else f"on {pred.engine}, computed now"
    )
    typer.echo(
        f"{printable(file)}  [{ref.name}, {where}]"
        + ("  (abstained: under the model's threshold)" if pred.uncertain else "")
    )
    for g, p in best:  # spelt as ls, report and write spell it
        typer.echo(f"  {g:<16} {p:6.3f}")
    typer.echo(f"  tempo: {shown.tempo_text}; voice: {shown.voice or 'unsure'}")


@command("similar")
def similar(
    given: Given,  # the setting options, from command()
    file: Path = typer.Argument(
        ...,
        readable=False,
        metavar="FILE",
        show_default=False,
        help="An audio file (in the library or not).",
    ),
    top: int = typer.Option(10, "--top", min=1, help="How many similar tracks to list."),
    m3u: Optional[Path] = _optional(
        "--m3u", help="Also write them as an M3U playlist (the file first)."
    ),
    include_copies: bool = _switch(
        "--include-copies",
        help="Also list stored tracks holding the same audio as FILE (copies, retagged or "
        "not), left out by default.",
    ),
    bpm: Optional[str] = BpmOption,
    json_out: bool = JsonOption,
) -> None:
    """The library's tracks that sound most like FILE.

    Similarity is the cosine of stored musicnn embeddings.

    FILE itself and stored copies of its audio (a beets import's copy, say) are
    left out unless --include-copies.
    """
    from .similar import similar as find
    from .similar import write_m3u

    settings = _settings(given)
    result = find(file, settings.db, top, include_copies, _bpm_range(bpm), settings.genre_map)
    if m3u:
        result.m3u = str(write_m3u(result, m3u))
    if json_out:
        _print_json(result.to_dict())
        return
    typer.echo(f"most similar to {printable(result.query)} (of {result.searched} stored tracks):")
    if result.results:  # a header line, as `ls` has
        typer.echo(f"  {'cosine':<6}  {'genre':<16} {'bpm':>5}  path")
    for r in result.results:
        genre = r.genre or "-"
        tempo = f"{r.bpm:5.1f}" if r.bpm is not None else "    -"
        typer.echo(f"  {r.similarity:<6.3f}  {genre:<16} {tempo}  {printable(r.path)}")
    if result.copies and not include_copies:
        n = len(result.copies)
        typer.echo(
            f"left out {n} cop{'y' if n == 1 else 'ies'} of the same audio "
            f"(--include-copies lists {'them' if n > 1 else 'it'})"
        )
    if result.m3u:
        typer.echo(f"playlist: {result.m3u}")


@command("models")
def models_cmd(given: Given, json_out: bool = JsonOption) -> None:
    """List the installed models, their figures and the missing ones.

    The figures come from each model's card.

    The default is the config's `model` when set, else the best model
    installed for the database (--db): the library head is the one learnt
    from that database; the last line says how to choose another.
    """
    from .models import KINDS, available, default_kind, library_heads, planned_engine
    from .models.registry import database_of, learnt_from

    settings = _settings(given)
    default, why = default_kind(settings.db)
    if settings.model:
        default, why = settings.model, f"set by `model` in {settings.source('model')}"
    rows = []
    for ref in available(settings.db):
        card = ref.card
        engine, slow_why = planned_engine(ref)
        rows.append(
            {
                "name": ref.name,
                "installed": True,
                "default": ref.name == default,
                "why_default": why if ref.name == default else None,
                "version": ref.version,
                "kind": ref.kind,
                "runtime": engine.runtime,
                "precision": engine.precision,
                "runtime_note": slow_why,
                "genres": [settings.genre_map.label(g) for g in ref.genres],
                "source": ref.source,
                "path": ref.path,
                "licence": card.get("licence"),
                "data": card.get("data"),
                "accuracy": card.get("accuracy"),
                "not_default": card.get("not_default"),
                "database": learnt_from(ref),
            }
        )
    if json_out:  # the installed models, as scripts have always read them
        _print_json(rows)
        return
    here = database_of(settings.db)
    for kind in KINDS.values():
        if not any(r["name"] == kind.name for r in rows):
            how = kind.how_to_get(here)
            if kind.trained_from == "library":  # each database learns its own
                how = f"none learnt from {here}; {how}"
            rows.append({"name": kind.name, "installed": False, "how": how})
    for r in rows:
        if not r["installed"]:
            typer.echo(f"{r['name']}  not installed; {r['how']} (`tagger retrain --help`)")
            continue
        mark = f"  [default: {r['why_default']}]" if r["default"] else ""
        typer.echo(f"{r['name']}  {r['version']}  ({r['kind']}, {r['source']}){mark}")
        if r["not_default"] and not r["default"]:
            for line in _default_lines(r["name"], r["not_default"]):
                typer.echo(f"  {line.strip()}")
        typer.echo(f"  genres:  {', '.join(r['genres'])}")
        typer.echo(f"  licence: {r['licence']}")
        typer.echo(
            f"  runs on: {r['runtime']} {r['precision']}"
            + (f" ({r['runtime_note']})" if r["runtime_note"] else "")
        )
        acc = r["accuracy"] or {}
        figures = ", ".join(f"{k} {v}" for k, v in acc.items() if isinstance(v, (int, float)))
        if figures:
            typer.echo(f"  figures: {figures}")
        if r["database"]:
            typer.echo(f"  learnt from: {r['database']} (the only database it labels)")
        typer.echo(f"  file:    {r['path']}")
    others = sorted({d or "(no database named)" for d in library_heads().values()} - {here})
    if others:
        typer.echo(f"library heads of other databases (`--db FILE` chooses): {', '.join(others)}")
    typer.echo(
        f'default: {default}; to choose another, set `model = "NAME"` in {config_path()} '
        f"(`--model NAME` for one command)"
    )


@command("config")
def config_cmd(json_out: bool = JsonOption) -> None:
    """Print the effective settings and where each came from.

    From the config file, the environment, or the built-in default.
    """
    settings = load_config()
    path = config_path()
    values = settings.to_dict()
    if json_out:
        _print_json(
            {"config_file": str(path), "exists": settings.path is not None, "settings": values}
        )
        return
    typer.echo(
        f"config file: {path}"
        + (
            ""
            if settings.path
            else "  (not found: the built-in defaults below; it takes any of these keys as "
            "`key = value` lines, and a [name] as a TOML table)"
        )
    )
    for name, v in values.items():
        value = v["value"]
        shown = (
            "(automatic)"
            if value is None
            else value
            if isinstance(value, str)
            else json.dumps(value)
        )
        key = SETTINGS[name].key  # as the file spells it: a table is its [header]
        typer.echo(
            f"  {f'[{key}]' if isinstance(value, dict) else key:<15} {shown:<40} ({v['source']})"
        )


@command("retrain")
def retrain(
    given: Given,  # the setting options, from command()
    data: Optional[Path] = _optional(
        "--data", help="Genre collection: GTZAN (genres/<genre>/...) or any <genre>/<files> folder."
    ),
    from_library: bool = _switch(
        "--from-library",
        help="Instead, learn your own "
        "genres: train the `library` head on the genre tags the "
        "scanned files carry (no audio is decoded).",
    ),
    min_tracks: int = typer.Option(
        5,
        "--min-tracks",
        min=1,
        help="With --from-library: genres with fewer tracks are left out (and listed).",
    ),
    genre_map: Optional[Path] = _optional(
        "--map",
        help="With --from-library: a file of `From = To` lines merging genres "
        "(`Rap = Rap` keeps a genre apart that would be merged as a synonym).",
    ),
    target_precision: float = _probability(
        0.9,
        "--target-precision",
        at_least=0.5,
        help="With --from-library: the share of the held-out tracks the head keeps that must "
        "be right; it abstains below the lowest confidence that achieves it (lower: fewer "
        "abstentions, more mistakes).",
    ),
    model: str = typer.Option(
        "all",
        "--model",
        "-m",
        help=f"{', '.join(NETS + HEADS)}, or all (every net: {' and '.join(NETS)}).",
    ),
    split: Optional[str] = _optional(
        "--split",
        help="filtered (default when split lists exist) or random (stratified, by track).",
    ),
    split_dir: Optional[Path] = SplitDirOption,
    folds: Optional[int] = _optional(
        "--folds",
        min=2,
        help="K-fold cross-validation by track instead (reports mean accuracy, installs nothing).",
    ),
    epochs: int = typer.Option(
        60, "--epochs", min=1, help="Maximum epochs (early stopping on the validation split)."
    ),
    batch: int = typer.Option(
        64, "--batch", min=1, metavar="N", help="Training examples per step of the nets."
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        metavar="N",
        help="Seed of a random split, of the folds and of the training's shuffling.",
    ),
    out: Optional[Path] = _optional(
        "--out",
        help="Where to write <model>.keras and its "
        "card (default: the user model folder, used by scans).",
    ),
    cache_dir: Optional[Path] = CacheDirOption,
    jobs: Optional[int] = _optional(
        "--jobs",
        "-j",
        min=1,
        metavar="N",
        help="Processes that decode the collection's audio for --data (default: one per CPU).",
    ),
    json_out: bool = JsonOption,
) -> None:
    """Train a model on your own genre tags or a genre collection.

    --from-library trains the `library` head from the database in seconds; it
    becomes the default model unless it is no better than always answering
    your most common genre (then it is saved, and used where you name it).
    --data trains the ResNet/MLP (split by track, tested once) or, with
    --model head, a softmax head on musicnn embeddings.
    """
    from .training.retrain import retrain as run
    from .training.train import TrainConfig

    if from_library:
        from .training.from_library import retrain_from_library
        from .training.retrain import command_line

        card = retrain_from_library(
            _settings(given).db,
            min_tracks,
            genre_map,
            out,
            command_line(),
            target=target_precision,
        )
        _print_head(card, json_out)
        return
    if data is None:
        raise TaggerError("give --data DIR (a genre collection) or --from-library")
    if model in HEADS:
        from .training.head_data import retrain_head
        from .training.retrain import command_line

        _print_head(
            retrain_head(
                data,
                split=split,
                split_dir=split_dir,
                seed=seed,
                out_dir=out,
                cache_dir=cache_dir,
                command=command_line(),
                log=lambda m: typer.echo(m, err=True),
            ),
            json_out,
        )
        return

    kinds = list(NETS) if model == "all" else [model]
    result = run(
        data,
        kinds,
        split=split,
        split_dir=split_dir,
        folds=folds,
        cfg=TrainConfig(epochs=epochs, batch=batch, seed=seed),
        out_dir=out,
        cache_dir=cache_dir,
        jobs=jobs,
        log=lambda m: typer.echo(m, err=True),
    )
    from .training.metrics import spelt

    result = spelt(result, _settings(given).genre_map.label)  # as every command spells genres
    if json_out:
        _print_json(result)
        return
    for kind, f in result["folds"].items():
        typer.echo(f"{kind}: {f['k']}-fold track accuracy {f['mean']:.3f} +- {f['std']:.3f}")
    for kind, card in result["models"].items():
        a = card["accuracy"]
        typer.echo(
            f"{kind}: track accuracy {a['track_accuracy']:.3f}, slice accuracy "
            f"{a['slice_accuracy']:.3f}, macro-F1 {a['macro_f1']:.3f}, ECE "
            f"{a['ece_before_calibration']:.3f} -> {a['ece']:.3f} "
            f"[{card['split']['name']} split]"
        )


def _print_head(card: dict, json_out: bool) -> None:
    """A trained head's figures, as its card records them (genres spelt as every command
    prints them)."""
    from .training.from_library import CASES, head_warning
    from .training.metrics import spelt

    card = spelt(card, _settings().genre_map.label)
    a = card["accuracy"]
    if warning := head_warning(card):
        typer.echo(f"tagger: warning: {warning}", err=True)
    if json_out:
        _print_json(card)
        return
    typer.echo(
        f"{card['name']}: {len(card['genres'])} genres, {a['tracks']} held-out tracks "
        f"[{a['split']}]"
    )
    typer.echo(
        f"  accuracy {a['accuracy']:.3f}, macro-F1 {a['macro_f1']:.3f}, ECE {a['ece']:.3f} "
        f"(temperature {a['temperature']:.2f})"
    )
    kept = a["kept_accuracy"]
    typer.echo(
        f"  abstains below confidence {a['threshold']:.3f}: keeps {a['kept_fraction']:.0%} "
        f"of held-out tracks" + (f", {kept:.1%} of them right" if kept is not None else "")
    )
    if "baseline_accuracy" in a:
        typer.echo(
            f"  always answering {a['baseline_genre']}: accuracy {a['baseline_accuracy']:.3f}"
        )
    known = a.get("known_album")
    if known and not known.get("calibrated", True):
        typer.echo(f"  tracks of albums it learnt from: {known['why']}")
    elif known:
        typer.echo(
            f"  tracks of albums it learnt from (held out within their album, the album's "
            f"other tags as evidence): accuracy "
            f"{known['accuracy']:.3f}; abstains below {known['threshold']:.3f}: keeps "
            f"{known['kept_fraction']:.0%}"
            + (f", {known['kept_accuracy']:.1%} of them right" if known["kept_accuracy"] else "")
        )
    untagged = (card.get("data") or {}).get("untagged")
    if untagged:
        typer.echo(
            f"  your {untagged['tracks']} untagged tracks: labels {untagged['labelled']}, "
            f"abstains on {untagged['abstained']}"
        )
        for case, n in (untagged.get("by_case") or {}).items():
            typer.echo(
                f"    {n['tracks']} {CASES[case]}: labels {n['labelled']}, "
                f"abstains on {n['abstained']}"
            )
    by_album = a.get("by_album")
    if by_album and by_album["albums"]:
        typer.echo(
            f"  by album: {by_album['accuracy']:.3f} of {by_album['albums']} albums right "
            f"(pooled); `write --album` would write {by_album['album_mode_track_accuracy']:.1%} "
            f"of tracks right ({by_album['written_as_one']} albums as one genre) against "
            f"{a['accuracy']:.1%} track by track"
        )
    w = max(len(g) for g in a["per_genre"])
    typer.echo(f"  {'genre':<{w}}  precision  recall  tracks  albums")
    for g, v in a["per_genre"].items():
        note = "  (one album: optimistic)" if v.get("optimistic") else ""
        typer.echo(
            f"  {g:<{w}}  {v['precision']:9.3f}  {v['recall']:6.3f}  {v['count']:6d}  "
            f"{v.get('albums', ''):>6}{note}"
        )
    data = card.get("data") or {}
    if data.get("left_out"):
        typer.echo(
            f"  left out (fewer than {data['min_tracks']} tracks): "
            + ", ".join(f"{g} ({n})" for g, n in data["left_out"].items())
        )
    for src, dst in (data.get("merged") or {}).items():
        typer.echo(f"  merged: {src} -> {dst} (--map with `{src} = {src}` keeps it apart)")
    typer.echo(f"model: {card['path']}")
    if card["name"] == "library":
        typer.echo(
            f"learnt from: {data['database']} (it labels that database only; each database "
            f"learns its own)"
        )
        for line in _default_lines(card["name"], card.get("not_default")):
            typer.echo(line)


def _default_lines(name: str, why_not: str | None) -> list[str]:
    """Whether a trained head is the default model, how to make it so and how to go back."""
    where = f'`model = "{name}"` in {config_path()}'
    chosen = _settings().model
    if chosen == name:
        return [f"the default model: {where} chooses it; to go back: remove that line"]
    if why_not:
        return [
            f"not made the default: {why_not}; scans keep using "
            f"{chosen or 'the default'} unless you name it",
            f"  to make it the default: set {where} (`--model {name}` for one command); to go "
            f"back: remove that line",
        ]
    if chosen and chosen != name:
        return [f'not the default: `model = "{chosen}"` in {config_path()} chooses it']
    return [
        "the default model from now on: the next scan re-labels your library with it",
        f'  to go back: set `model = "musicnn"` in {config_path()} (`--model musicnn` for '
        f"one command)",
    ]


@command("evaluate")
def evaluate(
    data: Path = typer.Option(
        ...,
        "--data",
        metavar="DIR",
        show_default=False,
        help="The genre collection the model was trained on.",
    ),
    model: Optional[str] = _optional(
        "--model",
        "-m",
        metavar="NAME",
        help=f"{NETS[0]} (default), {', '.join(NETS[1:])}, or a .keras file.",
    ),
    split: Optional[str] = _optional(
        "--split",
        metavar="filtered|random",
        help="filtered or random (default: the split in the model card).",
    ),
    split_dir: Optional[Path] = SplitDirOption,
    seed: Optional[int] = _optional(
        "--seed", metavar="N", help="Seed of a random split (default: the card's)."
    ),
    cache_dir: Optional[Path] = CacheDirOption,
    plot: Optional[Path] = _optional(
        "--plot", metavar="FILE", help="Write the confusion matrix as PNG."
    ),
    json_out: bool = JsonOption,
) -> None:
    """Evaluate a trained model on its test split.

    Track and slice accuracy, F1, the confusion matrix and calibration (ECE).
    """
    from .training.retrain import confusion_text
    from .training.retrain import evaluate as run

    rep = run(
        data,
        model,
        split=split,
        split_dir=split_dir,
        seed=seed,
        cache_dir=cache_dir,
        plot=plot,
        genre_map=_settings().genre_map,
    )
    if json_out:
        _print_json(rep)
        return
    typer.echo(
        f"{rep['model']} {rep['model_version']} on {rep['split']['name']} split, "
        f"{rep['tracks']} test tracks ({rep['slices']} slices)"
    )
    typer.echo(f"  track accuracy  {rep['track_accuracy']:.3f}   (headline)")
    typer.echo(f"  slice accuracy  {rep['slice_accuracy']:.3f}")
    typer.echo(f"  macro-F1        {rep['macro_f1']:.3f}")
    typer.echo(f"  ECE             {rep['ece']:.3f}")
    typer.echo(
        f"  inference       {rep['inference_seconds']:.2f} s "
        f"({rep['tracks_per_second']} tracks/s, features cached)"
    )
    if (rep.get("training") or {}).get("epochs"):  # a net's (a head's card has no epochs)
        typer.echo(
            f"  training        {rep['training'].get('seconds_this_run')} s, "
            f"{rep['training'].get('epochs')} epochs"
        )
    typer.echo(
        "  per genre: "
        + ", ".join(
            f"{g} P{v['precision']:.2f}/R{v['recall']:.2f}" for g, v in rep["per_genre"].items()
        )
    )
    typer.echo(confusion_text(rep["confusion"]))
    if rep.get("plot"):
        typer.echo(f"confusion matrix: {rep['plot']}")


def main(args: list[str] | None = None) -> int:
    """Console entry point: a usage error is one line plus the usage, not a box."""
    from .runtime import quiet_tensorflow

    quiet_tensorflow()
    try:
        code = app(args=args, prog_name="tagger", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()
        code = EXIT_USAGE
    except click_errors.UsageError as exc:
        ctx = exc.ctx
        where = (
            f"tagger {ctx.command_path.split(' ', 1)[1]}"
            if ctx and " " in ctx.command_path
            else "tagger"
        )
        typer.echo(f"{where}: error: {exc.format_message()}", err=True)
        usage = ctx.get_usage().replace("Usage: ", "usage: ", 1) if ctx else "usage: tagger ..."
        typer.echo(f"{usage}  (`{where} --help` for more)", err=True)
        code = EXIT_USAGE
    except click_errors.ClickException as exc:
        _err(f"error: {exc.format_message()}")
        code = exc.exit_code
    except typer.Abort:
        _err("interrupted")
        code = EXIT_INTERRUPTED
    # The command is done and has said so: a Ctrl-C from here on could only break into the
    # interpreter's exit (the worker pool's exit handler), a traceback after a full summary.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
