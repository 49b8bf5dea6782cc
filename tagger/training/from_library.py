"""Learn the user's own genres from the genre tags a library already carries.

Input: for each scanned track, the genre text its file carried at scan time,
its album and folder, and its stored musicnn embedding.  Output: a
``SoftmaxHead`` over the user's genre names and the figures for its card.
No audio is decoded: everything needed was stored by the scan.

Labels, and why:

* The user's spelling is kept.  Spellings that differ only in case, spacing
  or punctuation are one genre (``genres.spelling_key``), shown in the
  spelling most tracks use.  A user mapping (``From = To`` lines) merges more.
* A track with several genres counts under the first one that is a genre
  with enough tracks (its first genre, unless that one is too rare to learn):
  the first value is the one players show and users set on purpose, and
  falling through keeps ``Rock; Obscure Subgenre`` a rock example instead of
  dropping it.
* Genres with fewer than ``min_tracks`` tracks are left out and listed, except
  that one which is a true synonym of a genre with enough tracks (``Rap`` ->
  ``Hip-Hop``, ``genres.same_genre``) is merged into it.  A broader genre is
  never folded into a narrower one nor the reverse (``Electronic`` stays apart
  from ``Dark Electro``: left out when too rare), and genres with enough
  tracks are never merged, so a library that keeps ``Death Metal`` apart from
  ``Metal`` keeps both.  Every merge, the user's mapping's too, is listed.

Evaluation, and why: tracks of one album share a mix, a master and often a
recording session; a head tested on an album it trained on measures that
album, not the genre.  The untagged tracks the head will label are of two
kinds, and each is calibrated on held-out tracks in its own situation:

* **albums it never heard** (no track of the album is tagged): tracks are
  grouped by album (the folder where the album tag is missing) and the groups
  dealt into ``folds`` folds; each track is predicted by a head trained
  without its album.  Temperature and abstention threshold are fitted on
  those out-of-fold predictions, and the card's headline figures are theirs:
  they say what the head knows of the genre.
* **albums it learnt from** (the untagged half of a half-tagged album): each
  album's tagged tracks are dealt across the folds, so each is predicted by a
  head that heard its album-mates but not itself, and the album-mates' tags
  count as evidence (``tagger.models.head.album_evidence``).  Temperature,
  the weight of that evidence and the threshold are fitted on those
  predictions.  Thresholds from whole albums held out are far too strict
  here: the head abstained on most tracks it had right.

The shipped head is the average of the second set of fold heads
(``head.average_heads``), heads that each heard most of every album but not
the track they were measured on; for an album it never heard, it is in the
situation of the first set.  Beside the figures the card records the accuracy
of always answering the most common genre, and how many of the library's
untagged tracks the head labels and abstains on in each case;
``head_warning`` says when that makes the head not worth using, and
``not_default`` when it must not replace the model the user had (no better
than that baseline, or abstaining on everything).  A genre whose tracks all
come from one album cannot be tested on an unseen album: its tracks are dealt
into folds one by one, and the card says its figure is optimistic.

Judged by album too: the same out-of-fold predictions are pooled per album as
``tagger write --album`` pools them (``tagger.albums``: tracks under the
threshold do not vote; compilations and disagreeing albums stay per track).
The card records the share of albums whose pooled genre is their tracks'
most common label, and the per-track accuracy of what ``write --album``
would write, beside the per-track accuracy.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagger.albums import AlbumTrack, Mode, album_genres
from tagger.clock import now
from tagger.errors import TaggerError
from tagger.genres import same_genre, spelling_key
from tagger.models import softmax
from tagger.models.head import SoftmaxHead, album_evidence, album_key
from tagger.paths import output_folder

from .head import TARGET_PRECISION, average_heads, choose_threshold, fit_head, head_figures
from .metrics import ece, fit_temperature, no_better_than_baseline

FOLDS = 5
MIN_TRACKS = 5


@dataclass
class LibraryTrack:
    """What the store keeps about one scanned track, as training needs it."""

    path: str
    tag_genre: str | None  # the file's genres at scan time, "; "-joined
    album: str | None
    embedding: np.ndarray
    album_artist: str | None = None
    compilation: bool = False


@dataclass
class Labels:
    """The classes learnt and why other genres were not."""

    genres: list[str]  # display spellings, sorted
    y: np.ndarray  # class index per track, -1 = not used
    counts: dict[str, int]
    left_out: dict[str, int]  # too few tracks
    merged: dict[str, str] = field(default_factory=dict)  # spelling -> class it joined
    # Per track: tagged, but only with genres left out (too few tracks to learn).
    outside: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def read_mapping(path: str | os.PathLike) -> dict[str, str]:
    """A user mapping file: ``From = To`` lines, ``#`` comments; keys compared by spelling."""
    out: dict[str, str] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TaggerError(f"cannot read genre mapping {path}: {exc.strerror}") from None
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise TaggerError(f"{path}:{n}: expected `From = To`, got {line!r}")
        src, dst = (part.strip() for part in line.split("=", 1))
        out[spelling_key(src)] = dst
    return out


