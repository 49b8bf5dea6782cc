"""Album genres: one answer per album, pooled from the per-track results a scan stored.

A single track is a weak witness of its album's genre: musicnn hears most of
an orchestral score as classical and some of it as ambient, and an electronic
score as electronic or techno by turns.  The mean of the album's per-track
probabilities hears the album.  Everything here is pure: tracks in, decisions
out; ``tagger write --album``, ``tagger report --by album``, ``retrain
--from-library`` and the beets plugin all call these functions.

**Albums.**  Tracks are one album when they share the album tag and the album
artist (compared without case or extra spaces), in whatever folders they lie
(a two-disc set in ``CD1``/``CD2`` is one album).  A track without an album
artist takes the one its album's other tracks in the same folder carry, when
they carry exactly one; otherwise its album is its album tag within its
folder, so two untagged-artist ``Greatest Hits`` in two folders stay two.  A
track without an album tag belongs to its folder.

**Votes.**  A track votes when the model heard it: it has probabilities, it is
not silent, too short or in error, and the model did not abstain on it (a
multi-label model's uncertain tracks vote: see ``album_genre``).  Only
tracks analysed by the album's most common model vote (probabilities of two
models' vocabularies cannot be averaged).

**Pooling.**  The album's score for each genre is the mean of its voters'
scores.  A softmax head's probabilities are one distribution per track; their
mean is a distribution again (a genre missing from a track counts 0, and the
mean is renormalised to sum to one).  A multi-label model (musicnn) scores each
genre independently; each genre's mean is over the tracks that scored it, and
is never normalised, so that ``--min-confidence`` means for an album what it
means for a track.

**The rule: one genre per album, or per track.**  An album is written track by
track, and the reason said, when

* it is a compilation: a track carries the compilation flag, or the album
  artist is "Various Artists" or a translation of it;
* fewer than two of its tracks vote (one track speaks for itself);
* its tracks disagree.  A track *agrees* with the album's genre when it hears
  that genre at least 2/3 as strongly as its own top genre, so an electronic
  album whose tracks say electronic and techno by turns agrees.  The album's
  genre needs more than half of the voters to agree, and must be the top genre
  of at least a third of them: the second condition catches a mix of two
  styles whose mean lands on a genre each half hears a little (ambient,
  between a symphony and techno).

The numbers are ``RULE``'s; they were chosen on albums drawn from real
soundtracks, coherent and mixed, by ``benchmarks/albums.py``, which measures
this rule beside simpler ones (figures in docs/albums.md).
"""

from __future__ import annotations

import enum
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import TrackRow


@dataclass(frozen=True)
class Rule:
    """When an album's tracks agree enough for one genre (see the module notes)."""

    near: float = 2 / 3  # a track agrees when it hears the album genre this strongly vs its top
    min_agreement: float = 0.5  # more than this share of the voters must agree
    min_top_share: float = 1 / 3  # the album genre is the top genre of this share of voters
    min_voters: int = 2


RULE = Rule()

# Album artists that mean "a compilation", compared after ``_fold``.  Single words
# that are also artists' names ("Diverse", "Divers") are left out.
VARIOUS_ARTISTS = frozenset(
    {
        "various artists",
        "various artist",
        "various",
        "va",
        "v.a.",
        "v/a",
        "varios artistas",
        "vários artistas",
        "artistes divers",
        "artistes variés",
        "verschiedene interpreten",
        "verschiedene künstler",
        "artisti vari",
        "diverse artiesten",
        "różni wykonawcy",
        "různí interpreti",
        "разные исполнители",
        "群星",
        "オムニバス",
    }
)
# Statuses whose tracks were not heard (see tagger.listing's statuses).
NOT_HEARD = frozenset({"silent", "too_short", "error"})


def _fold(text: str | None) -> str:
    """A tag value as albums are compared: without case, outer spaces and doubled spaces."""
    return re.sub(r"\s+", " ", (text or "").strip()).casefold()


def top_genre(probabilities: Mapping[str, float] | None) -> str | None:
    """The genre of the highest score (None for no scores)."""
    if not probabilities:
        return None
    return max(probabilities, key=probabilities.__getitem__)


