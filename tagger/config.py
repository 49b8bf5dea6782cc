"""The user's config file: defaults for every command, and where each setting came from.

``config.toml`` lives in the platform's user config folder
(``~/.config/tagger/config.toml`` on Linux); ``$TAGGER_CONFIG`` names another
file.  A missing file is not an error (everything has a built-in default); a
file that exists but cannot be used is, in one line naming the key, because a
typo silently ignored would write tags the user did not ask for.

Precedence, highest first: the command line, the environment (``$TAGGER_DB``),
the config file, the built-in default.  ``Settings.sources`` records which one
won for each key so that ``tagger config`` can say so.

Each setting is declared once, as a field of ``Settings``: its name, type,
default, the check its values pass, its help, its command-line flag and
whether the beets plugin takes it.  The config file's parser, ``tagger
config``, the CLI's options and the beets plugin's defaults are all read from
those declarations (``SETTINGS``), and every value, wherever it comes from, is
checked by ``Setting.parse``: the same one-line error, naming where the value
came from and the key, from a config file, a command-line option, beets'
configuration or a library caller.

Example::

    db = "~/Music/.tagger.db"
    model = "musicnn"
    jobs = 2
    min_confidence = 0.3
    top = 1
    overwrite = false
    id3_version = "2.4"        # or "2.3" for old players
    separator = "; "
    fields = ["genre", "bpm"]  # what `tagger write` writes (default: the genre alone)
    voice_field = "VOICE_INSTRUMENTAL"  # with "voice" in fields: the key the voice goes under
    album = false              # true: one genre per album (`tagger write --album`)
    precision = "auto"         # or "float32", "int8"
    exclude = ["~/Music/Audiobooks", "*/Podcasts/*"]

    [genres]
    map = { hiphop = "Hip Hop", techno = "Electronic", house = "Electronic" }
    whitelist = ["Rock", "Jazz", "Classical", "Electronic", "Hip Hop"]
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import TaggerError
from .genres import GenreMap
from .paths import default_db

T = TypeVar("T")


class ConfigError(TaggerError):
    """A setting's value is unusable (config file, command line, beets, a library caller).

    The message is one line naming where the value came from and the key,
    because a typo silently ignored would write tags the user did not ask for.
    """


class Invalid(ValueError):
    """A check's refusal, ``must be ..., not VALUE``; ``sub`` names the key inside a table."""

    def __init__(self, why: str, sub: str | None = None):
        super().__init__(why)
        self.sub = sub


@dataclass(frozen=True)
class Check:
    """What a setting's values must be.

    ``convert`` takes a value as a config file, an option or beets gives it
    (or one already in the held form) and returns the value held, or raises
    ``Invalid``; ``type`` is what a command-line option parses the text as.
    """

    type: type
    convert: Callable[[Any], Any]


