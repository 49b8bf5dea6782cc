"""``tagger.models.musicnn_genres``: the genre rule that reads musicnn's tags."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from tagger.models.musicnn_genres import (
    GENRES,
    MSD_LABELS,
    MTT_LABELS,
    GenreRule,
    genre_probabilities,
    none_share,
    shipped_rule,
)
from tagger.paths import shipped_models_dir

ROOT = Path(__file__).resolve().parent.parent
RULE = shipped_rule()


def _tags(msd_at_prior: bool = True, **named: float) -> tuple[np.ndarray, np.ndarray]:
    """Tag vectors: every MSD tag at its training prior (no evidence), MTT at 0, then ``named``."""
    mtt = np.zeros(50)
    msd = RULE.msd_priors.copy() if msd_at_prior else np.zeros(50)
    for key, value in named.items():
        net, _, tag = key.partition("_")
        labels, vec = (MTT_LABELS, mtt) if net == "mtt" else (MSD_LABELS, msd)
        vec[labels.index(tag.replace("_", " "))] = value
    return mtt, msd


def _probs(mtt: np.ndarray, msd: np.ndarray, rule: GenreRule = RULE) -> dict[str, float]:
    return dict(zip(rule.genres, genre_probabilities(mtt, msd, rule).tolist()))


def test_the_card_holds_what_the_rule_script_makes():
    """The card's constants are the training script's output, not hand edits."""
    sys.path.insert(0, str(ROOT / "training"))
    from musicnn_genre_rule import rule_dict

    card = json.loads((shipped_models_dir() / "musicnn.json").read_text(encoding="utf-8"))
    assert card["genre_rule"] == json.loads(json.dumps(rule_dict()))
    assert card["genres"] == list(RULE.genres) == GENRES
    # priors follow the vocabulary's published order (most frequent first)
    assert np.all(np.diff(RULE.msd_priors) <= 0.01)
    assert RULE.msd_priors[MSD_LABELS.index("rock")] == pytest.approx(101_071 / 241_889, abs=1e-5)


def test_a_rare_tag_outweighs_a_frequent_one_at_the_same_score():
    """rock is on 42% of the MSD's tracks, metal on about 11%: the same raw score is strong
    evidence for metal and none for rock, so metal wins where the plain argmax said rock."""
    mtt, msd = _tags(msd_rock=0.45, msd_metal=0.35)
    p = _probs(mtt, msd)
    assert max(p, key=p.get) == "metal"
    assert p["metal"] > 2 * p["rock"]


def test_a_track_at_every_prior_names_no_genre_confidently():
    """Every tag where an average training track has it (what a genre neither net knows,
    reggae, looks like): no genre wins, most of the mass goes to none of them."""
    mtt, msd = _tags()
    probs = genre_probabilities(mtt, msd, RULE)
    assert probs.max() < RULE.uncertain_below
    assert none_share(probs) == pytest.approx(probs.max(), rel=1e-6)  # none ties every genre
    assert probs.sum() + none_share(probs) == pytest.approx(1.0)


def test_probabilities_are_a_distribution_and_batch_shapes_agree():
    rng = np.random.default_rng(0)
    mtt, msd = rng.uniform(0, 1, (4, 50)), rng.uniform(0, 1, (4, 50))
    batch = genre_probabilities(mtt, msd, RULE)
    assert batch.shape == (4, len(RULE.genres))
    assert np.all(batch >= 0) and np.all(batch.sum(axis=1) <= 1 + 1e-9)
    for i in range(4):
        np.testing.assert_allclose(genre_probabilities(mtt[i], msd[i], RULE), batch[i])


def test_classical_is_mtts_and_scales_every_other_genre():
    mtt, msd = _tags(mtt_classical=0.8, msd_jazz=0.9)
    p = _probs(mtt, msd)
    assert p["classical"] == pytest.approx(0.8)
    assert sum(p.values()) <= 1.0
    assert p["jazz"] < 0.2  # all the rest shares the 0.2 MTT leaves
    mtt, msd = _tags(mtt_choral=0.6)
    assert _probs(mtt, msd)["classical"] == pytest.approx(0.6)  # any classical tag, the best


def test_disco_is_the_soul_and_funk_line_of_its_era():
    """No net has a disco tag: a funk groove *and* the 70s add up to disco; a funk groove of
    another decade is funk, and the 70s alone are not disco."""
    era = _probs(*_tags(msd_funk=0.3, msd_70s=0.3))
    assert max(era, key=era.get) == "disco"
    funk = _probs(*_tags(msd_funk=0.3, msd_70s=0.02))
    assert max(funk, key=funk.get) == "funk"
    old = _probs(*_tags(msd_70s=0.3, msd_rock=0.7))
    assert max(old, key=old.get) != "disco"


def test_the_threshold_and_priors_come_from_the_rule_object():
    """Nothing is read from literals: a rule with other priors answers otherwise."""
    mtt, msd = _tags(msd_rock=0.45, msd_metal=0.35)
    flat = replace(RULE, msd_priors=np.full(50, 0.1))
    p = _probs(mtt, msd, flat)
    assert max(p, key=p.get) == "rock"


def test_rule_on_real_recordings():
    """Pooled tag vectors of real soundtracks (training/musicnn_real_tags.py): the orchestral
    score is heard as classical, the electronic score as electronic, and the orchestral
    tracks musicnn hears as calm instrumental music (no genre clear) are flagged uncertain."""
    d = np.load(FIXTURES / "musicnn_real_tags.npz")
    tags, kinds = d["tags"], d["kinds"]
    probs = genre_probabilities(tags[:, :50], tags[:, 50:], RULE)
    top = np.array(RULE.genres)[probs.argmax(axis=1)]
    orchestral = Counter(top[kinds == "orchestral"].tolist())
    electronic = Counter(top[kinds == "electronic"].tolist())
    assert (kinds == "orchestral").sum() == 41 and (kinds == "electronic").sum() == 16
    assert orchestral.most_common(1)[0][0] == "classical" and orchestral["classical"] >= 25
    assert electronic["electronic"] >= 12
    wrong = (kinds == "orchestral") & (top != "classical")
    assert (probs[wrong].max(axis=1) < RULE.uncertain_below).all()
    assert "reggae" not in RULE.genres


@pytest.mark.slow
def test_a_scan_flags_what_the_rule_is_unsure_of(musicnn):
    """The loaded model stores the rule's probabilities and flags a track under the threshold."""
    d = np.load(FIXTURES / "musicnn_real_tags.npz")
    raw = np.zeros(500, np.float32)
    for i in range(len(d["tags"])):
        raw[:100] = d["tags"][i]
        pred = musicnn.pooled_prediction(raw)
        expected = genre_probabilities(d["tags"][i, :50], d["tags"][i, 50:], RULE)
        assert pred.confidence == pytest.approx(expected.max())
        assert pred.uncertain == (expected.max() < RULE.uncertain_below)
        assert pred.tags is not None and pred.tags["mtt:classical"] == round(
            float(d["tags"][i, MTT_LABELS.index("classical")]), 5
        )
