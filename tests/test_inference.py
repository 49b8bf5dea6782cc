"""The OpenVINO graph against the Keras port it was converted from, and the TensorFlow fallback.

Keras is the source of truth: the float32 path must agree with it within float32's
rounding in another summation order (``tolerance``), the bfloat16 path to 1e-2
and on the top genre of real tracks
(patches of two freely licensed soundtracks, see
``fixtures/musicnn_real_patches.LICENSE``); the fast graph that ``auto`` runs
(quiet filters left out too) within ``FAST_ATOL`` more; the int8 graph within
the largest move its card recorded when it was made, and ``auto`` choosing it
only where the CPU has AVX2 and no native bfloat16.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES
from tolerance import BF16_ATOL, scaled, sigmoid_atol

from tagger.inference import TENSORFLOW, OpenVinoNet, bfloat16_supported, engine_for
from tagger.models import load_model, resolve, with_precision
from tagger.models.musicnn import N_TAGS
from tagger.models.musicnn_genres import merge_genres

TAGS = slice(0, 2 * N_TAGS)
# What leaving out the quiet filters may move a tag by: the card records the largest move
# measured on these patches when the graph was made (1.7e-4); the converter refuses 1e-2.
FAST_ATOL = 1e-3


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    parity = np.load(FIXTURES / "musicnn_parity.npz")["patches"]
    real = np.load(FIXTURES / "musicnn_real_patches.npz")["patches"].astype(np.float32)
    return np.concatenate([parity, real])


@pytest.fixture(scope="module")
def keras_outputs(inputs) -> np.ndarray:
    """The Keras port's 500 columns, dead filters and all: the reference for every runtime."""
    from tagger.models.base import compiled
    from tagger.models.musicnn import build_combined

    model = load_model(replace(resolve("musicnn")[0], precision="float32"))
    return compiled(build_combined(model.card, model.folder, prune=False))(inputs)


def run(precision: str, x: np.ndarray):
    model = load_model(replace(resolve("musicnn")[0], precision=precision))
    return model, model.forward_batched(x)


@pytest.mark.slow
def test_float32_path_matches_keras(inputs, keras_outputs):
    model, out = run("float32", inputs)
    assert str(model.engine) == "openvino float32"
    assert out.shape == (len(inputs), 500)
    tags, embeddings = keras_outputs[:, TAGS], keras_outputs[:, 2 * N_TAGS :]
    np.testing.assert_allclose(out[:, TAGS], tags, atol=sigmoid_atol(tags), rtol=0)
    np.testing.assert_allclose(out[:, 2 * N_TAGS :], embeddings, atol=scaled(embeddings), rtol=0)


def top_genres_agree(out: np.ndarray, ref: np.ndarray) -> float:
    """How often the real patches' top genre is the reference's."""
    real = slice(len(out) - 57, None)
    top = merge_genres(out[real, :N_TAGS], out[real, N_TAGS : 2 * N_TAGS]).argmax(1)
    top_ref = merge_genres(ref[real, :N_TAGS], ref[real, N_TAGS : 2 * N_TAGS]).argmax(1)
    return float((top == top_ref).mean())


@pytest.mark.slow
@pytest.mark.skipif(not bfloat16_supported(), reason="this CPU has no native bfloat16")
def test_bfloat16_path_stays_within_1e_2_and_keeps_real_top_genres(inputs, keras_outputs):
    ref = resolve("musicnn")[0]
    net = OpenVinoNet(Path(ref.card_file).parent / "musicnn.xml", "bfloat16")  # the exact graph
    out = np.concatenate([net(inputs[i : i + 8]) for i in range(0, len(inputs), 8)])
    gap = np.abs(out[:, TAGS] - keras_outputs[:, TAGS]).max()
    assert gap <= BF16_ATOL
    assert gap > sigmoid_atol(keras_outputs[:, TAGS])  # really bfloat16: beyond float32's bound
    # The embeddings point the same way (cosine similarity per patch).
    a, b = out[:, 2 * N_TAGS :], keras_outputs[:, 2 * N_TAGS :]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.999
    assert top_genres_agree(out, keras_outputs) >= 0.98


