"""Album genres through the real CLI: `write --album`, `report --by album`, undo after them.

Real audio files carry real album tags (album, album artist, the compilation
flag) in their own formats; the database is a real one holding, for each
file, the tags a scan reads (``tagger.tags.read_file_tags``) and chosen
per-track probabilities, so each test knows which album genre is right.  One
test scans with the real musicnn model end to end.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import mutagen
import mutagen.id3
import pytest
from conftest import SR, make_library, rows, run_cli, run_json, store_scan
from rawtags import snapshot
from tolerance import rounded

from tagger.formats import sniff
from tagger.models import TrackPrediction
from tagger.tags import read_file_tags, read_genres
from tagger.training.synth import synth_track, write_audio
from tagger.worker import TrackResult

CLASSICAL = {"classical": 0.7, "ambient": 0.2, "techno": 0.1}


AMBIENT = {"classical": 0.3, "ambient": 0.6, "techno": 0.1}


TECHNO = {"classical": 0.05, "ambient": 0.15, "techno": 0.8}


def tagged_file(
    path: Path,
    album: str | None = None,
    album_artist: str | None = None,
    compilation: bool = False,
) -> Path:
    """A short real recording at ``path`` carrying these album tags in its own format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_audio(path, synth_track("bells", 1.0, SR, seed=len(str(path))), SR)
    audio = mutagen.File(path)
    if audio.tags is None:
        audio.add_tags()
    family = sniff(str(path)).tag_family
    if family == "id3":  # MP3, WAV, AIFF
        frames = [(mutagen.id3.TALB, album), (mutagen.id3.TPE2, album_artist)]
        frames.append((mutagen.id3.TCMP, "1" if compilation else None))
        for frame, value in frames:
            if value:
                audio.tags.add(frame(encoding=3, text=[value]))
        audio.save()
        return path
    if family == "mp4":
        keys = {"album": "\xa9alb", "album_artist": "aART"}
        if compilation:
            audio["cpil"] = True
    elif family == "asf":
        keys = {"album": "WM/AlbumTitle", "album_artist": "WM/AlbumArtist"}
        if compilation:
            audio["WM/IsCompilation"] = [True]
    else:  # Vorbis comments
        keys = {"album": "album", "album_artist": "albumartist"}
        if compilation:
            audio["compilation"] = "1"
    for field, value in (("album", album), ("album_artist", album_artist)):
        if value:
            audio[keys[field]] = [value]
    audio.save()
    return path


def store(db: Path, tracks: list[tuple]) -> None:
    """Rows as a scan stores them: each file's own tags, and the given prediction.

    ``tracks``: (file, probabilities or None, model, status, abstained).
    """
    results = []
    for f, probs, model, status, abstained in tracks:
        tags = read_file_tags(f)
        st = f.stat()
        pred = None
        if probs is not None:
            best = max(probs, key=probs.__getitem__)
            pred = TrackPrediction(best, probs[best], probs, uncertain=abstained)
        results.append(
            TrackResult(
                str(f),
                st.st_size,
                st.st_mtime,
                model,
                "1",
                status=status,
                reason=None if status in ("ok", "truncated") else status,
                duration=1.0,
                slices=1,
                tag_genre="; ".join(tags.genres) or None,
                album=tags.album,
                artist=tags.artist,
                album_artist=tags.album_artist,
                compilation=tags.compilation,
                prediction=pred,
            )
        )
    store_scan(db, results)


def t(f, probs, model="library", status="ok", abstained=False):
    return (f, probs, model, status, abstained)


@pytest.fixture
def two_disc_album(tmp_path):
    """One album (album + album artist) over two folders; one of its four tracks sounds odd."""
    music = tmp_path / "Music"
    files = [
        tagged_file(music / "Requiem" / "CD1" / "01.mp3", "Requiem", "Mozart"),
        tagged_file(music / "Requiem" / "CD1" / "02.flac", "Requiem", "Mozart"),
        tagged_file(music / "Requiem" / "CD2" / "01.m4a", "requiem", "MOZART"),
        tagged_file(music / "Requiem" / "CD2" / "02.ogg", "Requiem", "Mozart"),
    ]
    db = tmp_path / "lib.db"
    store(db, [t(files[0], CLASSICAL), t(files[1], CLASSICAL), t(files[2], CLASSICAL)])
    store(db, [t(files[3], AMBIENT)])
    return music, db, files


def genres_of(files: list[Path]) -> list[list[str]]:
    return [read_genres(f) for f in files]


