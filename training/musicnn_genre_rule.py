"""Write the musicnn genre rule's constants into the model card.

    python training/musicnn_genre_rule.py models/musicnn.json

The rule (``tagger.models.musicnn_genres``) needs each MSD tag's frequency in
the data the MSD net was trained on, and says which tags speak for which
genre.  Nothing here is fitted to any recording: the numbers come from
published statistics of the training data.

**Priors.**  The MSD net was trained on the Last.fm tags of the Million Song
Dataset, the 50 most frequent tags (its vocabulary is listed in that order),
on the 241,889 tracks of the split it used (201,680 train + 11,774 valid +
28,435 test; the ``MSD_split`` README of Lee's ``music_dataset_split``).  The
Last.fm dataset's own page publishes the counts of its most frequent tags
(``PUBLISHED``; millionsongdataset.com/lastfm: rock 101,071 ... 00s 31,432),
and Choi et al.'s slides on label noise in the same data ("The effects of
noisy labels on deep convolutional neural networks for music tagging",
arXiv:1706.02361) two more further down (female vocalist 17,328, guitar
17,302).  Tag frequencies follow Zipf's law (count ~ rank^-s); fitted on
these ten published counts, s = 0.51 and every published count lies within
10% of the fit, so the tags whose counts are not published take the fit's
value at their rank.  prior = count / 241,889.

MTT's tag counts are not published in any source consulted, so MTT's tags
serve only where MSD has no tag: MTT's own probability of classical music
decides classical (the module notes say why).

It also refreshes the card's ``genres`` and ``behaviour_on_real_music``
(top genres of the soundtrack fixture ``tests/fixtures/musicnn_real_tags.npz``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagger.models.musicnn_genres import MSD_LABELS, GenreRule, genre_probabilities  # noqa: E402

MSD_TRACKS = 241_889
PUBLISHED = {  # Last.fm dataset counts: millionsongdataset.com/lastfm, then arXiv:1706.02361
    "rock": 101_071,
    "pop": 69_159,
    "alternative": 55_777,
    "indie": 48_175,
    "electronic": 46_270,
    "female vocalists": 42_565,
    "dance": 33_618,
    "00s": 31_432,
    "female vocalist": 17_328,
    "guitar": 17_302,
}
# Which MSD tags speak for which genre, each filed under the canonical genre
# tagger's vocabulary gives it (tagger.genres: "hard rock" is rock).  Each
# inner list is "any of" (its best tag counts); a genre with two lists is the
# conjunction of both (their evidence added when both speak for it, else the
# weaker counts; tagger.models.musicnn_genres): disco, which no net has a tag
# for, is dance music of the soul and funk line *and* of its decade (70s).
# Tags that name no genre of their own speak for none: moods, decades, voices,
# "alternative" and "indie" (rock or pop), "dance", and "ambient"/"chillout",
# MSD's words for any calm instrumental music, orchestral scores included.
EVIDENCE: dict[str, list[list[str]]] = {
    "blues": [["blues"]],
    "country": [["country"]],
    "disco": [["dance", "funk", "soul"], ["70s"]],
    "electronic": [["electronic", "electronica", "electro", "House"]],
    "folk": [["folk"]],
    "funk": [["funk"]],
    "hiphop": [["Hip-Hop"]],
    "jazz": [["jazz"]],
    "metal": [["metal", "heavy metal"]],
    "pop": [["pop", "indie pop"]],
    "punk": [["punk"]],
    "rnb": [["rnb"]],
    "rock": [
        ["rock", "classic rock", "hard rock", "alternative rock", "indie rock", "Progressive rock"]
    ],
    "soul": [["soul"]],
}
CLASSICAL = {"genre": "classical", "mtt_tags": ["classical", "classic", "choral", "opera"]}
UNCERTAIN_BELOW = 0.5  # the top genre is more likely wrong than right


def zipf_fit() -> tuple[float, float]:
    """(scale, exponent) of count = scale * rank^-exponent, least squares in log-log."""
    ranks = np.array([MSD_LABELS.index(t) + 1 for t in PUBLISHED], dtype=float)
    counts = np.array(list(PUBLISHED.values()), dtype=float)
    a = np.vstack([np.ones_like(ranks), -np.log(ranks)]).T
    log_scale, exponent = np.linalg.lstsq(a, np.log(counts), rcond=None)[0]
    return float(np.exp(log_scale)), float(exponent)


def rule_dict() -> dict:
    """The card's ``genre_rule`` section."""
    scale, exponent = zipf_fit()
    priors = {
        t: round(PUBLISHED.get(t, scale * (i + 1) ** -exponent) / MSD_TRACKS, 5)
        for i, t in enumerate(MSD_LABELS)
    }
    genres = sorted([*EVIDENCE, CLASSICAL["genre"]])
    return {
        "genres": genres,
        "evidence": EVIDENCE,
        "classical": CLASSICAL,
        "msd_priors": priors,
        "uncertain_below": UNCERTAIN_BELOW,
        "priors_source": {
            "tracks": MSD_TRACKS,
            "published_counts": PUBLISHED,
            "zipf": {"scale": round(scale, 1), "exponent": round(exponent, 4)},
            "where": "millionsongdataset.com/lastfm (top tag counts); Choi et al., "
            "arXiv:1706.02361 (female vocalist, guitar); MSD split of Lee's "
            "music_dataset_split (track count); the rest by Zipf's law fitted on "
            "the published counts (rank = position in the vocabulary)",
        },
        "rule": "llr(tag) = logit(score) - logit(prior); a group's evidence = its best llr; "
        "a genre's = the sum of its groups' when all are > 0, else the smallest; "
        "q = softmax(evidence, 0 for none of these); "
        "P(classical) = c = max MTT classical tag; P(other genre) = (1 - c) * q; "
        "uncertain when the top probability < uncertain_below",
        "cannot_name": ["reggae", "ambient", "new age", "latin", "world", "soundtrack"],
        "command": "python training/musicnn_genre_rule.py models/musicnn.json",
    }


def behaviour(rule: GenreRule, fixture: Path) -> dict:
    """Top genres of the soundtrack fixture's pooled tag vectors under the rule."""
    d = np.load(fixture)
    probs = genre_probabilities(d["tags"][:, :50], d["tags"][:, 50:], rule)
    top = np.array(rule.genres)[probs.argmax(axis=1)]
    uncertain = probs.max(axis=1) < rule.uncertain_below
    out: dict = {
        "source": "pooled tag vectors of Battle for Wesnoth's orchestral score (41 tracks) "
        "and Endgame: Singularity's electronic score (16 tracks), Debian packages "
        "wesnoth-1.16-music and singularity-music; file " + fixture.name
    }
    for kind in sorted(set(d["kinds"])):
        sel = d["kinds"] == kind
        out[str(kind)] = {
            "top_genre": dict(Counter(top[sel].tolist()).most_common()),
            "uncertain": int(uncertain[sel].sum()),
        }
    return out


def main(card_path: str) -> None:
    path = Path(card_path)
    card = json.loads(path.read_text(encoding="utf-8"))
    section = rule_dict()
    card["genres"] = section["genres"]
    card.pop("genres_from_tags", None)
    card["genre_rule"] = section
    card["behaviour_on_real_music"] = behaviour(
        GenreRule.from_dict(section), ROOT / "tests/fixtures/musicnn_real_tags.npz"
    )
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote the genre rule into {path}: {len(section['genres'])} genres")


if __name__ == "__main__":
    main(sys.argv[1])
