"""The beets plugin ``audiogenre`` against a real beets: a library made with ``beet import``.

Everything runs through the installed ``beet`` command, as a user runs it, on a
beets library built in the test from real generated audio (``beet import -A``,
copying into the library folder), with tagger's real model and database.  One
library is shared by the tests of this module (the model runs for its first
analysis and for the items imported with ``auto``; the Ctrl-C test stops one
as its workers start); each test sets the state it needs with ``beet modify``
instead of relying on the order the tests run in.  beets 2.6, the last beets
with a single ``genre`` string, is installed from the package index into a
temporary folder for one test, which is skipped, saying why, when it cannot be.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import mutagen
import pytest
from beets_rig import (
    SOURCES,
    Beets,
    add_tracks,
    raw_tags,
    without_genre,
)
from conftest import make_library, raw_genres, rows, run_cli, run_json, spawn, stop_when

from tagger.genres import display_name

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def beets(tmp_path_factory) -> Beets:
    """A beets library of four real tracks (MP3, FLAC, Ogg, M4A) and its first audiogenre run.

    The import leaves every item without a genre; ``-p`` analyses them (the
    only model run here) without changing anything, then a real run sets the
    genres from the stored results.
    """
    b = Beets(tmp_path_factory.mktemp("beets"))
    add_tracks(b, "incoming", ["one", "two", "three", "four"])
    b.before_pretend = b.state()
    b.pretend = b("audiogenre", "-p")
    b.after_pretend = b.state()
    b.first = b("audiogenre")
    return b


def file_state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def beets_2_6(tmp_path_factory) -> Path:
    """beets 2.6.2, the last release with one ``genre`` string, from the package index."""
    target = tmp_path_factory.mktemp("beets-2.6.2")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            target,
            "beets==2.6.2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"cannot install beets 2.6.2 from the package index: {last}")
    return target


def test_import_then_audiogenre_sets_genres_through_beets(beets):
    heard = beets.heard()
    assert set(heard) == {"one", "two", "three", "four"}
    genres = beets.genres()
    for title, row in heard.items():
        assert row["error"] is None
        # beets' database and the file's own tag both hold tagger's top genre
        assert genres[title] == display_name(row["genre"])
        assert raw_genres(beets.files()[title]) == [display_name(row["genre"])]
    assert "4 items changed," in beets.first.stderr and "4 files written" in beets.first.stderr


def tempo_and_voice(beets: Beets, *query: str) -> dict[str, tuple[str, str]]:
    """title -> beets' bpm and voice, as ``beet ls -f`` prints them."""
    out = beets("ls", "-f", "$title\t$bpm\t$voice", *query).stdout
    return {t: (b, v) for t, b, v in (line.split("\t") for line in out.splitlines())}


def file_bpm(path: Path) -> int | None:
    """The BPM the file's own tag holds, through mutagen (MediaFile is beets' own reader)."""
    import mutagen

    tags = mutagen.File(path).tags or {}
    for key in ("TBPM", "tmpo", "bpm", "BPM"):
        if key in tags:
            value = tags[key]
            return int(str((value.text if hasattr(value, "text") else value)[0]))
    return None


def test_bpm_and_voice_come_from_the_same_stored_results_in_both_modes(beets):
    def expected() -> dict[str, tuple[str, str]]:
        # beets prints an unset flexible attribute as "$voice"
        return {
            t: (str(round(r["bpm"])) if r["bpm"] is not None else "0", r["voice"] or "$voice")
            for t, r in beets.heard().items()
            if t in ("one", "two", "three", "four")
        }

    assert tempo_and_voice(beets, "album:incoming") == expected()
    for title, row in beets.heard().items():
        if row["bpm"] is not None and title in ("one", "two", "three", "four"):
            assert file_bpm(beets.files()[title]) == round(row["bpm"]), title
    # Album mode: each track keeps its own tempo; a value set by hand is kept unless overwrite.
    beets("modify", "-y", "-W", "title:one", "bpm=77")
    beets("audiogenre", "-a", "album:incoming")
    assert tempo_and_voice(beets, "title:one")["one"][0] == "77"
    beets("modify", "-y", "-W", "album:incoming", "bpm=0", "voice!")
    proc = beets("audiogenre", "-a", "album:incoming")
    assert tempo_and_voice(beets, "album:incoming") == expected()
    assert "items given a tempo or voice" in proc.stderr
    assert beets.scans()[-1]["scanned"] == 0  # nothing decoded again


