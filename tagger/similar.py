"""``tagger similar``: the library's tracks that sound most like a given one.

Similarity is the cosine between stored musicnn embeddings (``tagger.embeddings``).
A scan keeps an index beside the database (``update_index``): each embedding
projected on a few principal directions, so a query reads a small file and
ranks exactly only the index's best candidates (recall@10 against exact
search: ``benchmarks/similar.py``, docs/speed.md).  Without an index every
stored track is compared exactly.  A file that is in the database and unchanged since its
scan uses its stored embedding; any other audio file is decoded and embedded
first (the database is not changed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import load_index, nearest, save_index, updated_index
from .errors import TaggerError
from .genres import GenreMap
from .paths import absolute, default_db, one_file, output_file
from .results import to_json
from .store import Store, db_path
from .tempo import in_range


@dataclass(frozen=True)
class Neighbour:
    """One stored track in the answer."""

    path: str
    genre: str | None  # as every command spells it (``GenreMap.label``)
    similarity: float  # cosine of the two embeddings, 4 decimals
    duration: float | None  # seconds of decoded audio
    bpm: float | None = None  # the stored tempo (None: no steady beat, or not heard yet)


@dataclass
class Similar:
    """``similar``'s answer; ``--json`` prints exactly this (``m3u`` once a playlist is written)."""

    query: str
    query_duration: float | None
    source: str  # "stored": the query's embedding was in the database; "decoded": made now
    embedder: str
    searched: int  # stored tracks compared
    copies: list[str]  # stored tracks of the query's audio: in ``results`` only when asked
    results: list[Neighbour]
    m3u: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = to_json(self)
        if self.m3u is None:
            del out["m3u"]
        return out


def similar(
    file: str | os.PathLike,
    db: str | os.PathLike | None = None,
    top: int = 10,
    include_copies: bool = False,
    bpm: tuple[float | None, float | None] | None = None,
    genre_map: GenreMap | None = None,
) -> Similar:
    """The ``top`` most similar stored tracks to ``file``, best first.

    Never ``file`` itself (nor under another of its names: a hard link, a
    symlink), each file once whatever names it is stored under, and, unless
    ``include_copies``, no stored track holding the same audio (the same
    audio fingerprint: a byte copy, or a retagged copy such as the one beets
    makes at import); ``copies`` lists those.  A file whose audio a stored
    track holds is searched with that track's embedding, decoded only where
    none does.  ``bpm`` (a range from
    ``tempo.parse_range``) keeps only stored tracks whose tempo lies in it.
    With the index a scan keeps beside the database (``update_index``), only
    the index's candidates and the embeddings stored since it was updated are
    compared exactly; a ``bpm`` range, which may leave out most candidates,
    compares every stored track.  Genres are spelt as every command spells them
    (``genre_map``: the config's ``[genres]``; see ``GenreMap.label``).
    """
    from .models import current_embedder
    from .worker import fingerprint

    one_file(file, "similar")
    path = absolute(file)
    embedder = current_embedder()
    store = Store(default_db(db), create=False, reading=True)
    try:
        columns = ("path", "size", "mtime", "audio", "duration")
        mine, mine_vectors = store.embedded_where(embedder, "e.path = ?", [db_path(path)], columns)
        row = mine[0] if mine else None
        st = os.stat(path)
        unchanged = row is not None and (row.size, row.mtime) == (st.st_size, st.st_mtime)
        audio = row.audio if row is not None and unchanged else fingerprint(path, None)
        same = sorted(set(store.paths_of_audio(audio)) - {path}) if audio else []
        copies, copy_vectors = _embedded_at(store, embedder, same)
        if unchanged:  # the file as scanned
            assert row is not None
            query, source, duration = mine_vectors[0], "stored", row.duration
        elif copies:  # a stored track of the same audio
            query, source, duration = copy_vectors[0], "stored", copies[0].duration
        else:
            source = "decoded"
            query, duration = _embed(path)
        with one_blas_thread():
            rows, matrix, searched = _search_space(store, embedder, query, exact=bpm is not None)
    finally:
        store.close()
    me = _file_id(path)
    copies = [r for r in copies if _file_id(r.path) != me]  # another name of the query itself
    left_out = {path} | (set() if include_copies else {r.path for r in copies})
    excluded = [
        j
        for j, r in enumerate(rows)
        if r.path in left_out or (bpm is not None and not in_range(r.bpm, bpm))
    ]
    idx, sims = _one_per_file(query, matrix, rows, top, excluded, me)
    label = (genre_map or GenreMap()).label
    return Similar(
        query=path,
        query_duration=duration,
        source=source,
        embedder=embedder,
        searched=searched,
        copies=[r.path for r in copies],
        results=[
            Neighbour(
                rows[j].path,
                label(rows[j].genre) if rows[j].genre else None,
                round(float(s), 4),
                rows[j].duration,
                rows[j].bpm,
            )
            for j, s in zip(idx.tolist(), sims.tolist())
        ],
    )


