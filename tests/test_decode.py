"""Say only what was heard: statuses and reasons from the audio that decodes, on hostile files."""

from __future__ import annotations

import multiprocessing as mp
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus import audio_files, hostile_audio, mutagen_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger.decode import SILENCE_DBFS, DecodeError, decode, level_dbfs, plan_windows
from tagger.errors import TaggerError
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


def _reasons_as_nobody(paths: list[str], conn) -> None:

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


def _decode_outcome(data: bytes, suffix: str, conn) -> None:
    import tempfile

    from tagger.decode import DecodeError, decode
    from tagger.features import LOGMEL, extract

    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(data)
    try:
        d = decode(f.name, 22050, 3, 3.0)
        x = extract(d.windows, LOGMEL)
        ok = x.shape[1:] == LOGMEL.input_shape() and np.isfinite(x).all()
        conn.send("decoded" if ok else f"bad features {x.shape}")
    except DecodeError as exc:
        conn.send("error" if str(exc) and "\n" not in str(exc) else f"bad message {exc!r}")
    except BaseException as exc:  # anything else escaping decode is a bug
        conn.send(f"raised {type(exc).__name__}: {exc}")
    finally:
        os.unlink(f.name)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("seeds")
    y = synth_track("bells", 4.0, 22050, 9)
    return {
        ext: write_audio(root / f"s{ext}", y, 22050).read_bytes()
        for ext in (".wav", ".flac", ".mp3", ".ogg", ".m4a")
    }


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


def test_a_name_that_is_not_utf8_decodes_as_the_same_file_does(tmp_path):
    """The decoder a file gets does not depend on its name's encoding: libsndfile took a
    ``str`` path strictly, refused a name with a Latin-1 byte, and FFmpeg read the file
    instead (another decode, another answer).  Every format, bit for bit."""
    from conftest import FORMATS, make_library

    for plain in make_library(tmp_path / "lib", seconds=3.0, formats=FORMATS):
        odd = os.fsencode(plain.parent) + b"/z\xe9" + os.fsencode(plain.suffix)
        os.link(plain, odd)
        a, b = decode(plain, SR, N, LENGTH), decode(os.fsdecode(odd), SR, N, LENGTH)
        assert (a.format, a.duration, a.status) == (b.format, b.duration, b.status), plain
        assert all(np.array_equal(x, y) for x, y in zip(a.windows, b.windows, strict=True)), plain


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
def test_mutagen_files_named_in_the_reliability_notes(mutagen, name, status, reason):
    got = outcome(mutagen / name)
    assert got[0] == status and re.fullmatch(reason, got[1] or ""), got


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


