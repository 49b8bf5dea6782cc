"""Walking a library folder: hidden folders, .taggerignore, symlink loops, formats."""

from __future__ import annotations

import multiprocessing as mp
import os
import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from tagger.walk import walk


def test_exclude_paths_and_globs_in_the_walk(tmp_path):
    from tagger.walk import Exclude, walk

    for rel in ("a/1.mp3", "Podcasts/ep1.mp3", "b/Podcasts/ep2.mp3", "b/book.m4b", "c/2.flac"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    exclude = Exclude([str(tmp_path / "c"), "*/Podcasts", "*.m4b"])
    found = sorted(p.relative_to(tmp_path).as_posix() for p in walk([tmp_path], exclude).files)
    assert found == ["a/1.mp3"]
    assert exclude.covers(str(tmp_path / "b/Podcasts/deeper/x.mp3"))
    assert not exclude.covers(str(tmp_path / "a/1.mp3"))
    assert walk([tmp_path / "c" / "2.flac"], exclude).files == []  # even when named directly
    # A bare name is that folder (or file) anywhere, wherever tagger was started.
    bare = Exclude(["Podcasts", "book.m4b"])
    found = sorted(p.relative_to(tmp_path).as_posix() for p in walk([tmp_path], bare).files)
    assert found == ["a/1.mp3", "c/2.flac"]


def test_walk_rules(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / ".taggerignore").write_text("")
    for p in ["a/x.mp3", "a/b/y.FLAC", ".hidden/z.mp3", "skip/w.mp3", "a/notes.txt", "a/c.M4A"]:
        (tmp_path / p).write_bytes(b"x")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")  # a loop back up the tree
    found = sorted(os.path.relpath(p, tmp_path) for p in walk([tmp_path]).files)
    assert found == ["a/b/y.FLAC", "a/c.M4A", "a/x.mp3"]


@pytest.mark.parametrize("link", ["A_link", "Z_link"])
def test_a_folder_reached_through_a_symlink_keeps_its_own_paths(tmp_path, link):
    """A folder that a symlink in the library also points at is walked by its own path,
    whether the link's name sorts before it or after: adding the link must not move the
    folder's files to other paths (their stored rows would be called missing)."""
    (tmp_path / "B_real" / "sub").mkdir(parents=True)
    for p in ["B_real/a.mp3", "B_real/sub/b.flac"]:
        (tmp_path / p).write_bytes(b"x")
    os.symlink("B_real", tmp_path / link)
    (tmp_path / "C").mkdir()
    os.symlink("../B_real/sub", tmp_path / "C" / "deep_link")  # met before B_real/sub itself
    found = [os.path.relpath(p, tmp_path) for p in walk([tmp_path]).files]
    assert found == ["B_real/a.mp3", "B_real/sub/b.flac"]
    outside = tmp_path / "elsewhere"  # a link to a folder the walk meets nowhere else: followed
    outside.mkdir()
    (outside / "c.ogg").write_bytes(b"x")
    os.symlink(outside, tmp_path / "C" / "more")
    found = [
        os.path.relpath(p, tmp_path) for p in walk([tmp_path / "B_real", tmp_path / "C"]).files
    ]
    assert found == ["B_real/a.mp3", "B_real/sub/b.flac", "C/more/c.ogg"]


def test_explicit_files_and_duplicates(tmp_path):
    f = tmp_path / "one.wav"
    f.write_bytes(b"x")
    assert walk([f, tmp_path, f]).files == [f]


@pytest.mark.slow
def test_unreadable_folder_is_reported_not_fatal():
    """Walk as an unprivileged user (root reads every folder), in a forked child."""

    from tagger.walk import walk

    tmp_path = Path(tempfile.mkdtemp(prefix="tagger-walk-", dir="/tmp"))

    (tmp_path / "open").mkdir()
    (tmp_path / "open" / "a.mp3").write_bytes(b"x")
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed" / "b.mp3").write_bytes(b"x")
    (tmp_path / "closed").chmod(0)
    os.chmod(tmp_path, 0o755)

    def child(conn):
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        res = walk([tmp_path])
        conn.send(([str(f) for f in res.files], res.problems))

    ctx = mp.get_context("fork")
    parent, child_end = ctx.Pipe()
    proc = ctx.Process(target=child, args=(child_end,))
    proc.start()
    assert parent.poll(30)
    files, problems = parent.recv()
    proc.join()
    (tmp_path / "closed").chmod(0o755)
    shutil.rmtree(tmp_path)
    assert files == [str(tmp_path / "open" / "a.mp3")]
    assert problems == [
        (str(tmp_path / "closed"), "permission denied (the folder cannot be listed)")
    ]
