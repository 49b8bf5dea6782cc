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
