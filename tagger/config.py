"""The user's config file: defaults for every command, and where each setting came from.

``config.toml`` lives in the platform's user config folder
(``~/.config/tagger/config.toml`` on Linux); ``$TAGGER_CONFIG`` names another
file.  A missing file is not an error (everything has a built-in default); a
file that exists but cannot be used is, in one line naming the key, because a
typo silently ignored would write tags the user did not ask for.

Precedence, highest first: the command line, the environment (``$TAGGER_DB``),
the config file, the built-in default.  ``Settings.sources`` records which one
won for each key so that ``tagger config`` can say so.

Example::

    db = "~/Music/.tagger.db"
    model = "musicnn"
    jobs = 2
    min_confidence = 0.3
    top = 1
    overwrite = false
    id3_version = "2.4"        # or "2.3" for old players
    separator = "; "
    album = false              # true: one genre per album (`tagger write --album`)
    precision = "auto"         # or "float32"
    exclude = ["~/Music/Audiobooks", "*/Podcasts/*"]

    [genres]
    map = { hiphop = "Hip Hop", techno = "Electronic", house = "Electronic" }
    whitelist = ["Rock", "Jazz", "Classical", "Electronic", "Hip Hop"]
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import TaggerError
from .genres import GenreMap
from .paths import default_db

PRECISIONS = ("auto", "float32")
ID3_VERSIONS = ("2.3", "2.4")


class ConfigError(TaggerError):
    """The config file exists but a key in it is unusable."""


@dataclass(frozen=True)
class Settings:
    """The effective defaults of every command (see the module docstring for precedence)."""

    db: Path | None = None  # None: $TAGGER_DB, else <data dir>/library.db
    model: str | None = None  # None: the trained ResNet if installed, else musicnn
    jobs: int | None = None  # None: one worker per CPU
    min_confidence: float = 0.0
    top: int = 1
    overwrite: bool = False
    id3_version: str = "2.4"
    separator: str = "; "
    album: bool = False
    precision: str = "auto"
    exclude: tuple[str, ...] = ()
    genre_map: GenreMap = field(default_factory=GenreMap)
    path: Path | None = None  # the config file read, None when there was none
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")

    def override(self, **values: Any) -> Settings:
        """A copy with the command line's values (those not None) taking precedence."""
        given = {k: v for k, v in values.items() if v is not None}
        for key in given:
            if key not in _KEYS:
                raise TypeError(f"unknown setting {key}")
        return dataclasses.replace(
            self, **given, sources={**self.sources, **{k: "command line" for k in given}}
        )

    def write_options(self, dry_run: bool = False, include_uncertain: bool = False):
        """The ``WriteOptions`` these settings give ``tagger write`` and ``scan --write-tags``."""
        from .write import WriteOptions

        return WriteOptions(
            overwrite=self.overwrite,
            min_confidence=self.min_confidence,
            top=self.top,
            id3v23=self.id3_version == "2.3",
            separator=self.separator,
            album=self.album,
            dry_run=dry_run,
            genre_map=self.genre_map,
            include_uncertain=include_uncertain,
        )

    def to_dict(self) -> dict[str, Any]:
        """Effective value and source of every setting, JSON-ready (``tagger config --json``)."""
        out: dict[str, Any] = {}
        for key in _KEYS:
            value = getattr(self, key)
            if key == "genre_map":
                value = value.to_dict()
            elif key == "db":
                value = str(default_db(value))
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = {"value": value, "source": self.source(key)}
        return out


_KEYS = (
    "db",
    "model",
    "jobs",
    "min_confidence",
    "top",
    "overwrite",
    "id3_version",
    "separator",
    "album",
    "precision",
    "exclude",
    "genre_map",
)


def config_path() -> Path:
    """``$TAGGER_CONFIG``, else ``config.toml`` in the platform's user config folder."""
    env = os.environ.get("TAGGER_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir("tagger", appauthor=False)) / "config.toml"


def load_config(path: str | os.PathLike | None = None) -> Settings:
    """The settings from ``path`` (default ``config_path()``) and the environment.

    Raises ``ConfigError`` (exit 1, one line naming the key) for a file that
    exists but is not valid TOML or holds an unknown key or a wrong value.
    """
    file = Path(path).expanduser() if path else config_path()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if file.is_file():
        try:
            with open(file, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config {file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"config {file}: {exc.strerror or exc}") from None
        values = _parse(data, file)
        sources = {k: f"config file {file}" for k in values}
    elif file.exists():
        raise ConfigError(f"config {file}: not a file")
    env_db = os.environ.get("TAGGER_DB")
    if env_db:
        values["db"] = Path(env_db).expanduser()
        sources["db"] = "$TAGGER_DB"
    return Settings(**values, path=file if file.is_file() else None, sources=sources)


def _parse(data: dict[str, Any], file: Path) -> dict[str, Any]:
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"config {file}: {key}: {why}")

    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "db":
            _expect(value, str, key, bad)
            out["db"] = Path(value).expanduser()
        elif key == "model":
            _expect(value, str, key, bad)
            out["model"] = value
        elif key == "jobs":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(key, f"must be a whole number >= 1, not {value!r}")
            out["jobs"] = value
        elif key == "min_confidence":
            if (
                not isinstance(value, (int, float))
                or isinstance(value, bool)
                or not 0 <= value <= 1
            ):
                raise bad(key, f"must be a number from 0 to 1, not {value!r}")
            out["min_confidence"] = float(value)
        elif key == "top":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(key, f"must be a whole number >= 1, not {value!r}")
            out["top"] = value
        elif key in ("overwrite", "album"):
            _expect(value, bool, key, bad)
            out[key] = value
        elif key == "id3_version":
            if str(value) not in ID3_VERSIONS:
                raise bad(key, f'must be "2.3" or "2.4", not {value!r}')
            out["id3_version"] = str(value)
        elif key == "separator":
            _expect(value, str, key, bad)
            if not value:
                raise bad(key, "must not be empty")
            out["separator"] = value
        elif key == "precision":
            if value not in PRECISIONS:
                raise bad(key, f"must be one of {', '.join(PRECISIONS)}, not {value!r}")
            out["precision"] = value
        elif key == "exclude":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise bad(key, "must be a list of paths or glob patterns")
            out["exclude"] = tuple(value)
        elif key == "genres":
            out["genre_map"] = _genre_map(value, bad)
        else:
            raise bad(key, f"unknown key (known: {', '.join(_FILE_KEYS)})")
    return out


# The file spells the genre map as a [genres] table.
_FILE_KEYS = (*(k for k in _KEYS if k != "genre_map"), "[genres]")


def _expect(value: Any, kind: type, key: str, bad) -> None:
    if not isinstance(value, kind):
        names = {str: "a string", bool: "true or false"}
        raise bad(key, f"must be {names[kind]}, not {value!r}")


def _genre_map(table: Any, bad) -> GenreMap:
    if not isinstance(table, dict):
        raise bad("genres", "must be a table: [genres] with map and whitelist")
    mapping: dict[str, str] = {}
    whitelist: list[str] | None = None
    for key, value in table.items():
        if key == "map":
            if not isinstance(value, dict) or not all(
                isinstance(v, str) and v.strip() for v in value.values()
            ):
                raise bad("genres.map", 'must be a table of genre = "Spelling" pairs')
            mapping = dict(value)
        elif key == "whitelist":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                raise bad("genres.whitelist", "must be a list of genre names")
            whitelist = list(value)
        else:
            raise bad(f"genres.{key}", "unknown key (known: map, whitelist)")
    return GenreMap(mapping, whitelist)
