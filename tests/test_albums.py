"""tagger.albums: grouping tracks into albums, pooling their scores, and the per-album rule."""

from __future__ import annotations

import math

import pytest

from tagger.albums import (
    RULE,
    AlbumKey,
    AlbumTrack,
    Mode,
    album_genre,
    album_genres,
    group,
    pool,
)

SOFTMAX = lambda model: False  # noqa: E731  a softmax head's scores


MULTI = lambda model: True  # noqa: E731  musicnn's independent scores


def track(path, album=None, artist=None, probs=None, **kw) -> AlbumTrack:
    return AlbumTrack(path, album, artist, probabilities=probs, model=kw.pop("model", "m"), **kw)


CLASSICAL = {"classical": 0.7, "ambient": 0.2, "techno": 0.1}


AMBIENT = {"classical": 0.3, "ambient": 0.6, "techno": 0.1}


TECHNO = {"classical": 0.05, "ambient": 0.15, "techno": 0.8}


def test_tracks_with_album_and_album_artist_are_one_album_across_folders():
    tracks = [
        track("/m/Set/CD1/01.flac", "Requiem", "Mozart", CLASSICAL),
        track("/m/Set/CD2/01.flac", "  requiem ", "MOZART", CLASSICAL),  # case and spaces
        track("/m/Other/01.flac", "Requiem", "Verdi", CLASSICAL),
    ]
    albums = group(tracks)
    assert [(k.album, k.album_artist, k.folder) for k in albums] == [
        ("Requiem", "Mozart", None),
        ("Requiem", "Verdi", None),
    ]
    assert [len(v) for v in albums.values()] == [2, 1]


def test_the_folder_stands_in_for_missing_tags():
    tracks = [
        # no album artist: the album is its title within its folder
        track("/m/a/1.mp3", "Greatest Hits", None, CLASSICAL),
        track("/m/a/2.mp3", "Greatest Hits", None, CLASSICAL),
        track("/m/b/1.mp3", "Greatest Hits", None, TECHNO),
        # no album tag: the folder alone
        track("/m/c/1.mp3", None, "Someone", AMBIENT),
        track("/m/c/2.mp3", "", None, AMBIENT),
    ]
    keys = {k: [t.path for t in v] for k, v in group(tracks).items()}
    assert keys == {
        AlbumKey("Greatest Hits", None, "/m/a"): ["/m/a/1.mp3", "/m/a/2.mp3"],
        AlbumKey("Greatest Hits", None, "/m/b"): ["/m/b/1.mp3"],
        AlbumKey(None, None, "/m/c"): ["/m/c/1.mp3", "/m/c/2.mp3"],
    }
    assert AlbumKey(None, None, "/m/c").label == "/m/c/ (no album tag)"
    assert AlbumKey("Greatest Hits", None, "/m/a").label == "Greatest Hits (/m/a/)"
    assert AlbumKey("Requiem", "Mozart", None).label == "Requiem — Mozart"


def test_a_track_lacking_the_album_artist_joins_its_albums_tracks_in_the_folder():
    tracks = [
        track("/m/w/1.ogg", "Wesnoth OST", "Wesnoth Project", CLASSICAL),
        track("/m/w/2.ogg", "Wesnoth OST", None, CLASSICAL),
        # two album artists for one title in one folder: the untagged track cannot choose
        track("/m/x/1.ogg", "Live", "A", CLASSICAL),
        track("/m/x/2.ogg", "Live", "B", CLASSICAL),
        track("/m/x/3.ogg", "Live", None, CLASSICAL),
    ]
    albums = {k.label: len(v) for k, v in group(tracks).items()}
    assert albums == {
        "Live — A": 1,
        "Live — B": 1,
        "Live (/m/x/)": 1,
        "Wesnoth OST — Wesnoth Project": 2,
    }


def test_softmax_scores_pool_to_a_distribution():
    pooled = pool([{"a": 0.9, "b": 0.1}, {"a": 0.2, "c": 0.8}], multi_label=False)
    assert pooled == pytest.approx({"a": 0.55, "b": 0.05, "c": 0.4})  # a missing genre is 0
    assert math.isclose(sum(pooled.values()), 1.0)
    # rounded stored values still pool to a distribution
    assert math.isclose(sum(pool([{"a": 0.33333, "b": 0.33333, "c": 0.33333}], False).values()), 1)


def test_multilabel_scores_are_each_genres_mean_and_never_normalised():
    pooled = pool([{"rock": 0.6, "pop": 0.5}, {"rock": 0.2, "pop": 0.3, "jazz": 0.4}], True)
    assert pooled == pytest.approx({"rock": 0.4, "pop": 0.4, "jazz": 0.4})  # jazz: one score
    assert sum(pooled.values()) > 1  # independent scores: a mean per genre, not a distribution
    assert pool([], True) == {}


def test_an_album_whose_tracks_agree_gets_the_pooled_genre():
    tracks = [track(f"/m/a/{i}.mp3", "A", "X", CLASSICAL) for i in range(5)] + [
        track("/m/a/9.mp3", "A", "X", AMBIENT)
    ]
    (album,) = album_genres(tracks, SOFTMAX)
    assert album.mode is Mode.ALBUM and not album.per_track and album.why() == ""
    assert album.genre == "classical"
    assert album.score == pytest.approx((5 * 0.7 + 0.3) / 6)
    assert len(album.voters) == 6 and album.agreement == pytest.approx(5 / 6)
    assert [t.path for t in album.disagreeing] == ["/m/a/9.mp3"]


