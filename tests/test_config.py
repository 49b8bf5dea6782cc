"""The settings table and the config file: precedence, `tagger config`, one-line errors naming
the key (the same words from a config file, a tagger option, beets and a library caller), the
genre map."""

from __future__ import annotations

import json

import pytest
from beets_rig import BEET, Beets, add_tracks
from conftest import run_cli

from tagger.config import SETTINGS, ConfigError, load_config, tomllib
from tagger.write import WriteOptions


def write_config(home, text: str):
    path = home / "config.toml"
    path.write_text(text)
    return path


def test_no_file_means_built_in_defaults(isolated_home):
    s = load_config()
    assert s.path is None and s.top == 1 and s.overwrite is False and s.id3_version == "2.4"
    assert s.source("top") == "default"


def test_file_then_environment_then_command_line(isolated_home, monkeypatch, tmp_path):
    path = write_config(
        isolated_home,
        'db = "~/from-config.db"\ntop = 2\njobs = 3\n'
        'exclude = ["*/Podcasts/*"]\nid3_version = "2.3"\n',
    )
    s = load_config()
    assert s.path == path and s.top == 2 and s.jobs == 3 and s.id3_version == "2.3"
    assert s.exclude == ("*/Podcasts/*",) and s.source("top") == f"config file {path}"
    assert str(s.db).endswith("from-config.db") and "~" not in str(s.db)
    monkeypatch.setenv("TAGGER_DB", str(tmp_path / "env.db"))
    s = load_config()
    assert s.db == tmp_path / "env.db" and s.source("db") == "$TAGGER_DB"
    s = s.override(top=5, jobs=None)
    assert s.top == 5 and s.source("top") == "command line"
    assert s.jobs == 3 and s.source("jobs").startswith("config file")
    assert WriteOptions.from_settings(s).id3v23 and WriteOptions.from_settings(s, True).dry_run


@pytest.mark.parametrize(
    "text, key",
    [
        ("top = 0", "top"),
        ("jobs = 'two'", "jobs"),
        ("min_confidence = 1.5", "min_confidence"),
        ("overwrite = 'yes'", "overwrite"),
        ('id3_version = "2.2"', "id3_version"),
        ('precision = "float16"', "precision"),
        ("exclude = 'x'", "exclude"),
        ("colour = 1", "colour"),
        ("[genres]\nwhitelist = 'Rock'", "genres.whitelist"),
        ("[genres]\nmap = {rock = 1}", "genres.map"),
        ("[genres]\nalias = 1", "genres.alias"),
    ],
)
def test_bad_value_names_the_key(isolated_home, text, key):
    write_config(isolated_home, text + "\n")
    with pytest.raises(ConfigError, match=rf": {key}: "):
        load_config()


def test_tagger_config_shows_sources_and_refuses_a_bad_file(isolated_home):
    path = write_config(
        isolated_home,
        'model = "musicnn"\nmin_confidence = 0.3\n[genres]\nmap = { hiphop = "Hip Hop" }\n',
    )
    text = run_cli("config").stdout
    assert f"config file: {path}" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("min_confidence"))
    assert "0.3" in line and f"(config file {path})" in line
    assert "(default)" in next(x for x in text.splitlines() if x.strip().startswith("top "))
    js = json.loads(run_cli("config", "--json").stdout)
    assert js["settings"]["genre_map"]["value"]["map"] == {"hiphop": "Hip Hop"}
    assert js["settings"]["db"]["value"] == str(isolated_home / "library.db")

    write_config(isolated_home, "top = -1\n")
    for cmd in (["config"], ["ls"], ["write", "--dry-run"]):
        proc = run_cli(*cmd, check=False)
        assert proc.returncode == 1, cmd
        assert proc.stderr.strip() == (
            f"tagger: error: config {path}: top: must be a whole number >= 1, not -1"
        )


