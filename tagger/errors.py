"""Exceptions that mean "the user asked for something that cannot be done", and the exit codes.

The CLI turns these into one line on stderr and a non-zero exit, never a
traceback; anything else escaping is a bug and keeps its traceback.
"""

# The exit codes of every tagger command (README "Exit codes", `tagger --help`).
EXIT_OK = 0  # done; files that could not be decoded are recorded, not fatal
EXIT_ERROR = 1  # a user-facing error stated in one line
EXIT_USAGE = 2  # bad usage: unknown option, missing argument, bad value
EXIT_BUSY = 3  # the database is in use by another tagger process
EXIT_FINISHED_WITH_ERRORS = 4  # write/undo (or scan --write-tags) finished, some files failed
EXIT_INTERRUPTED = 130  # Ctrl-C; everything finished so far is saved


class TaggerError(Exception):
    """A user-facing failure: a missing path, an unopenable database, no model."""

    exit_code = EXIT_ERROR


class BusyError(TaggerError):
    """Another tagger process holds the database for writing."""

    exit_code = EXIT_BUSY


def one_line(exc: BaseException) -> str:
    """An exception as one line for a user or a database row: its first line, or its type."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class TagError(Exception):
    """A tag that cannot be read or written; the message is the one-line reason (per file)."""
