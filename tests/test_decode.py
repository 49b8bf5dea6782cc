"""Say only what was heard: statuses and reasons from the audio that decodes, on hostile files."""

from __future__ import annotations

import multiprocessing as mp
import os
import pwd
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from corpus import audio_files, hostile_audio, mutagen_data

from tagger.decode import SILENCE_DBFS, DecodeError, decode, level_dbfs
from tagger.training.synth import synth_track, write_audio

SR, N, LENGTH = 22050, 5, 3.0


def outcome(path: Path) -> tuple[str, str | None]:
    """(status, reason) as a scan records them."""
    try:
        d = decode(path, SR, N, LENGTH)
    except DecodeError as exc:
        return exc.status, str(exc)
    assert len(d.windows) and all(len(w) == round(SR * LENGTH) for w in d.windows)
    return d.status, d.reason


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]]]:
    root = tmp_path_factory.mktemp("hostile")
    return root, hostile_audio(root)


def test_hostile_files_get_the_status_and_reason_of_what_decodes(hostile):
    root, expected = hostile
    for name, (status, reason) in expected.items():
        got = outcome(root / name)
        assert got[0] == status and re.fullmatch(reason, got[1] or ""), (name, got)


def test_windows_lie_inside_the_audio_and_are_never_zero_filled(tmp_path):
    """A header promising twice the audio: the windows are planned over what decodes."""
    y = synth_track("noise", 30.0, SR, 4)
    data = bytearray(write_audio(tmp_path / "half.flac", y, SR).read_bytes())
    head = int.from_bytes(data[18:26], "big")  # STREAMINFO: promise 60 s
    data[18:26] = ((head >> 36 << 36) | 60 * SR).to_bytes(8, "big")
    (tmp_path / "half.flac").write_bytes(data)
    d = decode(tmp_path / "half.flac", SR, N, LENGTH)
    assert d.status == "truncated" and d.reason == "truncated: 30.0 s of 60.0 s decodable"
    assert abs(d.duration - 30.0) < 0.05
    assert min(level_dbfs(w) for w in d.windows) > SILENCE_DBFS + 30
    assert max(np.mean(w == 0) for w in d.windows) < 0.01


def test_every_decoder_mixes_stereo_to_the_same_level(tmp_path):
    """FFmpeg's own stereo-to-mono mix is 3 dB louder than the channels' mean that libsndfile's
    files get: the same music from M4A (PyAV) and FLAC (libsndfile), seeking or from the start,
    must reach the model at the same level and with the same content."""
    left, right = synth_track("noise", 30.0, SR, 4), synth_track("drone", 30.0, SR, 5)
    y = np.stack([left, 0.5 * right], axis=1) * 0.5
    flac = decode(write_audio(tmp_path / "a.flac", y, SR), SR, N, LENGTH)
    m4a = decode(write_audio(tmp_path / "a.m4a", y, SR), SR, N, LENGTH)
    # The sequential PyAV decode, as for a file whose seeks fail.
    from tagger.decode import _sequential

    seq, _ = _sequential(str(tmp_path / "a.flac"), SR, N, LENGTH, 30.0)
    for windows in (m4a.windows, seq):
        for a, b in zip(windows, flac.windows):
            assert abs(level_dbfs(a) - level_dbfs(b)) < 0.2
            assert best_match(a, b) > 0.99


def best_match(a: np.ndarray, b: np.ndarray, span: int = 2048) -> float:
    """The largest normalised correlation of ``b``'s middle with ``a`` within ``span`` samples
    (AAC's encoder delay and padding shift an M4A's windows by up to ~50 ms)."""
    from scipy.signal import correlate

    core = b[span:-span]
    k = int(np.argmax(correlate(a, core, mode="valid", method="fft")))
    seg = a[k : k + len(core)]
    return float(np.dot(seg, core) / (np.linalg.norm(seg) * np.linalg.norm(core)))


@pytest.fixture(scope="session")
def mutagen() -> Path:
    return mutagen_data()


