"""Make musicnn's int8 graph (``musicnn_int8.xml``) from the shipped fast graph.

    python training/quantize_musicnn.py [models/]

What ``--precision int8`` runs, and ``auto`` on a CPU without bfloat16
(``tagger.inference.resolved_precision``).  ``benchmarks/musicnn_int8.py``
measured why it is made this way:

* The fast graph's front-end convolutions read the spectrogram, one input
  channel; the two *timbral* ones (7 frames by 38 or 67 mel bins, 85% of the
  multiply-adds) take most of the time.  On an AVX2 CPU without VNNI, oneDNN
  runs an int8 convolution of that shape no faster than float32, and where a
  zero padding sits between its quantizer and the convolution OpenVINO's CPU
  plugin keeps it in float32 altogether.  So each timbral convolution is first
  re-expressed densely (``dense_timbral``): the mel bins of a block of 8
  frequency positions become the input channels of a 1-D convolution over
  time, one such convolution per position (the filter's kernel shifted by the
  position), the blocks along the height axis, then the maximum over
  positions and blocks; the time axis's zero padding becomes the
  convolution's own.  The same arithmetic (float32 within 1e-6), on shapes
  the int8 kernels run well.
* Only those convolutions are quantized (``quantize_timbral``), as NNCF's
  mixed preset with its overflow fix would: the input per tensor, 8 bits,
  over the least and largest value it takes on the calibration patches (and
  a full-scale square wave, for masters louder than the soundtracks); each
  filter's weights symmetric, 7 bits (``WEIGHT_MAX``: AVX2's 16-bit sums).
  Quantizing the rest as well (NNCF's recipes on the whole graph) moved raw
  tags by 0.3 and more.

Calibration: every scan patch of the Debian game soundtracks in
``CALIBRATION`` (absent folders are skipped; the card records what was
read).  Before writing, the graph is checked against a full analysis (the
exact graph, float32) on the test fixtures' patches; the card's
``openvino.int8`` entry records the activation ranges and how far the
outputs moved.  Deterministic for the same soundtracks: the range is a
maximum, the weights' scales a function of the weights.  Needs only
OpenVINO (no NNCF: its recipes, in the benchmark, place the quantizers where
the CPU plugin keeps the convolutions in float32).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tagger.decode import DecodeError
from tagger.features import extract
from tagger.inference import ISA_ENV, OpenVinoNet, _openvino
from tagger.models import load_model, read_card, resolve, write_card
from tagger.models.musicnn import N_TAGS
from tagger.models.musicnn_genres import merge_genres
from tagger.walk import walk
from tagger.worker import track_input

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = [
    "/usr/share/games/wesnoth",
    "/usr/share/games/singularity",
    "/usr/share/games/fretsonfire",
    "/usr/share/games/asc",
    "/usr/share/hyperrogue/music",
    "/usr/share/scummvm/drascula/audio",
]
BLOCK = 8  # frequency positions per block of a dense timbral convolution
# Weights in 7 bits: without VNNI, x86 multiplies int8 pairs (an unsigned 8-bit input by a
# signed weight) into 16-bit sums that saturate past 32767; 2 x 255 x 63 stays under it.
# With 8-bit weights the sums saturated on AVX2 and moved pooled raw tags by 0.16.
WEIGHT_MAX = 63
FIXTURES = ("musicnn_parity.npz", "musicnn_real_patches.npz")


def _src(inp: Any) -> Any:
    return inp.get_source_output().get_node()


def timbral_convolutions(model: Any) -> list[Any]:
    """The front-end's timbral convolutions: one input channel, several mel bins a tap."""
    return [
        op
        for op in model.get_ops()
        if op.get_type_name() == "Convolution"
        and op.input(0).get_partial_shape()[1] == 1
        and op.input(1).get_partial_shape()[3].get_length() > 1
    ]