def test_beets_database_and_files_agree(beets):
    """What beets holds is what the files hold: ``beet write -p`` finds nothing to write."""
    proc = beets("write", "-p")
    assert proc.stdout.strip() == ""


def test_pretend_changes_nothing_but_keeps_the_analysis(beets):
    assert beets.before_pretend == beets.after_pretend
    assert all(not g for g in beets.before_pretend["genres"].values())
    assert "pretend: 4 items would change" in beets.pretend.stderr
    listing = beets.pretend.stdout
    for title in ("one", "two", "three", "four"):  # one block per item, all its changes in it
        assert listing.count(f" - incoming - {title}\n") == 1, listing
        block = listing.split(f" - incoming - {title}\n")[1].split("\n - ")[0]
        assert "  genres:" in block and "  bpm:" in block, listing
    scans = beets.scans()
    # the pretend run analysed the four files; the real run decoded nothing
    assert [(s["scanned"], s["skipped"]) for s in scans[:2]] == [(4, 0), (0, 4)]
    arguments = json.loads(scans[0]["arguments"])  # the beets run, not one path per item
    assert arguments["beets"] == "audiogenre" and arguments["items"] == 4
    assert arguments["paths"] is None and arguments["model"] == "musicnn"


def test_a_second_run_decodes_nothing(beets):
    """beets rewrote the files' tags; tagger's stored size/mtime follow, so nothing is redone."""
    before = {t: r["scanned_at"] for t, r in beets.heard().items()}
    proc = beets("audiogenre")
    assert beets.scans()[-1]["scanned"] == 0 and beets.scans()[-1]["skipped"] == 4
    assert {t: r["scanned_at"] for t, r in beets.heard().items()} == before
    assert "0 items changed" in proc.stderr and "written" not in proc.stderr
    for title, row in beets.heard().items():
        assert row["size"] == beets.files()[title].stat().st_size


def test_existing_genres_kept_unless_overwrite_and_only_the_genre_changes(beets):
    # -W: a genre in beets' database only.  A file whose tags another program
    # rewrites has a new size and mtime, so tagger would analyse it again.
    beets("modify", "-y", "-W", "title:one", "genres=Polka")
    path = beets.files()["one"]
    before, tags_before = file_state(path), raw_tags(path)

    kept = beets("audiogenre", "title:one")
    assert beets.genres("title:one") == {"one": "Polka"}
    assert file_state(path) == before  # file untouched
    assert "keep Polka (tagger:" in kept.stderr and "1 kept their genres" in kept.stderr

    beets("audiogenre", "--overwrite", "--top", "2", "title:one")
    probs = beets.heard()["one"]["probabilities"]
    top2 = [display_name(g) for g in sorted(probs, key=probs.get, reverse=True)[:2]]
    assert beets.genres("title:one") == {"one": "; ".join(top2)} and raw_genres(path) == top2
    tags_after = raw_tags(path)
    assert without_genre(tags_after) == without_genre(tags_before)  # raw level: only the genre
    assert tags_after != tags_before
    assert beets.scans()[-1]["scanned"] == 0  # nothing analysed again


def test_write_writes_a_genre_set_earlier_without_writing(beets):
    """A genre set with ``-W`` (beets' database only) is pending for the file: ``-w`` later
    writes it, though beets already holds it, as ``beet write`` would."""
    beets("modify", "-y", "title:three", "genres=Polka")  # the file says Polka
    path = beets.files()["three"]
    beets("audiogenre", "-W", "-o", "title:three")
    heard = display_name(beets.heard()["three"]["genre"])
    assert beets.genres("title:three") == {"three": heard} and raw_genres(path) == ["Polka"]
    assert "three" in beets("write", "-p").stdout  # pending for beets too

    proc = beets("audiogenre", "-w", "title:three")
    assert "0 items changed, 1 file written, 1 already set" in proc.stderr
    assert raw_genres(path) == [heard]
    assert beets("write", "-p").stdout.strip() == ""
    assert beets.scans()[-1]["scanned"] == 0  # nothing analysed again
    again = beets("audiogenre", "-w", "title:three")  # nothing pending: nothing written
    assert "written" not in again.stderr