def _in_album(row: dict, group: dict) -> bool:
    """Whether a stored row belongs to a ``report --by album`` group (its tags or folder)."""
    tags = group["album_tags"]
    if tags["folder"] is not None and str(Path(row["path"]).parent) != tags["folder"]:
        return False
    return (row["album"] or None) == tags["album"] if tags["album"] else not row["album"]


def test_the_scan_reads_album_artist_and_compilation_in_every_format(tmp_path):
    for ext in (".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav", ".aiff", ".wma"):
        f = tagged_file(tmp_path / f"a{ext}", "Hits", "Various Artists", compilation=True)
        tags = read_file_tags(f)
        assert (tags.album, tags.album_artist, tags.compilation) == (
            "Hits",
            "Various Artists",
            True,
        ), ext
        plain = read_file_tags(tagged_file(tmp_path / f"b{ext}", "Hits"))
        assert (plain.album_artist, plain.compilation) == (None, False), ext


def test_write_album_gives_every_track_of_an_album_its_pooled_genre(two_disc_album):
    music, db, files = two_disc_album
    before = [f.read_bytes() for f in files]
    # the dry run: one line per album, then the files; nothing changes
    out = run_cli("write", music, "--db", db, "--album", "--dry-run").stdout.splitlines()
    assert out[0] == "album Requiem — Mozart: 4 tracks, Classical 0.60, 3/4 agree -> Classical"
    assert sorted(out[1:5]) == sorted(f"would write {f}: (none) -> Classical" for f in files)
    assert out[5].startswith("tags: would write 4,")
    assert [f.read_bytes() for f in files] == before
    # track by track, the odd track would be ambient
    per_track = run_json("write", music, "--db", db, "--dry-run")
    assert [c["proposed"] for c in per_track["changes"]].count(["Ambient"]) == 1
    assert per_track["albums"] == []
    snaps = [snapshot(f) for f in files]
    summary = run_json("write", music, "--db", db, "--album")
    assert summary["written"] == 4
    assert genres_of(files) == [["Classical"]] * 4
    (album,) = summary["albums"]
    assert album["mode"] == "album" and album["agreement"] == 0.75
    assert [d["path"] for d in album["disagreeing"]] == [str(files[3])]
    # undo gives back every file exactly
    undone = run_json("undo", music, "--db", db)
    assert undone["restored"] == 4
    assert [snapshot(f) for f in files] == snaps
    assert [f.read_bytes() for f in files] == before


def test_the_config_can_make_album_mode_the_default(two_disc_album, isolated_home):
    music, db, _ = two_disc_album
    (isolated_home / "config.toml").write_text("album = true\n")
    assert run_json("write", music, "--db", db, "--dry-run")["albums"][0]["genre"] == "Classical"
    config = run_json("config")["settings"]["album"]
    assert config["value"] is True and config["source"].startswith("config file")
    # the command line wins
    assert run_json("write", music, "--db", db, "--dry-run", "--per-track")["albums"] == []
    (isolated_home / "config.toml").write_text('album = "yes"\n')
    bad = run_cli("write", music, "--db", db, "--dry-run", check=False)
    assert bad.returncode == 1 and "album: must be true or false" in bad.stderr


def test_writing_one_folder_of_an_album_still_pools_the_whole_album(two_disc_album):
    music, db, files = two_disc_album
    summary = run_json("write", music / "Requiem" / "CD2", "--db", db, "--album")
    assert summary["written"] == 2 and summary["albums"][0]["tracks"] == 4
    assert genres_of(files) == [[], [], ["Classical"], ["Classical"]]


def test_without_album_tags_the_folder_is_the_album(tmp_path):
    music = tmp_path / "Music"
    a = [tagged_file(music / "A" / f"{i}.flac") for i in range(3)]
    b = [tagged_file(music / "B" / f"{i}.flac") for i in range(3)]
    # the same title without an album artist in two folders: two albums
    c = [
        tagged_file(music / f"C{i}" / f"{j}.flac", "Greatest Hits") for i in (1, 2) for j in (0, 1)
    ]
    db = tmp_path / "lib.db"
    store(
        db,
        [
            *(t(f, p) for f, p in zip(a, (CLASSICAL, CLASSICAL, AMBIENT))),
            *(t(f, p) for f, p in zip(b, (TECHNO, TECHNO, AMBIENT))),
            *(t(f, p) for f, p in zip(c, (CLASSICAL, CLASSICAL, TECHNO, TECHNO))),
        ],
    )
    summary = run_json("write", music, "--db", db, "--album")
    labels = {x["label"]: (x["tracks"], x["genre"]) for x in summary["albums"]}
    assert labels == {
        f"{music / 'A'}/ (no album tag)": (3, "Classical"),
        f"{music / 'B'}/ (no album tag)": (3, "Techno"),
        f"Greatest Hits ({music / 'C1'}/)": (2, "Classical"),
        f"Greatest Hits ({music / 'C2'}/)": (2, "Techno"),
    }
    assert genres_of(a) == [["Classical"]] * 3 and genres_of(b) == [["Techno"]] * 3
    assert genres_of(c) == [["Classical"]] * 2 + [["Techno"]] * 2


