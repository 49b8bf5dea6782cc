"""``tagger.scan``: which files a scan analyses, and which it skips as already done."""

from __future__ import annotations

import os
from pathlib import Path

from tagger.models import resolve
from tagger.scan import classify
from tagger.store import TrackRow


# --- planning a scan -----------------------------------------------------------------------
def test_only_changed_files_or_other_model_versions_are_analysed(tmp_path):
    ref = resolve("musicnn")[0]
    files = []
    for name in ("same", "touched", "other-model", "new"):
        f = tmp_path / f"{name}.mp3"
        f.write_bytes(b"ID3")
        files.append(f)
    st = {f.stem: os.stat(f) for f in files}

    def row(name: str, version: str = ref.version, mtime_shift: float = 0.0) -> TrackRow:
        return TrackRow(
            str(tmp_path / f"{name}.mp3"),
            size=st[name].st_size,
            mtime=st[name].st_mtime + mtime_shift,
            model=ref.name,
            model_version=version,
        )

    known = {
        str(tmp_path / "same.mp3"): row("same"),
        str(tmp_path / "touched.mp3"): row("touched", mtime_shift=1.0),
        str(tmp_path / "other-model.mp3"): row("other-model", version="0.0.1"),
    }
    gone = tmp_path / "gone.mp3"  # found by a walk, deleted before it was stat'ed
    todo, unchanged, failed = classify([*files, gone], known, ref, rescan=False)
    assert unchanged == [str(tmp_path / "same.mp3")]
    assert sorted(Path(p).stem for p, _, _ in todo) == ["new", "other-model", "touched"]
    assert [r.path for r in failed] == [str(gone)] and failed[0].error
    todo, unchanged, _ = classify(files, known, ref, rescan=True)
    assert len(todo) == 4 and unchanged == []


def test_progress_for_a_log_is_a_line_at_a_steady_pace():
    """Where stderr is not a terminal: one plain line per ``every`` seconds however many files
    finish meanwhile, one at the end, none after a Ctrl-C (a clock the test moves)."""
    import io

    from tagger.progress import LineProgress

    t = [0.0]
    out = io.StringIO()
    bar = LineProgress(100, every=30.0, clock=lambda: t[0], out=out)
    for _ in range(10):  # 10 files a second for 10 s: no line yet
        t[0] += 1.0
        bar.update(1)
    assert out.getvalue() == ""
    for _ in range(40):
        t[0] += 1.0
        bar.set_postfix(errors=2, refresh=False)
        bar.update(1)
    lines = out.getvalue().splitlines()
    assert lines == ["scanning: 30/100 files (30%), 2 errors, 1.00 files/s, 70 s left"]
    bar.close()
    assert (
        out.getvalue().splitlines()[-1]
        == "scanning: 50/100 files (50%), 2 errors, 1.00 files/s, 50 s left"
    )
    stopped = LineProgress(5, clock=lambda: t[0], out=out)
    stopped.leave = False
    stopped.close()
    assert len(out.getvalue().splitlines()) == 2 and "\r" not in out.getvalue()


def test_a_resumed_scans_progress_rates_only_its_own_files():
    """Files a resumed scan found done took no time in this run: the rate counts the rest."""
    import io

    from tagger.progress import LineProgress

    t = [0.0]
    out = io.StringIO()
    bar = LineProgress(100, initial=40, clock=lambda: t[0], out=out)
    bar.close()  # nothing done in this run yet: no rate, no estimate
    t[0] += 10.0
    bar.update(10)
    bar.close()
    assert out.getvalue().splitlines() == [
        "scanning: 40/100 files (40%), 0 errors",
        "scanning: 50/100 files (50%), 0 errors, 1.00 files/s, 50 s left",
    ]
