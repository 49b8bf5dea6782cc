"""How far two computations of the same numbers may differ, derived from the arithmetic.

The tests compare tagger's numbers with a reference computed another way: librosa, the full
checkpoint graph, Keras beside OpenVINO, a recording made on another machine.  In float32 the
two agree only up to rounding, and the rounding depends on the order in which each kernel sums,
which changes with the CPU (vector width, AVX-512 or NEON, cores), the batch and the library
version.  Each tolerance in the suite comes from a bound here or beside it, stated with its
reason, never from the largest gap one machine happened to show.
"""

from __future__ import annotations

import math

import numpy as np

U32 = 2.0**-24  # float32's unit roundoff: one rounding is off by at most u of its result
U16 = 2.0**-11  # float16's (11 significant bits)
LAMBDA = 7.0  # reorder_rtol's bound fails with probability < 2n·exp(-λ²/2): 7e-8 for n = 4,000


def reorder_rtol(terms: int, layers: int = 1) -> float:
    """Relative gap between two float32 evaluations of ``layers`` chained sums of at most
    ``terms`` products each (a net's convolutions and dense layers), each summed in any order.

    One evaluation of a sum of n products is off by at most γ_n·Σ|products| ≈ n·u·Σ|products|
    in the worst case (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, §3.1),
    and by at most λ·√n·u·Σ|products| with probability at least 1 − 2n·exp(−λ²/2) when the
    rounding errors are independent, as between different summation orders (Higham & Mary,
    SIAM J. Sci. Comput. 41(5), 2019, Thm 3.1).  Two evaluations differ by twice that; chained
    layers add their errors to first order (each batch-normalised, so it passes its input's
    relative error on at a gain of about one).  Relative to the size of the values compared.
    """
    return 2 * layers * LAMBDA * math.sqrt(terms) * U32


def net_rtol(net) -> float:
    """``reorder_rtol`` of a Keras net: its largest fan-in over convolutions and dense layers,
    and their count as the chain (a bound: a residual shortcut is a shorter chain)."""
    fan_ins = [
        int(np.prod(w.shape[:-1]))
        for layer in net.layers
        if type(layer).__name__ in ("Conv1D", "Conv2D", "Dense")
        for w in layer.get_weights()[:1]
    ]
    return reorder_rtol(max(fan_ins), layers=len(fan_ins))


# musicnn's longest chain (tagger/nets/musicnn.py): timbral convolution 7x67 = 469 products,
# three mid-end convolutions (7x561 = 3,927, then 7x64 = 448 twice), the mean over 187 frames,
# dense 1,506 and dense 200: 7 sums of at most 3,927 products.  3.7e-4.
MUSICNN_RTOL = reorder_rtol(7 * 561, layers=7)


def scaled(reference: np.ndarray, rtol: float = MUSICNN_RTOL) -> float:
    """An absolute gap: the relative bound times the values' size (the products of a sum are
    of the size of the layer's values, not of the smallest one compared)."""
    return rtol * float(np.abs(reference).max())


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """The sigmoid's input behind float32 probabilities (clipped where float32 saturates)."""
    p = np.clip(np.asarray(probabilities, np.float64), U32, 1 - U32)
    return np.log(p) - np.log1p(-p)


def sigmoid_atol(tags: np.ndarray, rtol: float = MUSICNN_RTOL) -> float:
    """Gap between two float32 runs' sigmoid outputs: the logits' gap (``rtol`` of their size)
    times the sigmoid's largest slope, 1/4."""
    return rtol * float(np.abs(logits_of(tags)).max()) / 4


def softmax_atol(logits: np.ndarray, rtol: float, temperature: float = 1.0) -> float:
    """Gap between two float32 runs' softmax outputs: a change of at most ε in every input of
    a softmax moves output i by p_i·(δz_i − Σ p_j δz_j), at most 2·p_i·(1 − p_i)·ε ≤ ε/2."""
    return rtol * float(np.abs(logits).max()) / temperature / 2


def rounded(decimals: int, count: int = 1) -> float:
    """The most ``count`` values rounded to ``decimals`` places move (half a unit each), with
    room for the float64 rounding of writing and reading them back (relative 1e-9)."""
    return count * 0.5 * 10.0**-decimals * (1 + 1e-9)


# The bfloat16 engine's stated accuracy (README: within 1e-2 of float32 on every tag), which
# test_inference checks against Keras.  A rounding bound gives nothing useful here: bfloat16
# keeps 8 significant bits, so each layer's inputs move by 2^-9 of their size.
BF16_ATOL = 1e-2


def scan_atol() -> float:
    """Gap between two scans' genre probabilities for the same audio on this machine's default
    engine (another batch, another worker or backend): each within ``BF16_ATOL`` of float32
    where the CPU runs bfloat16, else within ``sigmoid_atol`` for tags up to the saturation of
    float32 (logits of 17); a genre score is a tag, a mean or a product of two tags, so moves
    at most twice a tag's gap; both stored rounded to 5 decimals."""
    from tagger.inference import bfloat16_supported

    tag_gap = 2 * BF16_ATOL if bfloat16_supported() else MUSICNN_RTOL * 17 / 4
    return 2 * tag_gap + rounded(5, 2)
