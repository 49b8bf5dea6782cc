"""``tagger report``: what the library holds, and whether to trust the model on it.

Everything is computed from the database alone (no file is opened), so a
report of 100,000 tracks takes seconds.  Agreement compares the genre tags
that were in the files before tagger touched them (``tag_genre`` at scan
time) with the predictions, after mapping free text onto the model's genres
through ``genres.canonical``; tags that map to nothing are listed, not guessed.

``--by album`` groups tracks into albums and pools them as ``tagger write
--album`` does (``tagger.albums``, one implementation): each album's genre,
score, the agreement of its tracks, whether it would be written as one or
track by track and why, and the tracks that disagree.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .albums import AlbumGenre, AlbumTrack, album_genres
from .genres import GenreMap, canonical, display_name, spelling_key
from .listing import roots_of, shown_status, status_of
from .paths import default_db, is_under, output_file, printable
from .results import Action, to_json
from .store import Store, TrackRow
from .tagedit import field_of
from .tempo import MAX_BPM, MIN_BPM
from .write import WriteOptions, albums_of, genre_decision, known_genres

GROUPINGS = ("genre", "folder", "format", "model", "album", "voice")
# What --by album reads beyond the other groupings' columns (the probabilities are
# parsed only for it: for 100,000 rows that costs more than the rest of the report).
ALBUM_COLUMNS = ("album", "album_artist", "compilation", "probabilities")
DISAGREEING_SHOWN = 3  # disagreeing tracks listed per album by the text report
ERRORS_SHOWN = 20  # failed files listed by the text report without --errors
HISTOGRAM_BINS = 10
BPM_EDGES = [float(b) for b in range(int(MIN_BPM), int(MAX_BPM) + 1, 20)]  # tagger.tempo's range


def _key(row: TrackRow, by: str, genre_map: GenreMap) -> str:
    if by == "folder":
        return os.path.dirname(row.path)
    if by == "genre":
        return genre_map.label(_genre(row))
    if by == "voice":
        return row.voice or "(unsure)"
    return getattr(row, by) or "(none)"


def _genre(row: TrackRow) -> str:
    """An analysed row's genre (analysed: no error and a genre, so never empty)."""
    return row.genre or ""


def _confidence(row: TrackRow) -> float:
    """An analysed row's confidence (stored with every genre)."""
    return row.confidence or 0.0


@dataclass(frozen=True)
class Listed:
    """A track the report names (least certain, abstained), its genre as the user spells it."""

    path: str
    genre: str
    confidence: float


@dataclass(frozen=True)
class Failed:
    """A stored track whose file could not be analysed, with its status and reason."""

    path: str
    status: str
    error: str


@dataclass(frozen=True)
class Unwritten:
    """A file whose last write by ``tagger write`` was refused or failed, from the journal."""

    path: str
    status: str  # refused | failed
    error: str
    at: str | None  # when the write was tried (None: stopped before the file was changed)
    scan_id: int | None  # the result's scan: what ``tagger undo --scan ID`` takes
    # The field left as it was (``bpm``); None: the whole file (refused before any field
    # was written, or a write from before each field was journaled on its own).
    field: str | None = None
    # The fields of the file that hold tagger's write, not undone: a field written before
    # another one failed stays written.
    written: list[str] = dataclasses.field(default_factory=list)

    @property
    def left(self) -> str:
        """What was left as it was, and what stays written, in words."""
        kept = f"{self.field} left as it was" if self.field else "left as it was"
        return kept + (f", {' and '.join(self.written)} written" if self.written else "")

    @classmethod
    def from_journal(cls, entry: dict[str, Any]) -> Unwritten:
        """From ``History.unwritten``'s record: the raw fields named (one written before each
        field was journaled on its own is the genre)."""
        failed = entry["old_field"]
        written = [field_of(raw) if raw else "genre" for raw in entry["written"]]
        return cls(
            entry["path"],
            entry["status"],
            entry["error"],
            entry["written_at"],
            entry["scan_id"],
            field_of(failed) if failed else None,
            list(dict.fromkeys(written)),
        )


