"""Top-1 genre accuracy and calibration of every shipped model on real GTZAN clips.

    python benchmarks/genres.py [--dev ../shared/gtzan/dev] [--json] [--plot reliability.png]

Reads the real clips of ``<dev>/<genre>/*`` (the GTZAN development clips;
skips with a clear message when the folder is absent) and runs every shipped
model (the registry's kinds whose files ship in ``models/``) on each clip
exactly as a scan does (``tagger.worker.track_input``, then the model's
``predict_tracks``).  For musicnn it also scores the rule as it was before
the genre rule (``previous_rule``: the highest raw genre tag, merged over the
two nets), from the same pooled tags, in the same run.

Per model (and rule): top-1 accuracy per genre and overall, balanced accuracy
(the mean of the genres' accuracies), the confusion table, the expected
calibration error of the top genre's confidence (ECE, 10 equal-width bins)
with its reliability table, the share of clips flagged uncertain and the
accuracy of the rest, and how many of the clips were in the model's own
training data (a model trained on GTZAN, by its card and the split lists in
``<dev>/../splits``): its figures on those clips are not a test.  The dev
clips are for checking: nothing in musicnn's rule was fitted to them.
Figures from 26 clips are coarse (one clip is 4 points of overall
accuracy); say so wherever they are quoted.

Then the same figures for musicnn's genre rule on the committed pooled tag
vectors of two real soundtracks (``tests/fixtures/musicnn_real_tags.npz``:
Battle for Wesnoth's orchestral score, classical; Endgame: Singularity's
electronic score, electronic), which need no audio: a second, independent
look at calibration, on music far from GTZAN's.  ``--plot`` draws each
reliability table as a reliability diagram.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "gtzan" / "dev"
BINS = 10


@dataclass
class Answers:
    """One model's (or rule's) answers on the clips."""

    name: str
    trained_on: int = 0  # clips that were in the model's own training data
    truth: list[str] = field(default_factory=list)
    genre: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    uncertain: list[bool] = field(default_factory=list)

    def add(self, truth: str, genre: str, confidence: float, uncertain: bool) -> None:
        self.truth.append(truth)
        self.genre.append(genre)
        self.confidence.append(confidence)
        self.uncertain.append(uncertain)


def previous_rule(tags: dict[str, float]) -> tuple[str, float]:
    """musicnn's genre as the default named it before the genre rule: (genre, score).

    Each net's score for a genre was the best of its tags for it; MSD's scores
    were multiplied by (1 - MTT's classical score); a genre both nets know took
    the mean of the two; the genre was the highest raw score, its confidence
    that score.  Kept here, and only here, as the benchmark's baseline.
    """
    mtt_tags = {
        "classical": ["classical", "classic", "choral", "opera"],
        **{g: [g] for g in ("techno", "new age", "electronic", "rock", "pop", "ambient")},
        **{g: [g] for g in ("dance", "country", "metal")},
    }
    msd_tags = {
        "rock": [
            *("rock", "classic rock", "hard rock", "alternative rock", "indie rock"),
            "Progressive rock",
        ],
        "pop": ["pop", "indie pop"],
        "electronic": ["electronic", "electronica", "electro"],
        "metal": ["metal", "heavy metal"],
        "ambient": ["ambient", "chillout"],
        "hiphop": ["Hip-Hop"],
        "house": ["House"],
        **{g: [g] for g in ("alternative", "indie", "dance", "jazz", "soul", "folk", "punk")},
        **{g: [g] for g in ("blues", "country", "funk", "rnb", "easy listening")},
    }
    mtt = {g: max(tags[f"mtt:{t}"] for t in ts) for g, ts in mtt_tags.items()}
    msd = {
        g: max(tags[f"msd:{t}"] for t in ts) * (1 - mtt["classical"]) for g, ts in msd_tags.items()
    }
    scores = {g: float(np.mean([d[g] for d in (mtt, msd) if g in d])) for g in sorted({*mtt, *msd})}
    best = max(scores, key=scores.__getitem__)
    return best, scores[best]


def figures(a: Answers, genres: list[str]) -> dict:
    """Accuracy per genre and overall, balanced accuracy, confusion, ECE, uncertain share.

    Genres are spelt as every command prints them (GTZAN's ``hiphop`` is ``Hip-Hop``)."""
    from tagger.genres import GenreMap

    label = GenreMap().label
    genres = [label(g) for g in genres]
    truth, pred = np.array([label(g) for g in a.truth]), np.array([label(g) for g in a.genre])
    conf, unc = np.array(a.confidence), np.array(a.uncertain)
    right = truth == pred
    per = {g: float(right[truth == g].mean()) for g in genres}
    edges = np.linspace(0, 1, BINS + 1)
    reliability, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(right[sel].mean() - conf[sel].mean())
            reliability.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "clips": int(sel.sum()),
                    "confidence": round(float(conf[sel].mean()), 3),
                    "accuracy": round(float(right[sel].mean()), 3),
                }
            )
    kept = ~unc
    return {
        "model": a.name,
        "clips": len(truth),
        "accuracy": round(float(right.mean()), 4),
        "balanced_accuracy": round(float(np.mean(list(per.values()))), 4),
        "per_genre": {g: round(v, 4) for g, v in per.items()},
        "confusion": {g: dict(Counter(pred[truth == g].tolist()).most_common()) for g in genres},
        "ece": round(float(ece), 4),
        "reliability": reliability,
        "uncertain_share": round(float(unc.mean()), 4),
        "accuracy_of_the_rest": round(float(right[kept].mean()), 4) if kept.any() else None,
        "clips_in_its_training_data": a.trained_on,
    }