# A bad value of each setting every front end takes, as TOML/YAML spell it, and the table's words.
BAD = [
    ("jobs", "0", "must be a whole number >= 1, not 0"),
    ("min_confidence", "1.5", "must be a number from 0 to 1, not 1.5"),
    ("top", "0", "must be a whole number >= 1, not 0"),
    ("precision", '"fast"', "must be one of auto, float32, int8, not 'fast'"),
    (  # neither a kind nor a file: said where it was given, not when a scan resolves it
        "model",
        '"nosuchmodel"',
        "no such model: nosuchmodel (use musicnn, resnet, mlp, library, head or a model file)",
    ),
]


@pytest.mark.parametrize("key, value, why", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_the_same_line_from_the_file_an_option_and_a_library_caller(
    isolated_home, tmp_path, key, value, why
):
    path = write_config(isolated_home, f"{key} = {value}\n")
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert str(raised.value) == f"config {path}: {key}: {why}"
    proc = run_cli("config", check=False)
    assert (proc.returncode, proc.stderr) == (1, f"tagger: error: config {path}: {key}: {why}\n")

    path.unlink()
    flag = SETTINGS[key].flags[0]  # `scan` takes all four: its own and the tag-writing ones
    proc = run_cli("scan", flag, value.strip('"'), tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr  # bad usage, before anything is read or scanned
    assert proc.stderr.splitlines()[0] == f"tagger scan: error: {flag}: {why}"

    parsed = tomllib.loads(f"v = {value}")["v"]
    if key in {f for f in WriteOptions.__dataclass_fields__}:
        with pytest.raises(ConfigError, match=f"^WriteOptions.{key}: {why}$"):
            WriteOptions(**{key: parsed})


def test_every_setting_has_a_check_a_default_that_passes_it_and_help():
    for name, s in SETTINGS.items():
        assert s.name == name and s.help
        if s.default is not None:
            assert s.parse(s.default) == s.default, name
        if s.flags:
            assert f"config `{s.key}`" in s.option_help


@pytest.fixture(scope="module")
def beets_one_track(tmp_path_factory):
    """A real beets library of one item, and tagger's config file absent."""
    if BEET is None:
        pytest.skip("beets is not installed (pip install '.[beets]')")
    b = Beets(tmp_path_factory.mktemp("beets"))
    b.env["TAGGER_CONFIG"] = str(b.root / "no-config.toml")
    add_tracks(b, "incoming", ["one"])
    return b


@pytest.mark.slow
def test_each_command_has_exactly_the_setting_options_the_table_gives_it():
    """A setting's row names its commands; no command declares a setting's option itself."""
    import typer.main

    from tagger.cli import OPTION_HELP, app
    from tagger.config import options_of

    group = typer.main.get_command(app)
    flags = {f: name for name, s in SETTINGS.items() for flag in s.flags for f in flag.split("/")}

    def the_tables(param, name: str) -> bool:  # not another option under the same flag
        return param.help == OPTION_HELP.get(name, SETTINGS[name].option_help)

    for command, click_command in group.commands.items():
        declared = {
            flags[opt]
            for param in click_command.params
            for opt in (*param.opts, *param.secondary_opts)
            if opt in flags and the_tables(param, flags[opt])
        }
        assert declared == set(options_of(command)), command
    assert "db" in options_of("report") and "min_confidence" in options_of("scan")


@pytest.mark.parametrize("key, value, why", BAD, ids=[b[0] for b in BAD])
def test_beets_says_the_same_words_for_the_same_bad_value(beets_one_track, key, value, why):
    b = beets_one_track
    extra = b.config(f"bad-{key}.yaml", f"audiogenre: {{{key}: {value}}}\n")
    proc = b("-c", extra, "audiogenre", check=False)
    assert (proc.returncode, proc.stderr) == (1, f"error: audiogenre.{key}: {why}\n")
    assert not b.tagger_db.exists()  # said before any work: no database, no scan
