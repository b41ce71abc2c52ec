"""One-pass compiled loops (numba) for the interpreter's hottest kernels.

numpy spends one pass over the data per operation: a fused add and cast is five or
six passes (scale, add, round, min, max, convert). These loops do each kernel in one
pass, with the same arithmetic as `fxp_kernels` (which decides when
they apply and falls back to numpy otherwise):

- the value of a cast's input, raw · 2^-shift, is computed exactly in float64 (the
  callers check that it has at most 53 significant bits), rounded by floor,
  floor(v + 1/2) or rint (ties to even), then clamped to the output's range; the
  number of clamped values is returned. Saturation is the clamp; for `wrap` the
  caller redoes an array with out-of-range values through `fixed.fit`.
- a table lookup indexes the table of all 2^W inputs;
- a product combines the int32 digit products of `int_matmul` modulo 2^64 into one
  contiguous block per fused op.

Arrays are 2-D and C-contiguous: an operand has as many rows as the output or one
row (a bias broadcast over the rows). numba is optional: without it
`fxp_kernels` uses numpy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rnnc.dialects.fixed import Rounding

MODES = {mode: code for code, mode in enumerate(Rounding)}  # the loops' mode codes
FLOOR, HALF_UP = MODES[Rounding.FLOOR], MODES[Rounding.HALF_UP]


@njit(inline="always")
def _round(v, mode):
    # fixed.round_float: all three are computed and one is selected, so the loops
    # stay vectorised.
    down = np.floor(v)
    up = np.floor(v + 0.5)
    even = np.rint(v)
    return down if mode == FLOOR else (up if mode == HALF_UP else even)


@njit(inline="always")
def _round_fit(v, mode, lo, hi):
    """v rounded and clamped to [lo, hi], and whether the clamp changed it."""
    r = _round(v, mode)
    m = min(max(r, lo), hi)
    return m, m != r


@njit(cache=True, nogil=True)
def cast(x, scale, mode, lo, hi, out):
    rows, cols = out.shape
    rx = x.shape[0]
    bad = 0
    for i in range(rows):
        xr = x[i % rx]
        o = out[i]
        for j in range(cols):
            m, outside = _round_fit(xr[j] * scale, mode, lo, hi)
            bad += outside
            o[j] = m
    return bad


@njit(cache=True, nogil=True)
def _binary_cast(a, ka, b, kb, product, mode, lo, hi, out):
    """v = (a·b)·ka (product) or a·ka + b·kb, rounded and clamped; the branch is
    loop-invariant (compiled out of the loop)."""
    rows, cols = out.shape
    ra, rb = a.shape[0], b.shape[0]
    bad = 0
    for i in range(rows):
        ar = a[i % ra]
        br = b[i % rb]
        o = out[i]
        for j in range(cols):
            x, y = np.float64(ar[j]), np.float64(br[j])
            v = x * y * ka if product else x * ka + y * kb
            m, outside = _round_fit(v, mode, lo, hi)
            bad += outside
            o[j] = m
    return bad


@njit(cache=True, nogil=True)
def add_cast(a, ka, b, kb, mode, lo, hi, out):
    """v = a·ka + b·kb (kb < 0 for a subtraction), rounded and clamped."""
    return _binary_cast(a, ka, b, kb, False, mode, lo, hi, out)


@njit(cache=True, nogil=True)
def mul_cast(a, b, scale, mode, lo, hi, out):
    """v = (a·b)·scale, rounded and clamped."""
    return _binary_cast(a, scale, b, 1.0, True, mode, lo, hi, out)


@njit(inline="always")
def _indices(r, shift, symmetric, offset, n, index):
    # fixed.lut_index of each raw integer r[j] (see lut_small), vectorised
    last = n - 1
    if symmetric:
        for j in range(r.size):
            s = r[j] >> 63  # -1 for r < 0
            index[j] = min(((r[j] ^ s) - s) >> shift, last) + (n & s)
    else:
        for j in range(r.size):
            index[j] = min(max((r[j] >> shift) + offset, 0), last)


@njit(cache=True, nogil=True)
def add_cast_lut(a, ka, b, kb, shift, symmetric, offset, table, mode, lo, hi, out):
    """add_cast, then the table lookup of lut_small on the cast's result."""
    rows, cols = out.shape
    ra, rb = a.shape[0], b.shape[0]
    n = table.size // 2 if symmetric else table.size
    raw = np.empty(cols, np.int64)
    index = np.empty(cols, np.int64)
    bad = 0
    for i in range(rows):
        ar = a[i % ra]
        br = b[i % rb]
        for j in range(cols):
            m, outside = _round_fit(ar[j] * ka + br[j] * kb, mode, lo, hi)
            bad += outside
            raw[j] = np.int64(m)
        _indices(raw, shift, symmetric, offset, n, index)
        o = out[i]
        for j in range(cols):  # the gathers alone: the loops above vectorise
            o[j] = table[np.uint64(index[j])]
    return bad


@njit(cache=True, nogil=True)
def lut(x, low, table, out):
    """out = table[raw - low] (indices clamped to the table for memory safety;
    raw values of the input format are always inside)."""
    rows, cols = out.shape
    last = table.size - 1
    for i in range(rows):
        xr = x[i]
        o = out[i]
        for j in range(cols):
            k = np.int64(xr[j]) - low
            o[j] = table[np.uint64(min(max(k, 0), last))]


