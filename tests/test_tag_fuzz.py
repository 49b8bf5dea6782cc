"""Fuzzing the genre write: real files of every written format, their structure corrupted.

Each case takes one of ``tagfiles``' files, applies one to three mutations of
its container structure (``tagfuzz``) and checks every promise of a write:
refused with the file byte-identical, or only the genre changed with the audio
payload identical; undo byte-identical; nothing raises; no temporary file
left; no case past its call budget.  The long run: ``python benchmarks/tag_fuzz.py``.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tagfiles import make_files
from tagfuzz import OPERATIONS, VOICE, check, mutate

CASES = 2000
_files: dict[str, bytes] = {}
outcomes: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    made = make_files(tmp_path_factory.mktemp("fuzz-src"))
    _files.update({name: path.read_bytes() for name, path in made.items()})
    return _files


picks = st.lists(
    st.tuples(
        st.sampled_from(OPERATIONS),
        st.integers(0, 1 << 20),
        st.integers(0, (1 << 32) - 1),
    ),
    min_size=1,
    max_size=3,
)


# The same cases on every run and machine, however long each takes.
REPEATABLE = dict(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def test_fuzzed_writes_are_refused_or_change_only_the_genre(originals, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    names = sorted(originals)

    @settings(max_examples=CASES, **REPEATABLE)
    @given(name=st.sampled_from(names), changes=picks)
    def case(name: str, changes: list) -> None:
        data = mutate(originals[name], changes)
        outcomes[name, check(data, work / f"case-{name}{Path(name).suffix or '.bin'}")] += 1

    case()
    total = sum(outcomes.values())
    print(f"{total} fuzzed writes: {dict(sorted(outcomes.items()))}")
    assert total >= CASES * 0.9
    for name in names:  # every format was both written and refused
        assert outcomes[name, "written"] and outcomes[name, "refused"], (name, outcomes)


BPM_CASES = 300


@pytest.mark.parametrize("field", ["bpm", VOICE])
def test_fuzzed_writes_of_other_fields_are_refused_or_change_only_that_field(
    originals, tmp_path_factory, field
):
    """The other written fields' editors (the BPM; the voice under a user's key: ID3 TXXX,
    MP4 free-form), fuzzed as the genre's are (fewer cases: the structure code they share is
    fuzzed above)."""
    work = tmp_path_factory.mktemp("fuzz-field")
    names = sorted(originals)
    seen: collections.Counter = collections.Counter()

    @settings(max_examples=BPM_CASES, **REPEATABLE)
    @given(name=st.sampled_from(names), changes=picks)
    def case(name: str, changes: list) -> None:
        data = mutate(originals[name], changes)
        path = work / f"case-{name}{Path(name).suffix or '.bin'}"
        seen[name, check(data, path, field=field)] += 1

    case()
    assert sum(seen.values()) >= BPM_CASES * 0.9
    assert sum(n for (_, outcome), n in seen.items() if outcome == "written") >= BPM_CASES / 10
    for name, data in originals.items():  # every intact file is written and undone
        path = work / f"intact-{name}{Path(name).suffix or '.bin'}"
        assert check(data, path, field=field) == "written", name


@pytest.mark.parametrize(
    "changes",
    [
        [("add", 978282, 1434965187)],
        [
            ("truncate", 339368, 2357815997),
            ("add", 107518, 1256461564),
            ("unprintable", 355152, 1491106342),
        ],
    ],
)
def test_a_flac_comment_block_turned_into_a_picture_is_refused(originals, tmp_path, changes):
    """Two cases the long run found: the comment block's type byte becomes a picture's (6),
    whose contents then run past the end of the file; the write must not touch the file."""
    data = mutate(originals["flac"], changes)
    assert data[42] & 0x7F == 6  # the corruption still hits the comment block's type
    assert check(data, tmp_path / "case.flac") == "refused"


def test_a_genre_whose_text_is_not_utf8_is_replaced_and_the_audio_compares_equal(
    originals, tmp_path
):
    """A case the long run found: one byte of the genre frame's text made it invalid UTF-8,
    so FFmpeg refused the file's metadata (and the oracle took the audio for undecodable);
    the write replaces that genre and the audio compares equal before and after."""
    original = originals["mp3-v24"]
    data = mutate(original, [("byte", 770121, 71355097)])
    text = original.find(b"TCON") + 11  # the frame's text, after its header and encoding
    assert data[text] != original[text] and data[:text] + data[text + 1 :] == (
        original[:text] + original[text + 1 :]
    )
    assert check(data, tmp_path / "case.mp3") == "written"