def split_genres(text: str | None) -> list[str]:
    return [g.strip() for g in (text or "").split(";") if g.strip()]


def make_labels(
    tag_genres: list[str | None],
    min_tracks: int = MIN_TRACKS,
    mapping: dict[str, str] | None = None,
) -> Labels:
    """Classes in the user's spelling, one label per track (see the module notes)."""
    mapping = mapping or {}
    per_track: list[list[str]] = []
    spellings: dict[str, Counter] = {}
    by_map: dict[str, str] = {}  # the user's mapping: spelling -> the genre it names
    for text in tag_genres:
        keys = []
        for g in split_genres(text):
            mapped = mapping.get(spelling_key(g), g)
            if spelling_key(mapped) != spelling_key(g):
                by_map[g] = mapped
            k = spelling_key(mapped)
            if k and k not in keys:
                keys.append(k)
                spellings.setdefault(k, Counter())[mapped] += 1
        per_track.append(keys)
    first = Counter(keys[0] for keys in per_track if keys)
    big = {k for k in spellings if first[k] >= min_tracks}
    # A rare genre joins a learnable one only when both name one genre (a true
    # synonym: ``Rap`` -> ``Hip-Hop``), never a broader one a narrower one; the
    # user's mapping decides alone for the genres it names.
    mapped_keys = {spelling_key(v) for v in mapping.values()}
    joins = {
        k: next(b for b in sorted(big, key=lambda b: (-first[b], b)) if _same(spellings, k, b))
        for k in spellings
        if k not in big
        and k not in mapped_keys
        and any(_same(spellings, k, b) for b in big if b not in mapped_keys)
    }
    labels = []
    for keys in per_track:
        keys = [joins.get(k, k) for k in keys]
        labels.append(next((k for k in keys if k in big), None))
    used = Counter(k for k in labels if k)
    names = {k: _name(spellings[k]) for k in used}
    genres = sorted(names.values(), key=str.lower)
    index = {k: genres.index(names[k]) for k in used}
    left_out: Counter[str] = Counter()
    for keys, label in zip(per_track, labels):
        if keys and label is None:
            left_out[_name(spellings[keys[0]])] += 1
    merged = {_name(spellings[k]): names[v] for k, v in joins.items() if v in names}
    merged |= {
        src: names[spelling_key(dst)] for src, dst in by_map.items() if spelling_key(dst) in names
    }
    return Labels(
        genres=genres,
        y=np.array([index[k] if k else -1 for k in labels], dtype=int),
        counts={names[k]: used[k] for k in used},
        left_out=dict(sorted(left_out.items(), key=lambda kv: (-kv[1], kv[0]))),
        merged=dict(sorted(merged.items(), key=lambda kv: kv[0].lower())),
        outside=np.array([bool(k) and lab is None for k, lab in zip(per_track, labels)], bool),
    )


