"""int8 for musicnn's nets: how fast, on which instruction sets, and how far the tags move.

    python benchmarks/musicnn_int8.py [--calibration DIR ...] [--held-out DIR ...]

The engines: a full analysis (the exact graph, float32), the fast graph in
float32 (what ``auto`` ran on a CPU without bfloat16 before the int8 graph),
the fast graph with its timbral convolutions re-expressed densely
(``training/quantize_musicnn.py``'s ``dense_timbral``) in float32, the
shipped int8 graph (``models/musicnn_int8.xml``: that dense graph with only
the timbral convolutions in int8, 7-bit weights), the same with 8-bit
weights (which AVX2's 16-bit sums saturate), and post-training
quantization by OpenVINO's NNCF of the shipped graphs (NNCF is a
benchmark-only dependency: the product never imports it), calibrated on
the *calibration* recordings' scan patches (Debian game soundtracks, as in
``benchmarks/musicnn_cuts.py``) and checked on those and on *held-out* ones
(the GTZAN development clips, Warzone 2100's, Planet Blupi's and Fish
Fillets' soundtracks), never calibrated on.  The NNCF recipes:

* NNCF's default (performance preset: symmetric 8-bit activations, per-channel
  symmetric weights) on the exact graph and on the fast graph;
* the mixed preset (asymmetric activations);
* the front-end's convolutions (the spectrogram's, one input channel) left in
  float32, or the last layers (the dense ones);
* the overflow fix (7-bit weights) on every layer, not only the first: CPUs
  without VNNI multiply int8 pairs into 16-bit sums that can saturate.

Then, under ``ONEDNN_MAX_CPU_ISA=AVX2`` (an AVX2-only CPU's instruction sets)
and without a cap, each in a fresh process: every engine compiled for one
thread, in float32 where it is not int8, run on every track's 5 patches, the
engines alternating track by track (load on the machine falls on all alike);
the nets' ms per track and the ratio to the fast graph in float32 (what
``auto`` runs on a CPU without bfloat16) measured in the same run; and per set
the largest raw-tag difference from a full analysis (the exact graph in
float32, same run), the share of tracks within 0.05 on every raw tag and with
the same top genre (raw tags: both nets' 100 tag probabilities, pooled over
the track's patches as a scan pools them).  Each int8 engine also says which
convolutions the CPU plugin actually runs in int8 (the compiled graph's
runtime info: ``jit_avx2_I8`` against ``brgconv_avx2_f32``, say).

The patches and the quantized graphs are kept under
``$TMPDIR/tagger-bench/musicnn_int8`` (``--fresh`` makes them again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from musicnn_cuts import CALIBRATION, HELD_OUT

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))

from quantize_musicnn import dense_timbral, patches, quantize_timbral

from tagger.inference import ISA_ENV, _openvino, vector_extensions
from tagger.models import load_model, resolve

TOLERANCE = 0.05
BLOCK = 8  # frequency positions per block of a dense timbral convolution
CACHE = Path(tempfile.gettempdir()) / "tagger-bench" / "musicnn_int8"


def _front_convs(model: Any) -> dict[str, list[str]]:
    """The front-end's convolutions (one input channel) by kind: ``timbral`` (several mel
    bins a tap) and ``temporal`` (one)."""
    kinds: dict[str, list[str]] = {"timbral": [], "temporal": []}
    for op in model.get_ops():
        if op.get_type_name() == "Convolution" and op.input(0).get_partial_shape()[1] == 1:
            bins = op.input(1).get_partial_shape()[3].get_length()
            kinds["timbral" if bins > 1 else "temporal"].append(op.get_friendly_name())
    return kinds


def recipes(fast: Any, exact: Any) -> dict[str, tuple[Any, dict]]:
    """name -> (float32 graph, nncf.quantize keyword arguments)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    front = _front_convs(fast)
    every = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE)
    return {
        "exact graph, NNCF default (performance preset)": (exact, {}),
        "fast graph, NNCF default (performance preset)": (fast, {}),
        "fast graph, mixed preset": (fast, {"preset": nncf.QuantizationPreset.MIXED}),
        "fast graph, front-end convolutions in float32": (
            fast,
            {"ignored_scope": nncf.IgnoredScope(names=front["timbral"] + front["temporal"])},
        ),
        "fast graph, dense layers in float32": (
            fast,
            {"ignored_scope": nncf.IgnoredScope(types=["MatMul"])},
        ),
        "fast graph, overflow fix on every layer": (fast, {"advanced_parameters": every}),
    }


