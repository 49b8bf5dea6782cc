"""musicnn's two tag vocabularies, and the rule that turns their tags into genres.

The MagnaTagATune net (MTT) and the Million Song Dataset net (MSD) each output
50 independent tag probabilities (multi-label, sigmoid) in vocabularies that
overlap only in part.  Most tags are not genres (moods, decades, voices,
instruments): those are stored under ``tags`` as the nets gave them and never
written as a genre.

**Why a rule, not the highest tag.**  A sigmoid score is the probability of
the tag *in the net's training data*, so it carries the tag's frequency
there: ``rock`` is on 42% of the MSD's tagged tracks, ``country`` on 6%, so
``rock`` outscores ``metal`` or ``country`` wherever those are merely likely.
The rule takes that frequency out, as Bayes' rule does when the prior
changes (label shift): each MSD tag's evidence is its log-likelihood ratio

    llr(tag) = logit(score) - logit(prior)

where ``prior`` is the tag's published frequency in the MSD training data
(``GenreRule.msd_priors``, from the card; ``training/musicnn_genre_rule.py``
says where each number comes from).  llr > 0: the audio makes the tag more
likely than it is on an average training track.

**Genres.**  A genre's evidence is the best llr of its tags (``hard rock`` and
``heavy metal`` both speak for metal); a genre the nets have no tag of its
own for is a conjunction of groups of tags: when every group speaks for it
(each group's best llr > 0) their evidence adds, as independent evidence
does in log-odds, else the conjunction is as weak as its weakest group
(disco: the best of ``dance``, ``funk``, ``soul`` *and* ``70s``; a 70s rock
song is not disco, a funk groove of the 70s is).  With every named genre
equally likely before listening, and one more outcome, *none of these*,
whose evidence is 0 (the audio says nothing either way), the genres'
probabilities are the softmax of their evidence.  So a track whose every
genre tag sits at its training prior (what a genre neither net has a tag
for, reggae, can look like) spreads its mass evenly over the genres and
*none*, and no named genre wins.

**Classical.**  The MSD vocabulary is popular music's; given a symphony it
has no right answer and spreads its mass over whatever is near (ambient,
jazz).  Only the MTT net knows classical music (``classical``, ``classic``,
``choral``, ``opera``), so the probability of classical is MTT's best
classical score ``c``, and every other genre's probability is scaled by
``1 - c``.

The result is one distribution over the named genres plus *none* (the
stored ``probabilities`` sum to 1 minus the share of *none*); ``genre`` is
the most probable named genre and ``confidence`` its probability.  A track
whose top genre holds less than ``uncertain_below`` (0.5: it is more likely
wrong than right) is flagged uncertain, stored, and not written unless
``tagger write --include-uncertain``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ..paths import shipped_models_dir

MTT_LABELS = [
    "guitar",
    "classical",
    "slow",
    "techno",
    "strings",
    "drums",
    "electronic",
    "rock",
    "fast",
    "piano",
    "ambient",
    "beat",
    "violin",
    "vocal",
    "synth",
    "female",
    "indian",
    "opera",
    "male",
    "singing",
    "vocals",
    "no vocals",
    "harpsichord",
    "loud",
    "quiet",
    "flute",
    "woman",
    "male vocal",
    "no vocal",
    "pop",
    "soft",
    "sitar",
    "solo",
    "man",
    "classic",
    "choir",
    "voice",
    "new age",
    "dance",
    "male voice",
    "female vocal",
    "beats",
    "harp",
    "cello",
    "no voice",
    "weird",
    "country",
    "metal",
    "female voice",
    "choral",
]
MSD_LABELS = [
    "rock",
    "pop",
    "alternative",
    "indie",
    "electronic",
    "female vocalists",
    "dance",
    "00s",
    "alternative rock",
    "jazz",
    "beautiful",
    "metal",
    "chillout",
    "male vocalists",
    "classic rock",
    "soul",
    "indie rock",
    "Mellow",
    "electronica",
    "80s",
    "folk",
    "90s",
    "chill",
    "instrumental",
    "punk",
    "oldies",
    "blues",
    "hard rock",
    "ambient",
    "acoustic",
    "experimental",
    "female vocalist",
    "guitar",
    "Hip-Hop",
    "70s",
    "party",
    "country",
    "easy listening",
    "sexy",
    "catchy",
    "funk",
    "electro",
    "heavy metal",
    "Progressive rock",
    "60s",
    "rnb",
    "indie pop",
    "sad",
    "House",
    "happy",
]


# Scores are clipped this far from 0 and 1 before the logit: the nets' float
# outputs reach 1e-7, where a logit says more than the net can know.
_EPS = 1e-4


@dataclass(frozen=True)
class GenreRule:
    """The genre rule's constants, as the model card holds them (``genre_rule``)."""

    genres: tuple[str, ...]
    # genre -> groups of MSD tags (a conjunction of "any of" groups; see the module notes)
    evidence: dict[str, tuple[tuple[str, ...], ...]]
    classical: str  # the genre that MTT's classical tags decide
    classical_tags: tuple[str, ...]  # MTT tags
    msd_priors: np.ndarray  # (50,) each MSD tag's frequency in the MSD training data
    uncertain_below: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenreRule:
        priors = d["msd_priors"]
        return cls(
            genres=tuple(d["genres"]),
            evidence={g: tuple(tuple(grp) for grp in v) for g, v in d["evidence"].items()},
            classical=d["classical"]["genre"],
            classical_tags=tuple(d["classical"]["mtt_tags"]),
            msd_priors=np.array([priors[t] for t in MSD_LABELS], dtype=np.float64),
            uncertain_below=float(d["uncertain_below"]),
        )

    def _index(self) -> tuple[list[list[list[int]]], list[int], int]:
        groups = [
            [[MSD_LABELS.index(t) for t in grp] for grp in self.evidence[g]]
            for g in self.genres
            if g != self.classical
        ]
        return (
            groups,
            [MTT_LABELS.index(t) for t in self.classical_tags],
            self.genres.index(self.classical),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def genre_evidence(msd: np.ndarray, rule: GenreRule) -> np.ndarray:
    """(..., 50) MSD scores -> (..., genres but classical) log-likelihood ratios (see the notes)."""
    llr = _logit(np.asarray(msd, np.float64)) - _logit(rule.msd_priors)
    groups, _, _ = rule._index()
    cols = []
    for gs in groups:
        best = np.stack([llr[..., grp].max(axis=-1) for grp in gs], axis=-1)
        weakest = best.min(axis=-1)
        cols.append(np.where(weakest > 0, best.sum(axis=-1), weakest))
    return np.stack(cols, axis=-1)


def genre_probabilities(mtt: np.ndarray, msd: np.ndarray, rule: GenreRule) -> np.ndarray:
    """(..., 50) MTT and (..., 50) MSD tag scores -> (..., len(rule.genres)) probabilities.

    A pure function of the nets' outputs and the card's constants (see the
    module notes); the probabilities of the named genres sum to one minus the
    share of *none of these* (``none_share``).
    """
    mtt = np.asarray(mtt, np.float64)
    ev = genre_evidence(msd, rule)
    z = np.concatenate([ev, np.zeros((*ev.shape[:-1], 1))], axis=-1)  # last: none of these
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    q = z / z.sum(axis=-1, keepdims=True)
    _, classical_idx, at = rule._index()
    c = np.clip(mtt[..., classical_idx].max(axis=-1), 0.0, 1.0)
    others = q[..., :-1] * (1 - c)[..., None]
    return np.insert(others, at, c, axis=-1)


def none_share(probabilities: np.ndarray) -> np.ndarray:
    """The probability that none of the named genres is the track's (what the rule leaves over)."""
    return np.clip(1.0 - np.asarray(probabilities).sum(axis=-1), 0.0, 1.0)


@cache
def shipped_rule() -> GenreRule:
    """The rule of the shipped musicnn card (``models/musicnn.json``)."""
    with open(shipped_models_dir() / "musicnn.json", encoding="utf-8") as f:
        return GenreRule.from_dict(json.load(f)["genre_rule"])


def merge_genres(mtt: np.ndarray, msd: np.ndarray, rule: GenreRule | None = None) -> np.ndarray:
    """``genre_probabilities`` under ``rule``, by default the shipped card's."""
    return genre_probabilities(mtt, msd, rule or shipped_rule())


def tag_dict(mtt: np.ndarray, msd: np.ndarray) -> dict[str, float]:
    """Both nets' raw tag outputs under ``mtt:<tag>`` / ``msd:<tag>`` in the original spelling."""
    out = {f"mtt:{t}": round(float(v), 5) for t, v in zip(MTT_LABELS, mtt)}
    out.update({f"msd:{t}": round(float(v), 5) for t, v in zip(MSD_LABELS, msd)})
    return out


def __getattr__(name: str) -> Any:
    """``GENRES``: the shipped rule's genres, read from the card on first use."""
    if name == "GENRES":
        return list(shipped_rule().genres)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