@pytest.mark.parametrize("how", ["flag", "various artists"])
def test_a_compilation_is_written_track_by_track(tmp_path, how):
    music = tmp_path / "Music"
    artist = "Various Artists" if how != "flag" else "DJ Someone"
    files = [
        tagged_file(music / "Hits" / f"{i}.mp3", "Hits", artist, compilation=how == "flag")
        for i in range(3)
    ]
    db = tmp_path / "lib.db"
    store(db, [t(files[0], CLASSICAL), t(files[1], CLASSICAL), t(files[2], TECHNO)])
    out = run_cli("write", music, "--db", db, "--album", "--dry-run").stdout.splitlines()
    why = (
        "a compilation (3 of 3 tracks carry the compilation flag)"
        if how == "flag"
        else "a compilation (album artist 'Various Artists')"
    )
    assert out[0] == f"per track Hits — {artist}: 3 tracks, Classical 0.48, 2/3 agree: {why}"
    run_cli("write", music, "--db", db, "--album")
    assert genres_of(files) == [["Classical"], ["Classical"], ["Techno"]]


def test_an_album_whose_tracks_disagree_is_written_track_by_track(tmp_path):
    music = tmp_path / "Music"
    files = [tagged_file(music / "Mix" / f"{i}.flac", "Mixtape", "Me") for i in range(4)]
    db = tmp_path / "lib.db"
    store(db, [t(f, CLASSICAL if i < 2 else TECHNO) for i, f in enumerate(files)])
    out = run_cli("write", music, "--db", db, "--album", "--dry-run").stdout.splitlines()
    assert out[0] == (
        "per track Mixtape — Me: 4 tracks, Techno 0.45, 2/4 agree: its tracks disagree: 2 of 4 "
        "voting tracks hear Techno (more than 50% must) and it is the top genre of 2 (at least "
        "33% must)"
    )
    summary = run_json("write", music, "--db", db, "--album")
    assert summary["albums"][0]["mode"] == "mixed" and summary["albums"][0]["proposed"] == []
    assert genres_of(files) == [["Classical"]] * 2 + [["Techno"]] * 2


def one_album(tmp_path: Path, n: int) -> tuple[Path, list[Path], Path]:
    """(the music folder, ``n`` tracks of one album by one band, where the database goes)."""
    music = tmp_path / "Music"
    files = [tagged_file(music / "A" / f"{i}.flac", "Album", "Band") for i in range(n)]
    return music, files, tmp_path / "lib.db"


def test_abstained_and_silent_tracks_do_not_vote(tmp_path):
    music, files, db = one_album(tmp_path, 6)
    store(
        db,
        [
            t(files[0], CLASSICAL),
            t(files[1], CLASSICAL),
            t(files[2], TECHNO, abstained=True),  # the head was unsure: no vote
            t(files[3], TECHNO, abstained=True),
            t(files[4], TECHNO, abstained=True),
            t(files[5], None, status="silent"),  # nothing heard: no vote, no genre
        ],
    )
    summary = run_json("write", music, "--db", db, "--album")
    (album,) = summary["albums"]
    assert (album["tracks"], album["voters"], album["genre"]) == (6, 2, "Classical")
    # the album speaks for the tracks the model abstained on; the silent one gets nothing
    assert genres_of(files) == [["Classical"]] * 5 + [[]]
    assert summary["uncertain"] == 0 and summary["written"] == 5
    # track by track, the abstentions are not written
    run_cli("undo", music, "--db", db)
    per_track = run_json("write", music, "--db", db)
    assert per_track["uncertain"] == 3 and genres_of(files)[2:] == [[]] * 4


