"""``tagger retrain`` and ``tagger evaluate``: whole runs over a genre collection."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from tagger.errors import TaggerError
from tagger.genres import GenreMap
from tagger.models import KINDS
from tagger.paths import output_file, user_models_dir, writable_folder

from . import metrics
from .cache import load_features
from .data import find_tracks, is_synthetic
from .splits import fold_splits, make_split
from .train import Job, TrainConfig, install, slices_of, train

# What ``tagger retrain --data DIR --model NAME`` trains: the nets, on a collection's
# features (here; the first is what ``evaluate`` measures by default), and the heads
# on its musicnn embeddings (``head_data``).  ``--model all`` means every net.
NETS = tuple(name for name, kind in KINDS.items() if kind.trained_from == "data" and kind.build)
HEADS = tuple(
    name for name, kind in KINDS.items() if kind.trained_from == "data" and not kind.build
)


def command_line() -> str:
    """The command that is running, as a card records it."""
    return (
        "tagger " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if Path(sys.argv[0]).name == "tagger"
        else " ".join(shlex.quote(a) for a in sys.argv)
    )


def retrain(
    data_dir: str | os.PathLike,
    models: list[str],
    split: str | None = None,
    split_dir: str | os.PathLike | None = None,
    folds: int | None = None,
    cfg: TrainConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    work_dir: str | os.PathLike | None = None,
    log=print,
) -> dict:
    """Train ``models`` on ``data_dir``; returns {"models": {name: card}, ...}."""
    cfg = cfg or TrainConfig()
    data_dir = Path(data_dir).expanduser()
    out = Path(out_dir).expanduser() if out_dir else user_models_dir()
    work = Path(work_dir).expanduser() if work_dir else out / "work"
    writable_folder(out, "the model")  # before any decoding or training
    writable_folder(work, "the training checkpoints")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracks = find_tracks(data_dir)
    for w in caught:
        log(f"warning: {w.message}")
    genres = sorted({t.genre for t in tracks})
    synthetic = is_synthetic(data_dir)
    data = {"path": str(data_dir), "files": len(tracks), "genres": genres, "synthetic": synthetic}
    result: dict = {"data": data, "models": {}, "decoded": {}, "folds": {}}
    for kind in models:
        if kind not in NETS:
            raise TaggerError(f"unknown model {kind!r} ({' or '.join(NETS)})")
        t0 = time.time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = load_features(
                tracks, KINDS[kind].spec, Path(cache_dir) if cache_dir else None, jobs
            )
        for w in caught:
            log(f"warning: {w.message}")
        result["decoded"][kind] = loaded.decoded
        log(
            f"{kind}: features of {len(loaded.features)} tracks ready in {time.time() - t0:.1f} s "
            f"({loaded.decoded} decoded, the rest from the cache)"
        )
        usable = [t for t in tracks if t.id in loaded.features]  # undecodable ones are skipped
        if folds:
            accs = []
            for i, fold in enumerate(fold_splits(usable, folds, cfg.seed)):
                job = Job(KINDS[kind], fold, loaded.features, genres, cfg, work / f"fold{i}", log)
                fold_card = train(job).card
                accs.append(fold_card.details["accuracy"]["track_accuracy"])
                log(f"{kind}: {fold.name}: track accuracy {accs[-1]:.3f}")
            result["folds"][kind] = {
                "k": folds,
                "track_accuracy": accs,
                "mean": round(float(np.mean(accs)), 4),
                "std": round(float(np.std(accs)), 4),
            }
            continue
        the_split = make_split(
            usable, split, data_dir, Path(split_dir) if split_dir else None, cfg.seed
        )
        trained = train(Job(KINDS[kind], the_split, loaded.features, genres, cfg, work, log))
        trained.card.details.update(data=data, synthetic=synthetic, command=command_line())
        if synthetic:
            trained.card.details["licence"] = (
                "trained on generated signals: NOT a genre model, for tests only"
            )
        install(trained, out)
        card = trained.card.to_dict()
        result["models"][kind] = card
        log(
            f"{kind}: test track accuracy {card['accuracy']['track_accuracy']:.3f}, "
            f"slice accuracy {card['accuracy']['slice_accuracy']:.3f} -> {out / (kind + '.keras')}"
        )
        if card.get("not_default"):  # saved, used only where named (`--model PATH|NAME`)
            log(f"warning: {kind} is not made the default model: {card['not_default']}")
    return result


def _split_from_card(card: dict) -> tuple[str | None, int]:
    name = (card.get("split") or {}).get("name", "")
    seed = int((card.get("split") or {}).get("seed", 0))
    if name.startswith("random"):
        m = re.search(r"seed=(\d+)", name)
        return "random", int(m.group(1)) if m else seed
    return ("filtered" if name == "filtered" else None), seed


def evaluate(
    data_dir: str | os.PathLike,
    model: str | None = None,
    split: str | None = None,
    split_dir: str | os.PathLike | None = None,
    seed: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    plot: str | os.PathLike | None = None,
    genre_map: GenreMap | None = None,
) -> dict:
    """Evaluate a trained model on the test split of ``data_dir`` (the split it was trained on).

    Genres are spelt as every command prints them (``genre_map``: the config's
    ``[genres]``; GTZAN's ``hiphop`` is ``Hip-Hop``), in the figures and the plot."""
    from tagger.models import load_model, resolve

    ref, _ = resolve(model or NETS[0])
    m = load_model(ref)
    card = ref.card
    data_dir = Path(data_dir).expanduser()
    tracks = find_tracks(data_dir)
    missing = sorted({t.genre for t in tracks} - set(m.genres))
    if missing:
        raise TaggerError(
            f"model {ref.name} does not know the genres {', '.join(missing)} of {data_dir}"
        )
    card_split, card_seed = _split_from_card(card.to_dict())
    the_split = make_split(
        tracks,
        split or card_split,
        data_dir,
        Path(split_dir) if split_dir else None,
        card_seed if seed is None else seed,
    )
    loaded = load_features(the_split.test, m.spec, Path(cache_dir) if cache_dir else None, jobs)
    genres = list(m.genres)
    x, y, idx, kept = slices_of(the_split.test, loaded.features, genres)
    t0 = time.time()
    slice_probs = m.to_genres(m.forward_batched(x))
    seconds = time.time() - t0
    rep = metrics.report(
        genres,
        metrics.pool_tracks(slice_probs, idx),
        np.array([genres.index(t.genre) for t in kept]),
        slice_probs,
        y,
    )
    rep.update(
        model=ref.name,
        model_version=ref.version,
        split=the_split.describe(),
        inference_seconds=round(seconds, 2),
        tracks_per_second=round(len(kept) / max(seconds, 1e-9), 1),
        training=card.details.get("training"),
        data={"path": str(data_dir), "files": len(tracks)},
    )
    rep = metrics.spelt(rep, (genre_map or GenreMap()).label)
    if plot:
        rep["plot"] = str(
            plot_confusion(
                rep["confusion"],
                plot,
                f"{ref.name} on {data_dir.name}: track accuracy {rep['track_accuracy']:.1%}",
            )
        )
    return rep


def plot_confusion(conf: dict, path: str | os.PathLike, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    genres, cm = conf["genres"], np.array(conf["matrix"])
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * len(genres), 0.8 + 0.6 * len(genres)))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_yticks(range(len(genres)), genres)
    for i in range(len(genres)):
        for j in range(len(genres)):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    ax.set_title(title)
    fig.tight_layout()
    try:
        with output_file(path, "plot") as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return Path(path)


def confusion_text(conf: dict) -> str:
    genres, cm = conf["genres"], conf["matrix"]
    w = max(6, max(len(g) for g in genres) + 1)
    lines = [" " * w + "".join(f"{g[:5]:>6}" for g in genres)]
    lines += [f"{g:<{w}}" + "".join(f"{v:>6}" for v in row) for g, row in zip(genres, cm)]
    return "\n".join(lines)
