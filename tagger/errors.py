"""Exceptions that mean "the user asked for something that cannot be done", and the exit codes.

The CLI turns these into one line on stderr and a non-zero exit, never a
traceback; anything else escaping is a bug and keeps its traceback.
"""

from typing import Any

# The exit codes of every tagger command (README "Exit codes", `tagger --help`).
EXIT_OK = 0  # done; files that could not be decoded are recorded, not fatal
EXIT_ERROR = 1  # a user-facing error stated in one line
EXIT_USAGE = 2  # bad usage: unknown option, missing argument, bad value
EXIT_BUSY = 3  # the database is in use by another tagger process
EXIT_FINISHED_WITH_ERRORS = 4  # write/undo (or scan --write-tags) finished, some files failed
# (or, for undo, were left alone: changed since tagger wrote them)
EXIT_INTERRUPTED = 130  # Ctrl-C; everything finished so far is saved


class TaggerError(Exception):
    """A user-facing failure: a missing path, an unopenable database, no model."""

    exit_code = EXIT_ERROR


class BusyError(TaggerError):
    """Another tagger process holds the database for writing."""

    exit_code = EXIT_BUSY


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C that came while a command was under way, with what it had done so far
    (``summary``: a scan's ``ScanSummary``, status ``interrupted``), so that ``--json``
    still prints it.  A ``KeyboardInterrupt``: whatever catches that catches this."""

    def __init__(self, summary: Any):
        super().__init__()
        self.summary = summary


def one_line(exc: BaseException) -> str:
    """An exception as one line for a user or a database row: its first line, or its type."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason (per file)."""
