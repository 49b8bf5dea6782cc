from tagger.genres import canonical, display_name


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
