"""Which engine runs a model's net, at which precision, and the fallback when it cannot.

Keras holds the weights (the source of truth): training, conversion and the
parity tests use it.  A model whose card has an ``openvino`` entry also ships
the same net converted once to OpenVINO IR (``<name>.xml`` + ``<name>.bin``,
by ``training/convert_openvino.py``), and scans run that instead:

* OpenVINO imports and compiles the graph in well under a second, where
  importing TensorFlow alone takes ~7 s, so workers start fast;
* on CPUs with native bfloat16 (AVX-512 BF16 or AMX) it runs the
  convolutions in bfloat16, several times TensorFlow's float32 speed
  (``benchmarks/runtimes.py``).  bfloat16 keeps 8 bits of mantissa, so tag
  probabilities move by up to ~1e-2; ``precision="float32"`` keeps OpenVINO in
  float32 (within 1e-6 of Keras).
* where a card ships an int8 graph (musicnn's: its fast graph with the
  timbral convolutions in int8, ``training/quantize_musicnn.py``), ``auto``
  runs it on a CPU with AVX2 but without native bfloat16, where it measured
  faster than float32 (``benchmarks/musicnn_int8.py``); ``precision="int8"``
  asks for it anywhere.

The card's entry records the SHA-256 of the Keras weights the graph was made
from: a graph that no longer matches its weights is never used.  Where
OpenVINO is missing, cannot compile the graph or the graph is stale, the model
runs on TensorFlow and the scan says so in one line (``engine_for``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("auto", "float32", "int8")
# Set to "tensorflow" to run every model on TensorFlow (a debugging aid).
RUNTIME_ENV = "TAGGER_RUNTIME"
# oneDNN's cap on the instruction sets it uses (``AVX2`` runs a CPU with AVX-512 as an
# AVX2-only one would); OpenVINO's CPU plugin and TensorFlow both honour it.
ISA_ENV = "ONEDNN_MAX_CPU_ISA"


class RuntimeUnavailable(Exception):
    """The fast runtime cannot run this net here; the message says why, in a few words."""


@dataclass(frozen=True)
class Engine:
    """What runs a net: ``openvino`` or ``tensorflow``, in ``bfloat16`` or ``float32``, on the
    model's exact graph or (``fast``) its fast one (the card's ``openvino.fast`` entry)."""

    runtime: str
    precision: str
    fast: bool = False

    def __str__(self) -> str:
        return f"{self.runtime} {self.precision}{', fast graph' * self.fast}"


TENSORFLOW = Engine("tensorflow", "float32")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_precision(precision: str | None) -> str:
    """``None`` -> ``auto``; anything but ``PRECISIONS`` is a ValueError naming the choices."""
    precision = precision or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be {' or '.join(PRECISIONS)}, not {precision!r}")
    return precision


def _openvino() -> Any:
    """The ``openvino`` module, imported without its usage telemetry.

    ``import openvino`` imports OpenVINO's model converter, which by default
    counts every import, writes a client id under ``~/intel`` and reports
    usage to Google Analytics unless the user has opted out.  tagger promises
    that nothing leaves the machine, and its scans import OpenVINO in every
    worker.  The converter has its own no-op stand-in for when the optional
    ``openvino_telemetry`` package is absent, so tagger makes that package
    unimportable in its process first (unless something imported it before).
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino as ov

    return ov


def _cache() -> str:
    from .paths import cache_dir

    return str(cache_dir() / "openvino")


def _core() -> Any:
    try:
        ov = _openvino()
    except Exception as exc:  # ImportError, or a broken native library
        raise RuntimeUnavailable(f"OpenVINO cannot be imported ({type(exc).__name__})") from None
    return ov.Core()


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags as Linux lists them, None where there is no such file."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        return None
    return set()


def isa_cap() -> str | None:
    """The instruction-set cap ``ONEDNN_MAX_CPU_ISA`` sets (``AVX2``), None when there is none."""
    cap = os.environ.get(ISA_ENV, "").strip().upper()
    return None if cap in ("", "ALL", "DEFAULT") else cap


# The flags that name each vector extension a speed table mentions, in that order.
EXTENSIONS = {
    "AVX2": {"avx2"},
    "FMA": {"fma"},
    "AVX-512": {"avx512f"},
    "VNNI": {"avx512_vnni", "avx_vnni"},
    "BF16": {"avx512_bf16", "amx_bf16"},
    "AMX": {"amx_tile"},
}