def dense_timbral(model: Any, block: int = BLOCK) -> Any:
    """``model`` (a copy) with each timbral convolution and its maximum over frequency
    re-expressed densely (the module docstring); the same outputs within float32 rounding.

    A filter at frequency position ``p`` reads mel bins ``p .. p+K-1``; the blocks of
    ``block`` positions start at ``s = 0, block, ...`` (the last one may overlap the one
    before it: a maximum counts a position twice harmlessly), so bins ``s .. s+block+K-2``
    are the input channels of block ``s``, laid along the height axis.  For each position
    ``p`` in a block, one convolution (kernel 1 x taps over (block, time)) holds the
    filters' kernels shifted by ``p`` along the channels; the elementwise maximum over the
    positions, a max-pool over the blocks, then the bias."""
    import openvino.opset13 as ops

    model = model.clone()
    for conv in timbral_convolutions(model):
        w = _src(conv.input(1)).get_data()  # (filters, 1, taps, K)
        c, _, taps, k = w.shape
        add = next(iter(conv.output(0).get_target_inputs())).get_node()
        pool = next(iter(add.output(0).get_target_inputs())).get_node()
        pad = _src(conv.input(0))
        if (add.get_type_name(), pool.get_type_name(), pad.get_type_name()) != (
            "Add",
            "MaxPool",
            "Pad",
        ):
            raise ValueError(f"{conv.get_friendly_name()}: not a fast graph's timbral layer")
        before, after = (list(_src(pad.input(i)).get_data()) for i in (1, 2))
        if not (before[:2] == after[:2] == [0, 0] and before[3] == after[3] == 0):
            raise ValueError(f"{conv.get_friendly_name()}: padded along other axes than time")
        bias = next(_src(i).get_data() for i in add.inputs() if _src(i) is not conv)
        frames, bins = (pad.input(0).get_partial_shape()[i].get_length() for i in (2, 3))
        positions = bins - k + 1
        b = min(block, positions)
        starts = list(range(0, positions - b + 1, b))
        if starts[-1] != positions - b:
            starts.append(positions - b)
        width = b + k - 1
        x = ops.transpose(ops.reshape(pad.input_value(0), [-1, frames, bins], False), [0, 2, 1])
        rows = np.stack([np.arange(s, s + width) for s in starts], axis=1)  # (width, blocks)
        x = ops.gather(x, ops.constant(rows.astype(np.int64)), ops.constant(np.int64(1)))
        y = None
        for p in range(b):
            kernel = np.zeros((c, width, 1, taps), np.float32)
            kernel[:, p : p + k, 0, :] = w[:, 0].transpose(0, 2, 1)
            out = ops.convolution(
                x, ops.constant(kernel), [1, 1], [0, before[2]], [0, after[2]], [1, 1]
            )  # (batch, filters, blocks, frames)
            y = out if y is None else ops.maximum(y, out)
        y = ops.max_pool(y, [1, 1], [1, 1], [0, 0], [0, 0], [len(starts), 1])
        y = ops.add(y.output(0), ops.constant(bias.reshape(1, c, 1, 1).astype(np.float32)))
        pool.output(0).replace(ops.reshape(y, [-1, c, frames, 1], False).output(0))
    model.validate_nodes_and_infer_types()
    return model


def _dense_convolutions(model: Any) -> list[Any]:
    """``dense_timbral``'s convolutions: those that read the gathered blocks of mel bins."""
    return [
        op
        for op in model.get_ops()
        if op.get_type_name() == "Convolution" and _src(op.input(0)).get_type_name() == "Gather"
    ]


def _dense_inputs(model: Any) -> dict[str, Any]:
    """The dense timbral convolutions' inputs (one a layer, in graph order): name -> a reader."""
    return {
        op.input_value(0).get_node().get_friendly_name(): op for op in _dense_convolutions(model)
    }