@dataclass(frozen=True)
class WrittenScan:
    """Files ``tagger write`` wrote (not undone) with the results of one scan."""

    scan_id: int | None  # what ``tagger undo --scan ID`` takes
    files: int


@dataclass(frozen=True)
class Totals:
    tracks: int
    analysed: int
    errors: int
    # ok, abstained, truncated, too_short, silent, error (``listing.shown_status``);
    # "unchecked": scanned before tagger had statuses
    statuses: dict[str, int]
    missing: int
    written: int
    low_confidence: int
    low_confidence_threshold: float
    abstained: int
    # Of the low-confidence tracks, those ``tagger write`` would write with the settings in
    # force (``write.genre_decision``, with each file's genre as the database knows it).
    low_confidence_to_write: int = 0


@dataclass(frozen=True)
class Group:
    """One row of the grouped table: a genre, folder, format, model or album."""

    by: str
    key: str
    tracks: int
    share: float
    mean_confidence: float
    low_confidence: int
    written: int
    # Grouped by folder, format or model: which genres the group holds, most first.
    genres: dict[str, int] | None = None
    album: AlbumGenre | None = None  # grouped by album: the album, pooled
    spell: Callable[[str], str] = str  # genres as the user spells them

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            self.by: self.key,
            "tracks": self.tracks,
            "share": self.share,
            "mean_confidence": self.mean_confidence,
            "low_confidence": self.low_confidence,
            "written": self.written,
        }
        if self.album is not None:
            detail = self.album.to_dict(self.spell)
            keep = ("genre", "score", "voters", "agreeing", "agreement", "mode", "reason")
            out |= {k: detail[k] for k in keep}
            out["album_tags"] = {k: detail[k] for k in ("album", "album_artist", "folder")}
            out["disagreeing"] = detail["disagreeing"]
        if self.genres is not None:
            out["genres"] = self.genres
        return out


@dataclass(frozen=True)
class Histogram:
    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class Tempi:
    """The analysed tracks' tempi: a histogram in 20-BPM bins, and the tracks without one."""

    histogram: Histogram
    no_beat: int  # no steady beat was heard
    not_heard: int  # analysed before tempo was stored (``tagger scan --rescan`` adds it)


@dataclass(frozen=True)
class Agreement:
    """Existing genre tags (mapped to canonical genres) against the predictions."""

    compared: int
    agreeing: int
    rate: float | None
    tag_genres: list[str]
    predicted_genres: list[str]
    matrix: list[list[int]]  # rows: tag genres, columns: predicted genres
    unmapped: dict[str, int]  # tags that map to no genre, most common first
    # Tracks the library head learnt from: compared by the prediction a head trained
    # without their album made at retrain (out-of-fold), not by the head's own answer.
    out_of_fold: int = 0


@dataclass
class Report:
    """What ``tagger report`` shows; ``to_dict`` is its ``--json``."""

    db: str
    by: str
    paths: list[str] | None
    totals: Totals
    groups: list[Group]
    confidence_histogram: Histogram
    tempi: Tempi
    agreement: Agreement
    uncertain: list[Listed]  # the least certain tracks the model did not abstain on
    abstained: list[Listed]  # the least certain tracks the model abstained on: not written
    errors: list[Failed]
    last_scan: dict[str, Any] | None  # the newest ``scans`` row
    # Folders the last scan could not read (their files could not even be listed).
    unreadable_folders: list[Failed] = field(default_factory=list)
    plot: str | None = None  # the file ``--plot`` drew
    # The tag journal: files a write left as they were, and the writes ``undo --scan`` takes.
    unwritten: list[Unwritten] = field(default_factory=list)
    written_by_scan: list[WrittenScan] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = to_json(self)
        if self.plot is None:  # the key is there only when a plot was drawn
            del out["plot"]
        return out


