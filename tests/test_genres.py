"""``tagger.genres``: free-text genres mapped to canonical ones, display names, the user's map."""

from __future__ import annotations

from tagger.genres import GenreMap, canonical, display_name


def test_synonyms_map_free_text_to_canonical_genres():
    cases = {
        "Hip Hop": "hiphop",
        "Rap": "hiphop",
        "hip-hop": "hiphop",
        "Orchestral": "classical",
        "Romantic Classical": "classical",
        "Rock/Pop": "rock",
        "R&B": "rnb",
        "Modern Hard Rock": "rock",
        "Drum & Bass": "electronic",
        "Polka": None,
        "": None,
        "Game": None,
        "Heavy Metal": "metal",
    }
    for text, genre in cases.items():
        assert canonical(text) == genre, text


def test_display_names():
    assert display_name("hiphop") == "Hip-Hop"
    assert display_name("rock") == "Rock"
    assert display_name("new age") == "New Age"
    assert display_name("rnb") == "R&B"


def test_genre_map_spells_filters_and_merges():
    gmap = GenreMap(
        {"hiphop": "Hip Hop", "Techno": "Electronic", "house": "Electronic"},
        whitelist=["Hip Hop", "Electronic", "Jazz"],
    )
    assert gmap.spell("hiphop") == "Hip Hop" and gmap.spell("jazz") == "Jazz"
    assert gmap.label("house") == "Electronic" and gmap.label("rock") == "Rock"  # as written
    probs = {"rock": 0.5, "techno": 0.3, "house": 0.25, "jazz": 0.2, "hiphop": 0.01}
    # rock is off the whitelist; techno and house merge into one Electronic
    assert gmap.choose(probs, top=2) == ["Electronic", "Jazz"]
    assert gmap.choose(probs, top=2, min_confidence=0.21) == ["Electronic"]
    assert GenreMap().choose(probs, top=2) == ["Rock", "Techno"]
    # A genre after the first needs at least half the first's probability: noise is not a
    # second genre, whatever --top asks.
    assert GenreMap().choose({"metal": 0.6, "punk": 0.007, "rock": 0.3}, top=3) == [
        "Metal",
        "Rock",
    ]
    assert GenreMap().choose({"metal": 0.6, "punk": 0.29}, top=2) == ["Metal"]
    assert gmap.choose({"rock": 0.9, "jazz": 0.2, "house": 0.09}, top=2) == ["Jazz"]
