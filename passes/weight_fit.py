"""Fitting a constant's format to its values: the quantizer's search policy.

`format_for_mse` (weight_fit = "mse") tries the covering format of
`fixed.format_for_range` and finer ones and keeps the least squared error
(docs/fixed-point.md, fitting a constant). It is policy, not a rule of the
arithmetic: it searches over candidate formats with the rules of `fixed`.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from rnnc.dialects import fixed
from rnnc.dialects.fixed import Format

MSE_EXTRA_FRAC_BITS = 8  # how far below the covering lsb format_for_mse looks


_MSE_MEMO: dict[tuple[bytes, int], Format] = {}  # a search refits the same weights
_MSE_MEMO_SIZE = 256


def format_for_mse(values: np.ndarray, width: int) -> Format:
    """The format of `width` bits whose saturating quantization of `values` has the
    least squared error: the covering format or one with up to MSE_EXTRA_FRAC_BITS
    more fractional bits (finer steps, outliers clipped). Ties go to the covering
    side. At 2-4 bits a finer step can beat covering the largest weight by far."""
    values = np.asarray(values, np.float64).ravel()
    key = (hashlib.blake2b(values.tobytes(), digest_size=16).digest(), width)
    if key not in _MSE_MEMO:
        if len(_MSE_MEMO) >= _MSE_MEMO_SIZE:
            _MSE_MEMO.clear()
        _MSE_MEMO[key] = _least_squares_format(values, width)
    return _MSE_MEMO[key]


def _least_squares_format(values: np.ndarray, width: int) -> Format:
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0, 0)
    best, best_err = None, math.inf
    cover = fixed.format_for_range(lo, hi, width)
    for extra in range(MSE_EXTRA_FRAC_BITS + 1):
        fmt = Format(width, cover.frac + extra)
        raw, _ = fixed.quantize(
            values, fmt, fixed.CONSTANT_ROUNDING, fixed.CONSTANT_OVERFLOW
        )
        err = float(np.sum((fmt.to_float(raw) - values) ** 2))
        if err < best_err:
            best, best_err = fmt, err
    return best