def build_report(
    db=None,
    by: str = "genre",
    uncertain: int = 10,
    low_confidence: float = 0.4,
    paths: list | None = None,
    genre_map: GenreMap | None = None,
    write: WriteOptions | None = None,
) -> Report:
    """The report of the database's tracks (under ``paths``, where given).

    ``genre_map`` (the config's ``[genres]``) spells the genres as the user does;
    ``write``: ``tagger write``'s options, for the count of low-confidence
    tracks it would write (decided as the write decides, from the database).
    """
    if by not in GROUPINGS:
        raise ValueError(by)
    gmap = genre_map or GenreMap()
    write = write or WriteOptions(genre_map=gmap)
    # What the write's decision reads beyond the report's columns: the probabilities of
    # the low-confidence tracks (below), or with --album every album's tracks'.
    all_probabilities = by == "album" or write.album
    store = Store(default_db(db), create=False, reading=True)
    try:
        # Not the probability and tag JSON: parsing it for 100,000 rows would
        # cost more than the whole report.
        rows = store.tracks(
            columns=(
                "path",
                "format",
                "model",
                "model_version",
                "genre",
                "confidence",
                "tag_genre",
                "error",
                "missing",
                "written_genre",
                "uncertain",
                "status",
                "bpm",
                "bpm_reason",
                "voice",
                *(ALBUM_COLUMNS if all_probabilities else ()),
            )
        )
        if not all_probabilities:  # the low ones alone: 100,000 rows would cost seconds
            low = [r.path for r in rows if _confidence(r) < low_confidence and r.genre]
            heard = {r.path: r.probabilities for r in store.tracks_at(low, ("probabilities",))}
            rows = [
                dataclasses.replace(r, probabilities=heard[r.path]) if r.path in heard else r
                for r in rows
            ]
        scans = store.scans()
        unwritten = [Unwritten.from_journal(e) for e in store.history.unwritten()]
        by_scan = [WrittenScan(k, n) for k, n in store.history.written_by_scan().items()]
    finally:
        store.close()
    # Albums are pooled over all their tracks, as `tagger write --album` pools them.
    albums = (
        album_genres(AlbumTrack.from_row(r) for r in rows if not r.missing)
        if (by == "album")
        else []
    )
    album_of = albums_of([r for r in rows if not r.missing], write) if write.album else {}
    roots = roots_of(paths, [r.path for r in rows])
    if roots is not None:
        rows = [r for r in rows if is_under(r.path, roots)]
    present = [r for r in rows if not r.missing]
    analysed = [r for r in present if r.error is None and r.genre]
    groups: dict[str, list[TrackRow]] = defaultdict(list)
    labelled: dict[str, AlbumGenre] = {}  # --by album: each group's album, by its label
    if by == "album":
        for album in albums:
            labelled[album.key.label] = album
        label = {t.path: a.key.label for a in albums for t in a.tracks}
        for r in analysed:
            groups[label[r.path]].append(r)
    else:
        for r in analysed:
            groups[_key(r, by, gmap)].append(r)
    table = []
    for key, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        conf = [_confidence(r) for r in rs]
        table.append(
            Group(
                by,
                key,
                tracks=len(rs),
                share=round(len(rs) / len(analysed), 4),
                mean_confidence=round(sum(conf) / len(conf), 4),
                low_confidence=sum(c < low_confidence for c in conf),
                written=sum(bool(r.written_genre) for r in rs),
                genres=None if by in ("genre", "album") else _genre_counts(rs, gmap),
                album=labelled.get(key),
                spell=gmap.spell,
            )
        )
    last = dict(scans[-1]) if scans else None
    unreadable: list[Failed] = []
    if last:
        for key in ("arguments", "unreadable"):
            if isinstance(last.get(key), str):
                last[key] = json.loads(last[key])
        unreadable = [
            Failed(folder, "unreadable", reason)
            for folder, reason in last.get("unreadable") or []
            if roots is None or is_under(folder, roots)
        ]

    def writes(r: TrackRow) -> bool:
        """Whether ``tagger write`` would write this analysed track (from the database)."""
        existing = known_genres(r, write.separator)
        return genre_decision(r, existing, write, album_of.get(r.path))[1] is Action.WRITE

    def listed(abstained: bool) -> list[Listed]:
        chosen = (r for r in analysed if bool(r.uncertain) is abstained)
        return [
            Listed(r.path, gmap.label(_genre(r)), _confidence(r))
            for r in sorted(chosen, key=_confidence)[:uncertain]
        ]

    return Report(
        db=str(store.path),
        by=by,
        paths=[str(p) for p in paths] if paths else None,
        totals=Totals(
            tracks=len(rows),
            analysed=len(analysed),
            errors=sum(r.error is not None for r in present),
            # As ``ls`` shows them (``abstained`` apart from ``ok``).
            statuses=dict(Counter(shown_status(r) if r.status else "unchecked" for r in present)),
            missing=len(rows) - len(present),
            written=sum(bool(r.written_genre) for r in present),
            low_confidence=sum(_confidence(r) < low_confidence for r in analysed),
            low_confidence_threshold=low_confidence,
            abstained=sum(bool(r.uncertain) for r in analysed),
            low_confidence_to_write=sum(
                _confidence(r) < low_confidence and writes(r) for r in analysed
            ),
        ),
        groups=table,
        confidence_histogram=histogram([_confidence(r) for r in analysed]),
        tempi=tempi(analysed),
        agreement=_spelt(agreement(analysed, _held_out(analysed, store.path)), gmap),
        # Abstained tracks are listed under "abstained", not twice.
        uncertain=listed(abstained=False),
        abstained=listed(abstained=True),
        errors=[Failed(r.path, status_of(r), r.error) for r in present if r.error is not None],
        last_scan=last,
        unwritten=[u for u in unwritten if roots is None or is_under(u.path, roots)],
        written_by_scan=by_scan,
        unreadable_folders=unreadable,
    )


