"""``retrain --from-library``: which genres merge, and what a head says it will do to a library."""

from __future__ import annotations

import numpy as np
from tolerance import U32

from tagger.genres import nearest_genres, same_genre, spelling_key
from tagger.models.head import album_evidence, album_key
from tagger.training.from_library import (
    LibraryTrack,
    album_groups,
    fit_album_calibration,
    grouped_folds,
    make_labels,
    mates_counts,
    not_default,
    read_mapping,
    train_from_embeddings,
    untagged_outcome,
    within_album_folds,
)


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


def test_folds_within_albums_give_every_held_out_track_album_mates():
    groups = [f"album{i % 7}" for i in range(70)] + ["single"]
    fold = within_album_folds(groups, k=5)
    y = np.arange(71) % 3
    counts = mates_counts(y, groups, fold, 3)
    for i, g in enumerate(groups):
        mates = [j for j, h in enumerate(groups) if h == g and fold[j] != fold[i]]
        assert counts[i].tolist() == np.bincount(y[mates], minlength=3).tolist()
    assert (counts[:70].sum(axis=1) >= 7).all()  # ten tracks per album over five folds
    assert counts[70].sum() == 0  # an album of one: nothing to learn from, the other case
    assert sorted(np.bincount(fold[:70]).tolist()) == [14] * 5  # dealt evenly


def test_album_evidence_is_weighed_by_held_out_tracks():
    """Album-mates' tags that are right 80% of the time get much of Bayes' full weight; tags
    unrelated to the genre next to none."""
    rng = np.random.default_rng(0)
    n, k = 400, 3
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.0  # a head right about 60% of the time
    counts = np.zeros((n, k))
    counts[np.arange(n), np.where(rng.random(n) < 0.8, y, (y + 1) % k)] += 4
    prior = np.full(k, 1 / k)
    t, w = fit_album_calibration(logits, album_evidence(counts, prior), y)
    noise = np.zeros((n, k))
    noise[np.arange(n), rng.integers(0, k, n)] += 4  # tags unrelated to the genre
    _, w_noise = fit_album_calibration(logits, album_evidence(noise, prior), y)
    assert 0.5 < w <= 1 and 0.05 < t < 20 and w_noise < 0.1, (t, w, w_noise)


def test_too_few_album_mates_to_calibrate_apart_are_judged_as_unheard_albums_and_counted_so():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (3, 16))
    tracks, y = [], []
    for c in range(3):  # three genres, two albums each, three tagged tracks per album
        for i in range(6):
            album = f"g{c} vol {i // 3}"
            vec = (centres[c] + 0.3 * rng.normal(0, 1, 16)).astype(np.float32)
            tracks.append(LibraryTrack(f"/m/{album}/{i}.ogg", f"G{c}", album, vec))
            y.append(c)
    labels = make_labels([t.tag_genre for t in tracks], min_tracks=3)
    x = np.stack([t.embedding for t in tracks])
    trained = train_from_embeddings(x, labels, album_groups(tracks), tracks=tracks)
    known = trained.evaluation["known_album"]
    assert known["calibrated"] is False and known["tracks"] < 20 and "never heard" in known["why"]
    head = trained.head
    probe = x[:4] + 0.1
    keys = [
        album_key("/m/a/1.ogg", "G0 Vol 0"),  # compared by spelling
        album_key("/m/b/2.ogg", "g1 vol 1"),
        album_key("/m/c/3.ogg", "Elsewhere"),
        album_key("/m/new/4.ogg", None),
    ]
    probs, thresholds, in_album = head.predict(probe, keys)
    # The same float32 logits over the same temperature, the zero evidence added in float64:
    # each probability within the float32 rounding of the scaled logits, |z| u apiece, of 1.
    z = np.abs(head.logits(probe) / head.temperature).max()
    np.testing.assert_allclose(probs, head.probabilities(probe), rtol=4 * z * U32, atol=0)
    assert (thresholds == head.threshold).all() and in_album.tolist() == [1, 1, 0, 0]
    cases = untagged_outcome(head, probe, keys)["by_case"]
    assert (cases["known_album"]["tracks"], cases["unseen_album"]["tracks"]) == (2, 2)
    assert not_default(trained.evaluation) is None  # three well-separated genres


def test_albums_tagged_only_with_genres_too_rare_to_learn_are_never_labelled(tmp_path):
    """An album whose tagged tracks all carry a genre left out (too few tracks to learn) says
    its genre is one the head cannot name: its untagged tracks abstain, however confident the
    head (which can only answer a genre it knows), and ``retrain`` counts them as their own
    case; the head keeps that across a save and a load."""
    from tagger.models.head import SoftmaxHead

    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (3, 16))
    tracks = []
    for c, genre in enumerate(("Rock", "Classical")):  # two learnt genres, two albums each
        for i in range(12):
            album = f"{genre} vol {i // 6}"
            vec = (centres[c] + 0.3 * rng.normal(0, 1, 16)).astype(np.float32)
            tracks.append(LibraryTrack(f"/m/{album}/{i}.ogg", genre, album, vec))
    for i in range(3):  # a third genre, too rare to learn, on a third album
        vec = (centres[2] + 0.3 * rng.normal(0, 1, 16)).astype(np.float32)
        tracks.append(LibraryTrack(f"/m/jazz/{i}.ogg", "Jazz", "Blue Album", vec))
    labels = make_labels([t.tag_genre for t in tracks], min_tracks=5)
    assert labels.left_out == {"Jazz": 3} and labels.outside.tolist() == [False] * 24 + [True] * 3
    x = np.stack([t.embedding for t in tracks])
    head = train_from_embeddings(x, labels, album_groups(tracks), tracks=tracks).head
    assert head.foreign == [album_key("/m/jazz/0.ogg", "Blue Album")]
    untagged = np.stack([x[0] + 0.05, x[-1] + 0.05])  # a Rock-album track, a Blue Album one
    keys = [album_key("/m/a.ogg", "Rock vol 0"), album_key("/m/jazz/9.ogg", "blue album")]
    head.save(tmp_path / "head.npz")
    for h in (head, SoftmaxHead.load(tmp_path / "head.npz")):
        probs, thresholds, _ = h.predict(untagged, keys)
        assert probs[0].max() >= thresholds[0] and np.isinf(thresholds[1])
        outcome = untagged_outcome(h, untagged, keys)
        assert outcome["by_case"]["foreign_album"] == {"tracks": 1, "labelled": 0, "abstained": 1}
        assert outcome["by_case"]["known_album"]["tracks"] == 1
        assert "unseen_album" in outcome["by_case"]
    # Nothing changes for a library without such albums.
    plain = make_labels([t.tag_genre for t in tracks[:24]], min_tracks=5)
    assert train_from_embeddings(x[:24], plain, album_groups(tracks[:24])).head.foreign == []