@njit(cache=True, nogil=True)
def lut_small(x, shift, symmetric, offset, table, out):
    """fixed.lut with the table itself, which stays in L1 (unlike one of all 2^W
    inputs). Symmetric: table = [y_k saturated | (flip - y_k) saturated] and the
    index is min(|raw| >> shift, N-1), in the second half for raw < 0; otherwise
    table = y_k saturated and the index clamp((raw >> shift) + offset, 0, N-1)
    (offset = N/2, fixed.index_offset).
    0 ≤ shift ≤ 62 and |raw| < 2^62."""
    rows, cols = out.shape
    n = table.size // 2 if symmetric else table.size
    raw = np.empty(cols, np.int64)
    index = np.empty(cols, np.int64)
    for i in range(rows):
        xr = x[i]
        for j in range(cols):
            raw[j] = np.int64(xr[j])
        _indices(raw, shift, symmetric, offset, n, index)
        o = out[i]
        for j in range(cols):
            o[j] = table[np.uint64(index[j])]


@njit(cache=True, nogil=True)
def split_rows(x, count, out, sums):
    """Digits of the rows of x (exact integers) stacked: rows of digit 0, ...; the
    lower digits are bytes u stored as u - 128, the top one is signed. Each row's
    exact sum goes to sums (a product's row term needs it; here it costs one add
    per element read anyway)."""
    rows, cols = x.shape
    top = count - 1
    for i in range(rows):
        xr = x[i]
        for d in range(top):
            o = out[d * rows + i]
            for k in range(cols):
                o[k] = np.int8(np.int64(((np.int64(xr[k]) >> (8 * d)) & 255) ^ 128))
        o = out[top * rows + i]
        total = 0
        for k in range(cols):
            v = np.int64(xr[k])
            o[k] = np.int8(v >> (8 * top))
            total += v
        sums[i] = total


@njit(cache=True, nogil=True)
def combine(p, rows, count_a, count_b, scales, colterm, rowterm, const, out):
    """out[g, i, j] = sum_ab scales[a·nb+b] · p[a·rows + i, b·N + g·W + j]
    + colterm[g·W + j] + rowterm[i] + const, modulo 2^64 (the exact result fits).
    out is (G, rows, W) with N = G·W columns per digit block of p."""
    groups, _, width = out.shape
    n = groups * width
    if count_a == 1 and count_b == 1:  # one digit each: a conversion
        for g in range(groups):
            base = g * width
            for i in range(rows):
                p0 = p[i]
                extra = rowterm[i] + const
                o = out[g, i]
                for j in range(width):
                    o[j] = np.int64(p0[base + j]) + colterm[base + j] + extra
        return
    if count_a == 2 and count_b == 1:  # a 16-bit lhs, an 8-bit rhs
        s1 = scales[1]
        for g in range(groups):
            base = g * width
            for i in range(rows):
                p0 = p[i]
                p1 = p[rows + i]
                extra = rowterm[i] + const
                o = out[g, i]
                for j in range(width):
                    o[j] = (
                        np.int64(p0[base + j])
                        + s1 * np.int64(p1[base + j])
                        + colterm[base + j]
                        + extra
                    )
        return
    if count_a == 2 and count_b == 2:  # 16-bit operands: one pass
        s1, s2, s3 = scales[1], scales[2], scales[3]
        for g in range(groups):
            base = g * width
            ct = colterm[base : base + width]
            for i in range(rows):
                p0 = p[i, base : base + width]
                p1 = p[i, n + base : n + base + width]
                p2 = p[rows + i, base : base + width]
                p3 = p[rows + i, n + base : n + base + width]
                extra = rowterm[i] + const
                o = out[g, i]
                for j in range(width):
                    o[j] = (
                        np.int64(p0[j])
                        + s1 * np.int64(p1[j])
                        + s2 * np.int64(p2[j])
                        + s3 * np.int64(p3[j])
                        + ct[j]
                        + extra
                    )
        return
    tmp = np.empty(width, np.int64)
    for g in range(groups):
        base = g * width
        for i in range(rows):
            extra = rowterm[i] + const
            for j in range(width):
                tmp[j] = colterm[base + j] + extra
            for a in range(count_a):
                pr = p[a * rows + i]
                for b in range(count_b):
                    s = scales[a * count_b + b]
                    start = b * n + base
                    for j in range(width):
                        tmp[j] += s * np.int64(pr[start + j])
            o = out[g, i]
            for j in range(width):
                o[j] = tmp[j]


@njit(cache=True, nogil=True)
def quantize(x, scale, mode, lo, hi, wrap, width, out):
    """fixed.quantize of float32 values: v = x · 2^F is exact in float64 (24
    significant bits, |F| ≤ MAX_EXPONENT), rounded as `_round` (exact while
    |v| < 2^52), then clamped, or wrapped modulo 2^width. Returns the number of
    values out of range, or -1 if a value is not finite or |v| ≥ 2^52 (the
    caller runs the rule itself)."""
    n = x.size
    bad = 0
    mask = (np.int64(1) << width) - 1
    low = np.int64(lo)
    for k in range(n):
        v = np.float64(x[k]) * scale
        if not abs(v) < 4503599627370496.0:  # 2^52; false for nan too
            return -1
        r = _round(v, mode)
        if wrap:
            q = np.int64(r)
            outside = q < lo or q > hi
            out[k] = ((q - low) & mask) + low
        else:
            m = min(max(r, lo), hi)
            outside = m != r
            out[k] = m + 0.0  # -0.0 is 0, as the rule's integers
        bad += outside
    return bad


@njit(cache=True, parallel=True)
def parallel_probe(n):
    """A parallel loop: its first call loads numba's threading layer."""
    total = 0
    for i in prange(n):
        total += i
    return total
