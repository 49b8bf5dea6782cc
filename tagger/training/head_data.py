"""``tagger retrain --data DIR --model head``: a softmax head on a ``<genre>/<files>`` folder.

The same head as ``--from-library``, trained on a genre collection such as
GTZAN: each track's musicnn embedding is extracted once, exactly as a scan
computes it (the scan's 5 patches), and cached on disk keyed by file and
musicnn version; a second run decodes nothing.  The split is the collection's
(GTZAN's fault-filtered lists when present, else stratified random by track):
the head is fitted on the training side, temperature and abstention threshold
on the validation side, and the figures come from the test side, once.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.models import KINDS, card_for, current_embedder, load_model, resolve, softmax

from .cache import cache_key, default_cache_dir
from .data import Track, find_tracks, is_synthetic
from .from_library import install_head
from .head import TARGET_PRECISION, choose_threshold, fit_head, head_figures
from .metrics import fit_temperature
from .splits import make_split


def embed_tracks(
    tracks: list[Track], cache_dir: Path | None = None, log=print
) -> dict[str, np.ndarray]:
    """Track id -> musicnn embedding, from the cache or decoded now (undecodable: left out)."""
    from tagger.decode import DecodeError
    from tagger.worker import track_input

    ref = resolve("musicnn")[0]
    embedder = current_embedder()
    folder = (
        (cache_dir or default_cache_dir())
        / "embeddings"
        / hashlib.sha1(embedder.encode()).hexdigest()[:12]
    )
    folder.mkdir(parents=True, exist_ok=True)
    out, todo = {}, []
    for t in tracks:
        target = folder / f"{cache_key(t.path, ref.spec)}.npy"
        if target.exists():
            out[t.id] = np.load(target)
        elif target.with_suffix(".err").exists():  # failed before: not decoded again
            log(f"warning: skipping {t.path}: {target.with_suffix('.err').read_text()}")
        else:
            todo.append((t, target))
    if todo:
        model = load_model(ref)
        started = time.monotonic()
        for n, (t, target) in enumerate(todo, 1):
            try:
                _, x = track_input(t.path, model.spec)
            except DecodeError as exc:
                log(f"warning: skipping {t.path}: {exc}")
                target.with_suffix(".err").write_text(str(exc))
                continue
            vec = np.asarray(model.predict_tracks([x])[0].embedding, np.float32)
            tmp = target.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, vec)
            os.replace(tmp, target)
            out[t.id] = vec
            if n % 100 == 0:
                log(f"head: {n}/{len(todo)} embeddings ({time.monotonic() - started:.0f} s)")
    log(f"head: embeddings of {len(out)} tracks ready ({len(todo)} extracted, the rest cached)")
    return out


def retrain_head(
    data_dir: str | os.PathLike,
    split: str | None = None,
    split_dir: str | os.PathLike | None = None,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    command: str = "",
    log=print,
) -> dict:
    """Train, calibrate and test the ``head`` model on a genre folder; returns its card."""
    from tagger.paths import user_models_dir

    started = time.monotonic()
    data_dir = Path(data_dir).expanduser()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracks = find_tracks(data_dir)
    for w in caught:
        log(f"warning: {w.message}")
    emb = embed_tracks(tracks, Path(cache_dir).expanduser() if cache_dir else None, log)
    usable = [t for t in tracks if t.id in emb]
    the_split = make_split(usable, split, data_dir, Path(split_dir) if split_dir else None, seed)
    genres = sorted({t.genre for t in usable})
    if len(genres) < 2:
        raise TaggerError(f"need at least two genre folders with audio in {data_dir}")

    def arrays(side: list[Track]) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.stack([emb[t.id] for t in side]).astype(np.float32),
            np.array([genres.index(t.genre) for t in side]),
        )

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = map(
        arrays, (the_split.train, the_split.valid, the_split.test)
    )
    head = fit_head(x_tr, y_tr, genres)
    head.temperature = fit_temperature(head.logits(x_va), y_va)
    valid = head.probabilities(x_va)
    head.threshold = choose_threshold(
        valid.max(axis=1), valid.argmax(axis=1) == y_va, TARGET_PRECISION
    )
    test = softmax(head.logits(x_te) / head.temperature)
    synthetic = is_synthetic(data_dir)
    kind = KINDS["head"]
    card = card_for(
        kind,
        "1",
        genres,
        embedder=current_embedder(),
        temperature=head.temperature,
        threshold=head.threshold,
        accuracy={
            "split": f"{the_split.name} (test side, once)",
            **head_figures(test, y_te, genres, head.temperature, head.threshold, TARGET_PRECISION),
        },
        split=the_split.describe() | {"seed": seed},
        data={
            "path": str(data_dir),
            "files": len(tracks),
            "genres": genres,
            "synthetic": synthetic,
        },
        synthetic=synthetic,
        licence=(
            "trained on generated signals: NOT a genre model, for tests only"
            if synthetic
            else f"trained on {data_dir.name}; check that collection's terms"
        ),
        training={"seconds": round(time.monotonic() - started, 2)},
        command=command,
    )
    out = Path(out_dir).expanduser() if out_dir else user_models_dir()
    install_head(head, card, out)
    return card.to_dict() | {"path": str(out / f"{kind.name}{kind.file_suffix}")}