def input_ranges(model: Any, x: np.ndarray) -> list[tuple[float, float]]:
    """The least and largest value each dense timbral layer's input takes on ``x``."""
    ov = _openvino()
    inputs = _dense_inputs(model)
    probe = ov.Model([op.input_value(0) for op in inputs.values()], model.get_parameters())
    compiled = ov.Core().compile_model(probe, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    lo, hi = np.full(len(inputs), np.inf), np.full(len(inputs), -np.inf)
    for i in range(0, len(x), 16):
        outs = compiled([x[i : i + 16]])
        lo = np.minimum(lo, [outs[j].min() for j in range(len(inputs))])
        hi = np.maximum(hi, [outs[j].max() for j in range(len(inputs))])
    return [(float(a), float(b)) for a, b in zip(lo, hi)]


def quantize_timbral(
    model: Any, ranges: list[tuple[float, float]], levels: int = 256, weight_max: int = WEIGHT_MAX
) -> Any:
    """``model`` (a dense one, changed in place) with its dense timbral convolutions in int8:
    the input through an 8-bit quantizer over ``ranges`` (by input: least, largest value;
    asymmetric, as the log-mel is never negative), each filter's weights rounded to 8 bits
    (symmetric, scale: its largest magnitude / 127)."""
    import openvino.opset13 as ops

    order = list(_dense_inputs(model))
    quantizers: dict[str, Any] = {}
    for conv in _dense_convolutions(model):
        name = conv.input_value(0).get_node().get_friendly_name()
        if name not in quantizers:
            lo, hi = (np.float32(v) for v in ranges[order.index(name)])
            quantizers[name] = ops.fake_quantize(conv.input_value(0), lo, hi, lo, hi, levels)
        w = _src(conv.input(1)).get_data()
        scale = np.abs(w).reshape(len(w), -1).max(1) / weight_max
        scale[scale == 0] = 1
        wi = np.round(w / scale[:, None, None, None]).astype(np.int8)
        weights = ops.multiply(
            ops.convert(ops.constant(wi), np.float32),
            ops.constant(scale.reshape(-1, 1, 1, 1).astype(np.float32)),
        )
        conv.input(0).replace_source_output(quantizers[name].output(0))
        conv.input(1).replace_source_output(weights.output(0))
    model.validate_nodes_and_infer_types()
    return model


def loudest_tone(spec) -> np.ndarray:
    """The patch of a full-scale 100 Hz square wave: about the loudest log-mel a decoded
    file (samples within [-1, 1]) holds, so the quantizer's range covers loud masters that the
    calibration soundtracks are not."""
    t = np.arange(int(spec.sr * spec.slice_seconds)) / spec.sr
    wave = np.sign(np.sin(2 * np.pi * 100 * t)).astype(np.float32)
    return extract(wave[None, :], spec).astype(np.float32)


def patches(folders: list[str], spec) -> tuple[np.ndarray, np.ndarray]:
    """Every decodable file's scan patches under ``folders`` (absent ones skipped), and the
    track index of each patch."""
    folders = list(dict.fromkeys(os.path.realpath(d) for d in folders if os.path.isdir(d)))
    xs, track = [], []
    for f in walk(folders).files:
        try:
            _, x = track_input(f, spec)
        except DecodeError:
            continue
        track += [len(xs)] * len(x)
        xs.append(x.astype(np.float32))
    if not xs:
        sys.exit(f"no audio under {', '.join(folders)} (apt install the games)")
    return np.concatenate(xs), np.array(track)


def fixture_gaps(full_xml: Path, int8_xml: Path) -> dict:
    """The int8 graph's largest differences from the full analysis on the test fixtures'
    patches in this process's instruction sets: those in the quantizer's range, and the
    parity fixture's loud ones (8x full scale, which no decoded file holds: they clip)."""
    parity = np.load(ROOT / "tests" / "fixtures" / FIXTURES[0])
    real = np.load(ROOT / "tests" / "fixtures" / FIXTURES[1])["patches"].astype(np.float32)
    loud = np.isin(parity["names"], parity["loud_names"])
    x = np.concatenate([parity["patches"][~loud], real])
    ours, full = OpenVinoNet(int8_xml, "float32")(x), OpenVinoNet(full_xml, "float32")(x)
    gap = np.abs(ours - full)
    top = [
        merge_genres(y[-len(real) :, :N_TAGS], y[-len(real) :, N_TAGS : 2 * N_TAGS]).argmax(1)
        for y in (ours, full)
    ]
    y = parity["patches"][loud]
    loud_gap = np.abs(OpenVinoNet(int8_xml, "float32")(y) - OpenVinoNet(full_xml, "float32")(y))
    return {
        "tags": float(gap[:, : 2 * N_TAGS].max()),
        "embeddings": float(gap[:, 2 * N_TAGS :].max()),
        "loud_tags": float(loud_gap[:, : 2 * N_TAGS].max()),
        "patches": len(x),
        "real_same_top": int((top[0] == top[1]).sum()),
        "real": len(real),
    }


def main(folder: Path) -> None:
    ov = _openvino()
    card = read_card(folder / "musicnn.json")
    entry = card.details["openvino"]
    ref = resolve("musicnn")[0]
    spec = load_model(ref, threads=1).spec
    x, track = patches(CALIBRATION, spec)
    tracks = int(track[-1]) + 1
    print(f"calibration: {tracks} tracks, {len(x)} patches")
    fast = ov.Core().read_model(str(folder / entry["fast"]["file"]))
    dense = dense_timbral(fast)
    ranges = input_ranges(dense, np.concatenate([x, loudest_tone(spec)]))
    int8 = quantize_timbral(dense, ranges)
    xml = folder / "musicnn_int8.xml"
    tmp = xml.with_name(".musicnn_int8.tmp.xml")
    ov.save_model(int8, str(tmp), compress_to_fp16=False)
    gaps = {}
    for cap in (None, "AVX2"):  # both kinds of int8 arithmetic: VNNI's, and AVX2's 16-bit sums
        env = {k: v for k, v in os.environ.items() if k != ISA_ENV} | (
            {ISA_ENV: cap} if cap else {}
        )
        run = [sys.executable, __file__, "--gap", str(folder / entry["file"]), str(tmp)]
        gaps[cap or "native"] = json.loads(
            subprocess.run(run, env=env, check=True, capture_output=True, text=True).stdout
        )
    tags = max(g["tags"] for g in gaps.values())
    embeddings = max(g["embeddings"] for g in gaps.values())
    clipped = max(g["loud_tags"] for g in gaps.values())
    count = gaps["native"]["patches"]
    same = min(g["real_same_top"] for g in gaps.values())
    print(
        f"int8 graph: largest difference from a full analysis: tags {tags:.4f}, "
        f"embeddings {embeddings:.3f} ({count} fixture patches, one at a time, with and "
        f"without {ISA_ENV}=AVX2); louder than full scale: tags {clipped:.3f}"
    )
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    tmp.replace(xml)
    entry["int8"] = {
        "file": xml.name,
        "weights_sha256": entry["fast"]["weights_sha256"],
        "made_from": entry["fast"]["file"],
        "graph": "the fast graph with each timbral convolution re-expressed densely (mel bins "
        f"of blocks of {BLOCK} frequency positions as input channels, one convolution a "
        "position, the maximum over positions and blocks) and only those convolutions in "
        "int8: input per tensor over its least and largest value on the calibration patches "
        "and a full-scale square wave, weights symmetric per filter in 7 bits (no 16-bit "
        "saturation on AVX2); everything else float32",
        "calibration": {
            "folders": [d for d in CALIBRATION if os.path.isdir(d)],
            "tracks": tracks,
            "patches": len(x),
            "input_range": [[round(v, 4) for v in r] for r in ranges],
            "input_range_covers": "the calibration patches and a full-scale 100 Hz square wave",
        },
        "largest_difference": {
            "tags": round(tags, 4),
            "embeddings": round(embeddings, 3),
            "patches": f"{count}: the test fixtures' within the quantizer's range (one patch "
            f"at a time, not pooled), the largest with and without {ISA_ENV}=AVX2",
            "tags_louder_than_full_scale": round(clipped, 4),
            "same_top_genre_real_patches": f"{same} of {gaps['native']['real']} (merged tags)",
            "pooled": "benchmarks/musicnn_int8.py: raw tags pooled over a track",
        },
        "command": "python training/quantize_musicnn.py models",
    }
    write_card(folder, card)
    print(f"wrote {xml} (+ .bin) and the card's openvino.int8 entry")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--gap"]:  # the per-ISA child
        print(json.dumps(fixture_gaps(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models")
