"""Where tagger keeps things: the database, user-trained models, shipped models, caches.

Resolved at call time (not import time) so that ``$TAGGER_DB`` and
``$TAGGER_HOME`` set by a test or a script take effect.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Collection, Iterator
from pathlib import Path

import platformdirs

from .errors import TaggerError


def data_dir() -> Path:
    """``$TAGGER_HOME``, else the platform's user data folder (``~/.local/share/tagger``)."""
    home = os.environ.get("TAGGER_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir("tagger", appauthor=False))


def cache_dir() -> Path:
    """Files tagger can always rebuild (OpenVINO's compiled graphs, numba's compiled code,
    extracted training features): ``$TAGGER_HOME/cache``, else the platform's user cache
    folder (``~/.cache/tagger``); never beside the installed package, which may be
    read-only or shared."""
    home = os.environ.get("TAGGER_HOME")
    if home:
        return Path(home) / "cache"
    return Path(platformdirs.user_cache_dir("tagger", appauthor=False))


def default_db(db: str | os.PathLike | None = None) -> Path:
    """``--db``, else ``$TAGGER_DB``, else ``<data dir>/library.db``."""
    if db:
        return Path(db).expanduser()
    env = os.environ.get("TAGGER_DB")
    if env:
        return Path(env).expanduser()
    return data_dir() / "library.db"


def database_folder(db: str | os.PathLike) -> None:
    """Make the folder of the database ``db`` is about to be created in, only where it is
    tagger's own data folder (the default database's).

    A database named (``--db``, ``$TAGGER_DB``, the config's ``db``) in a folder
    that does not exist is most likely a typo: making the folders would hide it.
    """
    folder = Path(db).parent
    if folder.is_dir():
        return
    if folder == data_dir():
        folder.mkdir(parents=True, exist_ok=True)  # an error here: ``Database`` says why
        return
    why = "is not a folder" if folder.exists() else "does not exist"
    raise TaggerError(
        f"cannot create database {printable(db)}: the folder {printable(folder)} {why}"
    )


def user_models_dir() -> Path:
    """Models written by ``tagger retrain``; they take precedence over shipped ones."""
    return data_dir() / "models"


def shipped_models_dir() -> Path:
    """The models committed under ``models/`` and installed as ``tagger.shipped``.

    A checkout's own ``models/`` comes first, so that code run from a checkout
    or a git worktree (``PYTHONPATH``) reads the models committed beside it,
    not those of whichever checkout was pip-installed in editable mode.
    """
    checkout = Path(__file__).resolve().parent.parent / "models"
    try:
        if (checkout / "__init__.py").is_file() and (checkout / "musicnn.json").is_file():
            return checkout
    except OSError:  # installed: the folder above the package may be closed to this user
        pass
    try:
        from importlib.resources import files

        return Path(str(files("tagger.shipped")))
    except ModuleNotFoundError:  # running from a checkout that was never installed
        return Path(__file__).resolve().parent.parent / "models"


def printable(path: str | os.PathLike) -> str:
    """A path safe to print: bytes that are not UTF-8 appear as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def absolute(path: str | os.PathLike) -> str:
    """``~`` expanded and made absolute, symlinks kept: the form paths are stored in."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def is_under(path: str, roots: Collection[str]) -> bool:
    """True when ``path`` is one of ``roots`` or inside one of them (absolute, normalised paths).

    One lookup in ``roots`` per ancestor of ``path``, not one comparison per
    root: with a set, checking every stored row against the roots a scan was
    given stays linear.  The beets plugin gives one root per item, and
    comparing each pair took minutes for 20,000 items against 20,000 rows
    stored from elsewhere.
    """
    while True:
        if path in roots:
            return True
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent


def closed_folder(path: str | os.PathLike) -> str | None:
    """The outermost folder above ``path`` that this user cannot enter, if any."""
    folder = os.path.dirname(absolute(path))
    chain = [folder]
    while os.path.dirname(chain[-1]) != chain[-1]:
        chain.append(os.path.dirname(chain[-1]))
    return next((d for d in reversed(chain) if not os.access(d, os.X_OK)), None)


def unreachable(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be reached, in one line naming the folder at fault; None if it can.

    A file below a folder this user cannot enter is "permission denied" from
    the operating system and "does not exist" to ``os.path.exists``; neither
    says where to look, so the folder is named.
    """
    try:
        os.stat(path)
        return None
    except FileNotFoundError:
        return "no such file or folder"
    except PermissionError:
        folder = closed_folder(path)
        return (
            f"cannot enter folder {printable(folder)} (permission denied)"
            if folder
            else "permission denied"
        )
    except OSError as exc:
        return exc.strerror or str(exc)


def unreadable(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read, in one line: ``unreachable``'s reasons, or a file that
    cannot be opened or a folder that cannot be listed; None if it can be read."""
    problem = unreachable(path)
    if problem:
        return problem
    folder = os.path.isdir(path)
    if not os.access(path, os.R_OK | (os.X_OK if folder else 0)):
        what = "the folder cannot be listed" if folder else "the file cannot be opened"
        return f"permission denied ({what})"
    return None


def one_file(path: str | os.PathLike, command: str) -> None:
    """Raise the one-line error of a command that takes one file (``show``, ``similar``) when
    ``path`` is a folder, missing or unreadable, naming the true cause."""
    text = os.fspath(path)
    if os.path.isdir(text):
        raise TaggerError(
            f"{printable(text)} is a folder; `tagger {command}` takes one file "
            f"(`tagger ls {printable(text)}` lists a folder's stored results)"
        )
    problem = unreadable(text)
    if problem == "no such file or folder":
        raise TaggerError(f"no such file: {printable(text)}")
    if problem:
        raise TaggerError(f"cannot read {printable(text)}: {problem}")


@contextlib.contextmanager
def output_file(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """A temporary file beside ``path`` for the block to write the user's output file into
    (a plot, a playlist), put in its place when the block ends.

    Every file a user names for output is written through here, so that a folder
    that does not exist, a read-only disk or a full one is one line naming the
    file and the operating system's reason (exit 1), never a traceback, and a
    half-written file never takes the place of a good one.  The temporary file
    keeps the suffix, which is what plotting libraries read the format from.
    """
    out = Path(path)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TaggerError(f"cannot write {what} {printable(out)}: {exc.strerror or exc}") from None


def writable_folder(path: str | os.PathLike, what: str) -> Path:
    """The folder ``path``, made if need be, checked before any long work that ends by
    writing ``what`` into it: one line naming the folder and the reason (exit 1), not a
    traceback after minutes of training."""
    folder = Path(path)
    with output_folder(folder, what):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied")
    return folder


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, what: str) -> Iterator[Path]:
    """The folder ``path``, made if need be, for the block to write ``what`` into (a trained
    model and its card): an ``OSError`` on the way is one line naming the folder and the
    operating system's reason (exit 1), as ``output_file`` says it for one file."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    except OSError as exc:
        raise TaggerError(
            f"cannot write {what} into {printable(folder)}: {exc.strerror or exc}"
        ) from None
