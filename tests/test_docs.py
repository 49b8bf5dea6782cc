"""The README and docs/ stay true: its commands table against the real CLI, its size, its test
command against CI's, and no development history (issue numbers, commit hashes) anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import tagger_cmd

ROOT = Path(__file__).resolve().parent.parent


README = ROOT / "README.md"
pytestmark = pytest.mark.skipif(not README.exists(), reason="not a checkout")


DOCS = sorted((ROOT / "docs").glob("*.md"))


BEET = shutil.which("beet")


OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


# ``--by genre|folder`` : an option followed by its choices (placeholders such as FILE are capitals)
CHOICES = re.compile(r"(--[\w-]+) ([a-z0-9_]+(?:\|[A-Za-z0-9_]+)+)")


def commands_table() -> list[tuple[list[str], str]]:
    """(command words, the rest of the first cell) of each row of the README's commands table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cell = re.match(r"\| `([^`]+)` \|", line)
        if cell:
            words = cell.group(1).replace("\\|", "|").split()
            n = 2 if words[0] in ("tagger", "beet") else 1
            rows.append((words[:n], " ".join(words[n:])))
    return rows


def help_text(command: list[str], tmp_path: Path) -> str:
    """What ``<command> --help`` prints, run as a user runs it."""
    env = {**os.environ, "COLUMNS": "200"}
    if command[0] == "tagger":
        argv = [*tagger_cmd(), *command[1:], "--help"]
    else:  # beet: a throwaway beets configuration that loads the plugin
        beetsdir = tmp_path / "beetsdir"
        beetsdir.mkdir()
        (beetsdir / "config.yaml").write_text(
            f"directory: {tmp_path / 'music'}\nlibrary: {tmp_path / 'beets.db'}\n"
            "plugins: [audiogenre]\n"
        )
        env["BEETSDIR"] = str(beetsdir)
        argv = [BEET or "beet", *command[1:], "--help"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"{' '.join(command)} --help: {proc.stdout}{proc.stderr}"
    return proc.stdout


ISSUE = re.compile(r"(?<![\w&/])#\d+\b|\bissues?\s+#?\d+\b", re.I)


# 7 to 40 hex digits with at least one digit and one letter: a commit, not a number or a word
HASH = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def test_the_commands_table_has_every_command():
    commands = {" ".join(words) for words, _ in commands_table()}
    expected = {
        "tagger scan", "tagger ls", "tagger show", "tagger write", "tagger undo",
        "tagger report", "tagger similar", "tagger models", "tagger config",
        "tagger retrain", "tagger evaluate", "beet audiogenre",
    }  # fmt: skip
    assert commands == expected


@pytest.mark.parametrize(
    "row", commands_table(), ids=lambda row: " ".join(row[0]) + " " + row[1][:30]
)
def test_each_option_in_the_commands_table_exists(row, tmp_path):
    command, usage = row
    if command[0] == "beet" and BEET is None:
        pytest.skip("beets is not installed (pip install '.[beets]')")
    helped = help_text(command, tmp_path)
    for option in OPTION.findall(usage):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", helped), (
            f"{' '.join(command)} has no option {option}"
        )
    for option, choices in CHOICES.findall(usage):
        for choice in choices.split("|"):
            if choice.islower():
                assert re.search(rf"\b{choice}\b", helped), (
                    f"{' '.join(command)} {option}: {choice} is not in its --help"
                )


def test_the_readme_is_a_short_front_door():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; details belong in docs/"


def test_the_readme_test_command_is_what_ci_runs():
    readme = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    # CI installs quietly (-q); the command is otherwise the README's, character for character
    assert ci.replace("pip install -q ", "pip install ") in blocks


def test_the_readme_links_every_docs_page():
    readme = README.read_text(encoding="utf-8")
    assert DOCS
    for page in DOCS:
        assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_docs_describe_the_product_not_its_history(page):
    text = page.read_text(encoding="utf-8")
    assert not ISSUE.findall(text), f"{page.name} names issues: {ISSUE.findall(text)}"
    assert not HASH.findall(text), f"{page.name} names commits: {HASH.findall(text)}"


@pytest.mark.parametrize(
    "text, issue, commit",
    [
        ("fixed in issue 12", True, False),
        ("see #16", True, False),
        ("before commit cba1969", False, True),
        ("[Speed](#speed), R&B, `#!/bin/sh`, 1234567 tracks, a defaced tag", False, False),
        ("sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", False, False),
    ],
)
def test_the_history_patterns_catch_what_they_should(text, issue, commit):
    assert bool(ISSUE.search(text)) is issue
    assert bool(HASH.search(text)) is commit