def _same(spellings: dict[str, Counter], a: str, b: str) -> bool:
    return any(same_genre(x, y) for x in spellings[a] for y in spellings[b])


def _name(spelling_counts: Counter) -> str:
    """The spelling most tracks use (ties: alphabetical)."""
    return min(spelling_counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def album_groups(tracks: list[LibraryTrack]) -> list[str]:
    """Each track's split group: its album tag, else its folder.

    Albums are matched by name alone, across artists: two albums called
    ``Greatest Hits`` land on the same side, which can only make the figures
    more pessimistic, never leak an album across the split.
    """
    return [album_key(t.path, t.album) for t in tracks]


def grouped_folds(
    y: np.ndarray, groups: list[str], k: int = FOLDS, seed: int = 0
) -> tuple[np.ndarray, list[int]]:
    """A fold number per track with whole groups per fold; and the classes dealt by track.

    Each group goes, largest first, to the fold holding the fewest tracks of
    the group's most common class so far.  A class found in a single group
    cannot be tested on an unseen group: its tracks are dealt one by one.
    """
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    majority = {
        g: Counter(int(y[i]) for i in idx).most_common(1)[0][0] for g, idx in members.items()
    }
    fold = np.zeros(len(y), dtype=int)
    load = np.zeros((int(y.max()) + 1, k))
    for g in sorted(members, key=lambda g: (-len(members[g]), g)):
        c = majority[g]
        f = int(np.argmin(load[c] + rng.random(k) * 1e-3))
        fold[members[g]] = f
        load[c, f] += len(members[g])
    by_track = [
        int(c) for c in np.unique(y) if len({groups[i] for i in np.flatnonzero(y == c)}) == 1
    ]
    for c in by_track:
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = np.arange(len(idx)) % k
    return fold, by_track


def within_album_folds(groups: list[str], k: int = FOLDS, seed: int = 0) -> np.ndarray:
    """A fold number per track with each group's tracks dealt across the folds.

    A held-out track then has album-mates on the training side (when its group
    has more than one track): the situation of an untagged track of a
    half-tagged album.
    """
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(groups), dtype=int)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    for g in sorted(members):
        idx = rng.permutation(members[g])
        fold[idx] = (int(rng.integers(k)) + np.arange(len(idx))) % k
    return fold


def mates_counts(y: np.ndarray, groups: list[str], fold: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, classes): the labels of each track's album-mates outside its fold."""
    index = {g: i for i, g in enumerate(sorted(set(groups)))}
    g = np.array([index[x] for x in groups])
    per = np.zeros((len(index), fold.max() + 1, n_classes))
    np.add.at(per, (g, fold, y), 1)
    return per[g].sum(axis=1) - per[g, fold]


