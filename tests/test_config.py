"""The config file: precedence, `tagger config`, one-line errors naming the key, the genre map."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from tagger.config import ConfigError, load_config


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
    assert s.write_options().id3v23 and s.write_options(dry_run=True).dry_run


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
