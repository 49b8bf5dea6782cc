"""The one genre vocabulary of tagger: canonical names, display names, synonyms.

Every model speaks lower-case canonical names (GTZAN's where they exist, so
``hiphop`` and not ``hip-hop``).  Files get the display spelling taggers and
players expect (``Hip-Hop``, ``R&B``).  Free-text genres found in users' tags
are mapped back onto the canonical names through one synonym table, so that
the report can compare what a library already says with what a model predicts.
Keeping all three in one place means a spelling is never fixed in one spot and
left wrong in another.
"""

from __future__ import annotations

import functools
import re

# ``--top K``: a genre after the first is written only when at least this share as likely as
# the first one written.  Half: a second genre the model hears nearly as well, a product rule
# (not fitted to any clips), documented in docs/writing-tags.md.
RUNNER_UP_SHARE = 0.5

_DISPLAY = {
    "hiphop": "Hip-Hop",
    "rnb": "R&B",
    "new age": "New Age",
    "easy listening": "Easy Listening",
}

# Normalised free text (lower case, letters and digits only) -> canonical genre.
_SYNONYMS: dict[str, str] = {
    "hiphop": "hiphop",
    "hip hop": "hiphop",
    "rap": "hiphop",
    "gangsta rap": "hiphop",
    "trap": "hiphop",
    "hip hop rap": "hiphop",
    "classical": "classical",
    "classic": "classical",
    "orchestral": "classical",
    "orchestra": "classical",
    "symphony": "classical",
    "baroque": "classical",
    "opera": "classical",
    "choral": "classical",
    "chamber music": "classical",
    "romantic": "classical",
    "soundtrack": None,  # type: ignore[dict-item]
    "blues": "blues",
    "delta blues": "blues",
    "rhythm and blues": "rnb",
    "country": "country",
    "country western": "country",
    "bluegrass": "country",
    "americana": "country",
    "disco": "disco",
    "eurodisco": "disco",
    "euro disco": "disco",
    "jazz": "jazz",
    "bebop": "jazz",
    "swing": "jazz",
    "smooth jazz": "jazz",
    "acid jazz": "jazz",
    "fusion": "jazz",
    "big band": "jazz",
    "metal": "metal",
    "heavy metal": "metal",
    "death metal": "metal",
    "black metal": "metal",
    "thrash metal": "metal",
    "nu metal": "metal",
    "metalcore": "metal",
    "pop": "pop",
    "synthpop": "pop",
    "synth pop": "pop",
    "dance pop": "pop",
    "kpop": "pop",
    "k pop": "pop",
    "jpop": "pop",
    "j pop": "pop",
    "indie pop": "pop",
    "reggae": "reggae",
    "dub": "reggae",
    "ska": "reggae",
    "dancehall": "reggae",
    "roots reggae": "reggae",
    "rock": "rock",
    "classic rock": "rock",
    "hard rock": "rock",
    "rock n roll": "rock",
    "rock and roll": "rock",
    "alternative rock": "rock",
    "indie rock": "rock",
    "progressive rock": "rock",
    "prog rock": "rock",
    "grunge": "rock",
    "electronic": "electronic",
    "electronica": "electronic",
    "electro": "electronic",
    "edm": "electronic",
    "idm": "electronic",
    "drum and bass": "electronic",
    "dubstep": "electronic",
    "trance": "electronic",
    "techno": "techno",
    "house": "house",
    "deep house": "house",
    "dance": "dance",
    "ambient": "ambient",
    "chillout": "ambient",
    "new age": "new age",
    "folk": "folk",
    "singer songwriter": "folk",
    "punk": "punk",
    "punk rock": "punk",
    "soul": "soul",
    "funk": "funk",
    "r and b": "rnb",
    "rnb": "rnb",
    "r n b": "rnb",
    "contemporary r b": "rnb",
    "indie": "indie",
    "alternative": "alternative",
    "easy listening": "easy listening",
}
_SYNONYMS = {k: v for k, v in _SYNONYMS.items() if v is not None}
_BY_LENGTH = sorted(_SYNONYMS, key=len, reverse=True)


_CANONICAL = frozenset(_SYNONYMS.values())


