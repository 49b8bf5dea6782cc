"""Writes that cannot damage audio: refusals of damaged files, every container written, the
audio fingerprint, a write killed at any moment, and reasons a person can read."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import mutagen
import pytest
from corpus import audio_files, hostile_audio, mediafile_data, mutagen_data
from tagfiles import make_files
from tagfuzz import OPERATIONS, known, mutate

from tagger.decode import DecodeError, decode
from tagger.payload import Unsafe, audio_fingerprint, payload_ranges
from tagger.store import Store
from tagger.tags import (
    TagError,
    read_genres,
    refusal,
    restore_bytes,
    restore_field,
    write_genres,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("tagfiles"))


@pytest.fixture
def copy(files, tmp_path):
    def made(name: str) -> Path:
        dst = tmp_path / files[name].name
        shutil.copy(files[name], dst)
        return dst

    return made


def _refused(path: Path, pattern: str) -> None:
    """A write to ``path`` is refused for ``pattern``'s reason, before the file is touched."""
    original = path.read_bytes()
    assert re.fullmatch(pattern, refusal(path) or ""), refusal(path)
    with pytest.raises(TagError, match=pattern):
        write_genres(path, ["Jazz"])
    assert path.read_bytes() == original
    assert not list(path.parent.glob(".tagger-*"))


def test_a_wav_whose_riff_size_is_wrong_is_refused(copy):
    path = copy("wav-id3")
    data = bytearray(path.read_bytes())
    data[4:8] = (len(data) + 1000).to_bytes(4, "little")
    path.write_bytes(data)
    _refused(
        path,
        rf"refused: the RIFF size field disagrees with the file \({len(data):,} bytes\), "
        "so the edit could move audio",
    )


