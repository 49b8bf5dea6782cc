"""tagger.write's pure parts: the rules that decide each file's action, and its records' JSON."""

from __future__ import annotations

import json

import pytest

from tagger.results import Action, FileError
from tagger.write import Change, Restore, UndoSummary, WriteSummary, decide


@pytest.mark.parametrize(
    ("existing", "proposed", "overwrite", "abstained", "action"),
    [
        (["Rock"], [], True, False, Action.LOW_CONFIDENCE),  # rule 1 comes first
        ([], ["Rock"], False, True, Action.UNCERTAIN),
        (["Rock"], ["Rock"], False, False, Action.ALREADY_SET),
        (["Jazz"], ["Rock"], False, False, Action.KEEP_EXISTING),
        (["Jazz"], ["Rock"], True, False, Action.WRITE),
        ([], ["Rock", "Pop"], False, False, Action.WRITE),
    ],
)
def test_decide_applies_the_rules_in_order(existing, proposed, overwrite, abstained, action):
    assert decide(existing, proposed, overwrite, abstained) is action


def test_actions_are_the_words_scripts_match_on():
    assert json.loads(json.dumps([Action.KEEP_EXISTING, Action.CHANGED_SINCE])) == [
        "keep existing",
        "changed since",
    ]
    assert f"{Action.LOW_CONFIDENCE} x" == "low confidence x"


def _change(action: Action, **kw) -> Change:
    return Change("/m/a.mp3", [], ["Rock"], "Rock", 0.9, action, **kw)


def test_a_change_names_its_album_only_in_album_mode_and_its_extras_only_when_known():
    keys = ["path", "existing", "proposed", "model_genre", "confidence", "action"]
    assert list(_change(Action.WRITE).to_dict()) == keys
    assert list(_change(Action.WRITE, album_mode=True).to_dict()) == [*keys, "album"]
    full = _change(
        Action.WRITE,
        album_mode=True,
        album="A — B",
        album_genre="Rock",
        album_score=0.8,
        note="compressed ID3v2.2 tag will become ID3v2.3",
    )
    assert list(full.to_dict()) == [*keys, "album", "album_genre", "album_score", "note"]


def test_the_write_summary_counts_each_action_that_leaves_a_file_alone_and_each_failure():
    s = WriteSummary(dry_run=True)
    for action in (Action.KEEP_EXISTING, Action.KEEP_EXISTING, Action.UNCERTAIN, Action.WRITE):
        s.add(_change(action))
    failed = _change(Action.WRITE)
    s.add(failed)
    s.fail(failed.path, "refused: damaged")
    assert failed.action is Action.WRITE  # no change given: the record stays
    s.fail("/m/b.mp3", "refused: the ID3 tag's size disagrees with the file", failed)
    assert (s.kept_existing, s.uncertain, s.already_set, s.low_confidence) == (2, 1, 0, 0)
    assert s.errors == 2 and failed.action is Action.ERROR
    assert s.to_write == 1  # a dry run counts the files it would write
    d = s.to_dict()
    assert d["error_files"][1] == {
        "path": "/m/b.mp3",
        "error": "refused: the ID3 tag's size disagrees with the file",
    }
    assert [c["action"] for c in d["changes"]] == [
        "keep existing",
        "keep existing",
        "uncertain",
        "write",
        "error",
    ]


def test_an_undo_record_gives_its_reason_only_when_it_leaves_a_file_alone():
    s = UndoSummary()
    s.changes += [
        Restore("/m/a.mp3", ["Rock"], []),
        Restore("/m/b.mp3", ["Pop"], ["Jazz"], Action.CHANGED_SINCE, "changed"),
    ]
    s.error_files.append(FileError("/m/c.mp3", "no such file"))
    d = s.to_dict()
    assert list(d["changes"][0]) == ["path", "current", "restore", "action"]
    assert d["changes"][1]["reason"] == "changed" and d["changes"][1]["action"] == "changed since"
    assert list(d) == [
        "restored",
        "changed_since",
        "partly",
        "errors",
        "dry_run",
        "changes",
        "error_files",
        "interrupted",
    ]