@pytest.mark.slow
def test_auto_runs_the_fast_graph_within_its_bound(inputs, keras_outputs):
    """``auto`` leaves out the quiet filters too: tags within ``FAST_ATOL`` of the full graph
    (plus bfloat16's own, where the CPU has it), the same top genres, fewer multiply-adds."""
    model, out = run("auto", inputs)
    assert model.engine.fast and str(model.engine).endswith(", fast graph")
    entry = model.card.details["openvino"]
    assert (
        entry["fast"]["multiply_adds_per_patch"]
        < 0.6 * entry["pruned"]["multiply_adds_per_patch"]["converted"]
    )
    assert entry["fast"]["largest_difference"]["tags"] <= FAST_ATOL
    # In bfloat16 the fast graph rounds each front-end value twice (its pre-activation, stored
    # before the maximum over frequency, and its batch-norm output) where the exact graph's
    # fused convolution rounds it once: twice the exact graph's stated bfloat16 accuracy.
    bound = FAST_ATOL + (2 * BF16_ATOL if model.engine.precision == "bfloat16" else 0.0)
    if model.engine.precision == "int8":  # a CPU with AVX2 and no bfloat16: the int8 graph
        bound = entry["int8"]["largest_difference"]["tags"] + FAST_ATOL
        out, keras_outputs = out[int8_range(inputs)], keras_outputs[int8_range(inputs)]
        same = entry["int8"]["largest_difference"]["same_top_genre_real_patches"]
        agree = int(same.split()[0]) / 57  # as test_int8_graph_stays_within_its_measured_bound
    else:
        agree = 0.98
    assert np.abs(out[:, TAGS] - keras_outputs[:, TAGS]).max() <= bound
    assert top_genres_agree(out, keras_outputs) >= agree
    if model.engine.precision == "float32":  # the quiet filters really are left out
        assert np.abs(out[:, TAGS] - keras_outputs[:, TAGS]).max() > sigmoid_atol(
            keras_outputs[:, TAGS]
        )


@pytest.mark.slow
def test_stale_graph_falls_back_to_tensorflow_with_a_notice(tmp_path, inputs, keras_outputs):
    """A graph converted from other weights is never used: TensorFlow runs, and the scan says so."""
    ref = resolve("musicnn")[0]
    folder = tmp_path / "models"
    shutil.copytree(Path(ref.card_file).parent, folder)
    card = json.loads((folder / "musicnn.json").read_text())
    card["openvino"]["weights_sha256"]["musicnn_mtt.weights.h5"] = "0" * 64
    (folder / "musicnn.json").write_text(json.dumps(card))
    stale = replace(
        ref,
        path=str(folder / "musicnn.json"),
        card_file=str(folder / "musicnn.json"),
        version=ref.version + "-stale",
    )
    stale, engine, notice = with_precision(stale, None)
    assert engine == TENSORFLOW
    assert notice and "runs on TensorFlow" in notice and "musicnn_mtt.weights.h5" in notice
    model = load_model(stale)
    assert model.engine == TENSORFLOW
    ref = keras_outputs[:4, TAGS]  # the full graph; TensorFlow runs the pruned one
    np.testing.assert_allclose(model.forward(inputs[:4])[:, TAGS], ref, atol=sigmoid_atol(ref))


def test_engine_choice_without_a_graph_or_openvino(tmp_path, monkeypatch):
    assert engine_for(None, tmp_path, "auto") == (TENSORFLOW, None)  # no graph: nothing to say
    ref = resolve("musicnn")[0]
    entry = ref.card.details["openvino"]
    folder = Path(ref.card_file).parent
    monkeypatch.setenv("TAGGER_RUNTIME", "tensorflow")
    assert engine_for(entry, folder, "auto")[0] == TENSORFLOW
    monkeypatch.delenv("TAGGER_RUNTIME")
    assert engine_for(entry, folder, "float32")[0].precision == "float32"
    assert not engine_for(entry, folder, "float32")[0].fast  # a full analysis: the exact graph
    assert engine_for(entry, folder, "auto")[0].fast
    with pytest.raises(ValueError, match="precision"):
        engine_for(entry, folder, "float16")


def test_cpu_flags_come_from_cpuinfo(tmp_path):
    from tagger.inference import cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx512_bf16"}
    assert cpu_flags(str(tmp_path / "absent")) is None


