"""``tagger.training.head``: the own-genre head fitted on stored embeddings."""

from __future__ import annotations

import numpy as np
from tolerance import U32

from tagger.models.head import SoftmaxHead, held_out_genres
from tagger.training.head import average_heads, choose_threshold, fit_head


def test_head_learns_and_abstains_where_held_out_tracks_say():
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 1, (3, 40))
    x = np.concatenate([c + 0.3 * rng.normal(0, 1, (50, 40)) for c in centres])
    y = np.repeat([0, 1, 2], 50)
    head = fit_head(x[::2], y[::2], ["a", "b", "c"])
    assert (head.probabilities(x[1::2]).argmax(1) == y[1::2]).mean() == 1.0
    conf = np.linspace(1, 0, 100)
    correct = np.r_[np.ones(60, bool), np.zeros(40, bool)]
    t = choose_threshold(conf, correct, target=0.9, min_kept=10)
    kept = conf >= t
    assert correct[kept].mean() >= 0.9 and kept.sum() == 66
    # Every held-out track right: kept down to the lowest confidence held out, not below it,
    # where the folds showed nothing.
    assert choose_threshold(np.linspace(1, 0.6, 100), np.ones(100, bool)) == 0.6
    assert choose_threshold(conf, np.zeros(100, bool)) == 1.0


def test_the_shipped_head_is_exactly_the_mean_of_the_fold_heads():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(60, 12)).astype(np.float32), np.arange(60) % 3
    heads = [fit_head(x[i::3] * (i + 1) + i, y[i::3], ["a", "b", "c"]) for i in range(3)]
    mean = average_heads(heads)
    probe = rng.normal(size=(9, 12)).astype(np.float32)
    want = np.mean([h.logits(probe) for h in heads], axis=0)
    # Both sides are float32 sums of 12 products and a bias (the average's bias itself a sum of
    # 12 more), each off by at most (12 + 4)·u of the sum of its terms' magnitudes (Higham
    # 2002, §3.1: γ_n, with room for the centring, scaling and averaging roundings).
    terms = (
        max(
            (np.abs((probe - h.mean) / h.scale) @ np.abs(h.weights) + np.abs(h.bias)).max()
            + (np.abs(h.mean / h.scale) @ np.abs(h.weights)).max()
            for h in heads
        )
        + (np.abs(probe) @ np.abs(mean.weights)).max()
    )
    atol = 2 * (12 + 4) * U32 * terms
    np.testing.assert_allclose(mean.logits(probe), want, rtol=0, atol=atol)


def test_album_mates_tags_are_evidence_a_tracks_own_tag_is_not_and_both_survive_a_save(
    tmp_path,
):
    dim = 4
    head = SoftmaxHead(
        ["A", "B"],
        np.zeros(dim, np.float32),
        np.ones(dim, np.float32),
        np.zeros((dim, 2), np.float32),  # the head alone cannot tell: 0.5 each
        np.zeros(2, np.float32),
        threshold=0.9,
        album_keys=["album:x"],
        album_counts=np.array([[3.0, 0.0]]),
        prior=np.array([0.5, 0.5]),
        album_weight=1.0,
        album_threshold=0.6,
        trained={"/m/x/1.ogg": (0, 1)},
    )
    keys = ["album:x", "album:x", "album:y"]
    paths = ["/m/x/1.ogg", "/m/x/2.ogg", "/m/y/3.ogg"]
    x = np.zeros((3, dim), np.float32)
    probs, thresholds, known = head.predict(x, keys, paths)
    # (n_A + 1 * 0.5) / (n + 1): its two tagged album-mates for the tagged track, all three
    # for the untagged one; the track of an album with no tag keeps the head's own answer.
    np.testing.assert_allclose(probs[:, 0], [2.5 / 3, 3.5 / 4, 0.5], rtol=1e-6)
    assert known.tolist() == [True, True, False] and thresholds.tolist() == [0.6, 0.6, 0.9]
    head.save(tmp_path / "h.npz")
    again = SoftmaxHead.load(tmp_path / "h.npz")
    assert again.trained == head.trained and again.album_keys == head.album_keys
    np.testing.assert_array_equal(again.predict(x, keys, paths)[0], probs)
    assert held_out_genres(tmp_path / "h.npz") == {"/m/x/1.ogg": "B"}

    plain = SoftmaxHead(head.genres, head.mean, head.scale, head.weights, head.bias)
    plain.save(tmp_path / "plain.npz")  # a head trained on a genre folder: no albums
    probs, thresholds, known = SoftmaxHead.load(tmp_path / "plain.npz").predict(x, keys, paths)
    assert not known.any() and (probs == 0.5).all()


def test_a_decoded_track_is_judged_as_a_relabelled_one(tmp_path):
    """The scan's workers pass each decoded track's path and album tag to the model
    (``for_track``): a library head weighs its album's tags as re-labelling does."""
    from tagger.models import TrackPrediction
    from tagger.models.head import HeadModel, album_key, predict_embeddings

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype(np.float32), np.arange(40) % 2
    head = fit_head(x, y, ["A", "B"])
    head.album_keys, head.album_counts = ["album:x"], np.array([[5.0, 0.0]])
    head.prior, head.album_weight, head.threshold, head.album_threshold = (
        np.array([0.5, 0.5]),
        1.0,
        0.99,
        0.5,
    )
    model = HeadModel.__new__(HeadModel)  # the head alone: no musicnn net is needed here
    model.head = head
    for path, album in (("/m/x/new.ogg", "X"), ("/m/y/new.ogg", "Y"), ("/m/z/new.ogg", None)):
        alone = predict_embeddings(head, x[1:2])[0]
        alone.embedding, alone.engine = x[1], "numpy"
        got = model.for_track(alone, path, album)
        (want,) = predict_embeddings(head, x[1:2], [album_key(path, album)], [path])
        assert (got.genre, got.confidence, got.uncertain) == (
            want.genre,
            want.confidence,
            want.uncertain,
        )
        assert got.embedding is alone.embedding and got.engine == "numpy"
        # Album X's five tags of A move the answer; the other albums' tracks keep the head's.
        assert (got.probabilities["A"] > alone.probabilities["A"]) == (album == "X")
    assert model.for_track(TrackPrediction("A", 0.9, {"A": 0.9}), "/m/x/a.ogg", "X").genre == "A"
