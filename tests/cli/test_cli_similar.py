"""``tagger similar``: its playlist, and which stored tracks it may return."""

from __future__ import annotations

from pathlib import Path

import mutagen
import numpy as np
from conftest import run_json

from tagger.models import TrackPrediction, current_embedder
from tagger.store import Store
from tagger.training.synth import synth_track, write_audio
from tagger.worker import TrackResult


def stored_library(root: Path, db: Path, tags: list[dict], vectors: np.ndarray) -> list[Path]:
    """Real FLAC files carrying ``tags``, stored as a musicnn scan stores them (``vectors`` as
    their embeddings, durations 100 s, 101 s, ...), so that no test here needs TensorFlow."""
    embedder = current_embedder()
    root.mkdir(parents=True)
    files, results = [], []
    for i, (t, vec) in enumerate(zip(tags, vectors)):
        f = write_audio(root / f"track {i}.flac", synth_track("bells", 1.0, 22050, seed=i), 22050)
        audio = mutagen.File(f)
        for key, value in t.items():
            audio[key] = value
        audio.save()
        st = f.stat()
        results.append(
            TrackResult(
                str(f),
                st.st_size,
                st.st_mtime,
                "musicnn",
                embedder.split(" ", 1)[1],
                format="flac",
                duration=100.0 + i + 0.4,
                prediction=TrackPrediction(
                    "ambient", 0.5, {"ambient": 0.5}, embedding=np.asarray(vec, np.float32)
                ),
                embedder=embedder,
            )
        )
        files.append(f)
    store = Store(db)
    try:
        scan_id = store.start_scan("musicnn", embedder, {})
        store.put_results(results, scan_id)
        store.finish_scan(scan_id, "finished", {})
    finally:
        store.close()
    return files


def test_m3u_has_real_durations_and_artist_title_from_the_tags(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    vectors = np.stack([base + 0.1 * i * rng.normal(size=400) for i in range(3)])
    tags = [
        {"artist": "Ana", "title": "First Light"},
        {"title": "No Artist Here"},
        {},  # no title: the file name
    ]
    files = stored_library(tmp_path / "Music", tmp_path / "lib.db", tags, vectors)
    out = tmp_path / "near.m3u"
    result = run_json("similar", files[0], "--db", tmp_path / "lib.db", "--m3u", out)
    assert result["query_duration"] == 100.4
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "#EXTM3U",
        "#EXTINF:100,Ana - First Light",
        str(files[0]),
        "#EXTINF:101,No Artist Here",
        str(files[1]),
        "#EXTINF:102,track 2",
        str(files[2]),
    ]