def _spelt(a: Agreement, gmap: GenreMap) -> Agreement:
    """The agreement with its genres spelt as every command spells them (``GenreMap.label``),
    compared by the model's names."""
    return dataclasses.replace(
        a,
        tag_genres=[gmap.label(g) for g in a.tag_genres],
        predicted_genres=[gmap.label(g) for g in a.predicted_genres],
    )


def _genre_counts(rows: list[TrackRow], gmap: GenreMap) -> dict[str, int]:
    """Tracks per genre among ``rows``, most first (ties alphabetical)."""
    counts = Counter(gmap.label(_genre(r)) for r in rows)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> Histogram:
    """Counts of ``values`` (confidences, 0..1) in ``bins`` equal bins; 1.0 falls in the last."""
    counts = [0] * bins
    for v in values:
        counts[min(int(v * bins), bins - 1)] += 1
    return Histogram([round(i / bins, 4) for i in range(bins + 1)], counts)


def tempi(rows: list[TrackRow]) -> Tempi:
    """The tempo histogram of analysed rows (``BPM_EDGES``; the last bin holds its top edge)."""
    counts = [0] * (len(BPM_EDGES) - 1)
    for r in rows:
        if r.bpm is not None:
            i = next((k for k, e in enumerate(BPM_EDGES[1:]) if r.bpm < e), len(counts) - 1)
            counts[max(0, i)] += 1
    return Tempi(
        Histogram(BPM_EDGES, counts),
        no_beat=sum(r.bpm is None and r.bpm_reason is not None for r in rows),
        not_heard=sum(r.bpm is None and r.bpm_reason is None for r in rows),
    )