@pytest.mark.slow
def test_two_hour_file_decodes_in_bounded_memory(tmp_path):
    path = tmp_path / "two_hours.flac"
    rate = 8000
    block = synth_track("drone", 60.0, rate, 0)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC") as f:
        for _ in range(120):
            f.write(block)
    short = write_audio(tmp_path / "short.flac", block[: rate * 40], rate)
    code = (
        "import resource, sys\n"
        "from tagger.decode import decode\n"
        "from tagger.features import extract, LOGMEL\n"
        "def run(p):\n"
        "    d = decode(p, 22050, 10, 3.0)\n"
        "    return d, extract(d.windows, LOGMEL)\n"
        "run(sys.argv[2])  # imports, JIT and allocator warm-up on a 40-second file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "d, x = run(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(d.duration, x.shape[0], before, after)\n"
    )
    out = subprocess.run(
        [os.sys.executable, "-c", code, str(path), str(short)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    duration, slices, before_kb, after_kb = float(out[0]), int(out[1]), int(out[2]), int(out[3])
    assert abs(duration - 7200) < 1 and slices == 10
    # Decoding it whole at 22,050 Hz would take 635 MB; the windows take ~3 MB.
    assert (after_kb - before_kb) < 150_000, (before_kb, after_kb)


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_decode_and_features(seeds, data):
    """Mutated real files either decode to valid features or fail with a one-line reason.

    Each example runs in a forked child: a native crash there is what the scan's
    worker isolation handles, and it is reported here rather than killing pytest.
    """
    ext = data.draw(st.sampled_from(sorted(seeds)))
    blob = bytearray(seeds[ext])
    for _ in range(data.draw(st.integers(1, 20))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    blob = blob[:cut] if data.draw(st.booleans()) else blob
    ctx = mp.get_context("fork")
    parent, child_end = ctx.Pipe()
    proc = ctx.Process(target=_decode_outcome, args=(bytes(blob), ext, child_end))
    proc.start()
    try:
        got = parent.recv() if parent.poll(60) else "hung"
        proc.join(5)
    finally:  # never a child left behind, whatever happened
        if proc.is_alive():
            proc.kill()
        proc.join()
    assert got in ("decoded", "error") or proc.exitcode not in (0, None), got


def test_a_header_ffmpeg_cannot_set_up_is_the_files_fault_not_out_of_memory(tmp_path):
    """A WAV whose sample-rate field says 16.8 MHz, cut after its header: FFmpeg's resampler
    fails with ENOMEM, which PyAV raises as a MemoryError (found by the fuzz test above). It is
    a damaged file with a one-line reason, not a worker out of memory."""
    path = tmp_path / "t.wav"
    sf.write(path, np.zeros(22050, np.float32) + 0.1, 22050, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    data[27] = 1  # the sample rate's high byte: 22,050 + 2**24 Hz
    path.write_bytes(data[:100])
    with pytest.raises(DecodeError) as caught:
        decode(path, 22050, 3, 3.0)
    assert str(caught.value) == (
        "damaged wav file: no decodable audio "
        "(FFmpeg cannot set up decoding for what its header states)"
    )


# --- windows -------------------------------------------------------------------------------
def test_a_30_second_clip_is_cut_into_consecutive_slices():
    assert plan_windows(30.0, 10, 3.0) == [(3.0 * i, 3.0) for i in range(10)]


def test_a_long_track_spreads_its_windows_over_its_middle():
    wins = plan_windows(300.0, 5, 3.0)
    assert len(wins) == 5 and all(d == 3.0 for _, d in wins)
    starts = [s for s, _ in wins]
    assert starts[0] == pytest.approx(30.0) and starts[-1] + 3.0 == pytest.approx(270.0)
    assert starts == sorted(starts) and len(set(starts)) == 5


def test_windows_never_reach_past_the_end():
    for duration in (3.0, 3.5, 7.9, 29.99, 31.0, 45.0, 61.0, 7200.0):
        for n in (1, 3, 5, 10):
            for start, length in plan_windows(duration, n, 3.0):
                assert start >= 0 and start + length <= duration + 1e-9, (duration, n)


def test_no_windows_for_nothing():
    assert plan_windows(0.0, 5, 3.0) == [] and plan_windows(10.0, 0, 3.0) == []


def test_a_file_cut_short_inside_its_id3_tag_says_so(tmp_path):
    """An MP3 copied or downloaded only partly, ending inside the tag before its audio (a
    large cover art, say): the decoders only report "invalid data"; the reason names the
    true cause, from the tag's own declared size."""
    import mutagen.id3 as id3
    from conftest import make_library

    (track,) = make_library(tmp_path / "lib", seconds=3.0, formats=(".mp3",))
    tag = id3.ID3()
    tag.add(id3.APIC(encoding=0, mime="image/png", type=3, data=bytes(range(256)) * 64))
    tag.save(track, v2_version=3)
    declared = id3.ID3(track).size  # the whole tag, header included, as mutagen reads it
    assert declared > 3000
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(track.read_bytes()[:3000])
    with pytest.raises(DecodeError) as caught:
        decode(cut, 16000, 5, 3.0)
    assert caught.value.status == "error"
    assert str(caught.value) == (
        f"truncated: the file ends inside its ID3 tag (3,000 of the {declared:,} bytes the tag "
        "declares; no audio)"
    )
    assert decode(track, 16000, 5, 3.0).status == "ok"  # the whole file is sound
