"""``tagger.errors``: the one-line reasons a user reads for an OS error."""

from __future__ import annotations

from tagger.errors import one_line


def test_one_line_reasons():
    assert one_line(ValueError("first\nsecond")) == "first"
    assert one_line(KeyError()) == "KeyError"