def _file_id(path: str) -> tuple[int, int] | None:
    """The file ``path`` names (device and inode, links followed); None when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _one_per_file(
    query: np.ndarray,
    matrix: np.ndarray,
    rows: list,
    top: int,
    excluded: list[int],
    me: tuple[int, int] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``nearest``'s ``top`` rows, one per file: of the stored names of one file (hard links,
    symlinks to it) only the best-ranked is kept, and none of the query's own (``me``).

    Only the ranked rows are looked at on disk, a few more each round until ``top`` remain
    or none is left, never the whole library."""
    want = top
    while True:
        idx, sims = nearest(query, matrix, want, exclude=excluded)
        seen: set[tuple[int, int]] = {me} if me else set()
        keep: list[int] = []
        for k, j in enumerate(idx.tolist()):
            key = _file_id(rows[j].path)
            if key is None or key not in seen:  # a vanished file is its own
                keep.append(k)
                if key is not None:
                    seen.add(key)
        if len(keep) >= top or len(idx) < want:
            return idx[keep[:top]], sims[keep[:top]]
        want *= 2


def _embedded_at(store: Store, embedder: str, paths: list[str]) -> tuple[list, np.ndarray]:
    """The stored tracks among ``paths`` (sorted) that have an embedding, and their vectors."""
    if not paths:
        return [], np.zeros((0, 0), np.float32)
    marks = ", ".join("?" * len(paths))
    rows, vectors = store.embedded_where(
        embedder, f"e.path IN ({marks})", [db_path(p) for p in paths], ("path", "duration")
    )
    order = sorted(range(len(rows)), key=lambda j: rows[j].path)
    return [rows[j] for j in order], vectors[order]


def _search_space(
    store: Store, embedder: str, query: np.ndarray, exact: bool = False
) -> tuple[list, np.ndarray, int]:
    """(rows, embeddings, how many stored embeddings were looked at) to rank exactly:
    every stored track where there is no index (or ``exact``), else the index's
    candidates for ``query`` and whatever was stored after the index was last updated."""
    columns = ("path", "genre", "duration", "bpm")
    index = None if exact else load_index(index_file(store.path))
    if index is None or index.embedder != embedder:
        rows, matrix = store.embedded_tracks(embedder, columns)
        return rows, matrix, len(rows)
    ids = index.candidates(query).tolist()
    rows, matrix = store.embedded_where(
        embedder, f"e.rowid IN ({', '.join('?' * len(ids))})", ids, columns
    )
    late, late_matrix = store.embedded_where(embedder, "e.rowid > ?", [index.last_rowid], columns)
    if late:
        rows, matrix = rows + late, np.concatenate([matrix, late_matrix]) if rows else late_matrix
    return rows, matrix, len(index.rowids) + len(late)


def one_blas_thread():
    """BLAS on one thread for the index's products: they are small or bound by memory, and
    OpenBLAS's threads waiting for a busy second core made them 20x slower (a 20,000 x 32
    product: 26 ms instead of 1.2 ms)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def index_file(db: Path) -> Path:
    """Where the similarity index of the database ``db`` lives: beside it."""
    return db.with_name(db.name + ".similar")


def update_index(store: Store, changed: bool = True) -> None:
    """Bring the similarity index beside ``store``'s database up to date with its stored
    embeddings of the current musicnn (a scan calls this as it finishes).

    Only the embeddings stored or changed since the last update are read and
    projected; the file is replaced atomically, so a query beside it reads the
    old index or the new one.  With ``changed`` False (the scan stored, moved
    and re-keyed no embedding: ``ScanSummary.embeddings_changed``) an existing
    index is left as it is: telling what changed reads the rowid and mtime of
    every stored embedding.
    """
    from .models import current_embedder

    path = index_file(store.path)
    if not changed and path.exists():
        return
    embedder = current_embedder()
    rowids, stamps = store.embedding_stamps(embedder)
    if not len(rowids):
        path.unlink(missing_ok=True)
        return
    new = updated_index(
        embedder,
        rowids,
        stamps,
        lambda ids: store.embedding_vectors(embedder, ids),
        load_index(path),
    )
    if new is not None:
        save_index(path, new)


def _embed(path: str) -> tuple[np.ndarray, float]:
    """The musicnn embedding of a file the database does not hold, and its decoded duration."""
    from .decode import DecodeError
    from .models import resolve
    from .worker import MODELS, track_input

    model = MODELS.get(resolve("musicnn")[0])
    try:
        dec, x = track_input(path, model.spec)
    except DecodeError as exc:
        raise TaggerError(f"{path}: {exc}") from None
    embedding = model.predict_tracks([x])[0].embedding
    assert embedding is not None  # musicnn always gives one
    return embedding, round(dec.duration, 3)


def _entry_title(path: str) -> str:
    """``Artist - Title`` from the file's tags; the file name where they are missing."""
    from .tags import TagError, read_file_tags

    try:
        tags = read_file_tags(path)
    except TagError:
        return Path(path).stem
    if tags.title:
        return f"{tags.artist} - {tags.title}" if tags.artist else tags.title
    return Path(path).stem


def _seconds(duration: float | None) -> int:
    return round(duration) if duration else -1


def write_m3u(result: Similar, out: str | os.PathLike) -> Path:
    """An extended M3U playlist (UTF-8): the query track, then its neighbours.

    Each ``#EXTINF`` line carries the duration the scan measured (the
    decoded audio, not a header's claim) and ``Artist - Title`` as the tags
    say now, which is what players show.
    """
    out = Path(out)
    lines = ["#EXTM3U"]
    for path, duration in [
        (result.query, result.query_duration),
        *((r.path, r.duration) for r in result.results),
    ]:
        lines += [f"#EXTINF:{_seconds(duration)},{_entry_title(path)}", path]
    with output_file(out, "playlist") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    return out
