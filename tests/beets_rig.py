"""A real beets for the plugin's tests: a configuration folder, its library, and tagger's
database, driven through the installed ``beet`` command."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import mutagen
from conftest import make_library, run

BEET = shutil.which("beet")


SOURCES = (".mp3", ".flac", ".ogg", ".m4a")


GENRE_KEYS = {"TCON", "genre", "\xa9gen"}  # where each of SOURCES keeps its genre


class Beets:
    """A beets configuration folder, its library, and tagger's database for the plugin."""

    def __init__(
        self,
        root: Path,
        music: Path | None = None,
        tagger_db: Path | None = None,
        importing: str = "{copy: yes, write: yes}",
        command: tuple[str, ...] = (BEET,),
        pythonpath: str | None = None,
        own_db: bool = False,
    ):
        """``own_db``: no ``db`` in beets' section, so the plugin keeps its own
        ``audiogenre.db`` beside beets' library (``tagger_db`` is then that file)."""
        self.root = root
        self.music = music or root / "music"
        self.tagger_db = root / "audiogenre.db" if own_db else tagger_db or root / "tagger.db"
        db = "" if own_db else f"db: {self.tagger_db}, "
        self.command = command
        (root / "beetsdir").mkdir(parents=True)
        (root / "beetsdir" / "config.yaml").write_text(
            f"directory: {self.music}\n"
            f"library: {root / 'beets.db'}\n"
            f"import: {importing}\n"
            "paths: {default: '$title'}\n"
            "ui: {color: no}\n"
            "plugins: [audiogenre]\n"
            # The generated tones have no clear genre, so musicnn's rule flags them
            # uncertain; these tests are about the plugin's writing, so it writes them.
            f"audiogenre: {{{db}model: musicnn, jobs: 2, include_uncertain: yes}}\n"
        )
        self.env = {
            **os.environ,
            "BEETSDIR": str(root / "beetsdir"),
            "TAGGER_HOME": str(root / "tagger-home"),
        }
        if pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [pythonpath, os.environ.get("PYTHONPATH")])
            )

    def config(self, name: str, text: str) -> Path:
        """An extra configuration file for ``beet -c``."""
        path = self.root / name
        path.write_text(text)
        return path

    def __call__(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        proc = run(
            [*self.command, *map(str, args)], env=self.env, timeout=600, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"beet {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def genres(self, *query: str) -> dict[str, str]:
        """title -> beets' genres, as ``beet ls -f`` prints them."""
        out = self("ls", "-f", "$title\t$genres", *query).stdout
        return dict(line.split("\t") for line in out.splitlines())

    def files(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(self.music.rglob("*.*"))}

    def state(self) -> dict:
        """beets' genres and every file's raw tags."""
        return {"genres": self.genres(), "tags": {n: raw_tags(p) for n, p in self.files().items()}}

    def scans(self) -> list[dict]:
        return _rows(self.tagger_db, "SELECT * FROM scans ORDER BY id")

    def heard(self) -> dict[str, dict]:
        """title -> tagger's stored result for the file."""
        rows = _rows(self.tagger_db, "SELECT * FROM tracks WHERE missing = 0")
        return {
            Path(r["path"]).stem: r | {"probabilities": json.loads(r["probabilities"])}
            for r in rows
        }


def _rows(db: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def raw_tags(path: Path) -> dict[str, str]:
    """Every tag of the file as mutagen reads it (no easy view), keyed by frame/atom/field."""
    tags = mutagen.File(path).tags
    if not tags:
        return {}
    if hasattr(tags, "getall"):  # ID3: one entry per frame, values in full
        return {frame.HashKey: repr(frame) for frame in tags.values()}
    if hasattr(tags, "as_dict"):  # Vorbis comments: a field may repeat, keep every value
        return {key.lower(): repr(values) for key, values in tags.as_dict().items()}
    return {key: repr(value) for key, value in tags.items()}  # MP4 atoms


def without_genre(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k.split(":")[0] not in GENRE_KEYS}


def add_tracks(beets: Beets, folder: str, names: list[str], *extra: str) -> None:
    """Generate real tracks titled ``names`` and ``beet import -A`` them (as-is, copied)."""
    src = beets.root / folder
    files = make_library(src, formats=SOURCES[: len(names)])
    for path, name in zip(files, names):
        f = mutagen.File(path, easy=True)
        f["title"] = name
        f["album"] = folder  # each batch its own album: beets skips duplicate albums
        f.save()
    beets(*extra, "import", "-A", "-q", src)