@pytest.mark.parametrize(
    "name, status, reason",
    [
        # ffmpeg decodes these; tagger used to record errors (unseekable, psf_fseek, bad blocks).
        ("lame397v9short.mp3", "too_short", r"too short \(0\.0 s\)"),
        ("variable-block.flac", "too_short", r"too short \(0\.9 s of 261\.7 s decodable\)"),
        (
            "52-too-short-block-size.flac",
            "too_short",
            r"too short \(0\.3 s of 202\.8 s decodable\)",
        ),
        ("issue_29.wma", "too_short", r"too short \(0\.8 s of 1\.7 s decodable\)"),
        # Reasons that used to be false ("permission denied", "not a regular file").
        ("nero-chapters.m4b", "error", r"no audio decodes \(the header promises 2817 min\)"),
        ("bad-POPM-frame.mp3", "error", r"damaged mp3 file: no decodable audio \(invalid data\)"),
    ],
)
def test_mutagen_files_named_in_issue_12(mutagen, name, status, reason):
    got = outcome(mutagen / name)
    assert got[0] == status and re.fullmatch(reason, got[1] or ""), got


def ffmpeg_seconds(path: Path) -> float:
    """Seconds of audio FFmpeg gets out of a file, skipping bad packets as the ffmpeg tool does."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if not c.streams.audio:
                return 0.0
            stream, samples = c.streams.audio[0], 0
            for packet in c.demux(stream):
                try:
                    samples += sum(f.samples for f in stream.decode(packet))
                except av.error.InvalidDataError:
                    continue
            return samples / (stream.codec_context.sample_rate or 1)
    except (av.error.FFmpegError, EOFError):
        return 0.0


def test_what_ffmpeg_decodes_tagger_decodes(mutagen):
    """Each mutagen test file that FFmpeg gets audio out of has a result, not an error."""
    import av

    av.logging.set_level(av.logging.PANIC)
    files = audio_files(mutagen)
    decodable = [f for f in files if ffmpeg_seconds(f) > 0]
    assert len(decodable) > 50  # the archive's audio, not an empty folder
    for f in files:
        status, reason = outcome(f)
        assert reason is None or (reason.strip() and "\n" not in reason), (f.name, reason)
        assert "permission" not in (reason or ""), (f.name, reason)
        if f in decodable:
            assert status != "error", (f.name, reason)


def _reasons_as_nobody(paths: list[str], conn) -> None:
    import sys

    from tagger.errors import TaggerError

    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    said = [outcome(Path(p)) for p in paths]
    os.environ["TAGGER_HOME"] = os.path.dirname(paths[-1])
    try:  # the first file, as `tagger scan` argument
        sys.modules["tagger.scan"].scan([paths[0]], model="musicnn")
    except TaggerError as exc:
        said.append(str(exc))
    conn.send(said)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_permission_reasons_are_true():
    """'permission denied' only when opening the file is refused; a closed folder is named."""
    import av  # noqa: F401  (imported before dropping privileges)

    import tagger.scan  # noqa: F401

    root = Path(tempfile.mkdtemp(prefix="tagger-perm-", dir="/tmp"))
    try:
        os.chmod(root, 0o777)  # also nobody's tagger home
        clip = write_audio(root / "ok.flac", synth_track("pulse", 2.0, SR, 1), SR)
        (root / "closed").mkdir()
        shutil.copy(clip, root / "closed" / "inside.flac")
        os.chmod(root / "closed", 0o700)  # root's: nobody cannot enter it
        shutil.copy(clip, root / "locked.flac")
        os.chmod(root / "locked.flac", 0o600)
        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(
            target=_reasons_as_nobody,
            args=(
                [str(root / "closed" / "inside.flac"), str(root / "locked.flac"), str(clip)],
                child,
            ),
        )
        proc.start()
        assert parent.poll(60)
        inside, locked, ok, scan_said = parent.recv()
        proc.join()
    finally:
        shutil.rmtree(root)
    assert inside == ("error", f"cannot enter folder {root / 'closed'} (permission denied)")
    assert locked == ("error", "permission denied (the file cannot be opened for reading)")
    assert ok == ("ok", None)
    assert scan_said == (
        f"cannot read {root / 'closed' / 'inside.flac'}: cannot enter folder "
        f"{root / 'closed'} (permission denied)"
    )


def test_migration_gives_old_rows_a_status(tmp_path):
    """Errors stay errors with their reason; old results are 'unchecked' (NULL), not 'ok'."""
    import sqlite3

    from tagger.store import MIGRATIONS, Store

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    conn.executemany(
        "INSERT INTO tracks (path, genre, error) VALUES (?, ?, ?)",
        [("/a.mp3", "rock", None), ("/b.mp3", None, "not an audio file")],
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    Store(db).close()
    conn = sqlite3.connect(db)
    got = conn.execute("SELECT path, status, reason, error FROM tracks ORDER BY path").fetchall()
    conn.close()
    assert got == [
        ("/a.mp3", None, None, None),
        ("/b.mp3", "error", "not an audio file", "not an audio file"),
    ]