@dataclass(frozen=True)
class AlbumTrack:
    """What pooling needs of one stored track."""

    path: str
    album: str | None = None
    album_artist: str | None = None
    compilation: bool = False
    # The model's scores, None when nothing was heard (silent, too short, an error).
    probabilities: Mapping[str, float] | None = None
    model: str | None = None
    status: str | None = None  # ok, truncated, too_short, silent, error (None: unchecked)
    abstained: bool = False  # the model's confidence was under its card's threshold

    @property
    def heard(self) -> bool:
        return bool(self.probabilities) and self.status not in NOT_HEARD

    @property
    def genre(self) -> str | None:
        """The track's own top genre."""
        return top_genre(self.probabilities)

    @classmethod
    def from_row(cls, row: TrackRow) -> AlbumTrack:
        """A stored ``tracks`` row (``tagger.store``) as pooling sees it."""
        return cls(
            path=row.path,
            album=row.album,
            album_artist=row.album_artist,
            compilation=bool(row.compilation),
            probabilities=row.probabilities if row.error is None else None,
            model=row.model,
            status=row.status,
            abstained=bool(row.uncertain),
        )

    def agrees(self, genre: str, near: float = RULE.near) -> bool:
        """Whether this track hears ``genre`` at least ``near`` as strongly as its top genre."""
        if not self.probabilities:
            return False
        top = max(self.probabilities.values())
        return self.probabilities.get(genre, 0.0) >= near * top - 1e-12


@dataclass(frozen=True)
class AlbumKey:
    """Which album a track belongs to: album and album artist, or a folder standing in."""

    album: str | None  # as the first track spells it; None: grouped by folder alone
    album_artist: str | None
    folder: str | None  # set when the tags do not identify the album on their own

    @property
    def label(self) -> str:
        """How the album is named to a user: ``Album — Artist``, ``Album (folder)``, a folder."""
        if self.album is None:
            return f"{self.folder}/ (no album tag)"
        if self.album_artist:
            return f"{self.album} — {self.album_artist}"
        return f"{self.album} ({self.folder}/)"

    def sort_key(self) -> tuple[str, str, str]:
        return (_fold(self.album), _fold(self.album_artist), self.folder or "")


class Mode(str, enum.Enum):
    """How an album's tracks get their genre."""

    ALBUM = "album"  # one genre, the pooled one, for every heard track
    COMPILATION = "compilation"  # per track: a compilation
    MIXED = "mixed"  # per track: its tracks disagree
    TOO_FEW = "too few votes"  # per track: fewer than the rule's min_voters tracks voted


