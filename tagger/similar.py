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

from .embeddings import nearest
from .errors import TaggerError
from .paths import absolute, default_db
from .store import Store


def similar(file: str | os.PathLike, db: str | os.PathLike | None = None, top: int = 10) -> dict:
    """The ``top`` most similar stored tracks to ``file``, best first, as one JSON-ready dict."""
    from .models import resolve
    from .models.musicnn import embedder_id

    path = absolute(file)
    if not os.path.isfile(path):
        raise TaggerError(f"no such file: {file}")
    embedder = embedder_id(resolve("musicnn")[0].card)
    store = Store(default_db(db), create=False, reading=True)
    try:
        rows, matrix = store.embedded_tracks(embedder)
        if not rows:
            raise TaggerError(
                f"no track in {store.path} has a stored embedding of {embedder}; "
                f"scan the library first (`tagger scan PATH`)"
            )
        paths = [r["path"] for r in rows]
        i = paths.index(path) if path in set(paths) else None
        st = os.stat(path)
        stored = store.tracks_at([path], ("size", "mtime"))[0] if i is not None else None
        if stored and (stored["size"], stored["mtime"]) == (st.st_size, st.st_mtime):
            query, source = matrix[i], "stored"
        else:
            i, query, source = None, _embed(path), "decoded"
        idx, sims = nearest(query, matrix, top, exclude=i)
        found = {
            r["path"]: r
            for r in store.tracks_at(
                [paths[j] for j in idx.tolist()], ("path", "genre", "duration")
            )
        }
    finally:
        store.close()
    return {
        "query": path,
        "source": source,
        "embedder": embedder,
        "searched": len(rows),
        "results": [
            {
                "path": paths[j],
                "genre": found[paths[j]]["genre"],
                "similarity": round(float(s), 4),
                "duration": found[paths[j]]["duration"],
            }
            for j, s in zip(idx.tolist(), sims.tolist())
        ],
    }


def _embed(path: str):
    from .worker import predict_file

    _, pred, _ = predict_file(path, "musicnn")
    return pred.embedding


def write_m3u(result: dict, out: str | os.PathLike) -> Path:
    """An extended M3U playlist (UTF-8): the query track, then its neighbours."""
    out = Path(out)
    lines = ["#EXTM3U", f"#EXTINF:-1,{Path(result['query']).stem}", result["query"]]
    for r in result["results"]:
        seconds = round(r["duration"]) if r["duration"] else -1
        lines += [f"#EXTINF:{seconds},{Path(r['path']).stem}", r["path"]]
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, out)
    except OSError as exc:
        raise TaggerError(f"cannot write playlist {out}: {exc.strerror}") from None
    return out