def tempi_text(t: Tempi) -> list[str]:
    """The tempo histogram as text lines: one bar of ``#`` per 20-BPM bin."""
    top = max(t.histogram.counts, default=0)
    lines = ["tempo (BPM):"]
    edges = t.histogram.edges
    for lo, hi, n in zip(edges, edges[1:], t.histogram.counts):
        bar = "#" * (round(30 * n / top) if top else 0)
        lines.append(f"  {lo:>5.0f}-{hi:<5.0f} {n:>7}  {bar}")
    lines.append(f"  no steady beat: {t.no_beat}")
    if t.not_heard:
        lines.append(f"  not heard yet: {t.not_heard} (`tagger scan --rescan` adds their tempo)")
    return lines


def _held_out(rows: list[TrackRow], db: str | os.PathLike) -> dict[str, str]:
    """The library head of the database ``db``: its out-of-fold genres of the tracks it learnt
    from, where the rows' results are that head's (else nothing to substitute)."""
    if not any(r.model == "library" for r in rows):
        return {}
    from .models import installed, resolve
    from .models.head import held_out_genres

    path = installed("library", db)
    if path is None:
        return {}
    version = resolve("library", db)[0].version
    held = held_out_genres(path)
    return {r.path: held[r.path] for r in rows if r.model_version == version and r.path in held}


def agreement(rows: list[TrackRow], held_out: dict[str, str] | None = None) -> Agreement:
    """Existing tags (mapped to canonical genres) against predictions.

    ``held_out``: path -> the prediction to compare instead of the stored one
    (a head's out-of-fold genre of a track it learnt from).
    """
    held_out = held_out or {}
    out_of_fold = 0
    pairs: Counter[tuple[str, str]] = Counter()
    unmapped: Counter[str] = Counter()
    for r in rows:
        tag = r.tag_genre
        if not tag or tag == r.written_genre:
            continue  # no tag, or only the one tagger itself wrote (seen by a --rescan)
        first = tag.split(";")[0].strip()
        # A head trained on the user's genres predicts their own spellings.
        genre = held_out.get(r.path) or _genre(r)
        if spelling_key(first) == spelling_key(genre):
            mapped: str | None = genre
        else:  # the library head's genres are the user's own: no canonical name to map to
            mapped = first if r.model == "library" else canonical(first)
        if mapped is None:
            unmapped[first] += 1
            continue
        pairs[(mapped, genre)] += 1
        out_of_fold += r.path in held_out
    compared = sum(pairs.values())
    agree = sum(n for (t, p), n in pairs.items() if t == p)
    tags = sorted({t for t, _ in pairs})
    preds = sorted({p for _, p in pairs})
    return Agreement(
        compared=compared,
        agreeing=agree,
        rate=round(agree / compared, 4) if compared else None,
        tag_genres=tags,
        predicted_genres=preds,
        matrix=[[pairs[(t, p)] for p in preds] for t in tags],
        unmapped=dict(unmapped.most_common()),
        out_of_fold=out_of_fold,
    )


