"""What commands did, as typed objects: the actions on a file's genre and the per-file records.

The library returns these objects; the CLI, the beets plugin and scripts read
their attributes, and only ``--json`` turns them into dicts (``to_dict``),
whose keys are part of the command-line contract.  ``Action`` is a ``StrEnum``
so that its JSON form is the plain word a script matches on ("write",
"keep existing", ...), exactly as before the actions had a type.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any


class Action(enum.StrEnum):
    """What happens, or would, to one file's genre field (or another field written)."""

    WRITE = "write"  # the proposal is written
    ALREADY_SET = "already set"  # the file already holds the proposal
    KEEP_EXISTING = "keep existing"  # the file has a genre of its own and no --overwrite
    LOW_CONFIDENCE = "low confidence"  # no genre passes --min-confidence
    UNCERTAIN = "uncertain"  # the model abstained on the track (no --include-uncertain)
    NO_VALUE = "no value"  # nothing to write: no tempo was heard (no steady beat)
    NOT_ASKED = "not asked"  # the genre is not among the fields written (``--fields bpm``)
    ERROR = "error"  # the file could not be read, written or restored; see error_files
    INTERRUPTED = "interrupted"  # a Ctrl-C came before this field was written (or restored)
    RESTORE = "restore"  # undo puts the journaled field back
    CHANGED_SINCE = "changed since"  # undo leaves alone a genre changed by something else


@dataclass(frozen=True)
class FileError:
    """A file a command could not handle, and the one-line reason why."""

    path: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


def to_json(obj: Any) -> dict[str, Any]:
    """A result dataclass as ``--json`` shows it: its fields in order, each nested result by
    its own ``to_dict`` (which may leave out what it does not know), lists item by item."""
    return {f.name: _json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _json(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    return value
