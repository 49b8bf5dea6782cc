"""``retrain --from-library``: which genres merge, and what a head says it will do to a library."""

from __future__ import annotations

import json

import numpy as np
from conftest import run_cli
from test_library import USER_NAMES, real_fixture, store_library

from tagger.genres import nearest_genres, same_genre
from tagger.training.from_library import make_labels
from tagger.training.head import average_heads, fit_head


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


def test_the_shipped_head_is_exactly_the_mean_of_the_fold_heads():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 12)).astype(np.float32), np.arange(60) % 3
    heads = [fit_head(x[i::3] * (i + 1) + i, y[i::3], ["a", "b", "c"]) for i in range(3)]
    mean = average_heads(heads)
    probe = rng.normal(size=(9, 12)).astype(np.float32)
    want = np.mean([h.logits(probe) for h in heads], axis=0)
    np.testing.assert_allclose(mean.logits(probe), want, rtol=1e-4, atol=1e-4)


def _real_library(tmp_path, tagged_every: int):
    d = real_fixture()
    genres = [
        USER_NAMES[g] if i % tagged_every == 0 else None for i, g in enumerate(d["groups"].tolist())
    ]
    db = tmp_path / "lib.db"
    store_library(
        tmp_path / "Music",
        db,
        d["names"].tolist(),
        d["groups"].tolist(),
        d["albums"].tolist(),
        genres,
        d["embeddings"].astype(np.float32),
    )
    return db, genres


def test_retrain_says_what_the_head_will_do_to_this_library(tmp_path):
    """Real soundtracks' embeddings, half tagged: the card and the output count the untagged
    tracks the head labels and abstains on, with the majority-genre baseline beside."""
    db, genres = _real_library(tmp_path, 2)
    untagged = genres.count(None)
    proc = run_cli("retrain", "--from-library", "--db", db, "--min-tracks", "4", "--json")
    card = json.loads(proc.stdout)
    out = card["data"]["untagged"]
    assert out["tracks"] == untagged and out["labelled"] + out["abstained"] == untagged
    tagged = [g for g in genres if g]
    most = max(set(tagged), key=tagged.count)
    acc = card["accuracy"]
    assert acc["baseline_genre"] == most
    assert acc["baseline_accuracy"] == round(tagged.count(most) / len(tagged), 4)
    assert acc["accuracy"] > acc["baseline_accuracy"] and "warning" not in proc.stderr
    text = run_cli("retrain", "--from-library", "--db", db, "--min-tracks", "4").stdout
    assert f"always answering {most}: accuracy {acc['baseline_accuracy']:.3f}" in text
    assert f"your {untagged} untagged tracks: labels {out['labelled']}, abstains on" in text


def test_a_head_no_better_than_the_baseline_warns_in_one_line(tmp_path):
    """Noise embeddings: the head cannot beat always answering the common genre; one line
    says so and what helps."""
    rng = np.random.default_rng(3)
    n = 40
    albums = [f"album{i % 8}" for i in range(n)]
    genres = ["Rock" if i % 4 else "Jazz" for i in range(n - 10)] + [None] * 10
    db = tmp_path / "lib.db"
    names = [f"t{i:02d}.ogg" for i in range(n)]
    store_library(tmp_path / "lib", db, names, albums, albums, genres, rng.normal(size=(n, 400)))
    proc = run_cli("retrain", "--from-library", "--db", db, "--min-tracks", "4")
    (warning,) = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert "no better than always answering Rock" in warning
    assert "what helps: tag tracks of more albums per genre" in warning
    assert "--min-tracks" in warning and "--include-uncertain" in warning


def test_near_genres_are_suggested():
    names = ["Techno", "Dark Electro", "Soundtrack", "Rock"]
    assert nearest_genres("tecno", names)[0] == "Techno"
    assert "Dark Electro" in nearest_genres("electro", names)
    assert nearest_genres("polka", names) == []


def test_a_head_abstaining_on_most_untagged_tracks_warns_in_one_line(tmp_path):
    """Two overlapping genres, and untagged tracks half-way between them: the head abstains
    on most of them, and retrain says so before any scan does."""
    rng = np.random.default_rng(5)
    n_tagged, n_untagged = 60, 20
    axis = rng.normal(size=400)
    axis /= np.linalg.norm(axis)
    side = np.where(np.arange(n_tagged) % 2, 1.0, -1.0)
    tagged = rng.normal(size=(n_tagged, 400)) + np.outer(side * 1.2, axis)
    between = rng.normal(size=(n_untagged, 400)) * 0.2
    vectors = np.vstack([tagged, between])
    genres = ["Rock" if s > 0 else "Jazz" for s in side] + [None] * n_untagged
    albums = [f"album{i % 12}" for i in range(n_tagged)] + ["unknown"] * n_untagged
    db = tmp_path / "lib.db"
    names = [f"t{i:02d}.ogg" for i in range(len(genres))]
    store_library(tmp_path / "lib", db, names, albums, albums, genres, vectors)
    proc = run_cli("retrain", "--from-library", "--db", db, "--min-tracks", "4", "--json")
    card = json.loads(proc.stdout)
    out = card["data"]["untagged"]
    assert out["tracks"] == n_untagged and out["abstained"] * 2 > n_untagged, out
    (warning,) = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert f"abstains on {out['abstained']} of the {n_untagged} untagged tracks" in warning
    assert "what helps" in warning