def _whole(minimum: int) -> Check:
    def convert(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise Invalid(f"must be a whole number >= {minimum}, not {value!r}")
        return value

    return Check(int, convert)


def _fraction(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise Invalid(f"must be a number from 0 to 1, not {value!r}")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, not {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, not {value!r}")
    return value


def _model(value: Any) -> str:
    """A registered kind's name or a model file that exists; whether a kind is installed is
    ``resolve``'s to say (it names the command that makes one)."""
    from .models.registry import KINDS  # the registry, where the kinds are declared

    text = _text(value)
    if text not in KINDS and not Path(text).expanduser().is_file():
        raise Invalid(f"no such model: {text} (use {', '.join(KINDS)} or a model file)")
    return text


def _separator(value: Any) -> str:
    if not _text(value):
        raise Invalid("must not be empty")
    return value


def _path(value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise Invalid(f"must be a string, not {value!r}")
    return Path(value).expanduser()


def _choice(*options: str) -> Check:
    """One of ``options``; a TOML number such as ``2.3`` is read as its text."""
    said = " or ".join(options) if len(options) == 2 else f"one of {', '.join(options)}"

    def convert(value: Any) -> str:
        if str(value) not in options:
            raise Invalid(f"must be {said}, not {value!r}")
        return str(value)

    return Check(str, convert)


# The fields `tagger write` can write (tagedit.FIELDS; voice only under `voice_field`).
WRITABLE_FIELDS = ("genre", "bpm", "voice")


def _fields(value: Any) -> tuple[str, ...]:
    """``genre,bpm`` (the command line) or ``["genre", "bpm"]`` (the config file)."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise Invalid(f"must be a list of fields, not {value!r}")
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in WRITABLE_FIELDS]
    if unknown or not names:
        raise Invalid(f"must name fields among {', '.join(WRITABLE_FIELDS)}, not {value!r}")
    return tuple(dict.fromkeys(names))


def _tag_key(value: Any) -> str:
    """A tag key the user names: letters, digits and underscores (valid in every family)."""
    text = _text(value)
    if text and not all(c.isascii() and (c.isalnum() or c == "_") for c in text):
        raise Invalid(f"must be letters, digits and underscores, not {value!r}")
    return text


def _globs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise Invalid("must be a list of paths or glob patterns")
    return tuple(value)


def _genre_map(table: Any) -> GenreMap:
    if isinstance(table, GenreMap):
        return table
    if not isinstance(table, dict):
        raise Invalid("must be a table: [genres] with map and whitelist")
    mapping: dict[str, str] = {}
    whitelist: list[str] | None = None
    for key, value in table.items():
        if key == "map":
            if not isinstance(value, dict) or not all(
                isinstance(v, str) and v.strip() for v in value.values()
            ):
                raise Invalid('must be a table of genre = "Spelling" pairs', "map")
            mapping = dict(value)
        elif key == "whitelist":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                raise Invalid("must be a list of genre names", "whitelist")
            whitelist = list(value)
        else:
            raise Invalid("unknown key (known: map, whitelist)", key)
    return GenreMap(mapping, whitelist)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: everything the config file, ``tagger config``, the CLI and beets know of it."""

    check: Check
    help: str  # what it does; the command-line option's help, before its default
    name: str = ""  # the ``Settings`` field (filled in from it)
    key: str = ""  # its name in config.toml and beets' section (default: ``name``)
    default: Any = None
    option: str = ""  # the command-line option as its help shows it: "--jobs -j N"; "" for none
    default_help: str = ""  # the default in words (default: the value itself)
    flag_values: tuple[Any, Any] | None = None  # what a --this/--that pair sets (else True/False)
    env: str | None = None  # an environment variable that wins over the config file
    beets: bool = False  # beets' audiogenre section takes it; unset there, tagger's value
    write: bool = False  # a rule of tag writing: an option of `write` and `scan --write-tags`
    commands: tuple[str, ...] = ()  # the other commands it is an option of
    shown: Callable[[Any], Any] = _same  # the effective value as `tagger config --json` gives it

    def parse(self, value: Any, prefix: str = "", key: str | None = None) -> Any:
        """``value`` as held, or ``ConfigError("{prefix}{key}: must be ..., not VALUE")``.

        The one check of every value of this setting, wherever it comes from:
        ``prefix`` and ``key`` say where (``config FILE: `` and the file's
        key, ``audiogenre.`` and beets' key, the command-line flag).
        """
        try:
            return self.check.convert(value)
        except Invalid as exc:
            where = (key or self.key) + (f".{exc.sub}" if exc.sub else "")
            raise ConfigError(f"{prefix}{where}: {exc}") from None

    def from_option(self, value: Any) -> Any:
        """The command-line option's value as held (a ``--this/--that`` pair picks a value)."""
        if self.flag_values is not None:
            value = self.flag_values[0] if value else self.flag_values[1]
        return self.parse(value, key=self.flags[0].split("/")[0])

    @property
    def flags(self) -> tuple[str, ...]:
        """The option's flags: ``("--jobs", "-j")``, ``("--overwrite/--keep-existing",)``."""
        return tuple(w for w in self.option.split() if w.startswith("-"))

    @property
    def metavar(self) -> str | None:
        """The option's placeholder (``N``), None for an on/off pair."""
        return next((w for w in self.option.split() if not w.startswith("-")), None)

    @property
    def option_type(self) -> type:
        """What the command-line option parses its text as."""
        return bool if self.flag_values is not None else self.check.type

    @property
    def option_help(self) -> str:
        """The option's help: what it does, then where its default comes from."""
        source = f"${self.env}, else config `{self.key}`" if self.env else f"config `{self.key}`"
        return f"{self.help} (default: {source}, else {self.default_help or self.default})."


def _setting(default: Any, check: Check | Callable[[Any], Any], help: str, **about: Any) -> Any:
    """A ``Settings`` field declaring one setting (``Setting``'s fields as keywords)."""
    if not isinstance(check, Check):
        check = Check(type(default), check)
    if callable(default):  # a mutable default's factory: a fresh one for each Settings
        meta = {"setting": Setting(check, help, default=default(), **about)}
        return field(default_factory=default, metadata=meta)
    return field(
        default=default, metadata={"setting": Setting(check, help, default=default, **about)}
    )


_PRECISION_HELP = (
    "auto: musicnn's fast graph in bfloat16 where the CPU computes it natively (AVX-512 BF16 or "
    "AMX; tags within 2e-2 of a full analysis), else its int8 graph where the CPU has AVX2 "
    "(tags within 0.05; its nets 1.45x the fast graph's float32 speed there, docs/speed.md), "
    "else the fast graph in float32 (tags within 2e-4).  float32: the exact graph "
    "in float32, a full analysis.  int8: the int8 graph on any CPU.  Only models with a "
    "converted OpenVINO graph (musicnn, and models `tagger retrain` made) have the choice"
)


@dataclass(frozen=True)
class Settings:
    """The effective defaults of every command, and the table of settings: one field each.

    A new setting is one field here; the config file, ``tagger config``, the
    command-line option of each command it names (where it has ``flags``) and
    beets' key (where ``beets``) follow from it.  See the module docstring for precedence.
    """

    # _setting returns a dataclasses.field, evaluated once like any field's (hence noqa)
    db: Path | None = _setting(  # noqa: RUF009
        None,
        Check(Path, _path),
        "SQLite database",
        option="--db FILE",
        commands=("scan", "write", "undo", "ls", "report", "show", "similar", "retrain", "models"),
        env="TAGGER_DB",
        default_help="~/.local/share/tagger/library.db",
        beets=True,
        shown=lambda db: str(default_db(db)),
    )
    model: str | None = _setting(
        None,
        Check(str, _model),
        "The model (`tagger models` lists them)",
        option="--model -m NAME",
        commands=("scan", "show"),
        default_help="the best model installed",
        beets=True,
    )
    jobs: int | None = _setting(
        None,
        _whole(1),
        "Worker processes",
        option="--jobs -j N",
        commands=("scan",),
        default_help="the number of CPUs",
        beets=True,
    )
    min_confidence: float = _setting(
        0.0,
        _fraction,
        "Do not write a genre whose probability is below P",
        option="--min-confidence P",
        default_help="0",
        beets=True,
        write=True,
    )
    top: int = _setting(
        1,
        _whole(1),
        "Write up to K genres that pass --min-confidence, each after the first at least "
        "half as likely as the first",
        option="--top K",
        beets=True,
        write=True,
    )
    overwrite: bool = _setting(
        False,
        _flag,
        "Replace genres already in the files, or leave them alone",
        option="--overwrite/--keep-existing",
        default_help="keep",
        beets=True,
        write=True,
    )
    id3_version: str = _setting(
        "2.4",
        _choice("2.3", "2.4"),
        "ID3 version of the tag a write creates in an MP3/WAV/AIFF that has no ID3v2 tag: "
        "v2.3 for old players (several genres then joined by --separator) or v2.4; a file's "
        "existing tag keeps its version",
        option="--id3v23/--id3v24",
        flag_values=("2.3", "2.4"),
        write=True,
    )
    separator: str = _setting(
        "; ",
        _separator,
        "Joins several genres where a format holds one value",
        option="--separator S",
        default_help="'; '",
        write=True,
    )
    fields: tuple[str, ...] = _setting(
        ("genre",),
        Check(str, _fields),
        "The fields written, comma-separated: genre, bpm (the tempo, a whole number, in each "
        "format's standard field), voice (only under the config's voice_field)",
        option="--fields F",
        default_help="genre",
        write=True,
        shown=list,
    )
    voice_field: str = _setting(
        "",
        _tag_key,
        'The key `fields = [..., "voice"]` writes the voice (instrumental or vocal) under: '
        "an ID3 TXXX frame, a Vorbis comment, an iTunes free-form MP4 item, an ASF attribute "
        "of that name; there is no standard field, so none by default",
        default_help="none",
        write=True,
    )
    album: bool = _setting(
        False,
        _flag,
        "One genre per album, pooled from all of its tracks (album tag and album artist, else "
        "the folder), or each track's own; compilations and albums whose tracks disagree stay "
        "per track",
        option="--album/--per-track",
        default_help="per track",
        write=True,
    )
    precision: str = _setting(
        "auto",
        _choice("auto", "float32", "int8"),
        _PRECISION_HELP,
        option="--precision auto|float32|int8",
        commands=("scan", "show"),
        beets=True,
    )
    exclude: tuple[str, ...] = _setting(
        (), Check(list, _globs), "Folders and files the walk skips", shown=list
    )
    genre_map: GenreMap = _setting(  # noqa: RUF009 (a default_factory field)
        GenreMap,
        Check(dict, _genre_map),
        "How genres are spelled, and which may be written",
        key="genres",
        default_help="none",
        shown=GenreMap.to_dict,
    )
    path: Path | None = None  # the config file read, None when there was none
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")

    def override(self, **values: Any) -> Settings:
        """A copy with the command line's values (those not None) taking precedence.

        The values are the options' own, already checked by ``Setting.from_option``.
        """
        given = {k: v for k, v in values.items() if v is not None}
        for key in given:
            if key not in SETTINGS:
                raise TypeError(f"unknown setting {key}")
        return dataclasses.replace(
            self, **given, sources={**self.sources, **{k: "command line" for k in given}}
        )

    def options_for(self, cls: Callable[..., T], **values: Any) -> T:
        """The options object ``cls`` (a dataclass) with these settings in its fields.

        Each field named like a setting takes its value from here, unless
        ``values`` gives it, as it gives the fields that are not settings; so a
        new setting reaches ``ScanOptions`` or ``WriteOptions`` by its name.
        """
        names = (f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        ours = {n: getattr(self, n) for n in names if n in SETTINGS and n not in values}
        return cls(**ours, **values)

    def to_dict(self) -> dict[str, Any]:
        """Effective value and source of every setting, JSON-ready (``tagger config --json``)."""
        return {
            name: {"value": s.shown(getattr(self, name)), "source": self.source(name)}
            for name, s in SETTINGS.items()
        }


# The table: every setting, in the order `tagger config` lists them.
SETTINGS: dict[str, Setting] = {
    f.name: dataclasses.replace(s, name=f.name, key=s.key or f.name)
    for f in dataclasses.fields(Settings)
    if (s := f.metadata.get("setting")) is not None
}
_BY_KEY = {s.key: s for s in SETTINGS.values()}
# The commands that write tags: each takes every tag-writing rule as an option.
WRITE_COMMANDS = ("write", "scan")


def options_of(command: str) -> list[str]:
    """The settings that are options of ``command``, in the table's order."""
    return [
        name
        for name, s in SETTINGS.items()
        if s.option and (command in s.commands or (s.write and command in WRITE_COMMANDS))
    ]


# The file spells a table-valued setting (the genre map) as a [table].
_FILE_KEYS = tuple(f"[{s.key}]" if s.check.type is dict else s.key for s in SETTINGS.values())


def check_fields(obj: Any, prefix: str) -> None:
    """Check each field of the dataclass ``obj`` that is named like a setting, as it is checked.

    For the options objects a library caller builds itself (``WriteOptions``),
    so that a value the config file would refuse is refused there too.
    """
    for f in dataclasses.fields(obj):
        if f.name in SETTINGS:
            SETTINGS[f.name].parse(getattr(obj, f.name), prefix=prefix)


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
    for s in SETTINGS.values():
        if s.env and os.environ.get(s.env):
            values[s.name] = s.parse(os.environ[s.env], key=f"${s.env}")
            sources[s.name] = f"${s.env}"
    return Settings(**values, path=file if file.is_file() else None, sources=sources)


def _parse(data: dict[str, Any], file: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        s = _BY_KEY.get(key)
        if s is None:
            raise ConfigError(f"config {file}: {key}: unknown key (known: {', '.join(_FILE_KEYS)})")
        out[s.name] = s.parse(value, prefix=f"config {file}: ")
    return out
