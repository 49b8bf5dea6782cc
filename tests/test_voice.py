"""The voice rule, on its own and on what the real nets say about real instrumental music."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tagger.models.musicnn_genres import tag_dict
from tagger.voice import DECISIVE, INSTRUMENTAL, VOCAL, vocal_share, voice

REAL_TAGS = Path(__file__).parent / "fixtures" / "musicnn_real_tags.npz"


def test_each_net_votes_with_its_vocal_sides_share_and_the_votes_are_averaged():
    tags = {
        "mtt:vocal": 0.3,
        "mtt:no vocals": 0.1,
        "msd:male vocalists": 0.1,
        "msd:instrumental": 0.1,
    }
    assert vocal_share(tags) == (0.75 + 0.5) / 2
    assert voice(tags) is None  # 0.625: under 2:1 odds
    assert voice({"mtt:vocal": 0.4, "mtt:no vocal": 0.1}) == VOCAL
    assert voice({"mtt:vocal": 0.05, "mtt:no voice": 0.2}) == INSTRUMENTAL
    assert voice({"mtt:vocal": 2 / 3, "mtt:no vocal": 1 / 3}) == VOCAL  # the bound decides
    assert DECISIVE == 2 / 3


def test_no_voice_tags_no_voice():
    assert voice(None) is None
    assert voice({"genre:rock": 0.9}) is None
    assert voice({"mtt:vocal": 0.0, "mtt:no vocal": 0.0}) is None


def test_instrumental_soundtracks_are_not_called_vocal():
    """57 real instrumental tracks (Wesnoth's orchestral score, Endgame: Singularity's
    electronic one): musicnn's pooled tags, recorded by training/musicnn_real_tags.py."""
    with np.load(REAL_TAGS) as d:
        calls = [voice(tag_dict(t[:50], t[50:])) for t in d["tags"]]
    assert len(calls) == 57
    assert calls.count(VOCAL) <= 0.1 * len(calls)
    assert calls.count(INSTRUMENTAL) >= 0.5 * len(calls)


def test_the_shipped_card_states_the_rule_the_code_applies():
    import json

    from tagger.voice import voice_description

    card = json.loads((Path(__file__).parent.parent / "models" / "musicnn.json").read_text())
    assert card["voice_from_tags"] == voice_description()
