"""Find the audio files under the folders a user names.

Rules, chosen so that a scan of a real library does what its owner expects:
hidden folders are skipped, a folder holding a ``.taggerignore`` file is skipped
with everything below it, and so is anything the config's ``exclude`` names
(``Exclude``), symlinked folders are followed but a folder is never
entered twice (so symlink loops end; a folder also reached through a link keeps its
own path), and an unreadable folder is reported, not
fatal.  A file is a candidate by its extension (``tagger.formats``); its real
format is sniffed later from its first bytes, so an Opus stream named ``.ogg``
or an ALAC file named ``.m4a`` is decoded and tagged as what it is.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .formats import is_audio_name
from .paths import absolute, unreadable

IGNORE_FILE = ".taggerignore"


class Exclude:
    """The config's ``exclude`` list: paths (``~`` expanded), bare names and globs matched on
    full paths.

    A path excludes itself and everything below it; a glob (``*/Podcasts``,
    ``*.m4b``; ``*`` also matches ``/``) excludes what it matches and, for a
    folder, everything below it.  A bare name (``Audiobooks``: no folder, no
    wildcard) is a file or folder of that name anywhere, as ``*/Audiobooks``:
    read as a path it would name a folder of whatever directory tagger was
    started in, which no one writing a config file means.
    """

    def __init__(self, patterns: Iterable[str] = ()):
        pats = [os.path.expanduser(p) for p in patterns]
        globs = [p for p in pats if any(c in p for c in "*?[")]
        bare = [p for p in pats if p not in globs and os.sep not in p.strip(os.sep)]
        self.paths = {absolute(p).rstrip(os.sep) or os.sep for p in pats if p not in globs + bare}
        self.globs = globs + [f"*{os.sep}{p.strip(os.sep)}" for p in bare]

    def __bool__(self) -> bool:
        return bool(self.paths or self.globs)

    def matches(self, path: str) -> bool:
        """``path`` itself is excluded (the walk checks each folder on its way down)."""
        return path in self.paths or any(fnmatch.fnmatchcase(path, g) for g in self.globs)

    def covers(self, path: str) -> bool:
        """``path`` or a folder above it is excluded."""
        while True:
            if self.matches(path):
                return True
            parent = os.path.dirname(path)
            if parent == path:
                return False
            path = parent


@dataclass
class WalkResult:
    """Files found, plus the folders that could not be read (reported to the user)."""

    files: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def _walk_dir(
    root: Path, seen: set[tuple[int, int]], out: WalkResult, exclude: Exclude, links: list[Path]
) -> Iterator[Path]:
    """The audio files under ``root``, each folder entered once; symlinked folders met on the
    way are added to ``links`` for the caller to walk after every real folder."""
    if exclude and exclude.matches(os.fspath(root)):
        return
    try:
        st = root.stat()
    except OSError as exc:
        out.problems.append((str(root), _why(root, exc)))
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:  # a symlink loop or a second link to a folder already walked
        return
    seen.add(key)
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        out.problems.append((str(root), _why(root, exc)))
        return
    if any(e.name == IGNORE_FILE for e in entries):
        return
    subdirs: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=True):
                (links if entry.is_symlink() else subdirs).append(Path(entry.path))
            elif (
                entry.is_file(follow_symlinks=True)
                and is_audio_name(entry.name)
                and not (exclude and exclude.matches(entry.path))
            ):
                yield Path(entry.path)
        except OSError:
            continue
    for sub in subdirs:
        yield from _walk_dir(sub, seen, out, exclude, links)


def _why(path: Path, exc: OSError) -> str:
    """Why a folder could not be walked, as every command says it: the folder that cannot
    be entered or listed named (``paths.unreadable``), else the system's reason."""
    return unreadable(path) or exc.strerror or str(exc)


def walk(paths: list[str | os.PathLike], exclude: Exclude | None = None) -> WalkResult:
    """Collect audio files under ``paths`` (folders or single files), each once.

    Anything ``exclude`` covers is skipped, even a path named directly.

    Paths are made absolute but symlinks in them are kept, so the database
    keys files by the path the user sees.
    """
    out = WalkResult()
    exclude = exclude or Exclude()
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    # A folder reached both through a symlink and by its own path is walked by its own path,
    # whatever the names: symlinked folders wait until every real folder has been entered.
    # Otherwise adding a link named before the folder (``A_link -> B``) moved B's files to
    # the link's paths and left B's rows "missing".
    links: list[Path] = []

    def take(found: Iterable[Path]) -> None:
        for f in found:
            s = os.fspath(f)
            if s not in seen_files:
                seen_files.add(s)
                out.files.append(f)

    for p in paths:
        path = Path(absolute(p))
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a parent folder we may not enter
            out.problems.append((str(path), _why(path, exc)))
            continue
        if exclude.covers(os.fspath(path)):
            continue
        take(_walk_dir(path, seen_dirs, out, exclude, links) if is_dir else [path])
    while links:
        take(_walk_dir(links.pop(0), seen_dirs, out, exclude, links))
    return out
