"""A model's JSON card: what tagger needs to load and use it, and everything else.

A model on disk is its files plus a card (``<name>.json``): what data it saw,
how it was split and measured, the command that made it, its licence, its
``kind`` (``multiclass``: one softmax over genres, so probabilities sum to one;
``multilabel``: one independent probability per genre) and ``model_class``,
the loader that reads it.  Cards are read and written here only
(``read_card``/``write_card``); the vocabularies of ``kind`` and
``model_class`` are declared here once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TaggerError
from ..features import FeatureSpec

# ``kind``: how a model's genre scores relate.
MULTICLASS = "multiclass"
MULTILABEL = "multilabel"

# ``model_class``: which loader reads the model (one ``Model`` class each).
MUSICNN_NETS = "musicnn"
KERAS_CLASSIFIER = "keras-classifier"
SOFTMAX_HEAD = "softmax-head"


@dataclass
class ModelCard:
    """A model's card: the fields tagger needs to load and use it, and everything else.

    ``details`` keeps the rest of the JSON (accuracy, data, split, command,
    licence, ...) as written, so a card survives a read-write round trip.
    """

    name: str
    version: str
    model_class: str
    kind: str
    genres: list[str]
    spec: FeatureSpec
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, where: Path | str = "card") -> ModelCard:
        try:
            return cls(
                name=d["name"],
                version=str(d["version"]),
                # cards written before model_class existed: musicnn or a Keras classifier
                model_class=d.get("model_class")
                or (MUSICNN_NETS if d["name"] == "musicnn" else KERAS_CLASSIFIER),
                kind=d.get("kind", MULTICLASS),
                genres=list(d.get("genres") or []),
                spec=FeatureSpec.from_dict(d["features"]),
                details={k: v for k, v in d.items() if k not in _CORE},
            )
        except (KeyError, TypeError) as exc:
            raise TaggerError(f"model card {where} lacks {exc}") from None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "model_class": self.model_class,
            "kind": self.kind,
            "genres": self.genres,
            "features": self.spec.to_dict(),
            **self.details,
        }

    def get(self, key: str, default: Any = None) -> Any:
        """A card field by its JSON name (``accuracy``, ``licence``, ``synthetic``, ...)."""
        return self.to_dict().get(key, default)


_CORE = frozenset({"name", "version", "model_class", "kind", "genres", "features"})


def card_path(model_file: Path) -> Path:
    """``resnet.keras`` -> ``resnet.json``, ``library.npz`` -> ``library.json``.

    A card path is its own card path."""
    return model_file.with_suffix(".json")


def read_card(path: Path) -> ModelCard:
    try:
        return ModelCard.from_dict(json.loads(path.read_text()), path)
    except FileNotFoundError:
        raise TaggerError(f"model card not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise TaggerError(f"cannot read model card {path}: {exc}") from None


def write_card(folder: Path, card: ModelCard | dict, stem: str | None = None) -> Path:
    """Write ``<folder>/<name>.json`` (``<stem>.json``, for a model file named otherwise: a
    library head's) atomically; the one place cards are written."""
    data = card.to_dict() if isinstance(card, ModelCard) else card
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or data["name"]
    path = folder / f"{stem}.json"
    tmp = folder / f".{stem}.json.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path