def build(args: argparse.Namespace, cache: Path) -> None:
    """The patch sets and every graph, into ``cache`` (``graphs.json``: name -> file)."""
    ov = _openvino()  # first: it keeps OpenVINO's (and so NNCF's) usage telemetry unimportable
    import nncf

    ref = resolve("musicnn")[0]
    model = load_model(ref, threads=1)
    folder = Path(ref.card_file).parent
    entry = ref.card.details["openvino"]
    for name, folders in (("calibration", args.calibration), ("held-out", args.held_out)):
        if not (cache / f"{name}.npz").is_file():
            x, track = patches(folders, model.spec)
            np.savez(cache / f"{name}.npz", x=x, track=track)
    core = ov.Core()
    fast = core.read_model(str(folder / entry["fast"]["file"]))
    exact = core.read_model(str(folder / entry["file"]))
    graphs = {
        "exact graph, float32 (full analysis, --precision float32)": str(folder / entry["file"]),
        "fast graph, float32 (auto before the int8 graph)": str(folder / entry["fast"]["file"]),
        "fast graph, timbral layers dense, float32": str(cache / "dense.xml"),
        "int8 graph as shipped (--precision int8)": str(folder / entry["int8"]["file"]),
        "int8 graph with 8-bit weights": str(cache / "int8_weights8.xml"),
    }
    ov.save_model(dense_timbral(fast), str(cache / "dense.xml"), compress_to_fp16=False)
    ranges = [tuple(r) for r in entry["int8"]["calibration"]["input_range"]]  # the shipped ones
    eight = quantize_timbral(dense_timbral(fast), ranges, weight_max=127)
    ov.save_model(eight, graphs["int8 graph with 8-bit weights"], compress_to_fp16=False)
    x = np.load(cache / "calibration.npz")["x"]
    calibration = nncf.Dataset([x[i : i + 1] for i in range(len(x))])  # one patch a sample
    for name, (graph, kwargs) in recipes(fast, exact).items():
        xml = cache / f"nncf {name}.xml".replace(",", "").replace(" ", "_")
        if not xml.is_file():
            t = time.time()
            q = nncf.quantize(graph, calibration, subset_size=len(x), **kwargs)
            ov.save_model(q, str(xml))
            print(f"quantized: {name} [{time.time() - t:.0f} s]", flush=True)
        graphs[f"NNCF int8: {name}"] = str(xml)
    (cache / "graphs.json").write_text(json.dumps(graphs, indent=1))


def kernels(compiled: Any) -> str:
    """Which kernels run the compiled graph's convolutions (``5 jit_avx2_I8, 6 ...``)."""
    count: Counter[str] = Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["layerType"].value == "Convolution":
            count[info["primitiveType"].value] += 1
    return ", ".join(f"{n} {k}" for k, n in count.most_common())


def measure(cache: Path) -> None:
    """Time and compare every graph in this process's instruction sets (the module docstring)."""
    ov = _openvino()
    ref = resolve("musicnn")[0]
    model = load_model(ref, threads=1)
    graphs = json.loads((cache / "graphs.json").read_text())
    core = ov.Core()
    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": 1,
        "ENABLE_CPU_PINNING": False,
    }
    requests, used = {}, {}
    for name, xml in graphs.items():
        compiled = core.compile_model(xml, "CPU", config)
        requests[name] = compiled.create_infer_request()
        used[name] = kernels(compiled)
    sets = {s: np.load(cache / f"{s}.npz") for s in ("calibration", "held-out")}
    raw: dict[str, dict[str, list[np.ndarray]]] = {n: {s: [] for s in sets} for n in graphs}
    seconds = dict.fromkeys(graphs, 0.0)
    names = list(graphs)
    tracks = 0
    for s, data in sets.items():
        x, track = data["x"], data["track"]
        for t in range(track.max() + 1):
            patch = np.ascontiguousarray(x[track == t])
            for name in names[t % len(names) :] + names[: t % len(names)]:  # each first in turn
                start = time.perf_counter()
                out = requests[name].infer([patch])[0]
                seconds[name] += time.perf_counter() - start
                raw[name][s].append(np.array(out[:, :100]))
            tracks += 1
    print(f"CPU: {vector_extensions()}; {tracks} tracks, 1 thread")
    full, base = names[0], names[1]
    heads = " | ".join(f"{s}: {h}" for s in sets for h in ("largest", "within 0.05", "same top"))
    print(f"| engine | ms/track | vs fast float32 | {heads} | convolutions run by |")
    print("|" + " --- |" * (3 + 3 * len(sets) + 1))
    for name in names:
        cells = []
        for s in sets:
            ours = np.stack([r.mean(0) for r in raw[name][s]])
            want = np.stack([r.mean(0) for r in raw[full][s]])
            gap = np.abs(ours - want).max(1)
            top = model.to_genres(ours).argmax(1) == model.to_genres(want).argmax(1)
            cells += [f"{gap.max():.4f}", f"{np.mean(gap <= TOLERANCE):.1%}", f"{top.mean():.1%}"]
        ms = 1000 * seconds[name] / tracks
        print(
            f"| {name} | {ms:.0f} | {seconds[base] / seconds[name]:.2f}x | "
            f"{' | '.join(cells)} | {used[name]} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", nargs="*", default=CALIBRATION)
    ap.add_argument("--held-out", nargs="*", default=HELD_OUT)
    ap.add_argument("--fresh", action="store_true", help="make the patches and graphs again")
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the per-ISA child
    args = ap.parse_args()
    if args.measure:
        measure(args.measure)
        return
    if args.fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    build(args, CACHE)
    for s in ("calibration", "held-out"):
        track = np.load(CACHE / f"{s}.npz")["track"]
        print(f"{s}: {track.max() + 1} tracks, {len(track)} patches")
    for cap in ("AVX2", None):
        env = {k: v for k, v in os.environ.items() if k != ISA_ENV}
        if cap:
            env[ISA_ENV] = cap
        print(f"\n{ISA_ENV}={cap or '(unset)'}:", flush=True)
        subprocess.run([sys.executable, __file__, "--measure", str(CACHE)], env=env, check=True)


if __name__ == "__main__":
    main()
