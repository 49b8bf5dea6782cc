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
from pathlib import Path

import numpy as np

from .embeddings import nearest
from .errors import TaggerError
from .paths import absolute, default_db
from .store import Store


def similar(file: str | os.PathLike, db: str | os.PathLike | None = None, top: int = 10) -> dict:
    """The ``top`` most similar stored tracks to ``file``, best first, as one JSON-ready dict."""
    from .models import current_embedder

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
        i = paths.index(path) if path in set(paths) else None
        st = os.stat(path)
        stored = store.tracks_at([path], ("size", "mtime"))[0] if i is not None else None
        if stored and (stored.size, stored.mtime) == (st.st_size, st.st_mtime):
            query, source = matrix[i], "stored"
            duration = store.tracks_at([path], ("duration",))[0].duration
        else:
            i, source = None, "decoded"
            query, duration = _embed(path)
        idx, sims = nearest(query, matrix, top, exclude=i)
        found = {
            r.path: r
            for r in store.tracks_at(
                [paths[j] for j in idx.tolist()], ("path", "genre", "duration")
            )
        }
    finally:
        store.close()
    return {
        "query": path,
        "query_duration": duration,
        "source": source,
        "embedder": embedder,
        "searched": len(rows),
        "results": [
            {
                "path": paths[j],
                "genre": found[paths[j]].genre,
                "similarity": round(float(s), 4),
                "duration": found[paths[j]].duration,
            }
            for j, s in zip(idx.tolist(), sims.tolist())
        ],
    }


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


def write_m3u(result: dict, out: str | os.PathLike) -> Path:
    """An extended M3U playlist (UTF-8): the query track, then its neighbours.

    Each ``#EXTINF`` line carries the duration the scan measured (the
    decoded audio, not a header's claim) and ``Artist - Title`` as the tags
    say now, which is what players show.
    """
    out = Path(out)
    lines = ["#EXTM3U"]
    for path, duration in [
        (result["query"], result.get("query_duration")),
        *((r["path"], r["duration"]) for r in result["results"]),
    ]:
        lines += [f"#EXTINF:{_seconds(duration)},{_entry_title(path)}", path]
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, out)
    except OSError as exc:
        raise TaggerError(f"cannot write playlist {out}: {exc.strerror}") from None
    return out