def test_an_album_of_one_voting_track_stays_per_track(tmp_path):
    music, files, db = one_album(tmp_path, 3)
    store(
        db,
        [
            t(files[0], CLASSICAL),
            t(files[1], TECHNO, abstained=True),
            t(files[2], None, status="too_short"),
        ],
    )
    out = run_cli("write", music, "--db", db, "--album", "--dry-run").stdout.splitlines()
    assert out[0] == (
        "per track Album — Band: 3 tracks, Classical 0.70, 1/1 agree: 1 of 3 tracks voted "
        "(1 abstained, 1 too short); an album genre needs 2"
    )
    summary = run_json("write", music, "--db", db, "--album")
    assert summary["uncertain"] == 1 and genres_of(files) == [["Classical"], [], []]


def test_loose_singles_are_counted_in_one_line_not_one_each(tmp_path):
    """Tracks alone in their album or folder (singles) are written per track; the dry run
    counts them in one line instead of a line of album reasons for each."""
    music = tmp_path / "Music"
    files = [tagged_file(music / f"single{i}" / "track.flac") for i in range(3)]
    db = tmp_path / "lib.db"
    store(db, [t(f, CLASSICAL) for f in files])
    out = run_cli("write", music, "--db", db, "--album", "--dry-run").stdout.splitlines()
    assert out[0] == (
        "per track: 3 tracks alone in their album or folder (an album genre needs 2 voting tracks)"
    )
    assert not any(line.startswith("per track ") for line in out)
    albums = run_json("write", music, "--db", db, "--album", "--dry-run")["albums"]
    assert len(albums) == 3  # --json still gives each


def test_top_and_min_confidence_apply_to_the_pooled_scores(two_disc_album):
    music, db, files = two_disc_album
    two = run_json("write", music, "--db", db, "--album", "--top", "2", "--dry-run")
    assert two["albums"][0]["proposed"] == ["Classical", "Ambient"]  # 0.6, 0.3
    assert {tuple(c["proposed"]) for c in two["changes"]} == {("Classical", "Ambient")}
    # the pooled classical score is 0.6: three tracks' own 0.7 would pass 0.65, the album does not
    high = run_json("write", music, "--db", db, "--album", "--min-confidence", "0.65")
    assert high["low_confidence"] == 4 and high["written"] == 0
    assert genres_of(files) == [[]] * 4
    run_cli("write", music, "--db", db, "--album", "--top", "2", "--min-confidence", "0.25")
    assert genres_of(files)[1] == ["Classical", "Ambient"]


def test_a_multi_label_models_scores_pool_without_normalising(tmp_path):
    """musicnn's independent scores: the album's score is each genre's mean, as it is stored."""
    music, files, db = one_album(tmp_path, 2)
    scores = [{"rock": 0.6, "metal": 0.5}, {"rock": 0.4, "metal": 0.3}]
    store(db, [t(f, s, model="musicnn") for f, s in zip(files, scores)])
    (album,) = run_json("write", music, "--db", db, "--album", "--dry-run")["albums"]
    assert (album["genre"], album["score"]) == ("Rock", 0.5)  # a softmax head's would be 0.555...
    store(db, [t(f, s, model="library") for f, s in zip(files, scores)])
    (album,) = run_json("write", music, "--db", db, "--album", "--dry-run")["albums"]
    assert album["score"] == pytest.approx(0.5 / 0.9, abs=rounded(4))  # 4 decimals


def test_report_by_album(two_disc_album, tmp_path):
    music, db, files = two_disc_album
    extra = [tagged_file(music / "Mix" / f"{i}.flac", "Mixtape", "Me") for i in range(2)]
    store(db, [t(extra[0], CLASSICAL), t(extra[1], TECHNO)])
    rep = run_json("report", "--db", db, "--by", "album")
    assert rep["by"] == "album"
    groups = {g["album"]: g for g in rep["groups"]}
    requiem = groups["Requiem — Mozart"]
    assert requiem["tracks"] == 4 and requiem["genre"] == "Classical"
    assert (requiem["score"], requiem["agreeing"], requiem["voters"]) == (0.6, 3, 4)
    assert requiem["mode"] == "album" and requiem["reason"] is None
    assert requiem["disagreeing"] == [{"path": str(files[3]), "genre": "Ambient"}]
    mix = groups["Mixtape — Me"]
    assert mix["mode"] == "mixed" and "its tracks disagree" in mix["reason"]
    text = run_cli("report", "--db", db, "--by", "album").stdout
    assert "Requiem — Mozart" in text and "3/4  one genre" in text
    assert f"    disagrees: Ambient      {files[3]}" in text
    table = list(
        csv.DictReader(io.StringIO(run_cli("report", "--db", db, "--by", "album", "--csv").stdout))
    )
    row = next(r for r in table if r["album"] == "Requiem — Mozart")
    assert (row["album_genre"], row["agreeing"], row["disagreeing"]) == (
        "Classical",
        "3",
        str(files[3]),
    )
    # limited to a folder: the album is still pooled whole
    part = run_json("report", music / "Requiem" / "CD1", "--db", db, "--by", "album")
    assert [(g["album"], g["tracks"], g["voters"]) for g in part["groups"]] == [
        ("Requiem — Mozart", 2, 4)
    ]


