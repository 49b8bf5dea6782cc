"""The registry of model kinds, and how a model name or path becomes a ``ModelRef``.

Each kind is one ``ModelKind`` entry: its name, what it is, the class that
loads it (which says whether its scores are multi-label and which kind's net
it runs on), the ``FeatureSpec`` it is trained and scanned with, how
``tagger retrain`` makes it, and where an installed copy lives.  Resolution,
``tagger models``, the CLI's choices, training and the benchmarks read this
table; adding a model kind is one module with its ``Model`` class plus one
entry here.  Loading and the choice of engine live in ``tagger.models.loader``,
which reads this table (never the reverse).

Resolution: a registered name means the user's trained copy (written by
``tagger retrain`` into the user model folder), else the shipped one; anything
else is a path to a model file with its card beside it.  The ``library`` head
belongs to the database it was learnt from (one file per database, its card
naming it): it resolves, and is the default, only for that database.  Which class loads a
model comes from its card (``model_class``), never from its name.  Without
``--model`` the default is the installed kind with the lowest ``default_rank``
whose card does not say ``not_default``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import TaggerError
from ..features import LOGMEL, MUSICNN, SUMMARY, FeatureSpec
from ..paths import default_db, shipped_models_dir, unreachable, user_models_dir
from .base import Model
from .card import MULTICLASS, MULTILABEL, ModelCard, card_path, read_card
from .head import HeadModel
from .keras_classifier import KerasClassifier
from .musicnn import MusicnnModel, embedder_id

# (spec, n_classes, training inputs, width) -> an uncompiled Keras model
Builder = Callable[[FeatureSpec, int, np.ndarray, int], Any]


@dataclass(frozen=True)
class ModelKind:
    """One kind of model tagger can train, ship or load."""

    name: str
    title: str  # as written in prose: "ResNet"
    description: str
    loader: type[Model]  # the class that loads it (its cards name its ``model_class``)
    spec: FeatureSpec
    file_suffix: str  # the model file beside the card: ".keras", or ".json" (card only)
    # How ``tagger retrain`` makes one: from a ``<genre>/<files>`` folder (``--data``),
    # from the genre tags of the scanned library (``--from-library``); None: shipped.
    trained_from: Literal["data", "library"] | None = None
    build: Builder | None = None  # the Keras net a ``data`` kind trains, if it has one
    default_rank: int | None = None  # lower is preferred as the default; None: never default

    @property
    def model_class(self) -> str:
        return self.loader.model_class

    @property
    def multilabel(self) -> bool:
        """Independent scores per genre (musicnn's tags), else one softmax over genres."""
        return self.loader.multilabel

    @property
    def embedder(self) -> str | None:
        """The kind whose net (and embeddings) this kind runs on, if any."""
        return self.loader.embedder_kind

    @property
    def trainable(self) -> bool:
        return self.trained_from is not None

    def how_to_get(self, database: str | None = None) -> str:
        """The command that makes one; a library head's names the ``database`` it learns from
        (each database has its own)."""
        if self.trained_from == "library":
            return "train it with `tagger retrain --from-library" + (
                f" --db {database}`" if database else "`"
            )
        if self.trained_from == "data":
            return f"train it with `tagger retrain --data DIR --model {self.name}`"
        return "shipped with tagger"


def _builder(name: str) -> Builder:
    def build(spec: FeatureSpec, n_classes: int, x_train: np.ndarray, width: int = 24) -> Any:
        from . import keras_classifier

        return getattr(keras_classifier, f"build_{name}")(spec, n_classes, x_train, width)

    return build


# Listed in this order by `tagger models`.
KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind(
            "musicnn",
            "musicnn",
            "pretrained musicnn taggers (MTT + MSD), genres merged",
            MusicnnModel,
            MUSICNN,
            ".json",
            default_rank=9,
        ),
        ModelKind(
            "resnet",
            "ResNet",
            "residual CNN on 3-second log-mel slices",
            KerasClassifier,
            LOGMEL,
            ".keras",
            trained_from="data",
            build=_builder("resnet"),
            default_rank=1,
        ),
        ModelKind(
            "mlp",
            "MLP",
            "MLP on the 57 summary features of a 30-second stretch (the GTZAN table's)",
            KerasClassifier,
            SUMMARY,
            ".keras",
            trained_from="data",
            build=_builder("mlp"),
        ),
        # A head the user trained on their own library speaks their genre names: it
        # is preferred over everything else once it exists.
        ModelKind(
            "library",
            "library head",
            "softmax head on musicnn embeddings, trained on the genre tags of your own library",
            HeadModel,
            MUSICNN,
            ".npz",
            trained_from="library",
            default_rank=0,
        ),
        ModelKind(
            "head",
            "musicnn head",
            "softmax head on musicnn embeddings, trained on a <genre>/<files> folder",
            HeadModel,
            MUSICNN,
            ".npz",
            trained_from="data",
            default_rank=2,
        ),
    )
}