def test_write_writes_a_tempo_set_earlier_without_writing(beets):
    """A tempo set with ``-W`` is pending for the file, as a genre is: ``-w`` later writes it."""
    title = next(t for t, r in beets.heard().items() if r["bpm"] is not None and t != "three")
    bpm = round(beets.heard()[title]["bpm"])
    beets("modify", "-y", f"title:{title}", "bpm=0")  # written: the file holds no tempo
    path = beets.files()[title]
    beets("audiogenre", "-W", f"title:{title}")
    assert tempo_and_voice(beets, f"title:{title}")[title][0] == str(bpm)
    assert file_bpm(path) in (None, 0) and title in beets("write", "-p").stdout

    proc = beets("audiogenre", "-w", f"title:{title}")
    assert "1 file written" in proc.stderr and file_bpm(path) == bpm
    assert beets("write", "-p").stdout.strip() == ""
    assert "written" not in beets("audiogenre", "-w", f"title:{title}").stderr


def test_what_tagger_scan_analysed_is_copied_not_decoded(tmp_path):
    """The plugin's own database starts empty, but the user's tagger library holds the same
    audio (``tagger scan`` of the files beets imports copies of): copied, nothing decoded."""
    b = Beets(tmp_path, own_db=True)
    src = tmp_path / "incoming"
    files = make_library(src, seconds=4.0, formats=(".mp3", ".flac"))
    for path, name in zip(files, ["five", "six"]):
        f = mutagen.File(path, easy=True)
        f["title"], f["album"] = name, "incoming"
        f.save()
    library_db = Path(b.env["TAGGER_HOME"]) / "library.db"
    run_cli("scan", src, "--jobs", "1", env=b.env)  # tagger's own library: the default db
    b("import", "-A", "-q", src)
    proc = b("audiogenre")
    assert "2 analysed before by `tagger scan` (the same audio): copied from" in proc.stderr
    assert "2 items changed" in proc.stderr
    assert b.tagger_db.is_file() and b.scans()[-1]["scanned"] == 0  # nothing decoded
    theirs = {Path(r["path"]).suffix: r for r in rows(library_db, "SELECT * FROM tracks")}
    for title, row in b.heard().items():
        assert row["scanned_at"] == theirs[Path(row["path"]).suffix]["scanned_at"]
        assert b.genres()[title] == display_name(row["genre"])
    vectors = rows(b.tagger_db, "SELECT path FROM embeddings")
    assert len(vectors) == 2  # similar and a trained head find them in the plugin's database


def test_threshold_and_top_k(beets):
    probs = beets.heard()["two"]["probabilities"]
    ranked = sorted(probs.values(), reverse=True)
    between_2nd_and_3rd = (ranked[1] + ranked[2]) / 2
    beets("audiogenre", "-o", "--top", "3", "--min-confidence", between_2nd_and_3rd, "title:two")
    # The second genre only where the model hears it at least half as well as the first.
    kept = 2 if ranked[1] >= 0.5 * ranked[0] else 1
    names = [display_name(g) for g in sorted(probs, key=probs.get, reverse=True)[:kept]]
    assert beets.genres("title:two") == {"two": "; ".join(names)}
    assert raw_genres(beets.files()["two"]) == names

    # nothing reaches 1.0: no genre is set, and the two already there stay
    proc = beets("audiogenre", "-o", "-c", "1.0", "title:two")
    assert "1 below min_confidence" in proc.stderr
    assert raw_genres(beets.files()["two"]) == names

    bad = beets("audiogenre", "-c", "1.5", check=False)
    assert (
        bad.returncode != 0
        and "audiogenre.min_confidence: must be a number from 0 to 1, not 1.5" in bad.stderr
    )
    assert "Traceback" not in bad.stderr


