"""Geometry of activation tables, shared by the float and fixed-point forms.

A table has N = 2^k entries. Odd functions (tanh, softsign, scaled tanh) and the
sigmoid are tabulated over |x| ∈ [0, R) and their sign rebuilt (`f(-x) = -f(x)`,
`σ(-x) = 1 - σ(x)`); other functions over [-R, R). R = 2^r, so the index is a shift
of the fixed-point input.
"""

from __future__ import annotations

import numpy as np

from rnnc.dialects.fixed import Symmetry, clamp_index, fold, folds

SYMMETRY = {
    "Sigmoid": Symmetry.SIGMOID,
    "Tanh": Symmetry.ODD,
    "Softsign": Symmetry.ODD,
    "ScaledTanh": Symmetry.ODD,
}


def symmetry_of(kind: str) -> Symmetry:
    return SYMMETRY.get(kind, Symmetry.NONE)


def bin_log2_width(log2_range: int, log2_entries: int, symmetry: str) -> int:
    """log2 of a bin's width: R/N over |x|, 2R/N over [-R, R)."""
    return log2_range - log2_entries + (0 if folds(symmetry) else 1)


def centers(log2_range: int, log2_entries: int, symmetry: str) -> np.ndarray:
    """The input each entry is evaluated at: the middle of its bin."""
    width = 2.0 ** bin_log2_width(log2_range, log2_entries, symmetry)
    start = 0.0 if folds(symmetry) else -(2.0**log2_range)
    return start + (np.arange(2**log2_entries) + 0.5) * width


def float_index(x: np.ndarray, log2_range: int, log2_entries: int, symmetry: str):
    """The entry a real input selects: the index rule of `fixed.lut_index` on
    reals (the fixed-point shift gives the same)."""
    scale = 2.0 ** -bin_log2_width(log2_range, log2_entries, symmetry)
    steps = np.floor(fold(x, symmetry) * scale)
    return clamp_index(steps, 2**log2_entries, symmetry)


def rebuild_sign(x: np.ndarray, y: np.ndarray, symmetry: str) -> np.ndarray:
    """`fixed.reflection` on reals: f(-x) = -f(x) (odd), σ(-x) = 1 - σ(x)."""
    if symmetry == Symmetry.ODD:
        return np.where(x < 0, -y, y)
    if symmetry == Symmetry.SIGMOID:
        return np.where(x < 0, 1 - y, y)
    return y


def fixed_shift(log2_range: int, log2_entries: int, symmetry: str, in_frac: int):
    """Right shift of the raw input giving the index: bin width in raw units."""
    return bin_log2_width(log2_range, log2_entries, symmetry) + in_frac
