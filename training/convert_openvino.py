"""Convert the shipped musicnn Keras weights to the OpenVINO graph that scans run.

    python training/convert_openvino.py [models/]

Builds the 500-column musicnn graph (``tagger.models.musicnn.build_combined``:
both nets' 100 tags and their two 200-wide embeddings) from the Keras weights
in ``models/``, without the nets' dead filters (``tagger.nets.musicnn``),
writes it as OpenVINO IR (``musicnn.xml`` + ``musicnn.bin``, float32 weights;
bfloat16 is chosen when a worker compiles the graph, not stored) and records
in the card which weights files it was made from and what pruning saved.
Keras stays the source of truth: after any change to the weights rerun this,
or scans fall back to TensorFlow.  Before writing the card it checks the graph
against the full Keras graph, dead filters and all, on the parity fixture's
patches (float32 within 1e-4; bfloat16 within 1e-2 on the tags, where the CPU
has bfloat16).

It also writes the fast graph (``musicnn_fast.xml``, what ``--precision auto``
runs): the same nets without their quiet filters as well, those that cannot
move their channel by ``QUIET`` for any audio, both nets' front-ends run as one
and the constant channels folded into the layers that read them
(``tagger.nets.musicnn.shared_front``).  Its card entry records how it was
made, what it leaves out and how far its outputs move from the full graph's
on the same patches (float32, and bfloat16 where the CPU has it; float32 must
stay within ``FAST_TOLERANCE`` on every tag, or nothing is written).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tagger.inference import OpenVinoNet, bfloat16_supported, convert
from tagger.models import read_card, write_card
from tagger.models.base import compiled
from tagger.models.musicnn import N_TAGS, build_combined
from tagger.nets.musicnn import DEAD_L1, find_dead, multiply_adds

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = {"float32": 1e-4, "bfloat16": 1e-2}
# The fast graph: front-end filters whose channel moves by less than this are left out.
QUIET = 0.1
FAST_TOLERANCE = 1e-2


def main(folder: Path) -> None:
    card = read_card(folder / "musicnn.json")
    full = build_combined(card, folder, prune=False)
    net = build_combined(card, folder)
    left_out = {
        key: sum(
            len(d.dead) for d in find_dead(full.get_layer(f"musicnn_{key}_with_embedding")).values()
        )
        for key in ("mtt", "msd")
    }
    weights = [folder / card.details["nets"][key]["file"] for key in ("mtt", "msd")]
    entry = convert(net, folder / "musicnn.xml", weights)

    x = np.load(ROOT / "tests" / "fixtures" / "musicnn_parity.npz")["patches"]
    ref = compiled(full)(x)
    for precision in ("float32", "bfloat16") if bfloat16_supported() else ("float32",):
        y = OpenVinoNet(folder / "musicnn.xml", precision)(x)
        diff = float(np.abs(y[:, : 2 * N_TAGS] - ref[:, : 2 * N_TAGS]).max())
        print(
            f"{precision}: largest tag difference from Keras {diff:.1e} "
            f"(tolerance {TOLERANCE[precision]:g})"
        )
        if diff > TOLERANCE[precision]:
            sys.exit(f"the converted graph differs from Keras by {diff:.1e} in {precision}")
    fast = fast_graph(card, folder, full, x, ref, weights)
    card.details["openvino"] = {
        **entry,
        "outputs": "MTT tags (50), MSD tags (50), MTT embedding (200), MSD embedding (200)",
        "precision": "bfloat16 where the CPU has native bfloat16 (AVX-512 BF16 or AMX), else "
        "float32; --precision float32 forces float32",
        "pruned": {
            "dead_filters_left_out": left_out,
            "dead_below_l1": DEAD_L1,
            "multiply_adds_per_patch": {
                "checkpoint": multiply_adds(full),
                "converted": multiply_adds(net),
            },
        },
        "command": "python training/convert_openvino.py models",
        "fast": fast,
    }
    write_card(folder, card)
    print(f"wrote {folder / entry['file']} (+ .bin) and the card's openvino entry")


def fast_graph(card, folder: Path, full, x: np.ndarray, ref: np.ndarray, weights) -> dict:
    """Write ``musicnn_fast.xml`` (quiet filters left out too); its card entry."""
    real = np.load(ROOT / "tests" / "fixtures" / "musicnn_real_patches.npz")["patches"]
    x = np.concatenate([x, real.astype(np.float32)])
    ref = np.concatenate([ref, compiled(full)(x[len(ref) :])])
    net = build_combined(card, folder, quiet=QUIET)
    xml = folder / "musicnn_fast.xml"
    tmp = xml.with_name(".musicnn_fast.tmp.xml")
    entry = convert(net, tmp, weights)
    y = OpenVinoNet(tmp, "float32")(x)
    tags = float(np.abs(y[:, : 2 * N_TAGS] - ref[:, : 2 * N_TAGS]).max())
    embeddings = float(np.abs(y[:, 2 * N_TAGS :] - ref[:, 2 * N_TAGS :]).max())
    print(f"fast graph: largest tag difference from Keras {tags:.1e}, embeddings {embeddings:.1e}")
    if tags > FAST_TOLERANCE:
        tmp.unlink()
        tmp.with_suffix(".bin").unlink()
        sys.exit(f"the fast graph moves a tag by {tags:.1e}: nothing written")
    difference = {"tags": round(tags, 6), "embeddings": round(embeddings, 5)}  # float32
    if bfloat16_supported():
        y = OpenVinoNet(tmp, "bfloat16")(x)
        difference["tags_bfloat16"] = round(float(np.abs(y - ref)[:, : 2 * N_TAGS].max()), 5)
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))
    tmp.replace(xml)
    left_out = {
        key: sum(
            len(d.dead)
            for d in find_dead(full.get_layer(f"musicnn_{key}_with_embedding"), QUIET).values()
        )
        for key in ("mtt", "msd")
    }
    return {
        "file": xml.name,
        "weights_sha256": entry["weights_sha256"],
        "quiet_swing": QUIET,
        "filters_left_out": left_out,
        "graph": "both nets' front-ends as one convolution per layer (each net's input "
        "batch-norm folded into its filters, its shift a fixed map for the zero-padded edge "
        "frames), the maximum over frequency before ReLU and batch-norm (kernels negated where "
        "batch-norm reverses the order), the constant channels folded into the first mid-end "
        "convolution and the first dense layer's bias: tagger.nets.musicnn.shared_front",
        "multiply_adds_per_patch": multiply_adds(net),
        "largest_difference": {
            **difference,
            "patches": f"{len(x)}: the parity fixture's and 57 of two soundtracks",
        },
    }


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models")