def fit_album_calibration(
    logits: np.ndarray, evidence: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """(temperature, weight of the album evidence) minimising the negative log-likelihood of
    ``softmax(logits / temperature + weight * evidence)`` on held-out tracks.

    The weight is kept in [0, 1]: 1 is Bayes' rule for evidence independent of
    the head's answer; the head heard the same album-mates, so less may fit
    better, and more would trust a few tags beyond what they say.
    """
    from scipy.optimize import minimize

    def nll(params: np.ndarray) -> float:
        p = softmax(logits / np.exp(params[0]) + params[1] * evidence)
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    res = minimize(nll, np.array([0.0, 0.5]), method="L-BFGS-B", bounds=[(-3.0, 3.0), (0.0, 1.0)])
    return float(np.exp(res.x[0])), float(res.x[1])


@dataclass
class Trained:
    head: SoftmaxHead
    evaluation: dict
    out_of_fold: np.ndarray  # each labelled track's prediction by a head without its album


def album_figures(
    tracks: list[LibraryTrack],
    probs: np.ndarray,
    y: np.ndarray,
    genres: list[str],
    threshold: float,
) -> dict:
    """Held-out predictions judged by album, as ``tagger write --album`` would pool them.

    ``probs``: each track's out-of-fold probabilities; ``y``: its label.  An
    album's label is its tracks' most common one (ties: the first genre); an
    album none of whose tracks passes the threshold has no genre and is not
    counted.
    """
    index = {t.path: i for i, t in enumerate(tracks)}
    albums = album_genres(
        (
            AlbumTrack(
                t.path,
                t.album,
                t.album_artist,
                t.compilation,
                dict(zip(genres, map(float, p))),
                "library",
                abstained=bool(p.max() < threshold),
            )
            for t, p in zip(tracks, probs)
        ),
        multi_label=lambda model: False,
    )
    right, as_written, one_genre = 0, 0, 0
    heard = [a for a in albums if a.genre is not None]
    for album in albums:
        members = [index[t.path] for t in album.tracks]
        label = genres[int(np.bincount(y[members], minlength=len(genres)).argmax())]
        right += album.genre == label
        one_genre += album.mode is Mode.ALBUM
        for i in members:
            written = album.genre if album.mode is Mode.ALBUM else genres[int(probs[i].argmax())]
            as_written += written == genres[int(y[i])]
    return {
        "albums": len(heard),
        "accuracy": round(right / len(heard), 4) if heard else None,
        "unheard": len(albums) - len(heard),  # every track under the threshold: no vote
        "written_as_one": one_genre,
        "album_mode_track_accuracy": round(as_written / len(tracks), 4) if tracks else None,
        "rule": "albums grouped and pooled as `tagger write --album` does; an album is right "
        "when its pooled genre is its tracks' most common label",
    }


def train_from_embeddings(
    x: np.ndarray,
    labels: Labels,
    groups: list[str],
    folds: int = FOLDS,
    target: float = TARGET_PRECISION,
    tracks: list[LibraryTrack] | None = None,
) -> Trained:
    """Out-of-fold evaluation and calibration, then the head trained on every labelled track.

    ``tracks`` (aligned with ``x``): their album tags, to judge the head by album too.
    """
    use = labels.y >= 0
    # Albums whose tags name only genres too rare to learn: the head cannot name their genre,
    # and their tags say it is none it knows (``SoftmaxHead.foreign``).
    outside = labels.outside if len(labels.outside) == len(use) else np.zeros(len(use), bool)
    learnt = {g for g, u in zip(groups, use) if u}
    foreign = sorted({g for g, o in zip(groups, outside) if o} - learnt)
    x, y = np.asarray(x, np.float32)[use], labels.y[use]
    groups = [g for g, u in zip(groups, use) if u]
    n_classes = len(labels.genres)
    if n_classes < 2:
        small = ", ".join(f"{g} ({n})" for g, n in labels.left_out.items()) or "none"
        raise TaggerError(
            f"need at least two genres with enough tracks to learn, found {n_classes} "
            f"({', '.join(f'{g}: {n}' for g, n in labels.counts.items()) or 'none'}; "
            f"too few tracks: {small}); lower --min-tracks or tag more files"
        )
    fold, by_track = grouped_folds(y, groups, folds)
    logits, _ = _out_of_fold(x, y, fold, labels.genres)
    temperature = fit_temperature(logits, y)
    probs = softmax(logits / temperature)
    threshold = choose_threshold(probs.max(axis=1), probs.argmax(axis=1) == y, target)
    evaluation = {
        "split": f"{folds}-fold, grouped by album (folder where untagged); out-of-fold predictions",
        **head_figures(probs, y, labels.genres, temperature, threshold, target),
        # Always answering the most common genre: what a head must beat to be worth using.
        "baseline_accuracy": round(float(np.bincount(y).max() / len(y)), 4),
        "baseline_genre": labels.genres[int(np.bincount(y).argmax())],
    }
    if tracks is not None:
        used = [t for t, u in zip(tracks, use) if u]
        evaluation["by_album"] = album_figures(used, probs, y, labels.genres, threshold)
    for i, g in enumerate(labels.genres):
        evaluation["per_genre"][g]["albums"] = len({a for a, c in zip(groups, y) if c == i})
        if i in by_track:
            evaluation["per_genre"][g]["optimistic"] = (
                "one album only: tested on tracks of albums it trained on"
            )
    # Albums it learnt from: held out within their album, the album-mates' tags as evidence.
    within = within_album_folds(groups, folds)
    mates_logits, heads = _out_of_fold(x, y, within, labels.genres)
    counts = mates_counts(y, groups, within, n_classes)
    prior = np.bincount(y, minlength=n_classes) / len(y)
    known = counts.sum(axis=1) > 0
    head = average_heads(heads)  # the heads the thresholds were measured on (see average_heads)
    head.temperature, head.threshold, head.prior = temperature, threshold, prior
    head.album_keys = sorted(set(groups))
    head.foreign = foreign
    index = {k: i for i, k in enumerate(head.album_keys)}
    head.album_counts = np.zeros((len(index), n_classes))
    np.add.at(head.album_counts, (np.array([index[g] for g in groups]), y), 1)
    if known.sum() < MIN_ALBUM_CASE:
        # Too few to calibrate apart: tracks of albums it learnt from are judged as those of
        # albums it never heard (no evidence, the same temperature and threshold).
        head.album_temperature, head.album_weight, head.album_threshold = (
            temperature,
            0.0,
            threshold,
        )
        evaluation["known_album"] = {
            "tracks": int(known.sum()),
            "calibrated": False,
            "why": f"only {int(known.sum())} tagged tracks have a tagged album-mate (at least "
            f"{MIN_ALBUM_CASE} needed to calibrate them apart): judged as albums it never heard",
        }
        return Trained(head, evaluation, probs.argmax(axis=1))
    evidence = album_evidence(counts[known], prior)
    t, w = fit_album_calibration(mates_logits[known], evidence, y[known])
    p = softmax(mates_logits[known] / t + w * evidence)
    th = choose_threshold(p.max(axis=1), p.argmax(axis=1) == y[known], target)
    head.album_temperature, head.album_weight, head.album_threshold = t, w, th
    kept = p.max(axis=1) >= th
    right = p.argmax(axis=1) == y[known]
    evaluation["known_album"] = {
        "split": f"{folds}-fold within albums: each track predicted by a head that heard "
        "its album-mates, their tags counted as evidence",
        "tracks": int(known.sum()),
        "calibrated": True,
        "accuracy": round(float(right.mean()), 4),
        "ece": round(ece(p, y[known]), 4),
        "temperature": round(t, 4),
        "album_weight": round(w, 4),
        "threshold": round(th, 4),
        "kept_fraction": round(float(kept.mean()), 4),
        "kept_accuracy": round(float(right[kept].mean()), 4) if kept.any() else None,
    }
    return Trained(head, evaluation, probs.argmax(axis=1))


# Held-out tracks with a tagged album-mate needed to calibrate that case on its own (a
# threshold is chosen on no fewer than 10 kept tracks, and two parameters are fitted); with
# fewer, tracks of albums it learnt from are judged as those of albums it never heard.
MIN_ALBUM_CASE = 20


def _out_of_fold(
    x: np.ndarray, y: np.ndarray, fold: np.ndarray, genres: list[str]
) -> tuple[np.ndarray, list[SoftmaxHead]]:
    """Each track's logits from the head trained without its fold, and those heads."""
    logits = np.zeros((len(y), len(genres)), np.float32)
    heads = []
    for f in np.unique(fold):
        test = fold == f
        heads.append(fit_head(x[~test], y[~test], genres))
        logits[test] = heads[-1].logits(x[test])
    return logits, heads


CASES = {
    "known_album": "in albums it learnt from (some of their tracks are tagged)",
    "unseen_album": "in albums it never heard (none of their tracks is tagged)",
    "foreign_album": "in albums tagged only with genres too rare to learn (never labelled)",
}


def untagged_outcome(head: SoftmaxHead, x: np.ndarray, keys: list[str]) -> dict:
    """What the head will do to the library's untagged tracks: how many it labels and
    abstains on, in all and in each case (``CASES``)."""
    if not len(x):
        return {"tracks": 0, "labelled": 0, "abstained": 0, "by_case": {}}
    probs, thresholds, known = head.predict(x, keys)
    abstain = probs.max(axis=1) < thresholds
    foreign = head.foreign_of(keys) & ~known
    by_case = {}
    cases = (
        ("known_album", known),
        ("unseen_album", ~known & ~foreign),
        ("foreign_album", foreign),
    )
    for case, sel in cases:
        if case == "foreign_album" and not sel.any():
            continue
        n = int(sel.sum())
        by_case[case] = {
            "tracks": n,
            "labelled": n - int(abstain[sel].sum()),
            "abstained": int(abstain[sel].sum()),
        }
    n_abstained = int(abstain.sum())
    return {
        "tracks": len(x),
        "labelled": len(x) - n_abstained,
        "abstained": n_abstained,
        "by_case": by_case,
    }


def head_warning(card: dict) -> str | None:
    """One line when the head will disappoint on this library: why, and what helps; else None.

    Read from the card, so ``tagger retrain`` and anyone reading the card later agree.
    """
    a, data = card["accuracy"], card.get("data") or {}
    untagged = data.get("untagged") or {}
    why = []
    # Both thresholds 1.0: nothing will ever be written.
    if not a["kept_fraction"] and not (a.get("known_album") or {}).get("kept_fraction"):
        why.append(
            f"no confidence level kept {a['threshold_target_precision']:.0%} of held-out "
            f"tracks right, so the head abstains on every track and `tagger write` leaves "
            f"every file alone"
        )
    elif untagged.get("tracks") and untagged["abstained"] * 2 > untagged["tracks"]:
        why.append(
            f"the head abstains on {untagged['abstained']} of the {untagged['tracks']} "
            f"untagged tracks (confidence under its threshold), so `tagger write` "
            f"leaves them alone"
        )
    base = a.get("baseline_accuracy")
    if base is not None and a["accuracy"] <= base:
        why.append(
            f"its accuracy {a['accuracy']:.3f} is no better than always answering "
            f"{a['baseline_genre']} ({base:.3f})"
        )
    if not why:
        return None
    return (
        "; ".join(why) + "; what helps: tag tracks of more albums per genre, learn fewer "
        "genres (--map merges some, a higher --min-tracks leaves rare ones out), a lower "
        "--target-precision, or write anyway with `tagger write --include-uncertain`"
    )


def not_default(evaluation: dict) -> str | None:
    """Why a head must not become the default model (None: it may).

    A head replaces, at the next scan, every result the model before it
    stored.  One no better than always answering the library's most common
    genre, or one that abstains on every track, would throw those results
    away for nothing: it is saved, and used only where the user names it.
    """
    base = evaluation.get("baseline_accuracy")
    if base is not None:
        genre, where = evaluation["baseline_genre"], "accuracy on albums held out"
        if worse := no_better_than_baseline(evaluation["accuracy"], base, genre, where):
            return worse
    known = evaluation.get("known_album") or {}
    if not evaluation["kept_fraction"] and not known.get("kept_fraction"):
        return "it abstains on every track"
    return None


def retrain_from_library(
    db: str | os.PathLike | None = None,
    min_tracks: int = MIN_TRACKS,
    mapping: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    command: str = "",
    target: float = TARGET_PRECISION,
) -> dict:
    """``tagger retrain --from-library``: train the ``library`` head from a scanned database.

    ``target``: the share of the held-out tracks it keeps that must be right;
    the abstention threshold is the lowest confidence that achieves it.

    Labels are the genres the files carried when scanned (for a file tagger
    has since written, the genres it had before: the journal keeps them), so a
    head is never trained on tagger's own output.  Returns the model card.
    """
    from tagger.models import KINDS, card_for, current_embedder, library_head_file, library_heads
    from tagger.paths import default_db
    from tagger.store import Store

    started = time.monotonic()
    embedder = current_embedder()
    store = Store(default_db(db), create=False)
    try:
        rows, x = store.embedded_tracks(
            embedder, ("path", "tag_genre", "album", "album_artist", "compilation")
        )
        before_tagger = store.original_genres()
    finally:
        store.close()
    if not rows:
        raise TaggerError(
            f"no track in {store.path} has a stored embedding of {embedder}; "
            f"scan the library with the musicnn model first "
            f"(`tagger scan PATH --model musicnn`)"
        )
    texts = [
        "; ".join(before_tagger[r.path]) if r.path in before_tagger else r.tag_genre for r in rows
    ]
    tagged = [i for i, text in enumerate(texts) if text]  # the others cannot teach anything
    untagged = [i for i, text in enumerate(texts) if not text]
    tracks = [
        LibraryTrack(
            rows[i].path,
            texts[i],
            rows[i].album,
            x[i],
            rows[i].album_artist,
            bool(rows[i].compilation),
        )
        for i in tagged
    ]
    labels = make_labels(
        [t.tag_genre for t in tracks], min_tracks, read_mapping(mapping) if mapping else None
    )
    trained = train_from_embeddings(
        x[tagged], labels, album_groups(tracks), target=target, tracks=tracks
    )
    used = [t for t, label in zip(tracks, labels.y) if label >= 0]
    trained.head.trained = {
        t.path: (int(label), int(oof))
        for t, label, oof in zip(used, labels.y[labels.y >= 0], trained.out_of_fold)
    }
    outcome = untagged_outcome(
        trained.head, x[untagged], [album_key(rows[i].path, rows[i].album) for i in untagged]
    )
    kind = KINDS["library"]
    card = card_for(
        kind,
        "1",
        labels.genres,
        embedder=embedder,
        temperature=trained.head.temperature,
        threshold=trained.head.threshold,
        not_default=not_default(trained.evaluation),
        accuracy=trained.evaluation,
        data={
            "database": os.path.realpath(store.path),  # the one database it serves
            "tracks_with_embeddings": len(rows),
            "tagged_tracks": len(tagged),
            "labelled_tracks": int((labels.y >= 0).sum()),
            "untagged": outcome,
            "counts": labels.counts,
            "left_out": labels.left_out,
            "min_tracks": min_tracks,
            "merged": labels.merged,
            "label_rule": "the first of a file's genres that has enough tracks; spellings "
            "merged by case, spacing and punctuation, true synonyms merged into a genre "
            "with enough tracks",
        },
        licence="trained on your own library; for your use",
        training={"seconds": round(time.monotonic() - started, 2)},
        command=command,
        trained_at=now(),
    )
    # One head per database, beside the others in the user model folder (or ``out_dir``).
    file = library_head_file(store.path, Path(out_dir).expanduser() if out_dir else None)
    path = install_head(trained.head, card, file.parent, file.stem)
    if not out_dir:  # the single head earlier versions kept for every database, if this one's
        for old, database in library_heads().items():
            if old.stem == kind.name and database == os.path.realpath(store.path):
                old.unlink(missing_ok=True)
                old.with_suffix(".json").unlink(missing_ok=True)
    return card.to_dict() | {"path": str(path)}


def install_head(head: SoftmaxHead, card, out: Path, stem: str | None = None) -> Path:
    """Write ``<name>.npz`` (``<stem>.npz``) then its card, each atomically (a scan never sees
    half a file); the model file's path."""
    from tagger.models import write_card

    stem = stem or card.name
    with output_folder(out, "the model"):
        tmp = out / f".{stem}.npz.tmp"
        head.save(tmp)
        os.replace(tmp, out / f"{stem}.npz")
        write_card(out, card, stem)
    return out / f"{stem}.npz"
