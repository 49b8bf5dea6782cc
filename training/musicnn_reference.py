"""Record reference outputs of the ORIGINAL musicnn graph, for the parity test.

Run once, in a throwaway environment that can execute TensorFlow 1 layers
(never as part of tagger): TensorFlow 2 with ``tf-keras`` installed and
``TF_USE_LEGACY_KERAS=1``, and the musicnn wheel unpacked (not installed: it
pins numpy<1.17)::

    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn
    unzip /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl -d /tmp/musicnn/w
    python -m venv --system-site-packages /tmp/refenv
    /tmp/refenv/bin/pip install "tf-keras~=2.21.0"
    TF_USE_LEGACY_KERAS=1 /tmp/refenv/bin/python training/musicnn_reference.py \
        /tmp/musicnn/w tests/fixtures/musicnn_parity.npz

The inputs are tagger's own float32 spectrograms (``tagger.features``) of a
few fixed signals, so the port is compared with the original on identical
input.  The original's float16 rounding is recorded separately, on two loud
inputs, to document what the port deliberately does not copy.
"""

from __future__ import annotations

import sys

import numpy as np

from tagger.training.synth import fixed_signals


def original_outputs(wheel_dir: str, patches: np.ndarray, model: str) -> np.ndarray:
    import tensorflow as tf

    sys.path.insert(0, wheel_dir)
    from musicnn import models  # the original graph code

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y = models.define_model(x, is_training, model, 50)[0]
        out = tf.nn.sigmoid(y)
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    tf.compat.v1.train.Saver().restore(sess, f"{wheel_dir}/musicnn/{model}/")
    return sess.run(out, feed_dict={x: patches, is_training: False})


def main(wheel_dir: str, out_path: str) -> None:
    import librosa

    from tagger.features import MUSICNN, extract

    signals = fixed_signals()
    names = list(signals)
    patches = np.concatenate([extract([s.astype(np.float32)], MUSICNN) for s in signals.values()])
    loud = [n for n in names if n.startswith("loud")]
    mel16 = []
    for n in loud:  # the package's own preprocessing: float16 before the log
        mel = librosa.feature.melspectrogram(
            y=signals[n].astype(np.float32), sr=16000, n_fft=512, hop_length=256, n_mels=96
        ).T[:187]
        with np.errstate(over="ignore"):
            mel16.append(np.log10(10000 * mel.astype(np.float16) + 1))
    mel16 = np.stack(mel16).astype(np.float32)
    result = {
        "names": np.array(names),
        "patches": patches,
        "loud_names": np.array(loud),
        "float16_patches": mel16,
    }
    for model in ("MTT_musicnn", "MSD_musicnn"):
        key = model.split("_")[0].lower()
        result[f"{key}_reference"] = original_outputs(wheel_dir, patches, model)
        result[f"{key}_float16_reference"] = original_outputs(wheel_dir, mel16, model)
    np.savez_compressed(out_path, **result)
    print(
        f"wrote {out_path}: {len(names)} patches, "
        f"{int(np.isinf(mel16).sum())} infinite values in the float16 inputs"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
