"""Models: the interface (``base``), their cards (``card``), one module per model
class, the registry of kinds (``registry``) and the loader (``loader``).

``resolve`` turns ``--model`` into a ``ModelRef`` (cheap: no TensorFlow);
workers load it with ``load_model`` (or a ``ModelCache``).
"""

from .base import Model, TrackPrediction, softmax
from .card import ModelCard, read_card, write_card
from .loader import ModelCache, fallback_notice, load_model, planned_engine, with_precision
from .registry import (
    KINDS,
    ModelKind,
    ModelRef,
    available,
    card_for,
    current_embedder,
    default_kind,
    installed,
    library_head_file,
    library_heads,
    resolve,
)

__all__ = [
    "KINDS",
    "Model",
    "ModelCache",
    "ModelCard",
    "ModelKind",
    "ModelRef",
    "TrackPrediction",
    "available",
    "card_for",
    "current_embedder",
    "default_kind",
    "fallback_notice",
    "installed",
    "library_head_file",
    "library_heads",
    "load_model",
    "planned_engine",
    "read_card",
    "resolve",
    "softmax",
    "with_precision",
    "write_card",
]