# model_class -> the class that loads it.
LOADERS: dict[str, type[Model]] = {k.model_class: k.loader for k in KINDS.values()}


def loader_class(model_class: str) -> type[Model]:
    """The class that loads a card's ``model_class``."""
    if model_class not in LOADERS:
        raise TaggerError(
            f"unknown model class {model_class!r} in a model card "
            f"(this tagger knows {', '.join(LOADERS)})"
        )
    return LOADERS[model_class]


@dataclass(frozen=True)
class ModelRef:
    """What the scanning process needs to know about a model without loading it.

    Workers load it (``tagger.models.loader``); the main process never imports
    TensorFlow.  ``card_file`` is the card; ``path`` what the user named (a
    ``.keras`` file, or the card itself).
    """

    name: str
    version: str
    kind: str
    genres: tuple[str, ...]
    spec: FeatureSpec
    path: str
    card_file: str
    model_class: str
    source: str  # user | shipped | file
    precision: str = "auto"  # auto | float32 (tagger.inference); ignored without a choice

    @classmethod
    def of(
        cls, card: ModelCard, path: Path, card_file: Path, source: str, version: str | None = None
    ) -> ModelRef:
        return cls(
            card.name,
            version or card.version,
            card.kind,
            tuple(card.genres),
            card.spec,
            str(path),
            str(card_file),
            card.model_class,
            source,
        )

    @property
    def card(self) -> ModelCard:
        return read_card(Path(self.card_file))

    @property
    def multilabel(self) -> bool:
        """Independent scores per genre (pool them per genre), else one softmax."""
        return self.kind == MULTILABEL


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


def ref_for_file(path: Path, source: str) -> ModelRef:
    """A model file (or card) and its card -> ModelRef.

    The version carries a hash of the model file's bytes, so a retrained file
    under the same card version is never mistaken for the old one; a model
    that is its card (musicnn: the card names the nets' files and holds the
    genre rule) hashes the card, so a new genre rule redoes stored results.
    """
    card_file = card_path(path)
    card = read_card(card_file)
    version = f"{card.version}+{_file_hash(path)}"
    return ModelRef.of(card, path, card_file, source, version)


def database_of(db: str | os.PathLike | None) -> str:
    """The database ``db`` names (``--db``, else ``$TAGGER_DB``, else the default) as a library
    head's card records it: absolute, symlinks resolved, so that every way of naming one
    database finds its head."""
    return os.path.realpath(default_db(db))


def library_head_file(db: str | os.PathLike | None = None, folder: Path | None = None) -> Path:
    """Where the library head learnt from the database ``db`` is installed: one per database,
    ``library-<digest of the database's path>.npz`` in the user model folder."""
    kind = KINDS["library"]
    digest = hashlib.sha256(os.fsencode(database_of(db))).hexdigest()[:12]
    return (folder or user_models_dir()) / f"{kind.name}-{digest}{kind.file_suffix}"