def test_tracks_the_model_abstained_on_are_left_unless_asked(beets):
    """A track stored ``uncertain`` (under a head's threshold, or with no clear genre by
    musicnn's rule) is left alone unless asked; the rig's configuration asks, so a second
    configuration file (``beet -c``) takes it back here."""
    strict = beets.config("strict.yaml", "audiogenre: {include_uncertain: no}\n")

    def mark(uncertain: int | None) -> int | None:
        conn = sqlite3.connect(beets.tagger_db)
        with conn:
            (before,) = conn.execute(
                "SELECT uncertain FROM tracks WHERE path = ?", [str(beets.files()["four"])]
            ).fetchone()
            conn.execute(
                "UPDATE tracks SET uncertain = ? WHERE path = ?",
                [uncertain, str(beets.files()["four"])],
            )
        conn.close()
        return before

    stored = mark(1)
    try:
        beets("modify", "-y", "-W", "title:four", "genres=Polka")
        left = beets("-c", strict, "audiogenre", "-o", "title:four")
        assert beets.genres("title:four") == {"four": "Polka"} and "1 uncertain" in left.stderr
        beets("-c", strict, "audiogenre", "-o", "--include-uncertain", "title:four")
        top = display_name(beets.heard()["four"]["genre"])
        assert beets.genres("title:four") == {"four": top}
    finally:
        mark(stored)  # the other tests see the track as musicnn stored it


def test_beets_write_setting_and_nowrite(beets):
    path = beets.files()["three"]
    before = file_state(path)
    top = display_name(beets.heard()["three"]["genre"])
    beets("modify", "-y", "-W", "title:three", "genres=Polka")
    beets("audiogenre", "-o", "-W", "title:three")
    assert beets.genres("title:three") == {"three": top} and file_state(path) == before

    beets("modify", "-y", "-W", "title:three", "genres=Polka")
    nowrite = beets.config("nowrite.yaml", "import: {write: no}\n")
    beets("-c", nowrite, "audiogenre", "-o", "title:three")
    assert beets.genres("title:three") == {"three": top} and file_state(path) == before


def test_album_genres_come_from_all_its_tracks(beets):
    heard = beets.heard()
    tracks = ("one", "two", "three", "four")
    mean = {
        g: sum(heard[t]["probabilities"][g] for t in tracks) / len(tracks)
        for g in heard["one"]["probabilities"]
    }
    top = display_name(max(mean, key=mean.__getitem__))
    beets("modify", "-a", "-y", "-W", "album:incoming", "genres=Polka")  # not the album's yet
    proc = beets("audiogenre", "-a", "-o", "album:incoming")
    assert "1 album changed" in proc.stderr
    albums = beets("ls", "-a", "-f", "$album\t$genres", "album:incoming").stdout
    assert albums == f"incoming\t{top}\n"
    assert beets.genres("album:incoming") == dict.fromkeys(tracks, top)  # beets' inheritance
    for title in tracks:
        assert raw_genres(beets.files()[title]) == [top]
    assert beets.scans()[-1]["scanned"] == 0


def test_auto_on_import_analyses_only_the_new_items(beets):
    auto = beets.config("auto.yaml", "audiogenre: {auto: yes}\n")
    scans_before = len(beets.scans())
    add_tracks(beets, "incoming2", ["five", "six"], "-c", auto)
    scans = beets.scans()[scans_before:]
    assert len(scans) == 1 and scans[0]["scanned"] == 2  # one worker pool for the whole import
    heard = beets.heard()
    genres = beets.genres("title:five", ",", "title:six")
    for title in ("five", "six"):
        assert genres[title] == display_name(heard[title]["genre"])
        assert raw_genres(beets.files()[title]) == [display_name(heard[title]["genre"])]


