"""``tagger.models.card``: a model's card survives a round trip, and old cards still read."""

from __future__ import annotations

import pytest

from tagger.errors import TaggerError
from tagger.features import MUSICNN
from tagger.models import KINDS, ModelCard, card_for, read_card, write_card


def test_a_card_survives_a_write_read_round_trip(tmp_path):
    card = card_for(
        KINDS["mlp"], "2026.1", ["a", "b"], accuracy={"track_accuracy": 0.5}, synthetic=True
    )
    path = write_card(tmp_path, card)
    assert path.name == "mlp.json"
    back = read_card(path)
    assert back == card and back.get("accuracy") == {"track_accuracy": 0.5}
    assert back.model_class == "keras-classifier" and back.spec == KINDS["mlp"].spec


def test_a_card_without_model_class_is_read_by_its_name(tmp_path):
    raw = {"name": "musicnn", "version": "1", "features": MUSICNN.to_dict(), "genres": []}
    assert ModelCard.from_dict(raw).model_class == "musicnn"
    raw["name"] = "resnet"
    assert ModelCard.from_dict(raw).model_class == "keras-classifier"
    with pytest.raises(TaggerError, match="lacks"):
        ModelCard.from_dict({"name": "x"})