def _legacy_head() -> Path:
    """Where a tagger that kept one library head for every database installed it."""
    kind = KINDS["library"]
    return user_models_dir() / f"{kind.name}{kind.file_suffix}"


def library_heads() -> dict[Path, str | None]:
    """Every installed library head (model file) -> the database it was learnt from (None: its
    card names none it can be told by)."""
    heads: dict[Path, str | None] = {}
    for path in sorted(user_models_dir().glob("library*.npz")):
        try:
            card = read_card(card_path(path))
        except TaggerError:
            continue
        if card.name != "library" or card.get("synthetic"):
            continue
        heads[path] = _learnt_from(card)
    return heads


def learnt_from(ref: ModelRef) -> str | None:
    """The database a library head was learnt from, the only one it labels (None for every
    other kind of model)."""
    kind = KINDS.get(ref.name)
    return _learnt_from(ref.card) if kind and kind.trained_from == "library" else None


def _learnt_from(card: ModelCard) -> str | None:
    """The database a library head's card says it was learnt from (None: none it can be told
    by, such as a relative path)."""
    database = (card.get("data") or {}).get("database")
    return database if database and os.path.isabs(database) else None


def _present(path: Path) -> bool:
    try:
        present = path.is_file() and card_path(path).is_file()
    except OSError:  # a folder we may not enter: say which, never skip it silently
        raise TaggerError(
            f"cannot read the model folder {path.parent}: "
            f"{unreachable(path) or 'permission denied'}"
        ) from None
    return present and not read_card(card_path(path)).get("synthetic")


def installed(name: str, db: str | os.PathLike | None = None) -> Path | None:
    """The model file of a registered kind, user folder first, else None.

    The library head is the one learnt from the database ``db`` (a head
    learnt from another library knows other genres, other albums): its own
    file, else a head a tagger that kept one for every database installed,
    where its card names ``db``.  Models whose card says they were trained on
    synthetic data are skipped: they can be used by path, never under a
    registered name.
    """
    kind = KINDS[name]
    if kind.trained_from == "library":
        own = library_head_file(db)
        if _present(own):
            return own
        legacy = _legacy_head()
        if _present(legacy) and _learnt_from(read_card(card_path(legacy))) == database_of(db):
            return legacy
        return None
    for folder in (user_models_dir(), shipped_models_dir()):
        path = folder / f"{name}{kind.file_suffix}"
        if _present(path):
            return path
    return None


def _ref_for_kind(name: str, db: str | os.PathLike | None = None) -> ModelRef | None:
    path = installed(name, db)
    if path is None:
        return None
    return ref_for_file(path, "user" if path.parent == user_models_dir() else "shipped")


def _ranked() -> list[ModelKind]:
    """The kinds that can be the default, preferred first."""
    return sorted(
        (k for k in KINDS.values() if k.default_rank is not None),
        key=lambda k: (k.default_rank, k.name),
    )


def not_default(name: str, db: str | os.PathLike | None = None) -> str | None:
    """Why the installed model ``name`` is not made the default although installed (its card's
    ``not_default``: a head no better than always answering the most common genre), else None."""
    path = installed(name, db)
    return read_card(card_path(path)).get("not_default") if path else None


def default_kind(db: str | os.PathLike | None = None) -> tuple[str, str]:
    """(name of the default model for the database ``db``, why it is the default).

    A model whose card says ``not_default`` is skipped: it is used only where
    the user names it (``--model``, config ``model``).
    """
    for name in (k.name for k in _ranked()):
        if installed(name, db) and not not_default(name, db):
            rank = KINDS[name].default_rank
            better = [
                k.title
                for k in KINDS.values()  # in the registry's order
                if k.default_rank is not None and rank is not None and k.default_rank < rank
            ]
            why = (
                "a model you trained on this library's own genres"
                if name == "library"
                else "the preferred model"
                if not better
                else f"no trained {', '.join(better[:-1])}{' or ' if len(better) > 1 else ''}"
                f"{better[-1]} is installed"
            )
            return name, why
    raise TaggerError(
        "no model is installed (the shipped musicnn files are missing: reinstall tagger)"
    )


