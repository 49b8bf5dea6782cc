"""Exceptions that mean "the user asked for something that cannot be done".

The CLI turns these into one line on stderr and a non-zero exit, never a
traceback; anything else escaping is a bug and keeps its traceback.
"""


class TaggerError(Exception):
    """A user-facing failure: a missing path, an unopenable database, no model."""

    exit_code = 1


class BusyError(TaggerError):
    """Another tagger process holds the database for writing."""

    exit_code = 3


def one_line(exc: BaseException) -> str:
    """An exception as one line for a user or a database row: its first line, or its type."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason (per file)."""
