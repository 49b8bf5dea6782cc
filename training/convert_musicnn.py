"""Convert the pretrained musicnn taggers (ISC licence) into tagger's model files.

    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn
    python training/convert_musicnn.py /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl models/ \
        --real-tags tests/fixtures/musicnn_real_tags.npz

Reads the TensorFlow 1 checkpoints inside the wheel (skipping Adam slots),
loads them into the Keras 3 re-implementation of ``tagger.nets.musicnn`` by
layer name, and writes ``musicnn_mtt.weights.h5`` / ``musicnn_msd.weights.h5``
(Keras weights only: no code, nothing pickled), the ISC notice, and the model
card ``musicnn.json``.  musicnn itself is never imported or installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from musicnn_genre_rule import behaviour, rule_dict

from tagger.models import KINDS, card_for, write_card
from tagger.models.musicnn_genres import MSD_LABELS, MTT_LABELS, GenreRule
from tagger.voice import voice_description

NETS = {"mtt": ("MTT_musicnn", MTT_LABELS, 0.9067), "msd": ("MSD_musicnn", MSD_LABELS, 0.8802)}


def read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    """Every variable of a TF1 checkpoint except the optimiser's state."""
    from tensorflow.python.training import py_checkpoint_reader

    reader = py_checkpoint_reader.NewCheckpointReader(prefix)
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if "Adam" not in name and not name.startswith("beta")
    }


def load_into(model, tensors: dict[str, np.ndarray]) -> int:
    """Copy checkpoint tensors into the Keras layers of the same names; returns values copied."""
    used, copied = set(), 0
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.__class__.__name__ == "BatchNormalization":
            keys = ["gamma", "beta", "moving_mean", "moving_variance"]
        else:
            keys = ["kernel", "bias"]
        values = []
        for key, var in zip(keys, layer.weights):
            t = tensors[f"{layer.name}/{key}"]
            values.append(t.reshape(var.shape))  # Conv1D mid-end: (7, C, 1, 64) -> (7, C, 64)
            used.add(f"{layer.name}/{key}")
            copied += t.size
        layer.set_weights(values)
    left = set(tensors) - used
    if left:
        raise ValueError(f"checkpoint variables not used: {sorted(left)}")
    return copied


def convert(wheel: Path, out_dir: Path, real_tags: Path | None = None) -> dict:
    from tagger.nets.musicnn import build_musicnn
    from tagger.runtime import keras_module

    keras_module()  # quiet TensorFlow before the checkpoint reader imports it

    out_dir.mkdir(parents=True, exist_ok=True)
    nets = {}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp)
        root = Path(tmp) / "musicnn"
        licence = next(Path(tmp).glob("musicnn-*.dist-info/LICENSE*"))
        shutil.copy(licence, out_dir / "LICENSE.musicnn")
        for key, (folder, labels, auc) in NETS.items():
            model = build_musicnn(len(labels), name=f"musicnn_{key}")
            n = load_into(model, read_checkpoint(str(root / folder) + "/"))
            fname = f"musicnn_{key}.weights.h5"
            model.save_weights(out_dir / fname)
            nets[key] = {
                "file": fname,
                "checkpoint": folder,
                "weights": n,
                "labels": labels,
                "roc_auc": auc,
            }
    rule = rule_dict()  # the genre rule's constants (training/musicnn_genre_rule.py)
    card = card_for(
        KINDS["musicnn"],
        "0.1.0+tagger1",
        rule["genres"],
        architecture="musicnn (Pons & Serra 2019), Keras 3 re-implementation",
        nets=nets,
        genre_rule=rule,
        voice_from_tags=voice_description(),
        behaviour_on_real_music=behaviour(GenreRule.from_dict(rule), real_tags)
        if real_tags
        else None,
        data={
            "mtt": "MagnaTagATune (25,863 clips), 50 tags",
            "msd": "Million Song Dataset with Last.fm tags, 50 tags",
        },
        split="the original authors' train/valid/test splits",
        accuracy={
            "mtt_roc_auc": NETS["mtt"][2],
            "msd_roc_auc": NETS["msd"][2],
            "note": "ROC-AUC per the original experiment.result files; tagging, not "
            "10-genre classification, so no GTZAN accuracy or confusion matrix "
            "applies",
        },
        differences_from_package=[
            "mel power is log-compressed in float32; the package rounds it to float16 first, so "
            "10000*x overflows to infinity on loud frames and every such patch yields the same "
            "tag vector (guitar 0.37, ...) whatever the music",
            "spectrograms are computed per decoded 3-second window (tagger's windowed decoding), "
            "not over the whole file, so the two edge frames of a patch see reflect padding",
            "a track's tags are the mean over a bounded number of patches spread over the track",
        ],
        command=f"python training/convert_musicnn.py {wheel.name} {out_dir}"
        + (f" --real-tags {real_tags}" if real_tags else ""),
        source="musicnn 0.1.0 wheel (PyPI), Music Technology Group, Universitat Pompeu Fabra",
        licence="ISC (see LICENSE.musicnn)",
        date=dt.date.today().isoformat(),
    ).to_dict()
    write_card(out_dir, card)
    return card


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=Path, help="musicnn-0.1.0-py3-none-any.whl")
    ap.add_argument("out_dir", type=Path, nargs="?", default=Path("models"))
    ap.add_argument(
        "--real-tags",
        type=Path,
        help="tag vectors of real recordings (made by "
        "training/musicnn_real_tags.py) to show the genre rule in the card",
    )
    args = ap.parse_args(argv)
    card = convert(args.wheel, args.out_dir, args.real_tags)
    print(
        f"wrote {', '.join(n['file'] for n in card['nets'].values())} and musicnn.json "
        f"to {args.out_dir}"
    )


if __name__ == "__main__":
    main()