def to_text(rep: Report, errors: int | None = ERRORS_SHOWN) -> str:
    """A table that fits a terminal; ``errors`` failed files listed (None: all)."""
    t = rep.totals
    by = rep.by
    # Not "analysed": a scan's summary counts every file decoded, with a genre or not.
    heard = t.tracks - t.analysed - t.errors - t.missing  # too short, silent: no genre
    lines = [
        f"{t.tracks} tracks: {t.analysed} with a genre, "
        + (f"{heard} heard without one (too short or silent), " if heard else "")
        + f"{t.errors} errors, {t.missing} missing; {t.written} genre tags written",
        "status: " + (", ".join(f"{n} {k}" for k, n in sorted(t.statuses.items())) or "no tracks"),
        "",
    ]
    width = max([len(by)] + [len(g.key) for g in rep.groups])
    width = min(width, 48)
    albums = by == "album"
    lines.append(
        f"{by:<{width}}  {'tracks':>7}  {'share':>6}  {'conf':>5}  {'low':>5}  {'written':>7}"
        + (f"  {'album genre':<16} {'score':>5}  {'agree':>7}  written as" if albums else "")
        + ("  genres" if by not in ("genre", "album") else "")
    )
    for g in rep.groups:
        name = printable(g.key)
        if len(name) > width:  # an album keeps its title and the end of its folder
            head = (width - 3) // 2 if albums else 0
            name = name[:head] + "..." + name[-(width - 3 - head) :]
        genres = g.genres or {}
        shown = ", ".join(f"{k} {n}" for k, n in list(genres.items())[:3])
        more = f", +{len(genres) - 3} more" if len(genres) > 3 else ""
        lines.append(
            f"{name:<{width}}  {g.tracks:>7}  {g.share:>6.1%}  "
            f"{g.mean_confidence:>5.2f}  {g.low_confidence:>5}  {g.written:>7}"
            + (_album_cells(g) if g.album else "")
            + (f"  {shown}{more}" if genres else "")
        )
        if g.album:
            lines += _disagreeing_lines(g)
    if t.low_confidence_to_write:
        low = t.low_confidence_threshold
        lines.append(
            f"(low: {t.low_confidence} tracks under confidence {low:g}, of which `tagger write` "
            f"would write {t.low_confidence_to_write} unless `--min-confidence {low:g}`)"
        )
    lines += ["", *tempi_text(rep.tempi)]
    a = rep.agreement
    lines.append("")
    if a.compared:
        agree = f"{a.agreeing}/{a.compared} ({a.rate:.1%})"
        lines.append(f"agreement with existing genre tags: {agree}")
        if a.out_of_fold:
            lines.append(
                f"  ({a.out_of_fold} of them the library head learnt from: judged by what a "
                f"head trained without their album predicted at retrain, not by its own answer)"
            )
        lines += matrix_text(a)
    else:
        lines.append(
            "agreement with existing genre tags: nothing to compare (no analysed file has "
            "a genre tag tagger knows)"
        )
    if a.unmapped:
        lines.append("unmapped tags: " + ", ".join(f"{k} ({v})" for k, v in a.unmapped.items()))
    if rep.uncertain:
        lines += ["", "least certain:"]
        lines += [f"  {u.confidence:.2f}  {u.genre:<12} {printable(u.path)}" for u in rep.uncertain]
    if rep.abstained:
        lines += [
            "",
            f"abstained ({t.abstained} tracks under the model's threshold; not "
            f"written unless `tagger write --include-uncertain`):",
        ]
        lines += [f"  {u.confidence:.2f}  {u.genre:<12} {printable(u.path)}" for u in rep.abstained]
        if len(rep.abstained) < t.abstained:
            lines.append(
                f"  ... and {t.abstained - len(rep.abstained)} more "
                f"(`tagger ls --status abstained` lists all)"
            )
    failed = rep.errors
    if failed:
        first = failed if errors is None else failed[:errors]
        lines += ["", f"failed files ({len(failed)}):"]
        lines += [f"  {printable(e.path)}: {e.error}" for e in first]
        if len(first) < len(failed):
            lines.append(f"  ... and {len(failed) - len(first)} more (--errors lists all)")
    if rep.unwritten:
        listed = rep.unwritten if errors is None else rep.unwritten[:errors]
        lines += ["", f"not written by `tagger write` ({len(rep.unwritten)}):"]
        lines += [
            f"  {printable(u.path)}: {f'{u.field}: ' if u.field else ''}{u.error}"
            f"{f' ({u.at})' if u.at else ''}: {u.left}"
            for u in listed
        ]
        if len(listed) < len(rep.unwritten):
            lines.append(f"  ... and {len(rep.unwritten) - len(listed)} more (--errors lists all)")
    counts = ", ".join(f"{w.files} of scan #{w.scan_id}" for w in rep.written_by_scan)
    if counts:
        lines += [
            "",
            f"files written by tagger (any field), not undone: {counts} "
            "(`tagger undo --scan ID` undoes one)",
        ]
    if rep.unreadable_folders:
        folders = rep.unreadable_folders
        first = folders if errors is None else folders[:errors]
        lines += ["", f"unreadable folders at the last scan ({len(folders)}):"]
        lines += [f"  {printable(f.path)}: {f.error}" for f in first]
        if len(first) < len(folders):
            lines.append(f"  ... and {len(folders) - len(first)} more (--errors lists all)")
    s = rep.last_scan
    if s:
        # In the words and order of the scan's own summary line.
        relabelled = (
            f"{s['relabelled']} re-labelled from stored embeddings, " if s.get("relabelled") else ""
        )
        counted = s["scanned"] is not None  # none for a scan killed before its summary
        lines += [
            "",
            f"last scan #{s['id']}: {s['started']} ({s['status']}), model {s['model']}"
            + (
                f": {s['scanned']} analysed, {relabelled}{s['skipped']} unchanged, "
                f"{s['errors']} errors, {s['missing']} missing"
                if counted
                else ""
            ),
        ]
    lines.append(f"database: {rep.db}")
    return "\n".join(lines)