def display_name(genre: str) -> str:
    """The spelling written into files: ``hiphop`` -> ``Hip-Hop``, ``rock`` -> ``Rock``.

    A name outside tagger's vocabulary (a user's own genre, learnt from their
    library) is written exactly as the user spelt it.
    """
    if genre not in _CANONICAL:
        return genre
    return _DISPLAY.get(genre, genre.title())


def _normalise(text: str) -> str:
    text = text.lower().replace("&", " and ")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@functools.lru_cache(maxsize=1 << 16)  # a library repeats its genre and album names
def spelling_key(text: str) -> str:
    """What spellings of one genre share: ``Hip-Hop``, ``hip hop``, ``HipHop`` -> ``hiphop``.

    Case, spacing and punctuation never distinguish genres; ``&``, ``and`` and
    ``n`` between words are one joint (``R&B`` = ``R and B`` = ``RnB``,
    ``Drum & Bass`` = ``Drum'n'Bass``).
    """
    words = _normalise(text).split(" ")
    return "".join("n" if w == "and" and 0 < i < len(words) - 1 else w for i, w in enumerate(words))


def canonical(text: str | None) -> str | None:
    """Map free text (``"Hip Hop"``, ``"Rap"``, ``"Romantic Classical"``) to a canonical genre.

    ID3v1 genre numbers (``"(17)"``) are not text: mutagen turns them into
    names (``TCON.genres``) before they reach here.

    Returns None for text that names no genre tagger knows, so callers can list
    the unmapped ones instead of guessing.
    """
    if not text:
        return None
    norm = _normalise(text)
    if norm in _SYNONYMS:
        return _SYNONYMS[norm]
    nospace = norm.replace(" ", "")
    if nospace in _SYNONYMS:
        return _SYNONYMS[nospace]
    # "Rock/Pop", "Jazz; Blues": take the first part that maps.
    for part in re.split(r"[/;,|]", text):
        if part.strip() and part.strip() != text:
            found = canonical(part)
            if found:
                return found
    # "Romantic Classical", "Modern Hard Rock": the longest known name inside it.
    padded = f" {norm} "
    for name in _BY_LENGTH:
        if f" {name} " in padded:
            return _SYNONYMS[name]
    return None


# Names that mean one genre, not a broader and a narrower one: what retrain may
# merge on its own.  The synonym table above maps subgenres onto their parents
# (``Death Metal`` -> metal, ``Dark Electro`` -> electronic), which is right
# for comparing a library with a model's broad genres and wrong for a user's
# own classes: folding ``Electronic`` into ``Dark Electro`` would label every
# electronic track as the narrower genre.  Compared by ``spelling_key``.
_SAME_GENRE: tuple[tuple[str, ...], ...] = (
    ("Hip-Hop", "Hip Hop Rap", "Rap"),
    ("R&B", "Contemporary R&B", "RnB"),
    ("Electronic", "Electronica"),
    ("Soundtrack", "OST", "Original Soundtrack", "Soundtracks"),
    ("Rock and Roll", "Rock n Roll", "Rock 'n' Roll"),
    ("Synthpop", "Synth Pop", "Electropop"),
    ("K-Pop", "Korean Pop"),
    ("J-Pop", "Japanese Pop"),
    ("Drum and Bass", "DnB", "D&B"),
    ("EDM", "Electronic Dance Music"),
    ("Chillout", "Chill Out"),
    ("Classical", "Classical Music"),
    ("Punk", "Punk Rock"),
    ("Singer-Songwriter", "Singer Songwriter"),
)


@functools.lru_cache(maxsize=1)
def _same_genre_groups() -> dict[str, int]:
    return {spelling_key(name): i for i, group in enumerate(_SAME_GENRE) for name in group}


def same_genre(a: str, b: str) -> bool:
    """True when two names spell one genre or are true synonyms (``Rap``, ``Hip-Hop``).

    Never true for a broader and a narrower genre (``Electronic``, ``Dark
    Electro``; ``Metal``, ``Death Metal``): merging those loses meaning.
    """
    ka, kb = spelling_key(a), spelling_key(b)
    if ka == kb:
        return True
    groups = _same_genre_groups()
    return ka in groups and groups.get(kb) == groups[ka]