def vector_extensions() -> str:
    """This CPU's vector extensions as speed tables name them, and the cap set on the engines.

    ``AVX2 FMA AVX-512 VNNI BF16; engines capped at AVX2 (ONEDNN_MAX_CPU_ISA)``.
    """
    flags = cpu_flags() or set()
    names = " ".join(n for n, fl in EXTENSIONS.items() if fl & flags) or "unknown"
    cap = isa_cap()
    return f"{names}; engines capped at {cap} ({ISA_ENV})" if cap else names


@functools.cache
def bfloat16_supported() -> bool:
    """Whether this CPU computes bfloat16 natively: AVX-512 BF16 or AMX, as OpenVINO uses it.

    On Linux the CPU's flags decide, without importing OpenVINO: the scanning
    process stays light, and a process forked after OpenVINO started its
    threads (a test that drops privileges, say) cannot hang in it.  Elsewhere
    OpenVINO's own detection answers.  A cap below bfloat16's instruction sets
    (``ONEDNN_MAX_CPU_ISA=AVX2``, as a benchmark sets to run like an AVX2-only
    CPU) rules it out.
    """
    cap = isa_cap()
    if cap is not None and not any(s in cap for s in ("BF16", "AMX", "AVX10")):
        return False
    flags = cpu_flags()
    if flags is not None:
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    try:
        return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False


def int8_preferred() -> bool:
    """Whether ``auto`` runs a card's int8 graph here: AVX2 but no native bfloat16.

    The rule follows ``benchmarks/musicnn_int8.py``: on AVX2 (no VNNI; an
    AVX2-only CPU, emulated with the ``ONEDNN_MAX_CPU_ISA=AVX2`` cap) and on
    AVX-512 with VNNI, musicnn's int8 graph ran faster than its fast graph in
    float32; where the CPU has bfloat16, ``auto`` keeps bfloat16 (the int8
    graph was not measured faster there).  Without AVX2, off x86, or where the
    CPU's flags cannot be read (no ``/proc/cpuinfo``: not Linux) int8 was never
    measured, so ``auto`` keeps float32 there; ``precision="int8"`` still runs it.
    """
    if bfloat16_supported():
        return False
    cap = isa_cap()
    if cap is not None and not any(s in cap for s in ("AVX2", "AVX512", "AVX10", "AMX")):
        return False
    return "avx2" in (cpu_flags() or set())


def resolved_precision(precision: str | None, entry: dict | None = None) -> str:
    """The precision a net runs at, given the card's OpenVINO ``entry``: ``int8`` where asked
    for, or where ``auto`` prefers it (``int8_preferred``), and the entry has an int8 graph;
    else ``bfloat16`` for ``auto`` where the CPU supports it, else ``float32``."""
    precision = check_precision(precision)
    if (
        entry
        and entry.get("int8")
        and (precision == "int8" or (precision == "auto" and int8_preferred()))
    ):
        return "int8"
    if precision != "float32" and bfloat16_supported():
        return "bfloat16"
    return "float32"


def uses_fast_graph(entry: dict | None, precision: str | None) -> bool:
    """Whether ``precision`` runs one of the card's faster graphs, fast or int8: ``auto`` and
    ``int8`` do where the card has one.

    A fast graph (``entry["fast"]``) leaves out work whose effect on the
    outputs was measured and bounded (musicnn's quiet filters), and so does
    the int8 graph made from it (``entry["int8"]``); ``float32`` always runs
    the exact graph, for the outputs of a full analysis.
    """
    return check_precision(precision) != "float32" and bool(entry and entry.get("fast"))


def chosen_graph(entry: dict | None, folder: Path, precision: str | None) -> tuple[Path, str, bool]:
    """The card's converted graph that ``precision`` runs here (its int8, fast or exact one),
    the precision it runs at and whether it leaves out work (``uses_fast_graph``), checked
    without loading it: present, and made from these weights.

    Raises ``RuntimeUnavailable`` saying why it cannot be used.
    """
    if os.environ.get(RUNTIME_ENV, "").lower() == "tensorflow":
        raise RuntimeUnavailable(f"{RUNTIME_ENV}=tensorflow")
    if not entry:
        raise RuntimeUnavailable("no converted OpenVINO graph is installed")
    fast = uses_fast_graph(entry, precision)
    resolved = resolved_precision(precision, entry)
    chosen = "int8" if resolved == "int8" else "fast" if fast else None
    xml = folder / (entry[chosen]["file"] if chosen else entry["file"])
    if not xml.is_file() or not xml.with_suffix(".bin").is_file():
        raise RuntimeUnavailable(f"{xml.name} or its .bin is missing")
    for name, digest in entry.get("weights_sha256", {}).items():
        if not (folder / name).is_file() or sha256(folder / name) != digest:
            raise RuntimeUnavailable(
                f"{xml.name} was converted from other weights than {name} "
                f"(run training/convert_openvino.py)"
            )
    return xml, resolved, fast