def _album_genre(g: Group) -> str | None:
    """An album group's pooled genre as the user spells it (None: no track voted)."""
    genre = g.album.genre if g.album else None
    return g.spell(genre) if genre else None


def _album_cells(g: Group) -> str:
    """``  Classical         0.27    31/40  one genre``: an album's pooled columns."""
    a = g.album
    assert a is not None
    agree = f"{len(a.agreeing)}/{len(a.voters)}"
    mode = "one genre" if not a.per_track else f"per track: {a.why(g.spell)}"
    return f"  {_album_genre(g) or '-':<16} {a.score:>5.2f}  {agree:>7}  {mode}"


def _disagreeing_lines(g: Group) -> list[str]:
    assert g.album is not None
    disagreeing = g.album.disagreeing
    shown = disagreeing[:DISAGREEING_SHOWN]
    lines = [
        f"    disagrees: {g.spell(t.genre) if t.genre else '-':<12} {printable(t.path)}"
        for t in shown
    ]
    if len(disagreeing) > len(shown):
        lines.append(f"    ... and {len(disagreeing) - len(shown)} more (--json lists all)")
    return lines


def matrix_text(a: Agreement) -> list[str]:
    """The agreement matrix with every column as wide as its genre name (nothing cut), the
    names spelt as every command prints them (``display_name``)."""
    corner = "tag / predicted"
    tags, preds = (
        [display_name(t) for t in a.tag_genres],
        [display_name(p) for p in a.predicted_genres],
    )
    w = max(len(x) for x in [*tags, corner])
    cols = [max(len(p), 3) for p in preds]
    out = [f"{corner:<{w}}  " + "  ".join(f"{p:>{c}}" for p, c in zip(preds, cols))]
    for tag, row in zip(tags, a.matrix):
        out.append(f"{tag:<{w}}  " + "  ".join(f"{v:>{c}}" for v, c in zip(row, cols)))
    return out


def to_csv(rep: Report) -> str:
    """The grouped table; by album also each album's pooled columns and its disagreeing
    tracks (their paths in one cell, a line each)."""
    buf = io.StringIO()
    fields = [rep.by, "tracks", "share", "mean_confidence", "low_confidence", "written"]
    if rep.by == "album":
        fields += ["album_genre", "score", "voters", "agreeing", "mode", "reason", "disagreeing"]
    elif rep.by != "genre":
        fields.append("genres")  # "Rock 12; Jazz 3"
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for g in rep.groups:
        row = g.to_dict()
        if g.album is not None:
            row |= {
                "album_genre": row["genre"],
                "disagreeing": "\n".join(t.path for t in g.album.disagreeing),
            }
        elif g.genres is not None:
            row["genres"] = "; ".join(f"{k} {n}" for k, n in g.genres.items())
        w.writerow(row)
    return buf.getvalue()