def test_near_synonyms_agree():
    """An electronic album whose tracks say electronic and techno by turns is one album."""
    electronic = {"electronic": 0.5, "techno": 0.45, "classical": 0.05}
    techno = {"electronic": 0.42, "techno": 0.5, "classical": 0.05}
    tracks = [track(f"/m/e/{i}.ogg", "E", "Y", electronic if i % 2 else techno) for i in range(6)]
    (album,) = album_genres(tracks, MULTI)
    assert album.mode is Mode.ALBUM
    assert album.agreement == 1.0 and album.top_share == 0.5


def test_an_album_of_two_styles_is_mixed_and_left_per_track():
    tracks = [track(f"/m/a/{i}.mp3", "A", "X", CLASSICAL) for i in range(3)] + [
        track(f"/m/a/t{i}.mp3", "A", "X", TECHNO) for i in range(3)
    ]
    (album,) = album_genres(tracks, SOFTMAX)
    assert album.mode is Mode.MIXED and album.per_track
    assert album.agreement == 0.5
    assert album.why(str.title) == (
        "its tracks disagree: 3 of 6 voting tracks hear Techno (more than 50% must) and "
        "it is the top genre of 3 (at least 33% must)"
    )


def test_a_mean_that_lands_between_two_styles_is_mixed():
    """Each half hears ambient a little: ambient wins the mean, and is nobody's top genre."""
    a = {"classical": 0.5, "ambient": 0.34, "techno": 0.0}
    b = {"classical": 0.0, "ambient": 0.34, "techno": 0.5}
    tracks = [track(f"/m/x/{i}", "X", "Y", a if i % 2 else b) for i in range(6)]
    album = album_genre(AlbumKey("X", "Y", None), tracks, MULTI)
    assert album.genre == "ambient" and album.agreement == 1.0 and album.top_share == 0.0
    assert album.mode is Mode.MIXED and "it is the top genre of 0" in album.why()


@pytest.mark.parametrize(
    "artist, flag, why",
    [
        ("X", True, "1 of 3 tracks carry the compilation flag"),
        ("Various Artists", False, "album artist 'Various Artists'"),
        (" VA ", False, "album artist 'VA'"),
        ("verschiedene  Interpreten", False, "album artist 'verschiedene  Interpreten'"),
    ],
)
def test_compilations_are_left_per_track(artist, flag, why):
    tracks = [
        AlbumTrack(f"/m/c/{i}.mp3", "Hits", artist, i == 0 and flag, CLASSICAL, "m")
        for i in range(3)
    ]
    (album,) = album_genres(tracks, SOFTMAX)
    assert album.mode is Mode.COMPILATION and album.per_track
    assert album.why() == f"a compilation ({why})"
    assert album.genre == "classical"  # pooled all the same, for the report


def test_silent_short_failed_and_abstained_tracks_do_not_vote():
    tracks = [
        track("/m/a/1", "A", "X", CLASSICAL),
        track("/m/a/2", "A", "X", CLASSICAL),
        track("/m/a/3", "A", "X", None, status="silent"),
        track("/m/a/4", "A", "X", TECHNO, status="too_short"),  # stored scores, not heard
        track("/m/a/5", "A", "X", None, status="error"),
        track("/m/a/6", "A", "X", TECHNO, abstained=True),
        track("/m/a/7", "A", "X", TECHNO, abstained=True),
        track("/m/a/8", "A", "X", TECHNO, status="truncated"),  # heard, from what decodes
    ]
    (album,) = album_genres(tracks, SOFTMAX)
    assert [t.path for t in album.voters] == ["/m/a/1", "/m/a/2", "/m/a/8"]
    assert album.genre == "classical" and album.mode is Mode.ALBUM
    # --include-uncertain: abstained tracks vote, and techno wins
    (album,) = album_genres(tracks, SOFTMAX, include_abstained=True)
    assert len(album.voters) == 5 and album.genre == "techno"


def test_an_album_needs_two_voters():
    tracks = [
        track("/m/a/1", "A", "X", CLASSICAL),
        track("/m/a/2", "A", "X", TECHNO, abstained=True),
        track("/m/a/3", "A", "X", None, status="silent"),
    ]
    (album,) = album_genres(tracks, SOFTMAX)
    assert RULE.min_voters == 2
    assert album.mode is Mode.TOO_FEW
    assert album.why() == "1 of 3 tracks voted (1 abstained, 1 silent); an album genre needs 2"
    (nobody,) = album_genres([track("/m/b/1", "B", "Y", None, status="silent")], SOFTMAX)
    assert nobody.genre is None and nobody.score == 0.0 and nobody.agreement is None


def test_only_the_albums_most_common_model_votes():
    tracks = [
        track("/m/a/1", "A", "X", CLASSICAL, model="library"),
        track("/m/a/2", "A", "X", CLASSICAL, model="library"),
        track("/m/a/3", "A", "X", {"Techno": 1.0}, model="musicnn"),
    ]
    seen = []

    def multi_label(model):
        seen.append(model)
        return model == "musicnn"

    (album,) = album_genres(tracks, multi_label)
    assert seen == ["library"] and not album.multi_label
    assert set(album.probabilities) == set(CLASSICAL)
    assert len(album.voters) == 2 and album.mode is Mode.ALBUM


def test_the_model_kind_says_whether_scores_are_multi_label():
    from tagger.albums import model_is_multi_label
    from tagger.models import KINDS

    assert model_is_multi_label("musicnn") and not model_is_multi_label("library")
    assert all(model_is_multi_label(name) == kind.multilabel for name, kind in KINDS.items())
    assert not model_is_multi_label(None) and not model_is_multi_label("hand-made")