def nearest_genres(text: str, names: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` close to ``text``: what ``ls --genre`` suggests on no match.

    Close means a similar spelling (``tecno`` -> ``Techno``), one name inside
    the other (``electro`` -> ``Dark Electro``) or one canonical genre.
    """
    import difflib

    key = spelling_key(text)
    keys = {spelling_key(name): name for name in names}
    found = difflib.get_close_matches(key, list(keys), n=n, cutoff=0.6)
    found += [k for k in keys if k not in found and key and (key in k or k in key)]
    c = canonical(text)
    found += [k for k in keys if k not in found and c and canonical(keys[k]) == c]
    return [keys[k] for k in found[:n]]


def _key(name: str) -> str:
    return _normalise(name).replace(" ", "")


class GenreMap:
    """The user's spellings and whitelist (config ``[genres]``), like beets lastgenre's.

    ``map`` renames a model genre (by its model name, ``hiphop``, or its
    display name, ``Hip-Hop``; case and punctuation do not matter) to the
    spelling the user's library uses; several genres may map to one.  With a
    ``whitelist``, only genres whose written spelling is on it are ever
    written: the others are passed over, and ``--top``/``--min-confidence``
    apply to the genres that remain.
    """

    def __init__(self, mapping: dict[str, str] | None = None, whitelist: list[str] | None = None):
        self.mapping = dict(mapping or {})
        self.whitelist = list(whitelist) if whitelist is not None else None
        self._map = {_key(k): v.strip() for k, v in self.mapping.items()}
        self._allowed = {_key(w) for w in whitelist} if whitelist is not None else None
        self._cache: dict[str, str | None] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GenreMap) and (self.mapping, self.whitelist) == (
            other.mapping,
            other.whitelist,
        )

    def __repr__(self) -> str:
        return f"GenreMap({self.mapping!r}, {self.whitelist!r})"

    def _mapped(self, genre: str) -> str | None:
        # Called once per row by reports of 100,000 tracks: remember each genre's answer.
        if genre not in self._cache:
            found = None
            if self._map:
                found = self._map.get(_key(genre)) or self._map.get(_key(display_name(genre)))
            self._cache[genre] = found
        return self._cache[genre]

    def spell(self, genre: str) -> str:
        """What is written into a file for the model genre ``genre``."""
        return self._mapped(genre) or display_name(genre)

    def label(self, genre: str) -> str:
        """What reports, listings and ``show`` print: the spelling written into files, so a
        genre is spelt one way in every command's output (``Hip-Hop``, not ``hiphop`` here
        and ``Hip-Hop`` there)."""
        return self.spell(genre)

    def labelled(self, probabilities: dict[str, float]) -> dict[str, float]:
        """``probabilities`` keyed by ``label``, for output (``show --json``): genres mapped
        to one spelling count once, at their highest probability, as ``choose`` counts them."""
        out: dict[str, float] = {}
        for genre, p in probabilities.items():
            name = self.label(genre)
            out[name] = max(p, out.get(name, p))
        return out

    def allows(self, spelling: str) -> bool:
        return self._allowed is None or _key(spelling) in self._allowed

    def choose(
        self, probabilities: dict[str, float], top: int = 1, min_confidence: float = 0.0
    ) -> list[str]:
        """Spellings of up to ``top`` whitelisted genres whose probability passes the threshold.

        Genres mapped to one spelling count once, at their highest probability.
        A genre after the first is chosen only when it is at least
        ``RUNNER_UP_SHARE`` as likely as the first: ``--top 2`` asks for a second
        genre the model also hears, not for whatever comes second (a 0.007 beside
        a 0.6 is noise, yet it passes the default ``min_confidence`` of 0).
        """
        chosen: list[str] = []
        first = 0.0
        for genre, p in sorted(probabilities.items(), key=lambda kv: -kv[1]):
            if len(chosen) >= max(1, top) or p < min_confidence:
                break
            if chosen and p < RUNNER_UP_SHARE * first:
                break
            name = self.spell(genre)
            if self.allows(name) and name not in chosen:
                chosen.append(name)
                first = first or p
        return chosen

    def to_dict(self) -> dict:
        return {"map": self.mapping, "whitelist": self.whitelist}
