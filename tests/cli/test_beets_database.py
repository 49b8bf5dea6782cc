"""The beets plugin keeps beets' copies of the music in a database of its own by default."""

from __future__ import annotations

import pytest
from beets_rig import BEET, Beets, _rows, add_tracks
from conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.mark.skipif(BEET is None, reason="beets is not installed")
def test_the_plugin_keeps_its_own_database_beside_beets_library(tmp_path):
    b = Beets(tmp_path)
    own = b.config("own.yaml", "audiogenre: {db: null, model: musicnn, jobs: 1}\n")
    add_tracks(b, "incoming", ["one", "two"])
    b("-c", own, "audiogenre")
    beside = tmp_path / "audiogenre.db"  # beets' library is tmp_path / "beets.db"
    stored = {r["path"] for r in _rows(beside, "SELECT path FROM tracks")}
    assert stored == {str(p) for p in b.files().values()}
    home_db = tmp_path / "tagger-home" / "library.db"
    assert not home_db.exists()  # tagger's own library never saw beets' copies
    proc = run_cli("report", env={"TAGGER_HOME": str(tmp_path / "tagger-home")}, check=False)
    assert proc.returncode == 1 and "no database" in proc.stderr
