"""Models: the interface (``base``), one module per model kind, and the registry.

``resolve`` turns ``--model`` into a ``ModelRef`` (cheap: no TensorFlow);
workers call ``ref.load()``.
"""

from .base import Model, ModelCard, ModelRef, TrackPrediction, read_card, softmax, write_card
from .registry import (
    KINDS,
    ModelKind,
    available,
    card_for,
    default_kind,
    installed,
    resolve,
    with_precision,
)

__all__ = [
    "KINDS",
    "Model",
    "ModelCard",
    "ModelKind",
    "ModelRef",
    "TrackPrediction",
    "available",
    "card_for",
    "default_kind",
    "installed",
    "read_card",
    "resolve",
    "softmax",
    "with_precision",
    "write_card",
]