def test_an_isa_cap_below_bfloat16_rules_it_out(monkeypatch):
    """``ONEDNN_MAX_CPU_ISA=AVX2`` (OpenVINO's CPU plugin and TensorFlow honour it) makes a
    CPU with AVX-512 BF16 run as an AVX2-only one: ``auto`` then means float32."""
    from tagger.inference import resolved_precision, vector_extensions

    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    bfloat16_supported.cache_clear()
    try:
        assert not bfloat16_supported()
        assert resolved_precision("auto") == "float32"
        assert vector_extensions().endswith("engines capped at AVX2 (ONEDNN_MAX_CPU_ISA)")
    finally:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
        bfloat16_supported.cache_clear()


def int8_range(inputs: np.ndarray) -> np.ndarray:
    """Which of ``inputs`` the int8 graph's quantizer range covers: all but the parity
    fixture's loud patches (8x full scale, which no decoded file holds: they clip)."""
    parity = np.load(FIXTURES / "musicnn_parity.npz")
    loud = np.isin(parity["names"], parity["loud_names"])
    return np.r_[~loud, np.ones(len(inputs) - len(loud), bool)]


@pytest.mark.slow
def test_int8_graph_stays_within_its_measured_bound(inputs, keras_outputs):
    """``--precision int8``: the card's recorded largest tag move on these patches (measured
    when the graph was made, within the 0.05 a scan promises), the same top genres."""
    model, out = run("int8", inputs)
    assert model.engine.precision == "int8" and model.engine.fast
    entry = model.card.details["openvino"]["int8"]
    recorded = entry["largest_difference"]["tags"]
    assert recorded <= 0.05
    covered = int8_range(inputs)
    gap = np.abs(out[covered][:, TAGS] - keras_outputs[covered][:, TAGS]).max()
    # The card's figure is the largest over both kinds of int8 arithmetic (VNNI's, and AVX2's
    # 16-bit sums, which the 7-bit weights keep from saturating); beyond the integer part the
    # graph is the float32 fast graph, whose own stated bound covers what else may differ
    # from run to run (float32 rounding, an input on a quantizer level's edge).
    assert gap <= recorded + FAST_ATOL
    assert gap > FAST_ATOL  # really int8: beyond the float32 fast graph's own bound
    # One patch at a time the top genre turns on a few near ties (a scan pools 5 patches:
    # benchmarks/musicnn_int8.py); no more of them than when the graph was made.
    same = int(entry["largest_difference"]["same_top_genre_real_patches"].split()[0])
    assert top_genres_agree(out, keras_outputs) >= same / 57


def test_auto_picks_int8_only_on_avx2_without_bfloat16(monkeypatch, tmp_path):
    """The rule ``benchmarks/musicnn_int8.py`` measured: int8 where the CPU has AVX2 and no
    native bfloat16; bfloat16 where it has it; float32 without AVX2 or with ``float32``."""
    import tagger.inference as inference

    entry = resolve("musicnn")[0].card.details["openvino"]
    cases = [
        ({"avx2", "fma"}, None, "int8"),
        ({"avx2", "fma", "avx512f", "avx512_vnni"}, None, "int8"),
        ({"avx2", "fma", "avx512f", "avx512_bf16"}, None, "bfloat16"),
        ({"avx2", "fma", "avx512f", "avx512_bf16"}, "AVX2", "int8"),
        ({"sse4_2"}, None, "float32"),
        ({"avx2", "fma"}, "SSE41", "float32"),
    ]
    for flags, cap, want in cases:
        monkeypatch.setattr(inference, "cpu_flags", lambda flags=flags: flags)
        if cap:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        else:
            monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
        inference.bfloat16_supported.cache_clear()
        assert inference.resolved_precision("auto", entry) == want, (flags, cap)
        assert inference.resolved_precision("float32", entry) == "float32"
        assert inference.resolved_precision("int8", entry) == "int8"
        # a card without an int8 graph: int8 is auto's other choices
        no_int8 = {k: v for k, v in entry.items() if k != "int8"}
        assert inference.resolved_precision("int8", no_int8) in ("bfloat16", "float32")
    monkeypatch.undo()
    inference.bfloat16_supported.cache_clear()
