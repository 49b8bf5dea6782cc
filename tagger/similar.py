"""``tagger similar``: the library's tracks that sound most like a given one.

Similarity is the cosine between stored musicnn embeddings (``tagger.embeddings``),
searched exactly: every stored track is compared, which over 100,000 tracks
takes milliseconds once the embeddings are read (docs/speed.md: figures, and how it
would scale further).  A file that is in the database and unchanged since its
scan uses its stored embedding; any other audio file is decoded and embedded
first (the database is not changed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import nearest
from .errors import TaggerError
from .paths import absolute, default_db
from .results import to_json
from .store import Store
from .tempo import in_range


@dataclass(frozen=True)
class Neighbour:
    """One stored track in the answer."""

    path: str
    genre: str | None
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
) -> Similar:
    """The ``top`` most similar stored tracks to ``file``, best first.

    Never ``file`` itself, and, unless ``include_copies``, no stored track
    holding the same audio (the same audio fingerprint: a byte copy, or a
    retagged copy such as the one beets makes at import); ``copies`` lists
    those.  A file whose audio a stored track holds is searched with that
    track's embedding, decoded only where none does.  ``bpm`` (a range from
    ``tempo.parse_range``) keeps only stored tracks whose tempo lies in it.
    """
    from .models import current_embedder
    from .worker import fingerprint

    path = absolute(file)
    if not os.path.isfile(path):
        raise TaggerError(f"no such file: {file}")
    embedder = current_embedder()
    store = Store(default_db(db), create=False, reading=True)
    try:
        rows, matrix = store.embedded_tracks(embedder)
        if not rows:
            raise TaggerError(
                f"no track in {store.path} has a stored embedding of {embedder}; "
                f"scan the library first (`tagger scan PATH`)"
            )
        paths = [r.path for r in rows]
        index = {p: j for j, p in enumerate(paths)}
        own = index.get(path)
        st = os.stat(path)
        columns = ("size", "mtime", "audio", "duration")
        row = store.tracks_at([path], columns)[0] if own is not None else None
        unchanged = row is not None and (row.size, row.mtime) == (st.st_size, st.st_mtime)
        audio = row.audio if row is not None and unchanged else fingerprint(path, None)
        same = sorted(index[p] for p in store.paths_of_audio(audio) if p in index) if audio else []
        heard = own if unchanged else same[0] if same else None
        if heard is not None:  # the file as scanned, or a stored track of the same audio
            query, source = matrix[heard], "stored"
            if heard != own:
                row = store.tracks_at([paths[heard]], ("duration",))[0]
            assert row is not None
            duration = row.duration
        else:
            source = "decoded"
            query, duration = _embed(path)
        copies = [j for j in same if j != own]
        left_out = ([own] if own is not None else []) + ([] if include_copies else copies)
        if bpm is not None:
            tempo = {r.path: r.bpm for r in store.tracks(columns=("path", "bpm"))}
            left_out += [j for j, p in enumerate(paths) if not in_range(tempo.get(p), bpm)]
        idx, sims = nearest(query, matrix, top, exclude=left_out)
        found = {
            r.path: r
            for r in store.tracks_at(
                [paths[j] for j in idx.tolist()], ("path", "genre", "duration", "bpm")
            )
        }
    finally:
        store.close()
    return Similar(
        query=path,
        query_duration=duration,
        source=source,
        embedder=embedder,
        searched=len(rows),
        copies=[paths[j] for j in copies],
        results=[
            Neighbour(
                paths[j],
                found[paths[j]].genre,
                round(float(s), 4),
                found[paths[j]].duration,
                found[paths[j]].bpm,
            )
            for j, s in zip(idx.tolist(), sims.tolist())
        ],
    )


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
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, out)
    except OSError as exc:
        raise TaggerError(f"cannot write playlist {out}: {exc.strerror}") from None
    return out
