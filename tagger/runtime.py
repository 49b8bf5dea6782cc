"""Import Keras quietly and with a sane thread count.

TensorFlow prints several lines of C++ logging at import and, left alone,
starts one thread pool per process as wide as the machine; with one worker per
CPU that oversubscribes the cores.  Every place that needs Keras goes through
``keras_module`` so both are settled before the first import.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

_configured = False


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter (users can still override)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


# loky's resource tracker (a helper process of the worker pool) warns on stderr
# when it cleans up after workers that were stopped hard, as a Ctrl-C or a
# failed scan does; the user's one-line message must stay the last word.
RESOURCE_TRACKER_QUIET = "ignore:resource_tracker:UserWarning"


def quiet_helper_processes() -> None:
    """Keep the worker pool's helper processes from printing cleanup warnings.

    They are new interpreters that read ``PYTHONWARNINGS`` when they start, so
    the loky pool sets it before it starts them, for the CLI, the beets plugin
    and a script alike; a user's own value is kept.
    """
    current = os.environ.get("PYTHONWARNINGS", "")
    if RESOURCE_TRACKER_QUIET not in current.split(","):
        os.environ["PYTHONWARNINGS"] = ",".join(x for x in (current, RESOURCE_TRACKER_QUIET) if x)


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Mute file descriptor 2 while TensorFlow's C++ runtime starts.

    Its absl logging announces oneDNN at import and again at the first
    operation, before TF_CPP_MIN_LOG_LEVEL is read; oneDNN itself we want (3x
    faster convolutions on CPU than Eigen).  Python exceptions still propagate.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras_module(threads: int | None = None) -> ModuleType:
    """The ``keras`` module, imported after quieting TF and capping its threads."""
    global _configured
    quiet_tensorflow()
    if "keras" not in sys.modules:
        with stderr_silenced():
            import keras
    import keras
    import tensorflow as tf

    if not _configured:
        _configured = True
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:  # already initialised by an earlier import
                pass
    return keras