@pytest.mark.slow
def test_scan_then_write_album_with_the_real_model(tmp_path):
    """End to end: musicnn scans an album's files, `write --album` gives them the mean's genre."""
    music = tmp_path / "Music"
    files = make_library(music / "Album", seconds=4.0, formats=(".mp3", ".flac", ".ogg", ".m4a"))
    for f in files:
        audio = mutagen.File(f, easy=True)
        audio["album"], audio["albumartist"] = "Test Album", "Test Artist"
        audio.save()
    db = tmp_path / "lib.db"
    run_cli("scan", music, "--db", db, "--model", "musicnn", "-j", "1")
    stored = rows(db)
    assert {(r["album"], r["album_artist"], r["compilation"]) for r in stored} == {
        ("Test Album", "Test Artist", 0)
    }
    probs = [json.loads(r["probabilities"]) for r in stored]
    mean = {g: sum(p[g] for p in probs) / len(probs) for g in probs[0]}
    summary = run_json("write", music, "--db", db, "--album", "--dry-run")
    (album,) = summary["albums"]
    best = max(mean, key=mean.get)
    # The mean of the same stored probabilities, reported to 4 decimals.
    assert album["score"] == pytest.approx(mean[best], abs=rounded(4))
    if album["mode"] == "album":
        assert {tuple(c["proposed"]) for c in summary["changes"]} == {(album["genre"],)}
    else:  # synthetic sounds may disagree: then each keeps its own
        assert [c["proposed"][0].lower() for c in summary["changes"]] == [
            r["genre"] for r in stored
        ]


def test_a_library_head_judged_and_written_by_album_on_real_soundtracks(tmp_path, isolated_home):
    """The real soundtracks' stored embeddings, half tagged: the head's card judges it by album,
    and the softmax head's relabelled tracks pool into their soundtracks' genres."""
    from soundtracks import USER_NAMES, half_tagged, real_fixture, store_real_library

    d = real_fixture()
    tagged = half_tagged(d["groups"])
    groups = d["groups"].tolist()
    db = tmp_path / "lib.db"
    files = store_real_library(
        tmp_path / "Music", db, [USER_NAMES[g] if t else None for g, t in zip(groups, tagged)]
    )
    card = run_json("retrain", "--from-library", "--db", db, "--min-tracks", "4")
    acc = card["accuracy"]
    by_album = acc["by_album"]
    # the same held-out predictions: more albums than tracks right, and more tracks right
    # as `write --album` would write them than one by one
    assert by_album["albums"] >= 5 and by_album["accuracy"] > acc["accuracy"]
    assert by_album["album_mode_track_accuracy"] > acc["accuracy"]
    text = run_cli("retrain", "--from-library", "--db", db, "--min-tracks", "4").stdout
    assert f"by album: {by_album['accuracy']:.3f} of {by_album['albums']} albums right" in text
    run_cli("scan", tmp_path / "Music", "--db", db)  # re-labelled from the stored embeddings
    stored = {r["path"]: r for r in rows(db)}
    rep = run_json("report", "--db", db, "--by", "album")
    album_genre = {}
    for g in rep["groups"]:
        tracks = [p for p in stored if _in_album(stored[p], g)]
        for p in tracks:
            album_genre[p] = g["genre"] if g["mode"] == "album" else stored[p]["genre"]
    truth = {str(f): USER_NAMES[g] for f, g in zip(files, groups)}
    track_mode = sum(stored[p]["genre"] == truth[p] for p in truth)
    album_mode = sum(album_genre[p] == truth[p] for p in truth)
    assert album_mode > track_mode, (album_mode, track_mode)
    wesnoth = next(g for g in rep["groups"] if g["album"].startswith("The Battle for Wesnoth"))
    assert (wesnoth["genre"], wesnoth["mode"]) == ("Orchestral Score", "album")
