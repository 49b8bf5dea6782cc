"""What else musicnn's fast graph could leave out, and what each cut does to the tags.

    python benchmarks/musicnn_cuts.py [--calibration DIR ...] [--held-out DIR ...]

The fast graph (``--precision auto``) already replaces every front-end filter
whose channel provably cannot move by 0.1 with a constant.  Could a cheaper
graph keep a scan's raw tags within 0.05 of a full analysis?  Each cut below
is chosen or fitted on the *calibration* recordings only and then checked on
those and on *held-out* ones (other recordings, other genres), against a full
analysis (the exact graph in float32, OpenVINO): every track's 5 scan
patches, the 100 raw tags pooled over the track as a scan pools them.

The front-end (the batch-normed log-mel through each layer's convolution,
ReLU, batch-norm and maximum over frequency) is computed here in numpy, the
rest of each net (mid-end and back-end) in Keras on its output, so a cut only
changes the front-end's channels:

* **one filter**: one live filter's channel replaced by its mean on the
  calibration patches (what "quiet" does with a bound, here with data); the
  largest move of any raw tag of any calibration track, per filter;
* **pruning by measured effect**: every filter whose own effect is under ``t``
  replaced at once;
* **basis filters**: each timbral layer's live filters as mixes of ``r`` basis
  filters (a weighted SVD: the calibration windows' second moments, each
  filter weighted by its batch-norm gain, which gives the least mean squared
  error of the pre-activations on such inputs), ``r`` a share of the live
  filters; ``r (k + n)`` multiply-adds a position instead of ``k n``;
* **coarser frequency steps**: the maximum over frequency taken over every
  other position of the timbral or the temporal layers' outputs.

Prints the front-end's multiply-adds per patch (both nets' live filters: what
a cut changes; the mid-end and back-end add about 0.03 G) and, per set, the
largest raw-tag difference from a full analysis, the share of tracks within
0.05 on every raw tag and the share with the same top genre (the shipped
genre rule).  Defaults: calibration = Debian game soundtracks (Wesnoth,
Endgame: Singularity, Frets on Fire, HyperRogue, Drascula, ASC); held-out =
the GTZAN development clips (``../shared/gtzan/dev``), Warzone 2100's,
Planet Blupi's and Fish Fillets' soundtracks; folders that are absent are
skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))

from quantize_musicnn import (  # the shipped int8 graph's calibration recordings
    CALIBRATION,
    patches,
)

from tagger.inference import OpenVinoNet, vector_extensions
from tagger.models import load_model, resolve
from tagger.models.musicnn_genres import merge_genres

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = [
    "/work/shared/gtzan/dev",
    str(ROOT.parent / "shared" / "gtzan" / "dev"),
    "/usr/share/games/warzone2100",
    "/usr/share/planetblupi/music",
    "/usr/share/games/fillets-ng/music",
]
TOLERANCE = 0.05
FRAMES = 187


class Net:
    """One musicnn net split where its front-end ends: numpy front-end, Keras rest."""

    def __init__(self, key: str, card, folder: Path, quiet: float):
        from tagger.runtime import keras_module

        keras = keras_module()
        from tagger.nets.musicnn import BN_EPSILON, FRONT, build_musicnn, find_dead

        net = build_musicnn(len(card.details["nets"][key]["labels"]), name=key)
        net.load_weights(folder / card.details["nets"][key]["file"])
        concat = next(layer for layer in net.layers if isinstance(layer, keras.layers.Concatenate))
        self.rest = keras.Model(concat.output, net.output)
        g, b, m, v = (float(w[0]) for w in net.get_layer("batch_normalization").get_weights())
        self.norm = (g / np.sqrt(v + BN_EPSILON), b - m * g / np.sqrt(v + BN_EPSILON))
        dead = find_dead(net, quiet)
        self.layers = []
        for name, bn, filters, kernel, _, timbral in FRONT:
            k, bias = net.get_layer(name).get_weights()
            gamma, beta, mean, var = net.get_layer(bn).get_weights()
            scale = gamma / np.sqrt(var + BN_EPSILON)
            pad = (3, 3) if timbral else ((kernel[0] - 1) // 2, kernel[0] // 2)
            d = dead[name]
            const = np.zeros(filters, np.float32)
            const[d.dead] = d.values
            self.layers.append(
                {
                    "name": name,
                    "kernel": k[:, :, 0, d.live],
                    "bias": bias[d.live],
                    "scale": scale[d.live],
                    "shift": (beta - mean * scale)[d.live],
                    "live": d.live,
                    "const": const,
                    "pad": pad,
                    "timbral": timbral,
                }
            )

    def inputs(self, x: np.ndarray) -> np.ndarray:
        return x * self.norm[0] + self.norm[1]

    def windows(self, z: np.ndarray, layer: dict) -> np.ndarray:
        kh, kw = layer["kernel"].shape[:2]
        zp = np.pad(z, ((0, 0), layer["pad"], (0, 0)))
        w = np.lib.stride_tricks.sliding_window_view(zp, (kh, kw), axis=(1, 2))
        return w.reshape(*w.shape[:3], kh * kw)

    def front(self, x: np.ndarray, kernels=None, step=None, replace=None) -> np.ndarray:
        """(n, 187, 561) front-end channels; ``kernels`` (layer -> live filters' kernel),
        ``step`` (layer -> frequency step of the maximum), ``replace`` (global channel ->
        constant) change it."""
        out = []
        for i in range(0, len(x), 8):
            z = self.inputs(x[i : i + 8])
            chans = []
            for layer in self.layers:
                k = (kernels or {}).get(layer["name"], layer["kernel"])
                pre = self.windows(z, layer) @ k.reshape(-1, k.shape[-1]) + layer["bias"]
                s = (step or {}).get(layer["name"], 1)
                y = np.maximum(pre[:, :, ::s], 0) * layer["scale"] + layer["shift"]
                c = np.broadcast_to(layer["const"], (len(z), FRAMES, len(layer["const"]))).copy()
                c[:, :, layer["live"]] = y.max(axis=2)
                chans.append(c)
            out.append(np.concatenate(chans, axis=-1))
        front = np.concatenate(out)
        for c, value in (replace or {}).items():
            front[:, :, c] = value
        return front

    def tags(self, front: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                np.asarray(self.rest(front[i : i + 64], training=False))
                for i in range(0, len(front), 64)
            ]
        )

    def front_adds(self, ranks=None, step=None) -> int:
        total = 0
        for layer in self.layers:
            kh, kw, n = layer["kernel"].shape
            positions = FRAMES * -(-(96 - kw + 1) // (step or {}).get(layer["name"], 1))
            r = (ranks or {}).get(layer["name"])
            total += positions * (r * (kh * kw + n) if r else kh * kw * n)
        return total

    def global_channels(self) -> list[tuple[str, int, int]]:
        """(layer, filter, channel in the front-end's output) of every live filter."""
        out, offset = [], 0
        for layer in self.layers:
            out += [(layer["name"], int(j), offset + int(j)) for j in layer["live"]]
            offset += len(layer["const"])
        return out


def low_rank(net: Net, z: np.ndarray, share: float) -> tuple[dict, dict]:
    """Each timbral layer's live filters through ``share`` as many basis filters (weighted SVD)."""
    kernels, ranks = {}, {}
    for layer in net.layers:
        if not layer["timbral"]:
            continue
        k = layer["kernel"]
        kh, kw, n = k.shape
        r = int(np.ceil(share * n))
        moments = np.zeros((kh * kw, kh * kw))
        count = 0
        for i in range(0, len(z), 8):
            w = net.windows(z[i : i + 8], layer)[:, ::2, ::2].reshape(-1, kh * kw)
            moments += w.T.astype(np.float64) @ w
            count += len(w)
        lam, q = np.linalg.eigh(moments / count)
        lam = np.maximum(lam, lam.max() * 1e-9)
        root, inv_root = (q * np.sqrt(lam)) @ q.T, (q / np.sqrt(lam)) @ q.T
        gain = np.abs(layer["scale"])
        u, s, vt = np.linalg.svd(root @ k.reshape(-1, n) * gain, full_matrices=False)
        approx = inv_root @ (u[:, :r] * s[:r]) @ vt[:r] / gain
        kernels[layer["name"]] = approx.reshape(kh, kw, n).astype(np.float32)
        ranks[layer["name"]] = r
    return kernels, ranks


def pooled(y: np.ndarray, track: np.ndarray) -> np.ndarray:
    return np.stack([y[track == t].mean(0) for t in range(track.max() + 1)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", nargs="*", default=CALIBRATION)
    ap.add_argument("--held-out", nargs="*", default=HELD_OUT)
    args = ap.parse_args()
    ref = resolve("musicnn")[0]
    model = load_model(ref, threads=1)
    card, folder = ref.card, Path(ref.card_file).parent
    quiet = card.details["openvino"]["fast"]["quiet_swing"]
    exact = OpenVinoNet(folder / card.details["openvino"]["file"], "float32")
    sets = {}
    t0 = time.time()
    for name, folders in (("calibration", args.calibration), ("held-out", args.held_out)):
        x, track = patches(folders, model.spec)
        full = np.concatenate([exact(x[i : i + 16]) for i in range(0, len(x), 16)])[:, :100]
        sets[name] = (x, track, pooled(full, track))
        print(f"{name}: {track.max() + 1} tracks, {len(x)} patches")
    print(f"[{time.time() - t0:.0f} s]; CPU: {vector_extensions()}")
    nets = {key: Net(key, card, folder, quiet) for key in ("mtt", "msd")}
    fronts = {(k, s): net.front(sets[s][0]) for k, net in nets.items() for s in sets}
    xc = sets["calibration"][0]

    def report(label: str, adds: int, front_of) -> None:
        cells = []
        for s, (_, track, full) in sets.items():
            y = np.concatenate([nets[k].tags(front_of(k, s)) for k in nets], axis=1)
            tags = pooled(y, track)
            gap = np.abs(tags - full).max(1)
            top = merge_genres(tags[:, :50], tags[:, 50:]).argmax(1)
            same = top == merge_genres(full[:, :50], full[:, 50:]).argmax(1)
            cells += [f"{gap.max():.4f}", f"{np.mean(gap <= TOLERANCE):.1%}", f"{same.mean():.1%}"]
        print(f"| {label} | {adds / 1e6:.0f} M | {' | '.join(cells)} |", flush=True)

    fast_adds = sum(net.front_adds() for net in nets.values())  # the front-end's
    print(
        "\n| graph | front-end multiply-adds per patch | calibration: largest raw-tag difference "
        "| within 0.05 | same top genre | held-out: largest raw-tag difference | within 0.05 "
        "| same top genre |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    report("fast graph (as shipped)", fast_adds, lambda k, s: fronts[k, s])

    # Each live filter on its own: its channel replaced by its calibration mean.
    effect: dict[tuple[str, int], float] = {}
    means: dict[tuple[str, int], float] = {}
    cost: dict[tuple[str, int], int] = {}
    for k, net in nets.items():
        x, track, _ = sets["calibration"]
        front = fronts[k, "calibration"]
        base = pooled(net.tags(front), track)
        for layer, _, c in net.global_channels():
            means[k, c] = float(front[:, :, c].mean())
            changed = front.copy()
            changed[:, :, c] = means[k, c]
            effect[k, c] = float(np.abs(pooled(net.tags(changed), track) - base).max())
            lay = next(la for la in net.layers if la["name"] == layer)
            kh, kw, _ = lay["kernel"].shape
            cost[k, c] = FRAMES * (96 - kw + 1) * kh * kw
    values = np.array(list(effect.values()))
    print(
        f"\nOne filter at a time ({len(values)} live front-end filters): the largest raw-tag "
        f"move on a calibration track, quantiles 0 / 10 / 50 / 90 / 100%: "
        + " / ".join(f"{q:.3f}" for q in np.quantile(values, [0, 0.1, 0.5, 0.9, 1]))
        + "\n"
    )
    for t in (0.005, 0.01, 0.02):
        cut = [key for key, e in effect.items() if e < t]

        def replaced(k, s, cut=cut):
            front = fronts[k, s].copy()
            for kk, c in cut:
                if kk == k:
                    front[:, :, c] = means[kk, c]
            return front

        saved = sum(cost[key] for key in cut)
        report(f"+ {len(cut)} filters whose own effect < {t} left out", fast_adds - saved, replaced)
    for share in (0.75, 0.5, 0.25):
        fitted = {k: low_rank(net, net.inputs(xc), share) for k, net in nets.items()}
        adds = sum(n.front_adds(fitted[k][1]) for k, n in nets.items())
        report(
            f"timbral layers through {share:.0%} as many basis filters",
            adds,
            lambda k, s, fitted=fitted: nets[k].front(sets[s][0], kernels=fitted[k][0]),
        )
    for which, timbral in (("timbral", True), ("temporal", False)):
        step = {
            k: {la["name"]: 2 for la in net.layers if la["timbral"] == timbral}
            for k, net in nets.items()
        }
        adds = sum(n.front_adds(step=step[k]) for k, n in nets.items())
        report(
            f"frequency step 2 in the {which} layers",
            adds,
            lambda k, s, step=step: nets[k].front(sets[s][0], step=step[k]),
        )


if __name__ == "__main__":
    main()