def shipped_models() -> list:
    """Every registered kind whose model ships with tagger (``models/``), as ModelRefs."""
    from tagger.models.card import card_path, read_card
    from tagger.models.registry import KINDS, ref_for_file
    from tagger.paths import shipped_models_dir

    refs = []
    for kind in KINDS.values():
        path = shipped_models_dir() / f"{kind.name}{kind.file_suffix}"
        shipped = path.is_file() and card_path(path).is_file()
        if shipped and not read_card(card_path(path)).get("synthetic"):
            refs.append(ref_for_file(path, "shipped"))
    return refs


def fitted_on(card, dev: Path) -> set[str]:
    """The GTZAN tracks (``genre/genre.000NN``) a model trained on GTZAN was fitted on.

    Read from the split lists beside the dev folder (``splits/*_filtered.txt``)
    and the card's ``split.fitted_on``; empty for a model not trained on GTZAN.
    """
    if "gtzan" not in json.dumps(card.get("data") or {}).lower():
        return set()
    parts = (
        ["train", "valid"]
        if "valid" in str((card.get("split") or {}).get("fitted_on"))
        else ["train"]
    )
    names: set[str] = set()
    for part in parts:
        path = dev.parent / "splits" / f"{part}_filtered.txt"
        if path.is_file():
            names |= set(path.read_text().split())
    return names


def run(dev: Path) -> list[dict]:
    from tagger.models import load_model
    from tagger.worker import track_input

    clips = sorted(p for p in dev.glob("*/*") if p.is_file())
    genres = sorted({p.parent.name for p in clips})
    out = []
    for ref in shipped_models():
        model = load_model(ref)
        seen = fitted_on(ref.card, dev)
        answers = Answers(f"{ref.name} {ref.version} ({model.engine})")
        before = Answers(f"{ref.name}: the rule as it was (highest raw genre tag)")
        for clip in clips:
            _, x = track_input(clip, model.spec)
            p = model.predict_tracks([x])[0]
            answers.add(clip.parent.name, p.genre, p.confidence, p.uncertain)
            answers.trained_on += f"{clip.parent.name}/{clip.stem}" in seen
            if ref.name == "musicnn" and p.tags:
                genre, score = previous_rule(p.tags)
                before.add(clip.parent.name, genre, score, False)
            print(
                f"  {ref.name:8s} {clip.parent.name}/{clip.name}: {p.genre} {p.confidence:.2f}"
                + (" (uncertain)" if p.uncertain else ""),
                file=sys.stderr,
            )
        if before.truth:
            out.append(figures(before, genres))
        out.append(figures(answers, genres))
    return out


def soundtracks() -> dict:
    """The genre rule's figures on the committed soundtrack tag vectors (no audio decoded)."""
    from tagger.models.musicnn_genres import genre_probabilities, shipped_rule

    rule = shipped_rule()
    d = np.load(ROOT / "tests" / "fixtures" / "musicnn_real_tags.npz")
    probs = genre_probabilities(d["tags"][:, :50], d["tags"][:, 50:], rule)
    truth = {"orchestral": "classical", "electronic": "electronic"}
    a = Answers("musicnn genre rule, soundtrack fixture (orchestral: classical; electronic)")
    for kind, p in zip(d["kinds"], probs):
        best = int(p.argmax())
        a.add(truth[str(kind)], rule.genres[best], float(p[best]), p[best] < rule.uncertain_below)
    return figures(a, sorted(set(truth.values())))


def plot(results: list[dict], path: Path) -> None:
    """One reliability diagram per result: accuracy against confidence, per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        bins = r["reliability"]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.scatter(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            s=[30 * b["clips"] for b in bins],
        )
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="right")
        ax.set_title(f"{r['model'][:40]}\nECE {r['ece']:.2f}, {r['clips']} clips", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def table(results: list[dict]) -> str:
    """The figures as Markdown, for docs/models.md."""
    genres = list(results[0]["per_genre"])
    head = ["model", *genres, "overall", "balanced", "ECE", "uncertain", "right when certain"]
    head.append("clips it trained on")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        rest = r["accuracy_of_the_rest"]
        cells = [
            r["model"],
            *(f"{r['per_genre'][g]:.0%}" for g in genres),
            f"{r['accuracy']:.0%}",
            f"{r['balanced_accuracy']:.0%}",
            f"{r['ece']:.2f}",
            f"{r['uncertain_share']:.0%}",
            "–" if rest is None else f"{rest:.0%}",
            f"{r['clips_in_its_training_data']} of {r['clips']}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for r in results:
        lines += ["", f"{r['model']}: what each genre's clips were called"]
        lines += [
            f"- {g}: " + ", ".join(f"{k} {v}" for k, v in c.items())
            for g, c in r["confusion"].items()
        ]
        lines.append(
            "- reliability: "
            + "; ".join(
                f"{b['bin']}: {b['clips']} clips, confidence {b['confidence']:.2f}, "
                f"right {b['accuracy']:.2f}"
                for b in r["reliability"]
            )
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--dev", type=Path, default=DEV, help=f"clips as <genre>/<file> (default {DEV})"
    )
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--plot", type=Path, help="write the reliability diagrams to this PNG")
    args = ap.parse_args()
    reference = soundtracks()
    if args.dev.is_dir():
        results = run(args.dev)
    else:
        print(f"skipped the GTZAN clips: {args.dev} is not there (see --dev)")
        results = []
    if args.json:
        print(json.dumps({"gtzan_dev": results, "soundtracks": reference}, indent=2))
    else:
        if results:
            print(table(results), end="\n\n")
        print(table([reference]))
    if args.plot:
        plot([*results, reference], args.plot)


if __name__ == "__main__":
    main()
