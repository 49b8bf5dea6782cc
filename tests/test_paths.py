"""``tagger.paths``: which stored paths lie under a root the user names."""

from __future__ import annotations

from tagger.paths import is_under


def test_a_path_is_under_a_root_it_equals_or_a_folder_above_it():
    roots = {"/music/a.flac", "/music/Album", "/"}
    assert is_under("/music/a.flac", roots) and is_under("/music/Album/b.mp3", roots)
    assert is_under("/elsewhere/c.mp3", {"/"})
    assert not is_under("/music/Album2/b.mp3", roots - {"/"})  # a sibling with the same prefix
    assert not is_under("/music/a.flac.bak", roots - {"/"})
    assert not is_under("/music/a.flac", set())