def test_ctrl_c_says_what_was_kept_and_sets_nothing(beets):
    add_tracks(beets, "incoming3", ["seven"])
    proc = spawn(
        [*beets.command, "audiogenre", "title:seven"],
        env=beets.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop_when(  # beets, once the scan has begun (workers starting), holding no SQLite lock
        proc,
        lambda: beets.scans()[-1]["status"] == "running",
        "beets ended before its scan was seen running",
        within=300,
        db=beets.tagger_db,
    )
    proc.send_signal(signal.SIGINT)  # delivered when it goes on
    os.killpg(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert err.strip().splitlines()[-1] == (
        "error: audiogenre: interrupted; the files analysed so far are kept in tagger's "
        "database, run the same command to go on (no genres were set)"
    )
    assert "Traceback" not in err
    assert beets.scans()[-1]["status"] == "interrupted"
    assert beets.genres("title:seven") == {"seven": ""}


def test_user_mistakes_are_one_line(beets):
    def mistake(config: str, *args: str) -> str:
        extra = beets.config("mistake.yaml", config)
        proc = beets("-c", extra, "audiogenre", *args, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        return proc.stderr

    assert "audiogenre: no items match title:nosuchtitle" in mistake("", "title:nosuchtitle")
    assert "no albums match album:nosuch" in mistake("", "-a", "album:nosuch")
    assert "is a directory" in mistake(f"audiogenre: {{db: {beets.root}}}\n", "title:four")
    assert "no such model: nosuch" in mistake("audiogenre: {model: nosuch}\n", "title:four")
    # the words of tagger's settings table, as for a config file or a tagger option
    assert "audiogenre.jobs: must be a whole number >= 1, not 'two'" in mistake(
        "audiogenre: {jobs: two}\n"
    )
    assert "audiogenre.top: must be a whole number >= 1, not 0" in mistake("", "--top", "0")
    assert "audiogenre.precision: must be one of auto, float32, int8, not 'fast'" in mistake(
        "audiogenre: {precision: fast}\n", "title:four"
    )


def _heard_as_two_genres(beets: Beets) -> str:
    """The item whose second genre is heard most nearly as well as its first: one that
    ``--top 2`` gives two genres (the second at least half as likely as the first)."""
    ratios = {}
    for title, row in beets.heard().items():
        if not row["probabilities"]:
            continue
        first, second = sorted(row["probabilities"].values(), reverse=True)[:2]
        ratios[title] = second / first
    title = max(ratios, key=ratios.__getitem__)
    assert ratios[title] >= 0.5, ratios  # the generated tracks hold such a one
    return title


def test_keys_beets_leaves_unset_come_from_taggers_config_file(beets, tmp_path):
    """tagger's config.toml fills what beets' config leaves unset (its database, the rules, the
    genre spellings), so beets and `tagger write` agree; beets' own values still win."""
    from tagger.models.musicnn_genres import GENRES

    toml = tmp_path / "config.toml"
    spellings = ", ".join(f"{json.dumps(g)} = {json.dumps('Heard ' + g)}" for g in GENRES)
    toml.write_text(
        f"db = {json.dumps(str(beets.tagger_db))}\noverwrite = true\ntop = 2\n"
        f"[genres]\nmap = {{ {spellings} }}\n"
    )
    unset = beets.config("unset.yaml", "audiogenre: {db: null}\n")  # the fixture sets db
    env, beets.env = beets.env, {**beets.env, "TAGGER_CONFIG": str(toml)}
    try:
        title = _heard_as_two_genres(beets)
        beets("-c", unset, "audiogenre", f"title:{title}")
        probs = beets.heard()[title]["probabilities"]
        ranked = ["Heard " + g for g in sorted(probs, key=probs.get, reverse=True)]
        assert beets.genres(f"title:{title}") == {title: "; ".join(ranked[:2])}
        assert raw_genres(beets.files()[title]) == ranked[:2]
        assert beets.scans()[-1]["scanned"] == 0  # tagger's database: nothing analysed again

        beets("-c", unset, "audiogenre", "--top", "1", f"title:{title}")  # the command line wins
        assert beets.genres(f"title:{title}") == {title: ranked[0]}

        toml.write_text("top = 0\n")
        bad = beets("-c", unset, "audiogenre", f"title:{title}", check=False)
    finally:
        beets.env = env
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
    (line,) = bad.stderr.strip().splitlines()  # one line, naming the file and the key
    assert f"audiogenre: config {toml}: top: " in line


def test_beets_before_2_7_gets_one_genre_string(beets, beets_2_6, tmp_path):
    """The same files and tagger database, read by a beets that has ``genre``, not ``genres``."""
    old = Beets(
        tmp_path,
        music=beets.music,
        tagger_db=beets.tagger_db,
        importing="{copy: no, write: no}",
        command=(sys.executable, "-c", "import sys; from beets.ui import main; main()"),
        pythonpath=str(beets_2_6),
    )
    assert "beets version 2.6.2" in old("version").stdout
    old("import", "-A", "-q", beets.music)
    files = {title: path.stat().st_mtime_ns for title, path in beets.files().items()}
    title = _heard_as_two_genres(beets)
    old("audiogenre", "-o", "--top", "2", f"title:{title}")
    probs = beets.heard()[title]["probabilities"]
    top2 = [display_name(g) for g in sorted(probs, key=probs.get, reverse=True)[:2]]
    assert old("ls", "-f", "$genre", f"title:{title}").stdout == ", ".join(top2) + "\n"
    again = old("audiogenre", "-o", "--top", "2", f"title:{title}")
    assert "0 items changed, 1 already set" in again.stderr
    assert beets.scans()[-1]["scanned"] == 0  # analysed once, by the other beets
    assert {t: p.stat().st_mtime_ns for t, p in beets.files().items()} == files  # write: no


def test_after_a_change_to_a_trained_head_nothing_is_decoded(beets, tmp_path):
    """The user trains a head on their tagger library (the one the plugin reuses: tagger's
    default database) and names it: the plugin's database, copies of that music, uses the
    head learnt from it and predicts the items from the musicnn embeddings its first run
    stored, decoding none (last: the plugin's rows then hold the head's results)."""
    from soundtracks import USER_NAMES, real_fixture, store_real_library

    d = real_fixture()
    library_db = Path(beets.env["TAGGER_HOME"]) / "library.db"
    assert not library_db.exists()  # the plugin's database is its own
    store_real_library(tmp_path / "Music", library_db, [USER_NAMES[g] for g in d["groups"]])
    run_cli("retrain", "--from-library", "--db", library_db, "--min-tracks", "3", env=beets.env)
    embedded = {  # the items the plugin has analysed (an earlier test's Ctrl-C left one not)
        r["path"]
        for r in rows(
            beets.tagger_db,
            "SELECT e.path FROM embeddings e JOIN tracks t ON t.path = e.path AND "
            "e.size IS t.size AND e.mtime IS t.mtime WHERE t.missing = 0",
        )
    }
    files = {str(p) for p in beets.files().values()}
    assert len(embedded & files) >= 4
    head = beets.config("head.yaml", "audiogenre: {model: library}\n")
    beets("-c", head, "audiogenre", "-p")
    last = beets.scans()[-1]
    assert (last["model"], last["relabelled"]) == ("library", len(embedded & files))
    assert last["scanned"] == len(files - embedded)  # only what was never analysed is decoded
    assert {r["model"] for r in beets.heard().values()} == {"library"}


def test_an_item_too_short_to_hear_says_why_it_got_no_genre(beets):
    src = beets.root / "jingles"
    (path,) = make_library(src, seconds=0.5, formats=(".flac",))
    f = mutagen.File(path, easy=True)
    f["title"], f["album"] = "jingle", "jingles"
    f.save()
    beets("import", "-A", "-q", src)
    proc = beets("audiogenre", "title:jingle")
    assert "jingle: not analysed: too short" in proc.stderr, proc.stderr
    assert "no result in tagger's database" not in proc.stderr


def test_album_mode_sets_genres_as_tagger_write_album_would(tmp_path):
    """An album half tagged before import (beets takes the album's genre from a tagged
    track): its untagged items get the pooled genre, the tagged ones keep theirs, item for
    item what `tagger write --album` would write from the same stored results."""
    b = Beets(tmp_path)
    src = tmp_path / "half"
    for i, path in enumerate(make_library(src, formats=SOURCES)):
        f = mutagen.File(path, easy=True)
        f["title"], f["album"], f["albumartist"] = f"half{i}", "halftagged", "Band"
        if i < 2:
            f["genre"] = "Polka"
        f.save()
    b("import", "-A", "-q", src)
    b("audiogenre", "-a", "-p", "album:halftagged")  # analyses, changes nothing
    would = run_json("write", "--album", "--dry-run", "--include-uncertain", "--db", b.tagger_db)[
        "changes"
    ]
    b("audiogenre", "-a", "album:halftagged")
    files = {str(p): t for t, p in b.files().items()}
    expected = {
        files[c["path"]]: c["proposed"] if c["action"] == "write" else c["existing"] for c in would
    }
    assert sorted(c["action"] for c in would) == ["keep existing"] * 2 + ["write"] * 2, would
    assert b.genres("album:halftagged") == {t: "; ".join(g) for t, g in expected.items()}
    for title, genres in expected.items():
        assert raw_genres(b.files()[title]) == genres, title