@pytest.mark.parametrize("name, chunk", [("wav-id3", "data"), ("aiff-id3", "SSND")])
def test_wav_and_aiff_cut_short_are_refused(copy, name, chunk):
    """An interrupted copy: the samples chunk claims more than the file holds."""
    path = copy(name)
    data = path.read_bytes()
    start, end = payload_ranges(path)[0]
    cut = data[: start + (end - start) // 2]
    order = "little" if name.startswith("wav") else "big"
    cut = cut[:4] + (len(cut) - 8).to_bytes(4, order) + cut[8:]  # the RIFF/FORM size mended
    path.write_bytes(cut)
    _refused(path, rf"refused: the {chunk} chunk claims [\d,]+ bytes but the file ends .*")


def test_an_mp4_atom_with_an_unprintable_type_is_refused(copy):
    path = copy("m4a")
    data = bytearray(path.read_bytes())
    at = data.find(b"udta") if b"udta" in data else data.find(b"trak")
    data[at : at + 4] = b"\x01\x02\x03\x04"
    path.write_bytes(data)
    _refused(path, r"refused: the MP4 atom at byte [\d,]+ has a damaged type, so the edit .*")


def test_a_flac_whose_metadata_does_not_end_at_a_frame_is_refused(copy):
    path = copy("flac")
    data = bytearray(path.read_bytes())
    data[4 + 1 : 4 + 4] = (34 + 40).to_bytes(3, "big")  # STREAMINFO claims 40 bytes more
    path.write_bytes(data)
    assert refusal(path) and refusal(path).startswith("refused: ")
    _refused(path, r"refused: .*")


@pytest.mark.parametrize("name", ["oggflac", "theora-vorbis", "opus", "vorbis"])
def test_every_ogg_audio_stream_is_written_and_undone_exactly(copy, name):
    """Ogg FLAC, and an Ogg file whose first stream is Theora video before its Vorbis audio."""
    path = copy(name)
    original, audio = path.read_bytes(), audio_fingerprint(path)
    undo = []
    old = write_genres(path, ["Jazz", "Hip-Hop"], before_commit=undo.append)
    assert read_genres(path) == ["Jazz", "Hip-Hop"]
    with av.open(str(path)) as container:  # FFmpeg's own reading of the audio stream's tags
        probe = {k.lower(): v for k, v in container.streams.audio[0].metadata.items()}
    assert re.fullmatch(r"(Jazz|Hip-Hop)(;.*)?", probe.get("genre", "")), probe
    if name == "oggflac":
        assert mutagen.File(path)["genre"] == ["Jazz", "Hip-Hop"]
    assert audio_fingerprint(path) == audio
    assert restore_bytes(path, undo[0]) and path.read_bytes() == original
    write_genres(path, ["Rock"])
    restore_field(path, old)  # field by field, as after another program's edit
    assert path.read_bytes() == original


def test_the_fingerprint_ignores_tags_and_sees_audio(copy, files):
    """Another program's retag leaves it; a changed audio byte does not."""
    fingerprints = {}
    for name in files:
        path = copy(name)
        before = audio_fingerprint(path)
        if name not in ("theora-vorbis",):  # mutagen would retag the video stream there
            f = mutagen.File(path)
            key = {"MP4": "\xa9cmt", "ASF": "Description"}.get(type(f).__name__, "comment")
            try:
                f[key] = "retagged by another program"
            except Exception:
                f.tags.add(mutagen.id3.COMM(encoding=3, text="retagged by another program"))
            f.save()
            assert audio_fingerprint(path) == before, name
        start, end = payload_ranges(path)[-1]
        data = bytearray(path.read_bytes())
        data[(start + end) // 2] ^= 0xFF
        path.write_bytes(data)
        assert audio_fingerprint(path) != before, name
        fingerprints[name] = before
    mp3 = {fingerprints[k] for k in ("mp3-v24", "mp3-v23-v1", "mp3-v23-ape")}
    assert len(mp3) == 1  # the same MP3 audio under three kinds of tags


_CHILD = r"""
import functools, os, signal, sys
from tagger.store import Store
from tagger.tags import read_field, read_genres, write_genres
db, path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = 0
def tracer(frame, event, arg):
    global seen
    if event == "line" and frame.f_code.co_filename.endswith(("tags.py", "store.py")):
        seen += 1
        if seen == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    return tracer
store = Store(db)
with store.writer_lock():
    h = store.history
    entry = h.begin(path, read_genres(path), ["Jazz"], None, read_field(path))
    sys.settrace(tracer)
    write_genres(path, ["Jazz"], temps=h.temps, before_commit=functools.partial(h.prepared, entry))
    h.finish(entry, "written", new_field=read_field(path))
    sys.settrace(None)
print(seen)
"""


@pytest.mark.parametrize("name", ["mp3-v24", "wav-id3"])  # in place; grown and renamed
def test_a_write_killed_at_any_moment_leaves_nothing_behind(copy, tmp_path, name):
    """Killed at spread-out moments (counted in executed lines, not time): the file is the
    original or the written one, and the next command removes every temporary file."""
    path = copy(name)
    if name == "wav-id3":  # no room in the tag: the copy is renamed over the file
        f = mutagen.File(path)
        f.tags.add(mutagen.id3.TXXX(encoding=3, desc="x", text="y" * 3000))
        f.save(padding=lambda info: 0)
    original = path.read_bytes()

    def run(kill_at: int, db: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", _CHILD, str(db), str(path), str(kill_at)],
            capture_output=True, text=True, env={**os.environ},
        )  # fmt: skip

    done = run(0, tmp_path / "full.db")
    assert done.returncode == 0, done.stderr
    total, written = int(done.stdout), path.read_bytes()
    assert written != original
    moments = sorted({max(1, total * i // 9) for i in range(1, 9)} | {total - 1})
    for kill_at in moments:
        path.write_bytes(original)
        db = tmp_path / f"kill{kill_at}.db"
        killed = run(kill_at, db)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        now = path.read_bytes()
        assert now in (original, written), f"half-written file after a kill at {kill_at}"
        store = Store(db)
        with store.writer_lock():  # the next command: sweeps
            pass
        store.close()
        assert not list(path.parent.glob(".tagger-*")), kill_at
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT COUNT(*) FROM tag_temps").fetchone()[0] == 0
        statuses = [r[0] for r in conn.execute("SELECT status FROM tag_history")]
        conn.close()
        assert statuses == ["written" if now == written else "failed"], (kill_at, statuses)


def _hostile_files(root: Path, files: dict[str, Path]) -> list[Path]:
    """Damaged files of every kind: the scan's hostile set, other projects' test files, and
    fuzzed copies of every written format."""
    out = [root / n for n in hostile_audio(root / "hostile")]
    out = [root / "hostile" / p.name for p in out]
    for corpus in (mutagen_data, mediafile_data):
        out += audio_files(corpus())
    rng = random.Random(21)
    fuzzed = root / "fuzzed"
    fuzzed.mkdir()
    for i in range(240):
        name = rng.choice(sorted(files))
        picks = [
            (rng.choice(OPERATIONS), rng.randrange(1 << 20), rng.randrange(1 << 32))
            for _ in range(rng.randint(1, 3))
        ]
        path = fuzzed / f"{i}-{files[name].name}"
        path.write_bytes(mutate(files[name].read_bytes(), picks))
        out.append(path)
    return out


_DECODE_REASONS = [
    re.compile(p)
    for p in (
        r"too short \(\d+\.\d s( of [\d.]+ (s|min) decodable)?\)",
        r"truncated: .* decodable",
        r"truncated: the file ends inside its header",
        r"truncated: the file ends inside its ID3 tag \([\d,]+ of the [\d,]+ bytes the tag "
        r"declares; no audio\)",
        r"silent \(.*\)",
        r"empty file \(0 bytes\)",
        r"not an audio file",
        r"no audio stream",
        r"no audio frames found",
        r"no audio decodes( \(the header promises [\d.]+ (s|min)\))?",
        r"the audio decodes differently on a second pass",
        r"damaged \w+ file: no decodable audio \((invalid data|damaged data \(the decoder lost "
        r"sync\)|seek failed|unsupported encoding|the decoders reject its data|not an audio "
        r"file|no audio stream)\)",
        r"unsupported codec \(FFmpeg has no decoder for it\)",
        r"unsupported encoding",
    )
]


def test_every_reason_is_a_cause_a_person_understands(files, tmp_path):
    """Over a hostile corpus, every write refusal and every scan reason is a known phrasing
    (no Python or library error text such as 'need at least one array to concatenate'),
    and a trial write (what `write --dry-run` makes) predicts each write's outcome and reason
    without changing the file."""
    write_reasons, decode_reasons, mispredicted = {}, {}, {}
    for path in _hostile_files(tmp_path, files):
        work = tmp_path / "work" / path.name
        work.parent.mkdir(exist_ok=True)
        shutil.copy(path, work)
        try:
            write_genres(work, ["Jazz"], trial=True)
            predicted = None
        except TagError as exc:
            predicted = str(exc)
        assert work.read_bytes() == path.read_bytes(), path.name
        try:
            write_genres(work, ["Jazz"])
        except TagError as exc:
            write_reasons[path.name] = str(exc)
        if predicted != write_reasons.get(path.name):
            mispredicted[path.name] = (predicted, write_reasons.get(path.name))
        try:
            decode(work, 16000, 2, 3.0)
        except DecodeError as exc:
            decode_reasons[path.name] = str(exc)
        work.unlink()
    unknown = {n: r for n, r in write_reasons.items() if not known(r)}
    assert not unknown, unknown
    assert not mispredicted, mispredicted
    unknown = {
        n: r for n, r in decode_reasons.items() if not any(p.fullmatch(r) for p in _DECODE_REASONS)
    }
    assert not unknown, sorted(set(unknown.values()))
    assert len(write_reasons) >= 100 and len(decode_reasons) >= 20
    print(f"{len(write_reasons)} write reasons, {len(decode_reasons)} scan reasons, all known")


def test_unsafe_is_a_tag_error():
    """A refusal is reported like every per-file failure (one line, the scan goes on)."""
    assert issubclass(Unsafe, TagError)
