"""musicnn's two tag vocabularies, and how they become one set of genres.

The MagnaTagATune net (MTT) and the Million Song Dataset net (MSD) each output
50 independent tag probabilities (multi-label, sigmoid), in vocabularies that
overlap only in part.  Most tags are not genres at all (moods, decades,
voices, instruments): those are stored under ``tags`` and never written as a
genre.

How genres are merged, and why:

* MTT is the only net that knows classical music (``classical``, ``classic``,
  ``choral``, ``opera``), so it decides classical, techno and new age.
* MSD's vocabulary is popular music's (Last.fm tags); it splits rock, pop,
  jazz, hip-hop, soul and the rest.  Given a symphony it has no right answer
  and spreads its mass over ``ambient``/``jazz`` (measured on an orchestral
  soundtrack: MTT's top genre is classical for 25 of 41 tracks, MSD's top is
  ambient for 27, classical for none).  So every MSD genre score is gated by MTT's belief that the
  track is *not* classical: ``msd_score * (1 - classical)``.
* Genres both nets know (rock, pop, electronic, ambient, dance, country,
  metal) take the mean of the two nets' scores, so neither net's base rate
  dominates.
* A net's score for a genre is the maximum over its tags for that genre
  (``hard rock`` and ``classic rock`` both speak for rock).

The result is still a set of independent probabilities, one per genre, not a
distribution that sums to one; ``genre`` is the highest and ``confidence`` is
its probability.
"""

from __future__ import annotations

import numpy as np

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

MTT_GENRE_TAGS: dict[str, list[str]] = {
    "classical": ["classical", "classic", "choral", "opera"],
    "techno": ["techno"],
    "new age": ["new age"],
    "electronic": ["electronic"],
    "rock": ["rock"],
    "pop": ["pop"],
    "ambient": ["ambient"],
    "dance": ["dance"],
    "country": ["country"],
    "metal": ["metal"],
}
MSD_GENRE_TAGS: dict[str, list[str]] = {
    "rock": [
        "rock",
        "classic rock",
        "hard rock",
        "alternative rock",
        "indie rock",
        "Progressive rock",
    ],
    "pop": ["pop", "indie pop"],
    "alternative": ["alternative"],
    "indie": ["indie"],
    "electronic": ["electronic", "electronica", "electro"],
    "dance": ["dance"],
    "jazz": ["jazz"],
    "metal": ["metal", "heavy metal"],
    "soul": ["soul"],
    "folk": ["folk"],
    "punk": ["punk"],
    "blues": ["blues"],
    "ambient": ["ambient", "chillout"],
    "hiphop": ["Hip-Hop"],
    "country": ["country"],
    "funk": ["funk"],
    "rnb": ["rnb"],
    "house": ["House"],
    "easy listening": ["easy listening"],
}
GENRES: list[str] = sorted(set(MTT_GENRE_TAGS) | set(MSD_GENRE_TAGS))

_MTT_IDX = {g: [MTT_LABELS.index(t) for t in tags] for g, tags in MTT_GENRE_TAGS.items()}
_MSD_IDX = {g: [MSD_LABELS.index(t) for t in tags] for g, tags in MSD_GENRE_TAGS.items()}


def merge_genres(mtt: np.ndarray, msd: np.ndarray) -> np.ndarray:
    """(..., 50) MTT and (..., 50) MSD tag probabilities -> (..., len(GENRES)) genre scores."""
    mtt_g = {g: mtt[..., idx].max(axis=-1) for g, idx in _MTT_IDX.items()}
    not_classical = 1.0 - mtt_g["classical"]
    msd_g = {g: msd[..., idx].max(axis=-1) * not_classical for g, idx in _MSD_IDX.items()}
    cols = []
    for g in GENRES:
        parts = [d[g] for d in (mtt_g, msd_g) if g in d]
        cols.append(sum(parts) / len(parts))
    return np.stack(cols, axis=-1)


def top_genres(tags: np.ndarray) -> dict[str, list[str]]:
    """(n, 100) pooled tag vectors -> each track's top genre under four rules.

    ``merged`` is tagger's rule; ``mtt``/``msd`` use one net alone and
    ``naive_max`` takes the highest genre score of either net: the
    alternatives the model card compares it with.
    """
    mtt, msd = tags[:, :50], tags[:, 50:]
    mtt_g = {g: mtt[:, idx].max(axis=1) for g, idx in _MTT_IDX.items()}
    msd_g = {g: msd[:, idx].max(axis=1) for g, idx in _MSD_IDX.items()}

    def best(scores: dict[str, np.ndarray]) -> list[str]:
        names = list(scores)
        return [names[i] for i in np.stack([scores[g] for g in names], axis=1).argmax(axis=1)]

    naive = {
        **{f"mtt:{g}": v for g, v in mtt_g.items()},
        **{f"msd:{g}": v for g, v in msd_g.items()},
    }
    return {
        "merged": [GENRES[i] for i in merge_genres(mtt, msd).argmax(axis=1)],
        "mtt": best(mtt_g),
        "msd": best(msd_g),
        "naive_max": [n.split(":", 1)[1] for n in best(naive)],
    }


def tag_dict(mtt: np.ndarray, msd: np.ndarray) -> dict[str, float]:
    """Both nets' raw tag outputs under ``mtt:<tag>`` / ``msd:<tag>`` in the original spelling."""
    out = {f"mtt:{t}": round(float(v), 5) for t, v in zip(MTT_LABELS, mtt)}
    out.update({f"msd:{t}": round(float(v), 5) for t, v in zip(MSD_LABELS, msd)})
    return out


def merge_description() -> dict:
    """The merge rules as data, for the model card."""
    return {
        "genres": GENRES,
        "mtt_tags": MTT_GENRE_TAGS,
        "msd_tags": MSD_GENRE_TAGS,
        "rule": "score(net, genre) = max of the net's tags for the genre; MSD scores are "
        "multiplied by (1 - MTT classical); genres both nets know take the mean of "
        "the two scores",
        "not_covered": ["reggae", "disco"],
    }