def others_heads(db: str | os.PathLike | None = None) -> str | None:
    """One line when library heads are installed but none was learnt from ``db``: whose they
    are, and how this database gets its own; else None."""
    if installed("library", db) is not None:
        return None
    heads = library_heads()
    if not heads:
        return None
    learnt = sorted({d or "a database its card does not name" for d in heads.values()})
    several = len(heads) > 1
    return (
        f"notice: the library head{'s' * several} installed {'were' if several else 'was'} "
        f"learnt from {', '.join(learnt)}, not this database; "
        f"`tagger retrain --from-library --db {database_of(db)}` learns its genres"
    )


def resolve(
    model: str | os.PathLike | None = None, db: str | os.PathLike | None = None
) -> tuple[ModelRef, str | None]:
    """A model name or path -> (ModelRef, notice for stderr or None).

    ``db``: the database the model will label (a library head is that
    database's own).  The notice says, when no model was named and the
    default is not the preferred kind, which model is used and how to get a
    better one.
    """
    if model is None:
        name, why = default_kind(db)
        chosen = resolve(name, db)[0]
        notice = None
        if name == "musicnn":  # only the fallback is announced; a trained default is chosen
            notice = (  # short lines: what runs, what it can name, what would do better
                f"notice: using the shipped pretrained musicnn taggers ({why})\n"
                f"notice: they name {len(chosen.genres)} genres and no others "
                f"(`tagger models` lists them)\n"
                + (
                    others_heads(db)
                    or "hint: after a scan, `tagger retrain --from-library` learns your "
                    "library's own genres"
                )
            )
        return chosen, notice
    text = os.fspath(model)
    if text in KINDS:
        ref = _ref_for_kind(text, db)
        if ref is None:
            how = KINDS[text].how_to_get(database_of(db))
            raise TaggerError(
                f"no trained {text} model is installed"
                + (f" for {database_of(db)}" if KINDS[text].trained_from == "library" else "")
                + f"; {how}, or use --model musicnn"
            )
        return ref, None
    path = Path(text).expanduser()
    if not path.is_file():
        raise TaggerError(f"no such model: {text} (use {', '.join(KINDS)} or a model file)")
    return ref_for_file(path.resolve(), "file"), None


def available(db: str | os.PathLike | None = None) -> list[ModelRef]:
    """Every installed model of a registered kind (the library head: ``db``'s), for
    ``tagger models``."""
    return [ref for ref in (_ref_for_kind(k, db) for k in KINDS) if ref is not None]


def card_for(kind: ModelKind, version: str, genres: list[str], **details: Any) -> ModelCard:
    """A new card for a model of ``kind`` (training and conversion write these)."""
    return ModelCard(
        name=kind.name,
        version=version,
        model_class=kind.model_class,
        kind=MULTILABEL if kind.multilabel else MULTICLASS,
        genres=genres,
        spec=kind.spec,
        details={"architecture": kind.description, **details},
    )


def current_embedder() -> str:
    """How stored embeddings made by this tagger's musicnn are named (``musicnn <version>``).

    Heads are trained on embeddings of this name, similarity compares them,
    and a scan stores them under it."""
    return embedder_id(resolve("musicnn")[0].card)


def model_help() -> str:
    """The help of ``--model`` where a command runs a model: every name, and the default order."""
    ranked = _ranked()
    others = [k.name for k in KINDS.values() if k.default_rank is None]
    return (
        f"{', '.join([k.name for k in ranked] + others)}, or a model file (default: config "
        f"`model`, else the first installed of: {', '.join(k.title for k in ranked[:-1])}; "
        f"else {ranked[-1].title}; see `tagger models`)."
    )