@dataclass(frozen=True)
class AlbumGenre:
    """One album, its pooled scores, and whether they are written to all of its tracks."""

    key: AlbumKey
    tracks: tuple[AlbumTrack, ...]
    voters: tuple[AlbumTrack, ...]
    multi_label: bool
    probabilities: dict[str, float] = field(default_factory=dict)  # pooled; empty: no voter
    mode: Mode = Mode.TOO_FEW
    not_voting: str = ""  # why tracks did not vote: "2 abstained, 1 silent"
    rule: Rule = RULE

    @property
    def genre(self) -> str | None:
        """The pooled top genre (None when no track voted)."""
        return top_genre(self.probabilities)

    @property
    def score(self) -> float:
        return self.probabilities[self.genre] if self.genre else 0.0

    @property
    def agreeing(self) -> tuple[AlbumTrack, ...]:
        g = self.genre
        return tuple(t for t in self.voters if g is not None and t.agrees(g, self.rule.near))

    @property
    def disagreeing(self) -> tuple[AlbumTrack, ...]:
        """Voters that do not hear the album's genre (see the module notes)."""
        g = self.genre
        return tuple(t for t in self.voters if g is None or not t.agrees(g, self.rule.near))

    @property
    def agreement(self) -> float | None:
        """Share of the voters that agree with the album's genre (None: nobody voted)."""
        return len(self.agreeing) / len(self.voters) if self.voters else None

    @property
    def top_share(self) -> float | None:
        """Share of the voters whose own top genre is the album's."""
        if not self.voters:
            return None
        return sum(t.genre == self.genre for t in self.voters) / len(self.voters)

    @property
    def per_track(self) -> bool:
        return self.mode is not Mode.ALBUM

    def to_dict(self, spell: Callable[[str], str] = str) -> dict[str, Any]:
        """The album as ``--json`` shows it; ``spell`` writes genres as the user spells them."""
        return {
            "album": self.key.album,
            "album_artist": self.key.album_artist,
            "folder": self.key.folder,
            "label": self.key.label,
            "mode": self.mode.value,
            "reason": self.why(spell) or None,
            "tracks": len(self.tracks),
            "voters": len(self.voters),
            "genre": spell(self.genre) if self.genre else None,
            "score": round(self.score, 4),
            "agreeing": len(self.agreeing),
            "agreement": round(self.agreement, 4) if self.agreement is not None else None,
            "disagreeing": [
                {"path": t.path, "genre": spell(t.genre) if t.genre else None}
                for t in self.disagreeing
            ],
        }

    def why(self, spell: Callable[[str], str] = str) -> str:
        """Why the album is written track by track ("" for one genre per album).

        ``spell`` writes a genre as the user spells it (``GenreMap.spell``).
        """
        if self.mode is Mode.COMPILATION:
            return compilation_reason(self.tracks) or "a compilation"
        n = len(self.voters)
        if self.mode is Mode.TOO_FEW:
            note = f" ({self.not_voting})" if self.not_voting else ""
            tracks = f"{len(self.tracks)} track{'s' * (len(self.tracks) != 1)}"
            return f"{n} of {tracks} voted{note}; an album genre needs {self.rule.min_voters}"
        if self.mode is Mode.MIXED:
            genre = spell(self.genre) if self.genre else "?"
            tops = sum(t.genre == self.genre for t in self.voters)
            return (
                f"its tracks disagree: {len(self.agreeing)} of {n} voting tracks hear {genre} "
                f"(more than {self.rule.min_agreement:.0%} must) and it is the top genre of "
                f"{tops} (at least {self.rule.min_top_share:.0%} must)"
            )
        return ""


def model_is_multi_label(model: str | None) -> bool:
    """Whether a stored model name's scores are independent per genre (its kind says).

    A name no kind has (a hand-made card) counts as a softmax model.
    """
    from .models import KINDS

    kind = KINDS.get(model or "")
    return kind is not None and kind.multilabel


def album_keys(tracks: Sequence[AlbumTrack]) -> list[AlbumKey]:
    """Each track's album (see the module notes), in the order of ``tracks``."""
    # album artists carried by each (folder, album) pair, for the tracks that lack one
    artists: dict[tuple[str, str], set[str]] = {}
    spelt: dict[str, str] = {}  # folded value -> the first spelling met
    for t in tracks:
        for v in (t.album, t.album_artist):
            if _fold(v):
                spelt.setdefault(_fold(v), v.strip() if v else "")
        if _fold(t.album) and _fold(t.album_artist):
            where = (os.path.dirname(t.path), _fold(t.album))
            artists.setdefault(where, set()).add(_fold(t.album_artist))
    keys = []
    for t in tracks:
        folder = os.path.dirname(t.path)
        album = _fold(t.album)
        if not album:
            keys.append(AlbumKey(None, None, folder))
            continue
        artist = _fold(t.album_artist)
        if not artist:
            known = artists.get((folder, album), set())
            artist = next(iter(known)) if len(known) == 1 else ""
        if artist:
            keys.append(AlbumKey(spelt[album], spelt[artist], None))
        else:
            keys.append(AlbumKey(spelt[album], None, folder))
    return keys


def group(tracks: Iterable[AlbumTrack]) -> dict[AlbumKey, list[AlbumTrack]]:
    """Tracks by album, albums in a stable order (album, artist, folder), tracks by path."""
    tracks = sorted(tracks, key=lambda t: t.path)
    out: dict[AlbumKey, list[AlbumTrack]] = {}
    for key, t in zip(album_keys(tracks), tracks):
        out.setdefault(key, []).append(t)
    return dict(sorted(out.items(), key=lambda kv: kv[0].sort_key()))


