"""Compiled kernels of the bit-accurate interpreter.

Each fxp op is compiled once into a function of its raw operand arrays, with its
formats, shifts and tables worked out ahead. An add, sub or mul whose only use is a
cast is compiled together with that cast (and an add's cast with the table lookup
that is its only use) into one kernel that never builds the intermediates.
Every kernel returns what the rules of `rnnc.dialects.fixed` return, bit for bit
and in the same representation (tests/test_fxp_kernels.py compares them on random
formats), with fewer passes over the data:

- Raw values are exact integers; scaled by powers of two they stay exact in
  float64 (53-bit significand) or float32 (24 bits). When the exact result of an
  add, sub or mul has W ≤ 53 bits (24), `a·2^ea ± b·2^eb`, `a·b·2^-s` computed in
  float are exact: IEEE operations are exact when the exact result is representable
  (docs/fixed-point.md, integer products on float BLAS).
- Rounding the exact value `raw · 2^-s` is `fixed.round_float` (`floor`, `rint`,
  `floor(v + 1/2)`), exact as in `fixed.round_shift`; shifts, widths, bounds and
  table geometry come from `fixed` too (`cast_shift`, `rescaled_width`,
  `Format.min_raw/max_raw`, `index_offset`, `reflection`).
- Overflow: the min and max are checked first; only an array with values out of
  range goes through `fixed.fit`. A float64 result rounded straight into float32 (24
  bits) keeps every out-of-range value out of range, so saturation and its count
  are unchanged.
- Products: int8 digits on `torch._int_mm` (int_matmul) when torch
  is installed and the bounds hold, otherwise `fixed.matmul`.
- With numba installed, casts, fused casts, table lookups and the digit
  bookkeeping of products run as one-pass loops (fxp_jit) with the
  same arithmetic; numpy otherwise.

Everything outside these bounds (widths over 53 bits, Python-int raw values,
exponents near the float limits) runs the rules of `fixed` themselves.
"""

from __future__ import annotations

import functools
import importlib
import math
import os
from collections.abc import Callable

import numpy as np

from rnnc.backends.interpreter import int_matmul
from rnnc.dialects import fixed
from rnnc.dialects.fixed import Format

Kernel = Callable[[list[np.ndarray]], list[np.ndarray]]
Count = Callable[[int, int], None]  # (values out of range, values processed)

F32 = fixed.FLOAT32_WIDTH
F64 = fixed.FLOAT64_WIDTH
MAX_EXPONENT = 100  # |scaling exponents| in float kernels: far from float32 limits


_JIT: list = []  # [module or None], imported on first use (numba takes a while)


def jit():
    """The fxp_jit module, or None without numba (or with RNNC_NO_JIT set)."""
    if not _JIT:
        module = None
        if not os.environ.get("RNNC_NO_JIT"):
            try:
                module = importlib.import_module("rnnc.backends.interpreter.fxp_jit")
            except ImportError:
                module = None
        _JIT.append(module)
    return _JIT[0]


