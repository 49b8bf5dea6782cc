"""The ``tagger`` command line: parses arguments and calls the library, nothing more.

Exit codes: 0 done (files that failed to decode are recorded, not fatal),
1 a user-facing error (bad path, unopenable database, no model), 2 bad usage,
3 the database is busy with another tagger, 130 interrupted.
"""
from __future__ import annotations

import functools
import json
from enum import Enum
from pathlib import Path
from typing import Callable, List, Optional

import typer

from .errors import TaggerError
from .paths import printable

app = typer.Typer(
    help="Offline batch genre tagger for music libraries: scan, store in SQLite, "
         "write genre tags, report.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

DbOption = typer.Option(None, "--db", help="SQLite database (default: $TAGGER_DB, else "
                        "~/.local/share/tagger/library.db).", show_default=False)
JsonOption = typer.Option(False, "--json", help="Print one JSON object for scripts instead of text.")


class Precision(str, Enum):
    auto = "auto"
    float32 = "float32"


PrecisionOption = typer.Option(
    None, "--precision", help="auto: bfloat16 where the CPU computes it natively (AVX-512 BF16 "
    "or AMX; tags within 1e-2 of float32, several times faster), else float32.  float32: always "
    "float32.  Only models with a converted OpenVINO graph (musicnn) have the choice.")
ModelOption = typer.Option(None, "--model", "-m", help="resnet, mlp, musicnn, or a .keras model "
                           "file (default: the trained ResNet if installed, else musicnn).")


OverwriteOption = typer.Option(False, "--overwrite", help="Replace genres already in the files "
                               "(default: files that have a genre are left alone).")
MinConfOption = typer.Option(0.0, "--min-confidence", min=0.0, max=1.0, help="Do not write a "
                             "genre whose probability is below this.")
TopOption = typer.Option(1, "--top", min=1, help="Write up to K genres that pass "
                         "--min-confidence.")
Id3v23Option = typer.Option(False, "--id3v23", help="Write ID3v2.3 (old players) instead of v2.4; "
                            "several genres are then joined with --separator.")
SeparatorOption = typer.Option("; ", "--separator", help="Joins several genres where a format "
                               "holds only one value (ID3v2.3).")
DryRunOption = typer.Option(False, "--dry-run", help="Show existing -> proposed per file and "
                            "change nothing.")
UncertainOption = typer.Option(False, "--include-uncertain", help="Also write tracks the model "
                               "abstained on (a trained head's confidence under the threshold "
                               "chosen on held-out tracks; `tagger report` lists them).")


def _write_options(overwrite, min_confidence, top, id3v23, separator, dry_run,
                   include_uncertain=False):
    from .write import WriteOptions

    return WriteOptions(overwrite=overwrite, min_confidence=min_confidence, top=top,
                        id3v23=id3v23, separator=separator, dry_run=dry_run,
                        include_uncertain=include_uncertain)


def _print_write(summary: dict, changes: bool) -> None:
    if changes:
        for c in summary["changes"]:
            if c["action"] in ("write", "error") or summary["dry_run"]:
                old = "; ".join(c["existing"]) or "(none)"
                new = "; ".join(c["proposed"]) or "(none)"
                note = f"  ({c['note']})" if c.get("note") else ""
                typer.echo(f"{c['action']:<15} {printable(c['path'])}: {old} -> {new}{note}")
    verb = "would write" if summary["dry_run"] else "wrote"
    n = sum(c["action"] == "write" for c in summary["changes"]) if summary["dry_run"] \
        else summary["written"]
    typer.echo(f"tags: {verb} {n}, kept existing {summary['kept_existing']}, already set "
               f"{summary['already_set']}, low confidence {summary['low_confidence']}, "
               f"uncertain {summary['uncertain']}, "
               f"errors {summary['errors']}")
    for e in summary["error_files"][:20]:
        typer.echo(f"  error: {printable(e['path'])}: {e['error']}", err=True)


def _err(msg: str) -> None:
    for line in msg.splitlines():
        typer.echo(f"tagger: {line}", err=True)


def handles_errors(fn: Callable) -> Callable:
    """Turn user-facing failures into one line on stderr and an exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TaggerError as exc:
            _err(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _err("interrupted; everything finished so far is saved")
            raise typer.Exit(130) from None
    return wrapper


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
@handles_errors
def scan(
    paths: List[Path] = typer.Argument(..., help="Folders or files to scan.", show_default=False),
    db: Optional[Path] = DbOption,
    model: Optional[str] = ModelOption,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes "
                                       "(default: number of CPUs)."),
    rescan: bool = typer.Option(False, "--rescan", help="Analyse every file again, even unchanged ones."),
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds one file may take "
                                  "before it is recorded as an error."),
    backend: str = typer.Option("loky", "--backend", help="loky (worker processes on this "
                                "machine) or dask (a Dask cluster; see --scheduler)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, "
                                            "e.g. tcp://host:8786 (default with --backend dask: "
                                            "a local cluster)."),
    precision: Optional[Precision] = PrecisionOption,
    write_tags: bool = typer.Option(False, "--write-tags", help="Then write the genres into the "
                                    "files' tags (same options as `tagger write`)."),
    overwrite: bool = OverwriteOption,
    min_confidence: float = MinConfOption,
    top: int = TopOption,
    id3v23: bool = Id3v23Option,
    separator: str = SeparatorOption,
    dry_run: bool = DryRunOption,
    json_out: bool = JsonOption,
) -> None:
    """Scan folders: decode each audio file, predict its genre, store it in SQLite.

    Unchanged files (same size, mtime and model version) are skipped, so an
    interrupted scan resumes where it stopped.  Files that cannot be decoded are
    recorded with the reason and the scan goes on.
    """
    from .scan import scan as run_scan

    write = _write_options(overwrite, min_confidence, top, id3v23, separator, dry_run) \
        if write_tags else None
    summary = run_scan([str(p) for p in paths], db=db, model=model, jobs=jobs, rescan=rescan,
                       timeout=timeout, progress=not json_out, write=write, backend=backend,
                       scheduler=scheduler, precision=precision.value if precision else None,
                       notify=None if json_out else _err)
    if json_out:
        _print_json(summary.to_dict())
        return
    relabelled = (f"{summary.relabelled} re-labelled from stored embeddings, "
                  if summary.relabelled else "")
    typer.echo(f"{summary.files_seen} audio files: {summary.scanned} analysed, {relabelled}"
               f"{summary.skipped} unchanged, {summary.errors} errors, "
               f"{summary.missing} missing  [{summary.model} {summary.model_version} on "
               f"{summary.engine}, {summary.seconds:.1f} s]")
    for e in summary.error_files[:20]:
        typer.echo(f"  error: {printable(e['path'])}: {e['error']}", err=True)
    if len(summary.error_files) > 20:
        typer.echo(f"  ... and {len(summary.error_files) - 20} more (see `tagger report`)", err=True)
    for f in summary.unreadable_folders:
        typer.echo(f"  unreadable folder: {printable(f['path'])}: {f['error']}", err=True)
    if summary.tags:
        _print_write(summary.tags, changes=dry_run)
    typer.echo(f"database: {summary.db}")


@app.command()
@handles_errors
def write(
    paths: Optional[List[Path]] = typer.Argument(None, help="Only files under these paths "
                                                 "(default: every analysed track).",
                                                 show_default=False),
    db: Optional[Path] = DbOption,
    overwrite: bool = OverwriteOption,
    min_confidence: float = MinConfOption,
    top: int = TopOption,
    id3v23: bool = Id3v23Option,
    separator: str = SeparatorOption,
    dry_run: bool = DryRunOption,
    include_uncertain: bool = UncertainOption,
    json_out: bool = JsonOption,
) -> None:
    """Write the stored genres into the files' own tags (ID3, Vorbis comments, MP4, ASF).

    Only the genre field changes; every other tag, the tag version and the
    audio stay byte for byte.  Each file's genre field is journaled first, so
    `tagger undo` can put it back exactly.
    """
    from .write import write_tags as run_write

    summary = run_write([str(p) for p in paths] if paths else None, db=db,
                        options=_write_options(overwrite, min_confidence, top, id3v23, separator,
                                               dry_run, include_uncertain)).to_dict()
    if json_out:
        _print_json(summary)
        return
    _print_write(summary, changes=True)


@app.command()
@handles_errors
def undo(
    paths: Optional[List[Path]] = typer.Argument(None, help="Only files under these paths.",
                                                 show_default=False),
    db: Optional[Path] = DbOption,
    scan: Optional[int] = typer.Option(None, "--scan", help="Only the writes of this scan id."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be restored."),
    force: bool = typer.Option(False, "--force", help="Also restore files whose genre was "
                               "changed by something else after tagger wrote it."),
    json_out: bool = JsonOption,
) -> None:
    """Restore the genre fields exactly as they were before tagger wrote them."""
    from .write import undo as run_undo

    summary = run_undo([str(p) for p in paths] if paths else None, db=db, scan_id=scan,
                       dry_run=dry_run, force=force).to_dict()
    if json_out:
        _print_json(summary)
        return
    for c in summary["changes"]:
        if c.get("action") == "changed since":
            typer.echo(f"left alone {printable(c['path'])}: {c['reason']}")
            continue
        typer.echo(f"{'would restore' if dry_run else 'restored'} {printable(c['path'])}: "
                   f"{'; '.join(c['current']) or '(none)'} -> {'; '.join(c['restore']) or '(none)'}")
    to_restore = sum(c.get("action") == "restore" for c in summary["changes"])
    typer.echo(f"{to_restore if dry_run else summary['restored']} files "
               f"{'to restore' if dry_run else 'restored'}, {summary['changed_since']} changed "
               f"since tagger wrote them (left alone), {summary['errors']} errors")
    for e in summary["error_files"]:
        typer.echo(f"  error: {printable(e['path'])}: {e['error']}", err=True)


@app.command()
@handles_errors
def report(
    db: Optional[Path] = DbOption,
    by: str = typer.Option("genre", "--by", help="Group by genre, folder, format or model."),
    uncertain: int = typer.Option(10, "--uncertain", min=0, help="List the N tracks the model "
                                  "is least sure of."),
    low_confidence: float = typer.Option(0.4, "--low-confidence", min=0.0, max=1.0,
                                         help="Confidence under which a track counts as low."),
    json_out: bool = JsonOption,
    csv_out: bool = typer.Option(False, "--csv", help="Print the grouped table as CSV."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw the distribution and "
                                        "agreement matrix to a PNG or SVG file."),
) -> None:
    """Genre statistics of the library, and agreement with the genres already in the tags."""
    from . import report as rp

    if by not in rp.GROUPINGS:
        raise TaggerError(f"--by must be one of {', '.join(rp.GROUPINGS)}")
    if plot and plot.suffix.lower() not in (".png", ".svg"):
        raise TaggerError("--plot needs a .png or .svg file name")
    rep = rp.build_report(db, by=by, uncertain=uncertain, low_confidence=low_confidence)
    if plot:
        rep["plot"] = str(rp.plot(rep, plot))
    if json_out:
        _print_json(rep)
    elif csv_out:
        typer.echo(rp.to_csv(rep), nl=False)
    else:
        typer.echo(rp.to_text(rep))
        if plot:
            typer.echo(f"plot: {plot}")


@app.command()
@handles_errors
def show(
    file: Path = typer.Argument(..., help="An audio file.", show_default=False),
    model: Optional[str] = ModelOption,
    top: int = typer.Option(3, "--top", min=1, help="How many genres to list."),
    precision: Optional[Precision] = PrecisionOption,
    json_out: bool = JsonOption,
) -> None:
    """Predict the genre of one file and print the top genres (the database is not touched)."""
    from .worker import predict_file, top_k

    ref, pred, notice = predict_file(file, model, precision.value if precision else None)
    best = top_k(pred.probabilities, top)
    if json_out:
        _print_json({"path": str(file), "model": ref.name, "model_version": ref.version,
                     "engine": pred.engine, "kind": ref.kind, "genre": pred.genre,
                     "confidence": pred.confidence, "uncertain": pred.uncertain,
                     "top": [{"genre": g, "probability": p} for g, p in best],
                     "probabilities": pred.probabilities, "tags": pred.tags})
        return
    if notice:
        _err(notice)
    typer.echo(f"{printable(file)}  [{ref.name} on {pred.engine}]"
               + ("  (uncertain: under the model's threshold)" if pred.uncertain else ""))
    for g, p in best:
        typer.echo(f"  {g:<16} {p:6.3f}")


@app.command()
@handles_errors
def similar(
    file: Path = typer.Argument(..., help="An audio file (in the library or not).",
                                show_default=False),
    db: Optional[Path] = DbOption,
    top: int = typer.Option(10, "--top", min=1, help="How many similar tracks to list."),
    m3u: Optional[Path] = typer.Option(None, "--m3u", help="Also write them as an M3U playlist "
                                       "(the file first).", show_default=False),
    json_out: bool = JsonOption,
) -> None:
    """The library's tracks that sound most like FILE (cosine of stored musicnn embeddings)."""
    from .similar import similar as find
    from .similar import write_m3u

    result = find(file, db, top)
    if m3u:
        result["m3u"] = str(write_m3u(result, m3u))
    if json_out:
        _print_json(result)
        return
    typer.echo(f"most similar to {printable(result['query'])} "
               f"(of {result['searched']} stored tracks):")
    for r in result["results"]:
        typer.echo(f"  {r['similarity']:.3f}  {r['genre'] or '-':<16} {printable(r['path'])}")
    if m3u:
        typer.echo(f"playlist: {result['m3u']}")


@app.command("models")
@handles_errors
def models_cmd(json_out: bool = JsonOption) -> None:
    """List the installed models with the figures from their model cards."""
    from .models import available, default_kind

    default, why = default_kind()
    rows = []
    for ref in available():
        card = ref.card
        engine, slow_why = ref.engine()
        rows.append({"name": ref.name, "default": ref.name == default,
                     "why_default": why if ref.name == default else None,
                     "version": ref.version, "kind": ref.kind,
                     "runtime": engine.runtime, "precision": engine.precision,
                     "runtime_note": slow_why,
                     "genres": list(ref.genres), "source": ref.source, "path": ref.path,
                     "licence": card.get("licence"), "data": card.get("data"),
                     "accuracy": card.get("accuracy")})
    if json_out:
        _print_json(rows)
        return
    for r in rows:
        mark = f"  [default: {r['why_default']}]" if r["default"] else ""
        typer.echo(f"{r['name']}  {r['version']}  ({r['kind']}, {r['source']}){mark}")
        typer.echo(f"  genres:  {', '.join(r['genres'])}")
        typer.echo(f"  licence: {r['licence']}")
        typer.echo(f"  runs on: {r['runtime']} {r['precision']}"
                   + (f" ({r['runtime_note']})" if r["runtime_note"] else ""))
        acc = r["accuracy"] or {}
        figures = ", ".join(f"{k} {v}" for k, v in acc.items() if isinstance(v, (int, float)))
        if figures:
            typer.echo(f"  figures: {figures}")
        typer.echo(f"  file:    {r['path']}")


@app.command()
@handles_errors
def retrain(
    data: Optional[Path] = typer.Option(None, "--data", help="Genre collection: GTZAN "
                                        "(genres/<genre>/...) or any <genre>/<files> folder.",
                                        show_default=False),
    from_library: bool = typer.Option(False, "--from-library", help="Instead, learn your own "
                                      "genres: train the `library` head on the genre tags the "
                                      "scanned files carry (no audio is decoded)."),
    db: Optional[Path] = DbOption,
    min_tracks: int = typer.Option(5, "--min-tracks", min=1, help="With --from-library: genres "
                                   "with fewer tracks are left out (and listed)."),
    genre_map: Optional[Path] = typer.Option(None, "--map", help="With --from-library: a file of "
                                             "`From = To` lines merging genre spellings.",
                                             show_default=False),
    model: str = typer.Option("all", "--model", "-m", help="resnet, mlp, all, or head (a softmax "
                              "head on musicnn embeddings)."),
    split: Optional[str] = typer.Option(None, "--split", help="filtered (default when split "
                                        "lists exist) or random (stratified, by track)."),
    split_dir: Optional[Path] = typer.Option(None, "--split-dir", help="Folder with "
                                             "train/valid/test_filtered.txt (default: DATA/splits)."),
    folds: Optional[int] = typer.Option(None, "--folds", min=2, help="K-fold cross-validation by "
                                        "track instead (reports mean accuracy, installs nothing)."),
    epochs: int = typer.Option(60, "--epochs", min=1, help="Maximum epochs (early stopping on "
                               "the validation split)."),
    batch: int = typer.Option(64, "--batch", min=1),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write <model>.keras and its "
                                       "card (default: the user model folder, used by scans)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache "
                                             "(default: the user cache folder)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1),
    json_out: bool = JsonOption,
) -> None:
    """Train a model: on your library's own genre tags (--from-library), or on a genre collection.

    --from-library trains the `library` head from the database in seconds; it
    becomes the default model.  --data trains the ResNet/MLP (split by track,
    tested once) or, with --model head, a softmax head on musicnn embeddings.
    """
    from .training.retrain import retrain as run
    from .training.train import TrainConfig

    if from_library:
        from .training.from_library import retrain_from_library
        from .training.retrain import command_line

        _print_head(retrain_from_library(db, min_tracks, genre_map, out, command_line()), json_out)
        return
    if data is None:
        raise TaggerError("give --data DIR (a genre collection) or --from-library")
    if model == "head":
        from .training.head_data import retrain_head
        from .training.retrain import command_line

        _print_head(retrain_head(data, split=split, split_dir=split_dir, seed=seed, out_dir=out,
                                 cache_dir=cache_dir, command=command_line(),
                                 log=lambda m: typer.echo(m, err=True)), json_out)
        return

    kinds = ["resnet", "mlp"] if model == "all" else [model]
    result = run(data, kinds, split=split, split_dir=split_dir, folds=folds,
                 cfg=TrainConfig(epochs=epochs, batch=batch, seed=seed), out_dir=out,
                 cache_dir=cache_dir, jobs=jobs, log=lambda m: typer.echo(m, err=True))
    if json_out:
        _print_json(result)
        return
    for kind, f in result["folds"].items():
        typer.echo(f"{kind}: {f['k']}-fold track accuracy {f['mean']:.3f} +- {f['std']:.3f}")
    for kind, card in result["models"].items():
        a = card["accuracy"]
        typer.echo(f"{kind}: track accuracy {a['track_accuracy']:.3f}, slice accuracy "
                   f"{a['slice_accuracy']:.3f}, macro-F1 {a['macro_f1']:.3f}, ECE "
                   f"{a['ece_before_calibration']:.3f} -> {a['ece']:.3f} "
                   f"[{card['split']['name']} split]")


def _print_head(card: dict, json_out: bool) -> None:
    """A trained head's figures, as its card records them."""
    if json_out:
        _print_json(card)
        return
    a = card["accuracy"]
    typer.echo(f"{card['name']}: {len(card['genres'])} genres, {a['tracks']} held-out tracks "
               f"[{a['split']}]")
    typer.echo(f"  accuracy {a['accuracy']:.3f}, macro-F1 {a['macro_f1']:.3f}, ECE {a['ece']:.3f} "
               f"(temperature {a['temperature']:.2f})")
    kept = a["kept_accuracy"]
    typer.echo(f"  abstains below confidence {a['threshold']:.3f}: keeps {a['kept_fraction']:.0%} "
               f"of held-out tracks" + (f", {kept:.1%} of them right" if kept is not None else ""))
    w = max(len(g) for g in a["per_genre"])
    typer.echo(f"  {'genre':<{w}}  precision  recall  tracks  albums")
    for g, v in a["per_genre"].items():
        note = "  (one album: optimistic)" if v.get("optimistic") else ""
        typer.echo(f"  {g:<{w}}  {v['precision']:9.3f}  {v['recall']:6.3f}  {v['count']:6d}  "
                   f"{v.get('albums', ''):>6}{note}")
    data = card.get("data") or {}
    if data.get("left_out"):
        typer.echo(f"  left out (fewer than {data['min_tracks']} tracks): " + ", ".join(
            f"{g} ({n})" for g, n in data["left_out"].items()))
    for src, dst in (data.get("merged") or {}).items():
        typer.echo(f"  merged: {src} -> {dst}")
    typer.echo(f"model: {card['path']}")


@app.command()
@handles_errors
def evaluate(
    data: Path = typer.Option(..., "--data", help="The genre collection the model was trained on.",
                              show_default=False),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="resnet (default), mlp, or a "
                                        ".keras file."),
    split: Optional[str] = typer.Option(None, "--split", help="filtered or random (default: the "
                                        "split in the model card)."),
    split_dir: Optional[Path] = typer.Option(None, "--split-dir"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of a random split (default: "
                                       "the card's)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the confusion matrix as PNG."),
    json_out: bool = JsonOption,
) -> None:
    """Evaluate a trained model on the test split: track and slice accuracy, F1, confusion, ECE."""
    from .training.retrain import confusion_text, evaluate as run

    rep = run(data, model, split=split, split_dir=split_dir, seed=seed, cache_dir=cache_dir,
              plot=plot)
    if json_out:
        _print_json(rep)
        return
    typer.echo(f"{rep['model']} {rep['model_version']} on {rep['split']['name']} split, "
               f"{rep['tracks']} test tracks ({rep['slices']} slices)")
    typer.echo(f"  track accuracy  {rep['track_accuracy']:.3f}   (headline)")
    typer.echo(f"  slice accuracy  {rep['slice_accuracy']:.3f}")
    typer.echo(f"  macro-F1        {rep['macro_f1']:.3f}")
    typer.echo(f"  ECE             {rep['ece']:.3f}")
    typer.echo(f"  inference       {rep['inference_seconds']:.2f} s "
               f"({rep['tracks_per_second']} tracks/s, features cached)")
    if rep.get("training"):
        typer.echo(f"  training        {rep['training'].get('seconds_this_run')} s, "
                   f"{rep['training'].get('epochs')} epochs")
    typer.echo("  per genre: " + ", ".join(f"{g} P{v['precision']:.2f}/R{v['recall']:.2f}"
                                         for g, v in rep["per_genre"].items()))
    typer.echo(confusion_text(rep["confusion"]))
    if rep.get("plot"):
        typer.echo(f"confusion matrix: {rep['plot']}")


def main() -> None:
    """Console entry point."""
    from .runtime import quiet_tensorflow

    quiet_tensorflow()
    app()


if __name__ == "__main__":
    main()