def plot(rep: Report, path: str | os.PathLike) -> Path:
    """Tracks per group, the confidence distribution and the agreement matrix, as PNG or SVG.

    Bars carry their counts; the matrix is coloured by the share of each tag
    row (so a small row reads as clearly as a large one), with the count in
    every cell, and its cells stay square whatever its shape.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    a = rep.agreement
    n_tags, n_preds = len(a.tag_genres), len(a.predicted_genres)
    groups = rep.groups[:25]
    top_h = max(3.5, 0.32 * len(groups) + 1.2)
    matrix_h = (0.45 * n_tags + 2.2) if a.compared else 0
    fig = plt.figure(figsize=(17, top_h + matrix_h))
    grid = fig.add_gridspec(
        2 if a.compared else 1, 3, height_ratios=[top_h, matrix_h] if a.compared else None
    )

    ax = fig.add_subplot(grid[0, 0])
    names = [printable(g.key) for g in groups][::-1]
    bars = ax.barh(names, [g.tracks for g in groups][::-1], color="#4472c4")
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.margins(x=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("tracks")
    ax.set_title(f"Tracks by {rep.by} ({rep.totals.analysed} analysed)")

    ax = fig.add_subplot(grid[0, 1])
    hist = rep.confidence_histogram
    edges = hist.edges
    bars = ax.bar(
        edges[:-1],
        hist.counts,
        width=edges[1] - edges[0],
        align="edge",
        color="#70ad47",
        edgecolor="white",
    )
    ax.bar_label(bars, labels=[str(c) if c else "" for c in hist.counts], fontsize=8)
    threshold = rep.totals.low_confidence_threshold
    ax.axvline(threshold, color="#c00000", linestyle="--", linewidth=1)
    ax.text(
        threshold,
        ax.get_ylim()[1] * 0.95,
        f" low < {threshold:g}",
        color="#c00000",
        fontsize=8,
        va="top",
    )
    ax.set_xlim(0, 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("confidence of the top genre")
    ax.set_ylabel("tracks")
    ax.set_title("Confidence distribution")

    ax = fig.add_subplot(grid[0, 2])
    tempo = rep.tempi.histogram
    width = tempo.edges[1] - tempo.edges[0]
    bars = ax.bar(
        tempo.edges[:-1],
        tempo.counts,
        width=width,
        align="edge",
        color="#ed7d31",
        edgecolor="white",
    )
    ax.bar_label(bars, labels=[str(c) if c else "" for c in tempo.counts], fontsize=8)
    ax.set_xlim(tempo.edges[0], tempo.edges[-1])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("tempo (BPM)")
    ax.set_ylabel("tracks")
    ax.set_title(f"Tempo ({rep.tempi.no_beat} without a steady beat)")

    if a.compared:
        import numpy as np

        counts = np.array(a.matrix, dtype=float).reshape(n_tags, n_preds)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax = fig.add_subplot(grid[1, :])
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="equal")
        ax.set_xticks(range(n_preds), a.predicted_genres, rotation=45, ha="right")
        ax.set_yticks(range(n_tags), a.tag_genres)
        ax.set_xticks([x - 0.5 for x in range(1, n_preds)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, n_tags)], minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="minor", length=0)
        for i in range(n_tags):
            for j in range(n_preds):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(counts[i, j])}\n{share[i, j]:.0%}",
                        ha="center",
                        va="center",
                        fontsize=9,
                        color="white" if share[i, j] > 0.5 else "black",
                        fontweight="bold" if a.tag_genres[i] == a.predicted_genres[j] else "normal",
                    )
        ax.set_xlabel("predicted genre")
        ax.set_ylabel("genre tag in the file")
        ax.set_title(
            f"Existing tags vs predictions: {a.agreeing}/{a.compared} "
            f"({a.rate:.0%}) agree (bold); colour = share of the tag's row"
        )
    fig.tight_layout()
    try:
        with output_file(path, "plot") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)
