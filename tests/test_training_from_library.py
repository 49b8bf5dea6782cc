"""``retrain --from-library``: which genres merge, and what a head says it will do to a library."""

from __future__ import annotations

import numpy as np

from tagger.genres import nearest_genres, same_genre, spelling_key
from tagger.training.from_library import grouped_folds, make_labels, read_mapping


def test_labels_keep_the_users_spelling_and_list_small_genres(tmp_path):
    tags = (
        ["Death Metal"] * 4
        + ["death  metal", "DEATH-METAL"]
        + ["Hip-Hop"] * 6
        + ["Rap"] * 2
        + ["Vaporwave"] * 2
        + ["Vaporwave; Death Metal"]
        + ["Chiptune; Hip-Hop"]
        + [None, ""]
        + ["Metal"] * 5
    )
    labels = make_labels(tags, min_tracks=5)
    assert labels.genres == ["Death Metal", "Hip-Hop", "Metal"]
    # case, spacing and punctuation merge; the synonym table joins a rare
    # spelling (Rap) to a learnt genre; Metal stays apart from Death Metal.
    assert labels.counts == {"Death Metal": 7, "Hip-Hop": 9, "Metal": 5}
    assert labels.merged == {"Rap": "Hip-Hop"}
    assert labels.left_out == {"Vaporwave": 2}
    g = labels.genres
    assert labels.y[16] == g.index("Death Metal")  # first genre too rare: the next one counts
    assert labels.y[17] == g.index("Hip-Hop")
    assert labels.y[18] == labels.y[19] == labels.y[14] == -1

    mapping = tmp_path / "map.txt"
    mapping.write_text("# mine\nvaporwave = Death Metal\n")
    assert read_mapping(mapping) == {"vaporwave": "Death Metal"}
    assert make_labels(tags, 5, read_mapping(mapping)).counts["Death Metal"] == 9
    assert spelling_key("R&B") == spelling_key("RnB") == spelling_key("r and b")


def test_album_folds_never_split_an_album():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    groups = [f"a{c}-{rng.integers(0, 5)}" if c < 2 else "only-album" for c in y]
    fold, by_track = grouped_folds(y, groups, k=5)
    for g in set(groups) - {"only-album"}:
        assert len({fold[i] for i in range(len(y)) if groups[i] == g}) == 1
    assert by_track == [2]  # a genre with one album is dealt track by track
    assert len({fold[i] for i in range(len(y)) if y[i] == 2}) == 5


def test_a_broader_genre_is_never_folded_into_a_narrower_one():
    tags = ["Dark Electro"] * 6 + ["Electronic"] * 2 + ["Hip-Hop"] * 6 + ["Rap"] * 2
    labels = make_labels(tags, min_tracks=5)
    assert labels.genres == ["Dark Electro", "Hip-Hop"]
    assert labels.left_out == {"Electronic": 2}  # left out, not labelled Dark Electro
    assert labels.merged == {"Rap": "Hip-Hop"}  # a true synonym, listed
    assert (labels.y[6:8] == -1).all() and (labels.y[14:] == labels.genres.index("Hip-Hop")).all()
    # Subgenre and parent alike stay apart.
    assert make_labels(["Metal"] * 5 + ["Death Metal"] * 2, 5).merged == {}
    assert not same_genre("Electronic", "Dark Electro") and same_genre("hip hop", "Rap")


def test_the_users_map_overrides_and_is_listed():
    tags = ["Hip-Hop"] * 6 + ["Rap"] * 2 + ["Techno"] * 5 + ["Tekno"] * 2
    kept_apart = make_labels(tags, 2, {"rap": "Rap", "tekno": "Techno"})
    assert kept_apart.genres == ["Hip-Hop", "Rap", "Techno"]
    assert kept_apart.merged == {"Tekno": "Techno"}  # the map's own merge is listed too
    assert kept_apart.counts == {"Hip-Hop": 6, "Rap": 2, "Techno": 7}


def test_near_genres_are_suggested():
    names = ["Techno", "Dark Electro", "Soundtrack", "Rock"]
    assert nearest_genres("tecno", names)[0] == "Techno"
    assert "Dark Electro" in nearest_genres("electro", names)
    assert nearest_genres("polka", names) == []