def engine_for(
    entry: dict | None, folder: Path, precision: str | None
) -> tuple[Engine, str | None]:
    """The engine a model will run on here, and why it is not OpenVINO (None when it is).

    Cheap enough for the scanning process (no graph is compiled): it checks
    the graph and its weights, and that OpenVINO can be imported.
    """
    try:
        _, resolved, fast = chosen_graph(entry, folder, precision)
        if importlib.util.find_spec("openvino") is None:
            raise RuntimeUnavailable("OpenVINO is not installed")
    except RuntimeUnavailable as exc:
        return TENSORFLOW, str(exc) if entry else None
    return Engine("openvino", resolved, fast), None


class OpenVinoNet:
    """A converted graph compiled for this CPU: ``net(x) -> np.ndarray``.

    CPU pinning is off: a scan runs one single-threaded worker per core, and
    with pinning every worker's thread would be put on the same first core.
    """

    def __init__(self, xml: Path, precision: str, threads: int | None = None, fast: bool = False):
        core = _core()
        config: dict[str, Any] = {
            # an int8 graph holds its own quantizers; the rest of it runs in float32
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
            "ENABLE_CPU_PINNING": False,
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            try:
                # OpenVINO keeps the compiled graph (keyed by the graph's bytes and this config)
                # and reloads it in a fraction of the compile time: every scan starts its
                # workers afresh, and each would compile its graph again.
                compiled = core.compile_model(str(xml), "CPU", {**config, "CACHE_DIR": _cache()})
            except Exception:  # a cache it cannot write or read: compile without one
                compiled = core.compile_model(str(xml), "CPU", config)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RuntimeUnavailable(f"OpenVINO cannot load {xml.name}: {first[:200]}") from None
        self._request = compiled.create_infer_request()
        self.engine = Engine("openvino", precision, fast)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self._request.infer([np.ascontiguousarray(x, dtype=np.float32)])
        return np.array(out[0], dtype=np.float32)  # a copy: the request reuses its buffers


def open_openvino(
    entry: dict | None, folder: Path, precision: str | None, threads: int | None = None
) -> OpenVinoNet:
    """The card's converted graph compiled for this CPU (its int8 or fast one where
    ``precision`` picks it and the card has one); ``RuntimeUnavailable`` if it cannot be."""
    xml, resolved, fast = chosen_graph(entry, folder, precision)
    return OpenVinoNet(xml, resolved, threads, fast)


def convert(net: Any, xml: Path, weights: list[Path]) -> dict:
    """Convert a Keras ``net`` to OpenVINO IR at ``xml`` (+ ``.bin``, float32 weights).

    Returns the card entry naming the graph and the weights it was made from.
    Needs TensorFlow and OpenVINO; runs once, when the shipped model is built.
    """
    import tensorflow as tf

    ov = _openvino()

    sig = tf.TensorSpec([None, *net.input_shape[1:]], tf.float32)
    fn = tf.function(lambda x: net(x, training=False), input_signature=[sig])
    ov.save_model(ov.convert_model(fn), str(xml), compress_to_fp16=False)
    return {
        "file": xml.name,
        "openvino": ov.__version__.split("-")[0],
        "weights_sha256": {w.name: sha256(w) for w in weights},
    }


def convert_checked(
    net: Any, xml: Path, weights: list[Path], x: np.ndarray, tolerance: float = 1e-4
) -> dict:
    """``convert`` ``net`` to ``xml``, kept only if OpenVINO float32 gives Keras's outputs on ``x``.

    Written under temporary names and renamed into place, so an interrupted
    conversion leaves no half graph.  Raises ``RuntimeUnavailable`` (nothing
    written) where OpenVINO is missing or the outputs differ by more than
    ``tolerance`` relative to their largest magnitude (at least 1).
    """
    if importlib.util.find_spec("openvino") is None:
        raise RuntimeUnavailable("OpenVINO is not installed")
    tmp = xml.with_name(f".{xml.stem}.tmp.xml")
    try:
        entry = convert(net, tmp, weights)
        want = np.asarray(net(x, training=False))
        diff = float(np.abs(OpenVinoNet(tmp, "float32")(x) - want).max())
        if not diff <= tolerance * max(1.0, float(np.abs(want).max())):
            raise RuntimeUnavailable(f"the converted graph differs from Keras by {diff:.1e}")
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp, xml)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)
    return {**entry, "file": xml.name}
