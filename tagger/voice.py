"""Instrumental or vocal, from the voice tags musicnn's two nets output; None when unsure.

Both nets were trained on tags people gave, and both vocabularies hold a voice
pair whose sides exclude each other on a clip: MagnaTagATune's listeners tagged
``vocal``/``vocals``/``singing``/``voice``/``male``/``female``… or ``no vocal``/
``no vocals``/``no voice``; Last.fm's users tagged ``female vocalists``/``male
vocalists`` or ``instrumental`` (the Million Song Dataset's top 50).  Each net's
tag outputs are independent sigmoids whose levels follow each tag's base rate,
so neither is read alone: per net, the evidence on each side is its strongest
tag, and the net's vote is the vocal side's share of the two, which is the
probability of "vocal" given that the clip was tagged on one side or the other
(the two tags' outputs as independent probabilities).  The two nets' votes
are averaged (the genre rule does the same where both nets know a genre), and
the track is called ``vocal`` when the mean is at least ``DECISIVE`` (vocal at
least twice as likely as not), ``instrumental`` when it is at most
1 − ``DECISIVE``, and nothing in between.
"""

from __future__ import annotations

from collections.abc import Mapping

VOCAL, INSTRUMENTAL = "vocal", "instrumental"
VOICES = (INSTRUMENTAL, VOCAL)
DECISIVE = 2.0 / 3.0  # odds of 2:1 either way decide; nearer even, no answer

# (vocal side, instrumental side) of each net, as ``tag_dict`` names its outputs.
SIDES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mtt": (
        (
            "vocal",
            "vocals",
            "singing",
            "voice",
            "male vocal",
            "female vocal",
            "male voice",
            "female voice",
            "male",
            "female",
            "man",
            "woman",
            "choir",
            "choral",
            "opera",
        ),
        ("no vocal", "no vocals", "no voice"),
    ),
    "msd": (("female vocalists", "male vocalists", "female vocalist"), ("instrumental",)),
}


def vocal_share(tags: Mapping[str, float]) -> float | None:
    """The mean over the nets of the vocal side's share of each net's voice evidence.

    None when the tags hold neither net's voice tags (a model without them).
    """
    votes = []
    for net, (vocal, instrumental) in SIDES.items():
        v = [tags[f"{net}:{t}"] for t in vocal if f"{net}:{t}" in tags]
        n = [tags[f"{net}:{t}"] for t in instrumental if f"{net}:{t}" in tags]
        if v and n and max(v) + max(n) > 0:
            votes.append(max(v) / (max(v) + max(n)))
    return sum(votes) / len(votes) if votes else None


def voice(tags: Mapping[str, float] | None) -> str | None:
    """``vocal``, ``instrumental``, or None when the nets are unsure or have no voice tags."""
    share = vocal_share(tags or {})
    if share is None:
        return None
    if share >= DECISIVE:
        return VOCAL
    if share <= 1.0 - DECISIVE:
        return INSTRUMENTAL
    return None


def voice_description() -> dict:
    """The rule as data, for the model card (beside the genre rule)."""
    return {
        "tags": {net: {"vocal": list(v), "instrumental": list(n)} for net, (v, n) in SIDES.items()},
        "rule": "per net, each side's evidence is its strongest tag and the net's vote is the "
        "vocal side's share of the two; the votes of the two nets are averaged; vocal when the "
        f"mean is at least {DECISIVE:.4g}, instrumental at most {1 - DECISIVE:.4g}, else none",
        "why": "each net's voice tags exclude each other on a clip as people tagged it "
        "(MagnaTagATune's listeners, Last.fm's users), while each sigmoid's level follows its "
        "tag's base rate, so the shares are compared, not the outputs; 2:1 odds either way decide",
    }
