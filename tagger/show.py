"""``tagger show``: one file's genres, from the database when it already holds them.

Running the model on one file costs seconds (TensorFlow's start and the model
load), while a scanned library already holds the answer.  The stored result is
used when it is current by the rule an incremental scan uses: same size and
mtime as the file now, same model name and version, no error.  ``fresh``
always runs the model.  Nothing is written to the database either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .models import ModelRef, TrackPrediction, resolve
from .paths import absolute, data_dir, default_db, one_file
from .store import Store, TrackRow


@dataclass
class Shown:
    """What ``tagger show`` prints: the model, its prediction, and where it came from."""

    ref: ModelRef
    prediction: TrackPrediction
    notice: str | None  # the default-model notice, only when the model ran
    stored_at: str | None  # when the stored result was made; None: computed now
    bpm: float | None = None  # ``tagger.tempo``'s tempo, or None with ``bpm_reason``
    bpm_reason: str | None = None  # why there is no tempo (None with none: stored before tempo)
    voice: str | None = None  # instrumental | vocal | None (unsure)

    @property
    def tempo_text(self) -> str:
        """The tempo as ``show`` prints it: BPM, or why there is none."""
        if self.bpm is not None:
            return f"{self.bpm:.1f} BPM"
        return self.bpm_reason or "not stored (scanned before tempo; `tagger scan --rescan`)"


def stored_prediction(path: str, ref: ModelRef, db=None) -> tuple[TrackPrediction, TrackRow] | None:
    """The database's current result for ``path`` by ``ref``, with its row, or None."""
    db_file = default_db(db)
    if not db_file.is_file():
        return None
    store = Store(db_file, create=False, reading=True)
    try:
        row = store.track(path)
    finally:
        store.close()
    if row is None:
        return None
    st = os.stat(path)
    if (
        row.error is not None
        or row.genre is None
        or row.confidence is None
        or row.missing
        or row.size != st.st_size
        or row.mtime != st.st_mtime
        or row.model != ref.name
        or row.model_version != ref.version
    ):
        return None
    return TrackPrediction(
        genre=row.genre,
        confidence=row.confidence,
        probabilities=row.probabilities or {},
        tags=row.tags,
        uncertain=bool(row.uncertain),
    ), row


def show(
    path: str | os.PathLike,
    model: str | None = None,
    db=None,
    fresh: bool = False,
    precision: str | None = None,
) -> Shown:
    """``path``'s prediction: the stored one when current (unless ``fresh``), else the model's."""
    text = os.fspath(path)
    one_file(text, "show")
    ref, default_notice = resolve(model, db)
    stored = None if fresh else stored_prediction(absolute(text), ref, db)
    if stored is not None:
        row = stored[1]
        return Shown(ref, stored[0], None, row.scanned_at or "", row.bpm, row.bpm_reason, row.voice)
    from .voice import voice
    from .worker import hear_file

    ref, prediction, tempo, notice = hear_file(Path(text), model, precision, db)
    if default_notice and notice:
        if _announced(db, ref.name):
            said = set(default_notice.splitlines())
            notice = "\n".join(line for line in notice.splitlines() if line not in said) or None
        else:
            _remember(db, ref.name)
    return Shown(ref, prediction, notice, None, tempo.bpm, tempo.reason, voice(prediction.tags))


def _announced(db, model: str) -> bool:
    """Whether the default model's notice was said for this database already (once per
    database, not on every ``show``): by one of its scans, or by an earlier ``show``."""
    db_file = default_db(db)
    if db_file.is_file():
        store = Store(db_file, create=False, reading=True)
        try:
            if store.scanned_with(model):
                return True
        finally:
            store.close()
    try:
        return _notice_key(db_file, model) in _notices_file().read_bytes().splitlines()
    except OSError:
        return False


def _remember(db, model: str) -> None:
    """Record that ``show`` said the notice for this database.

    ``show`` never changes the database (there may be none yet), so the
    record is a line in tagger's data folder; a folder that cannot be written
    only means the notice is said again next time.
    """
    path = _notices_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(_notice_key(default_db(db), model) + b"\n")
    except OSError:
        pass


def _notices_file() -> Path:
    """Where ``show`` records the databases it said the default model's notice for."""
    return data_dir() / "notices"


def _notice_key(db: Path, model: str) -> bytes:
    """One line of the record: the model and the database's absolute path (its bytes)."""
    return os.fsencode(model) + b"\t" + os.fsencode(absolute(db))