def rows_of(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """x as the 2-D C-contiguous operand of a one-pass loop over `shape` (rows ×
    last axis): all of it, or one row broadcast over the rows; None otherwise."""
    cols = shape[-1]
    if x.shape == shape:
        if x.flags.c_contiguous:
            return x if x.ndim == 2 else x.reshape(-1, cols)
        return np.ascontiguousarray(x).reshape(-1, cols)
    if x.size == cols and (x.ndim == 0 or x.shape[-1] == cols or cols == 1):
        return np.ascontiguousarray(x).reshape(1, cols)
    if x.size == 1:
        return np.full((1, cols), x.reshape(()), x.dtype)
    return None


def representation(width: int):
    """The dtype of `fixed.raw_array(·, width)`."""
    if width <= F32:
        return np.float32
    if width <= F64:
        return np.float64
    if width <= fixed.INT64_WIDTH:
        return np.int64
    return object


def _no_count(bad: int, total: int) -> None:
    pass


# ------------------------------------------------------------------ round and fit


def _rounder(
    shift: int, need: int, dst: Format, rounding: str, overflow: str, count: Count
) -> Callable[[np.ndarray], np.ndarray] | None:
    """Finishes a cast: v holds the exact values raw · 2^-shift of a raw integer of
    `need` bits (a fresh array it may change), rounded and fitted into dst."""
    if need > F64 or dst.width > F64 or abs(shift) > MAX_EXPONENT:
        return None
    if rounding not in fixed.ROUNDING_MODES or overflow not in fixed.OVERFLOW_MODES:
        return None
    out_dtype = representation(dst.width)
    lo, hi = float(dst.min_raw), float(dst.max_raw)
    # float32 output rounded straight from float64: only for saturation (wrap needs
    # the exact out-of-range integer).
    direct = out_dtype is np.float32 and overflow == fixed.Overflow.SATURATE

    def finish(v: np.ndarray) -> np.ndarray:
        if shift > 0:
            target = v
            if direct and v.dtype != np.float32:
                target = np.empty(v.shape, np.float32)
            # exact: v has need ≤ 53 (24) significant bits and shift ≥ 1
            v = fixed.round_float(v, rounding, out=target)
        if v.size and lo <= v.min() and v.max() <= hi:
            count(0, v.size)
            return v.astype(out_dtype, copy=False)
        raw, bad = fixed.fit(v, dst, overflow)
        count(bad, raw.size)
        return raw

    return finish


def _work(need: int):
    return np.float32 if need <= F32 else np.float64


def _scaled(x: np.ndarray, exponent: int, work) -> np.ndarray:
    """x · 2^exponent as a fresh `work` array (exact)."""
    if exponent == 0:
        return np.array(x, dtype=work)
    return np.multiply(x, 2.0**exponent, dtype=work)


# ------------------------------------------------------------------------- cast


def cast(
    src: Format, dst: Format, rounding: str, overflow: str, count: Count = _no_count
) -> Callable[[np.ndarray], np.ndarray]:
    """fixed.cast(raw, src, dst, rounding, overflow) as a function of raw."""
    shift, need = fixed.cast_shift(src, dst), fixed.rescaled_width(src, dst)
    finish = _rounder(shift, need, dst, rounding, overflow, count)
    if finish is None:

        def reference(x):
            raw, bad = fixed.cast(x, src, dst, rounding, overflow)
            count(bad, raw.size)
            return raw

        return reference
    work = _work(need)

    def kernel(x):
        if shift == 0:
            return finish(np.asarray(x))  # not changed in place when shift is 0
        return finish(_scaled(x, -shift, work))

    loop = _loop(shift, dst, rounding, overflow, count, "cast")
    if loop is None:
        return kernel
    scale = 2.0**-shift

    def fast(x):
        if x.ndim == 0 or x.size == 0:
            return kernel(x)
        return loop(kernel, (x,), x.shape, rows_of(x, x.shape), scale)

    return fast


def _loop(
    shift: int,
    dst: Format,
    rounding: str,
    overflow: str,
    count: Count,
    name: str,
    out_dtype=None,
):
    """A runner of the one-pass cast loop `name` of fxp_jit (None without numba):
    it takes the numpy kernel and its arguments (redone there when a wrapped array
    has values out of range), the output shape and the loop's own arguments before
    the rounding mode, range and output; it counts the overflows."""
    j = jit()
    if j is None:
        return None
    loop = getattr(j, name)
    # rint is exact on integers: the mode of a cast that drops no bits
    mode = j.MODES[rounding if shift > 0 else fixed.Rounding.HALF_EVEN]
    lo, hi = float(dst.min_raw), float(dst.max_raw)
    out_dtype = out_dtype or representation(dst.width)
    wrap = overflow == fixed.Overflow.WRAP

    def run(slow, args, shape, *loop_args):
        out = np.empty(shape, out_dtype)
        rows = out if len(shape) == 2 else out.reshape(-1, shape[-1])
        bad = loop(*loop_args, mode, lo, hi, rows)
        if bad and wrap:
            return slow(*args)  # counts too
        count(bad, out.size)
        return out

    return run


def _pair(a: np.ndarray, b: np.ndarray):
    """(shape, a rows, b rows) for a one-pass loop over two operands, or None."""
    shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
    if not shape or not a.size or not b.size:
        return None
    a2, b2 = rows_of(a, shape), rows_of(b, shape)
    if a2 is None or b2 is None:
        return None
    return shape, a2, b2


# ------------------------------------------------------------- add, sub, mul


def _combine(op, x, y, work, fresh: np.ndarray | None) -> np.ndarray:
    """op(x, y) in `work`, into `fresh` (a temporary of ours) when it has the
    broadcast shape."""
    if fresh is not None and fresh.shape == np.broadcast_shapes(x.shape, y.shape):
        return op(x, y, out=fresh, dtype=work)
    return op(x, y, dtype=work)


def add(
    fa: Format, fb: Format, subtract: bool = False
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    out = fixed.add_format(fa, fb)
    if out.width > F64:
        return lambda a, b: fixed.add(a, fa, b, fb, subtract)[0]
    work = representation(out.width)
    ka, kb = out.frac - fa.frac, out.frac - fb.frac  # both ≥ 0
    op = np.subtract if subtract else np.add

    def kernel(a, b):
        ta = _scaled(a, ka, work) if ka else a
        tb = _scaled(b, kb, work) if kb else b
        return _combine(op, ta, tb, work, ta if ka else tb if kb else None)

    return kernel


def mul(fa: Format, fb: Format) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    out = fixed.mul_format(fa, fb)
    if out.width > F64:
        return lambda a, b: fixed.mul(a, fa, b, fb)[0]
    work = representation(out.width)
    return lambda a, b: np.multiply(a, b, dtype=work)


def add_cast(
    fa: Format,
    fb: Format,
    subtract: bool,
    dst: Format,
    rounding: str,
    overflow: str,
    count: Count = _no_count,
    compiled: bool = True,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """cast(a ± b) without the exact sum: v = a·2^ea ± b·2^eb is the sum's raw
    value scaled by 2^-shift, exact in float when the sum has ≤ 53 bits."""
    total = fixed.add_format(fa, fb)
    shift, need = fixed.cast_shift(total, dst), fixed.rescaled_width(total, dst)
    finish = _rounder(shift, need, dst, rounding, overflow, count)
    ea, eb = dst.frac - fa.frac, dst.frac - fb.frac
    if finish is None or max(abs(ea), abs(eb)) > MAX_EXPONENT:
        return None
    work = _work(need)
    op = np.subtract if subtract else np.add

    def kernel(a, b):
        if eb or not ea:
            tb = _scaled(b, eb, work)
            ta = _scaled(a, ea, work) if ea else a
            v = _combine(op, ta, tb, work, tb)
        else:
            ta = _scaled(a, ea, work)
            v = _combine(op, ta, b, work, ta)
        return finish(v)

    loop = _loop(shift, dst, rounding, overflow, count, "add_cast")
    if loop is None or not compiled:
        return kernel
    return _pair_loop(loop, kernel, _add_scales(fa, fb, subtract, dst))


def _add_scales(fa: Format, fb: Format, subtract: bool, dst: Format):
    """(ka, kb) with a·ka + b·kb = (a ± b) · 2^-shift in dst's fractional bits."""
    ka, kb = 2.0 ** (dst.frac - fa.frac), 2.0 ** (dst.frac - fb.frac)
    return ka, -kb if subtract else kb


def _pair_loop(loop, slow, scales: tuple[float, float], extra: tuple = ()):
    """Runs the one-pass loop a·ka + b·kb (then `extra` arguments) on two operands
    it can take as rows; `slow` otherwise."""
    ka, kb = scales

    def fast(a, b):
        pair = _pair(a, b)
        if pair is None:
            return slow(a, b)
        shape, a2, b2 = pair
        return loop(slow, (a, b), shape, a2, ka, b2, kb, *extra)

    return fast


def mul_cast(
    fa: Format,
    fb: Format,
    dst: Format,
    rounding: str,
    overflow: str,
    count: Count = _no_count,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """cast(a · b) without the exact product: v = a · b · 2^-shift."""
    product = fixed.mul_format(fa, fb)
    shift, need = fixed.cast_shift(product, dst), fixed.rescaled_width(product, dst)
    finish = _rounder(shift, need, dst, rounding, overflow, count)
    if finish is None:
        return None
    work = _work(need)

    def kernel(a, b):
        v = np.multiply(a, b, dtype=work)
        if shift:
            v *= 2.0**-shift
        return finish(v)

    loop = _loop(shift, dst, rounding, overflow, count, "mul_cast")
    if loop is None:
        return kernel
    scale = 2.0**-shift

    def fast(a, b):
        pair = _pair(a, b)
        if pair is None:
            return kernel(a, b)
        shape, a2, b2 = pair
        return loop(kernel, (a, b), shape, a2, b2, scale)

    return fast


# --------------------------------------------------------------------- quantize


def quantize(
    dst: Format, rounding: str, overflow: str, count: Count = _no_count
) -> Callable[[np.ndarray], np.ndarray]:
    """fixed.quantize(x, dst, rounding, overflow) as a function of x: one loop
    (fxp_jit.quantize) for float32 inputs, the rule itself otherwise."""

    def reference(x):
        raw, bad = fixed.quantize(x, dst, rounding, overflow)
        count(bad, raw.size)
        return raw

    j = jit()
    if (
        j is None
        or dst.width > F64
        or abs(dst.frac) > MAX_EXPONENT
        or rounding not in fixed.ROUNDING_MODES
        or overflow not in fixed.OVERFLOW_MODES
    ):
        return reference
    mode, scale = j.MODES[rounding], 2.0**dst.frac
    lo, hi = float(dst.min_raw), float(dst.max_raw)
    wrap = overflow == fixed.Overflow.WRAP
    out_dtype = representation(dst.width)

    def fast(x):
        x = np.asarray(x)
        if x.dtype != np.float32 or not x.size:
            return reference(x)
        out = np.empty(x.shape, out_dtype)
        bad = j.quantize(
            np.ascontiguousarray(x).reshape(-1), scale, mode, lo, hi, wrap,
            dst.width, out.reshape(-1),
        )  # fmt: skip
        if bad < 0:
            return reference(x)
        count(bad, out.size)
        return out

    return fast


# ------------------------------------------------------------------------ matmul


class DigitLayout:
    """Where one op's block lies in a fused product's digit products, and the
    constant parts of its sum (per op and lhs digit count, prepared once)."""

    __slots__ = (
        *("na", "nb", "cols", "base", "width", "scales", "colterm", "colterm32"),
        "const",
    )

    def __init__(self, na, nb, cols, base, width, combination):
        self.na, self.nb, self.cols, self.base, self.width = na, nb, cols, base, width
        self.scales, colterm, self.const = combination
        self.colterm = np.ascontiguousarray(colterm[base : base + width])
        # modulo 2^32, for loops in int32 (exact: the sum fits 32 bits there)
        self.colterm32 = self.colterm.astype(np.int32)


class DigitProducts:
    """One op's block of a product a @ b left as its int8 digit products: a run of
    elementwise ops (fxp_elementwise) adds them up in its own loop, so the exact
    product is never written out. `array()` gives it as `int_product` does.

    Element (r, j) is  sum_ab scales[a·nb + b] · p[a·rows + r, b·cols + base + j]
    + colterm[base + j] + rowterm[r] + const  modulo 2^64 (int_matmul)."""

    __slots__ = ("p", "layout", "rows", "rowterm", "shape")

    def __init__(self, p, layout, rows, rowterm, lead):
        self.p, self.layout, self.rows = p, layout, rows
        self.rowterm = rowterm  # None: zero
        self.shape = (*lead, layout.width)

    def array(self, out_width: int) -> np.ndarray:
        k = self.layout
        out = np.empty((1, self.rows, k.width), representation(out_width))
        rowterm = _zeros(self.rows) if self.rowterm is None else self.rowterm
        p = self.p
        if k.base or k.nb > 1:  # the columns of this block in each digit block
            first = [b * k.cols + k.base for b in range(k.nb)]
            p = np.concatenate([p[:, f : f + k.width] for f in first], axis=1)
        jit().combine(
            p, self.rows, k.na, k.nb, k.scales, k.colterm, rowterm, k.const, out,
        )  # fmt: skip
        return out[0].reshape(self.shape)


def _layouts(rhs: int_matmul.Rhs, count: int, widths: tuple) -> list[DigitLayout]:
    """The DigitLayout of each column block (of these widths, side by side) of a
    product of a `count`-digit lhs with rhs (kept with rhs)."""
    key = (count, widths)
    if key not in rhs.layouts:
        combination = rhs.combination(count)
        starts = np.cumsum([0, *widths[:-1]]).tolist()
        rhs.layouts[key] = [
            DigitLayout(count, rhs.count, rhs.cols, start, width, combination)
            for start, width in zip(starts, widths, strict=True)
        ]
    return rhs.layouts[key]


def int_product(
    a: np.ndarray,
    lhs_width: int,
    rhs: int_matmul.Rhs,
    out_width: int,
    groups: int,
    deferred: tuple = (),
) -> list:
    """a @ b on int8 digits as `groups` equal column blocks (one per fused op), each
    a C-contiguous raw array of `fixed.raw_array(·, out_width)`; with `deferred`
    (the widths of the ops' blocks) the DigitProducts of each op."""
    lead, terms = a.shape[:-1], a.shape[-1]
    rows = math.prod(lead)
    width = rhs.cols // groups
    j = jit()
    if j is None:
        product = int_matmul.matmul(a, lhs_width, rhs, out_width)
        return [product[..., g * width : (g + 1) * width] for g in range(groups)]
    count = int_matmul.digits(lhs_width)
    sums = None
    if count == 1:  # one pass, from a strided view too
        lhs_digits = np.empty((rows, terms), np.int8)
        np.copyto(lhs_digits.reshape(a.shape), a, casting="unsafe")
        a2 = lhs_digits
    else:
        a2 = a if a.ndim == 2 and a.flags.c_contiguous else np.ascontiguousarray(a)
        a2 = a2.reshape(rows, terms)
        lhs_digits = np.empty((count * rows, terms), np.int8)
        sums = np.empty(rows, np.int64)
        j.split_rows(a2, count, lhs_digits, sums)
    p = int_matmul.products(lhs_digits, rhs)
    rowterm = int_matmul.rowterm(a2, rhs, sums)
    if deferred:
        return [
            DigitProducts(p, layout, rows, rowterm, lead)
            for layout in _layouts(rhs, count, deferred)
        ]
    if rowterm is None:
        rowterm = _zeros(rows)
    scales, colterm, const = rhs.combination(count)
    out = np.empty((groups, rows, width), representation(out_width))
    j.combine(p, rows, count, rhs.count, scales, colterm, rowterm, const, out)
    if len(lead) == 1:
        return list(out)
    return [block.reshape(*lead, width) for block in out]


@functools.lru_cache(maxsize=16)
def _zeros(rows: int) -> np.ndarray:
    zeros = np.zeros(rows, np.int64)
    zeros.flags.writeable = False
    return zeros


def _digit_products(lhs_width: int, rhs_width: int) -> int:
    return int_matmul.digits(lhs_width) * int_matmul.digits(rhs_width)


class Matmul:
    """fixed.matmul(a, fa, b, fb) for a of shape (..., K): int8 digit products when
    `int_matmul` supports the widths and the product is large, else the rule
    itself. The prepared right-hand side is kept while the same array comes back
    (constants, loop invariants)."""

    def __init__(self, fa: Format, fb: Format):
        self.fa, self.fb = fa, fb
        self._rhs: int_matmul.Rhs | None = None

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim != 2:
            return fixed.matmul(a, self.fa, b, self.fb)[0]
        terms, cols = b.shape
        out = fixed.matmul_format(self.fa, self.fb, terms)
        rows = a.size // max(terms, 1)
        if not (
            a.shape[-1] == terms
            and int_matmul.within_bounds(self.fa.width, self.fb.width, terms, out.width)
            and int_matmul.worthwhile(
                rows, terms, cols, _digit_products(self.fa.width, self.fb.width)
            )
        ):
            return fixed.matmul(a, self.fa, b, self.fb)[0]
        rhs = self._rhs
        if rhs is None or rhs.source is not b:
            rhs = self._rhs = int_matmul.Rhs(b, self.fb.width)
        return int_product(a, self.fa.width, rhs, out.width, 1)[0]


class FusedMatmul:
    """Several products of one lhs with 2-D right-hand sides, as one product with the
    matrices side by side; each block is the op's exact raw result (int8 digits, or
    float64 BLAS where exact, or else one `fixed.matmul` per op)."""

    def __init__(self, fa: Format, fbs: list[Format], terms: int, cols: int = 0):
        self.fa, self.fbs, self.terms = fa, fbs, terms
        self.outs = [fixed.matmul_format(fa, fb, terms) for fb in fbs]
        self.rhs_width = max(f.width for f in fbs)
        self.out_width = max(f.width for f in self.outs)
        self.bounded = int_matmul.within_bounds(
            fa.width, self.rhs_width, terms, self.out_width
        )
        self._cols = cols  # of the matrices side by side (0: not known ahead)

    def _int8(self, rows: int, cols: int) -> bool:
        """Whether the product of `rows` rows runs on int8 digits (else float64
        BLAS or the rule)."""
        return self.bounded and int_matmul.worthwhile(
            rows, self.terms, cols, _digit_products(self.fa.width, self.rhs_width)
        )

    def threaded(self, rows: int) -> bool:
        """int8 products use torch's threads; BLAS runs on one."""
        return self._cols > 0 and self._int8(rows, self._cols)

    def prepare(self, rhs: list[np.ndarray]) -> Callable[[np.ndarray], list]:
        widths = [b.shape[-1] for b in rhs]
        matrix = np.concatenate(rhs, axis=-1)
        groups = len(rhs) if len(set(widths)) == 1 else 1
        prepared: list = []
        wide_matrix: list = []

        def blocks(product: list[np.ndarray]) -> list[np.ndarray]:
            if len(product) > 1:
                parts = product
            else:
                starts = np.cumsum([0, *widths])
                parts = [
                    product[0][..., s:e]
                    for s, e in zip(starts[:-1], starts[1:], strict=True)
                ]
            return [
                fixed.raw_array(p, out.width)
                for p, out in zip(parts, self.outs, strict=True)
            ]

        int8: dict[int, bool] = {}  # per row count: whether on int8 digits

        def run(a: np.ndarray, deferred: bool = False) -> list:
            rows = a.size // max(self.terms, 1)
            on_int8 = int8.get(rows)
            if on_int8 is None:
                on_int8 = int8[rows] = self._int8(rows, matrix.shape[-1])
            if on_int8 and a.shape[-1] == self.terms:
                if not prepared:
                    prepared.append(int_matmul.Rhs(matrix, self.rhs_width))
                product = int_product(
                    a, self.fa.width, prepared[0], self.out_width, groups,
                    tuple(widths) if deferred else (),
                )  # fmt: skip
                return product if deferred else blocks(product)
            if self.out_width <= F64:  # exact in float64 BLAS
                if not wide_matrix:  # and as (groups, K, width): contiguous blocks
                    plain = fixed.raw_array(matrix, F64)
                    split = plain.reshape(plain.shape[0], groups, -1)
                    wide_matrix.extend(
                        [plain, np.ascontiguousarray(split.swapaxes(0, 1))]
                    )
                wide = fixed.raw_array(a, F64)
                if groups == 1 or wide.ndim != 2:
                    return blocks([np.matmul(wide, wide_matrix[0])])
                return blocks(list(np.matmul(wide, wide_matrix[1])))
            return [
                fixed.matmul(a, self.fa, b, fb)[0]
                for b, fb in zip(rhs, self.fbs, strict=True)
            ]

        return run


# --------------------------------------------------------------------------- lut


def full_table_lut(full: np.ndarray, src: Format) -> Callable[[np.ndarray], np.ndarray]:
    """Look up `full`, the table's output for every raw input of src in order."""
    low = src.min_raw

    def kernel(x):
        index = x.astype(np.int32)  # exact: raw values of at most 20 bits
        if low:
            index -= low
        return full.take(index.astype(np.intp), mode="clip")  # indices are in range

    j = jit()
    if j is None:
        return kernel

    def fast(x):
        if x.ndim == 0 or x.size == 0:
            return kernel(x)
        out = np.empty(x.shape, full.dtype)
        j.lut(rows_of(x, x.shape), low, full, out.reshape(-1, x.shape[-1]))
        return out

    return fast


def _saturated_table(
    table: np.ndarray, shift: int, symmetry: str, src: Format, out: Format
) -> tuple[np.ndarray, bool, int] | None:
    """The table of fxp_jit.lut_small for fixed.lut(·, table, shift, symmetry, out),
    whether it is symmetric and its index offset; None outside the loop's bounds."""
    entries = np.asarray(table, dtype=np.int64)
    out_dtype = representation(out.width)
    if not 0 <= shift <= 62 or src.width > 62 or out_dtype is object:
        return None
    if entries.ndim != 1 or entries.size == 0 or symmetry not in fixed.SYMMETRIES:
        return None
    lo, hi = out.min_raw, out.max_raw
    r = fixed.reflection(symmetry, out)
    offset = fixed.index_offset(entries.size, symmetry)
    if -(2**61) < entries.min() and entries.max() < 2**61 and abs(r or 0) < 2**61:
        # r - y cannot wrap in int64
        parts = [entries] if r is None else [entries, r - entries]
        values = np.clip(np.concatenate(parts), max(lo, -(2**62)), min(hi, 2**62))
        return values.astype(out_dtype), r is not None, offset  # exact: in range
    outputs = [entries.tolist()]
    if r is not None:  # x < 0: r - y, in the second half
        outputs.append([r - y for y in entries.tolist()])
    values = [min(max(y, lo), hi) for part in outputs for y in part]
    # exact: in range
    return np.array(values, dtype=out_dtype), r is not None, offset


def table_lut(
    table: np.ndarray, shift: int, symmetry: str, src: Format, out: Format
) -> Callable[[np.ndarray], np.ndarray] | None:
    """fixed.lut(raw, table, shift, symmetry, out) as one loop over a table of the
    saturated outputs (None without numba or outside its bounds)."""
    j = jit()
    small = _saturated_table(table, shift, symmetry, src, out)
    if j is None or small is None:
        return None
    saturated, symmetric, offset = small
    entries = np.asarray(table, dtype=np.int64)

    def fast(x):
        if x.ndim == 0 or x.size == 0:
            return fixed.lut(x, entries, shift, symmetry, out)
        result = np.empty(x.shape, saturated.dtype)
        j.lut_small(
            rows_of(x, x.shape),
            shift,
            symmetric,
            offset,
            saturated,
            result.reshape(-1, x.shape[-1]),
        )
        return result

    return fast


def add_cast_lut(
    fa: Format,
    fb: Format,
    subtract: bool,
    dst: Format,
    rounding: str,
    overflow: str,
    count: Count,
    table: np.ndarray,
    shift: int,
    symmetry: str,
    out: Format,
) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """lut(cast(a ± b)) in one loop (None without numba or outside its bounds)."""
    slow_cast = add_cast(fa, fb, subtract, dst, rounding, overflow, count, False)
    small = _saturated_table(table, shift, symmetry, dst, out)
    if slow_cast is None or small is None or jit() is None:
        return None
    saturated, symmetric, offset = small
    entries = np.asarray(table, dtype=np.int64)
    cast_shift = fixed.cast_shift(fixed.add_format(fa, fb), dst)
    loop = _loop(
        cast_shift, dst, rounding, overflow, count, "add_cast_lut", saturated.dtype
    )
    lookup = (shift, symmetric, offset, saturated)

    def slow(a, b):
        return fixed.lut(slow_cast(a, b), entries, shift, symmetry, out)

    return _pair_loop(loop, slow, _add_scales(fa, fb, subtract, dst), lookup)