def pool(probabilities: Sequence[Mapping[str, float]], multi_label: bool) -> dict[str, float]:
    """The mean of per-track scores (see the module notes for the two kinds of model)."""
    if not probabilities:
        return {}
    genres = sorted(set().union(*probabilities))
    if multi_label:
        out = {}
        for g in genres:
            scores = [p[g] for p in probabilities if g in p]
            out[g] = sum(scores) / len(scores)
        return out
    mean = {g: sum(p.get(g, 0.0) for p in probabilities) / len(probabilities) for g in genres}
    total = sum(mean.values())
    return {g: v / total for g, v in mean.items()} if total > 0 else mean


def compilation_reason(tracks: Sequence[AlbumTrack]) -> str | None:
    """Why these tracks are a compilation, or None."""
    flagged = sum(t.compilation for t in tracks)
    if flagged:
        return f"a compilation ({flagged} of {len(tracks)} tracks carry the compilation flag)"
    for t in tracks:
        if _fold(t.album_artist) in VARIOUS_ARTISTS:
            return f"a compilation (album artist {t.album_artist.strip()!r})"  # type: ignore[union-attr]
    return None


def _silence_note(tracks: Sequence[AlbumTrack], abstains: Callable[[AlbumTrack], bool]) -> str:
    """``2 abstained, 1 silent``: why tracks of an album did not vote."""
    why: Counter[str] = Counter()
    for t in tracks:
        if not t.heard:
            why[(t.status or "not analysed").replace("_", " ")] += 1
        elif abstains(t):
            why["abstained"] += 1
    return ", ".join(f"{n} {w}" for w, n in sorted(why.items()))


def album_genre(
    key: AlbumKey,
    tracks: Sequence[AlbumTrack],
    multi_label: Callable[[str | None], bool] = model_is_multi_label,
    include_abstained: bool = False,
    rule: Rule = RULE,
) -> AlbumGenre:
    """Pool one album and apply ``rule`` (see the module notes).

    ``multi_label`` says for a model name whether its scores are independent
    per genre (the model kind knows); ``include_abstained``: tracks the model
    abstained on vote too (``--include-uncertain``).  A multi-label model's
    uncertain tracks always vote: musicnn flags a track whose evidence is
    spread over several genres, and that evidence is what pooling adds up; a
    softmax head abstains where a track is likely none of the genres it knows.
    """
    tracks = tuple(tracks)

    def abstains(t: AlbumTrack) -> bool:
        return t.abstained and not include_abstained and not multi_label(t.model)

    heard = [t for t in tracks if t.heard and not abstains(t)]
    models = Counter(t.model for t in heard)
    model = models.most_common(1)[0][0] if models else None
    voters = tuple(t for t in heard if t.model == model)
    ml = multi_label(model)
    pooled = pool([t.probabilities for t in voters if t.probabilities], ml)
    note = _silence_note(tracks, abstains)
    if len(heard) > len(voters):
        note = ", ".join(filter(None, [note, f"{len(heard) - len(voters)} of another model"]))
    album = AlbumGenre(key, tracks, voters, ml, pooled, not_voting=note, rule=rule)
    if compilation_reason(tracks):
        mode = Mode.COMPILATION
    elif len(voters) < rule.min_voters:
        mode = Mode.TOO_FEW
    elif (album.agreement or 0.0) <= rule.min_agreement or (
        album.top_share or 0.0
    ) < rule.min_top_share:
        mode = Mode.MIXED
    else:
        mode = Mode.ALBUM
    return replace(album, mode=mode)


def album_genres(
    tracks: Iterable[AlbumTrack],
    multi_label: Callable[[str | None], bool] = model_is_multi_label,
    include_abstained: bool = False,
    rule: Rule = RULE,
) -> list[AlbumGenre]:
    """Every album of ``tracks``, pooled and judged (see ``album_genre``)."""
    return [
        album_genre(key, members, multi_label, include_abstained, rule)
        for key, members in group(tracks).items()
    ]
