"""Fixed-point arithmetic rules: the executable form of docs/fixed-point.md.

A format `Format(W, F)` is a signed two's-complement integer of W bits whose value is
raw · 2^-F (F may be negative or larger than W). Add, sub, mul and dot products are
exact: their result formats grow so no information is lost. The only lossy step is
`cast`, with a rounding mode and an overflow mode. Verifiers, lowering, both
interpreters and the Verilog backend take their rules from here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

ROUNDING_MODES = ("floor", "half-up", "half-even")
OVERFLOW_MODES = ("wrap", "saturate")
MAX_WIDTH = 256
INT64_WIDTH = 64  # up to this width raw values are int64 arrays; wider: Python ints


FLOAT32_WIDTH = 24  # up to this width raw values are exact integers in float32
FLOAT64_WIDTH = 53  # ... in float64


def raw_array(raw, width: int) -> np.ndarray:
    """Raw integers in a numpy representation that holds `width` bits exactly.

    Up to 24 / 53 bits: float32 / float64 holding integers (+, -, ·, scaling by
    2^k, rounding and BLAS products are exact there, without conversions, and the
    narrow values move half the memory); up to 64: int64; wider: Python ints."""
    raw = np.asarray(raw)
    if width <= FLOAT32_WIDTH:
        return raw.astype(np.float32, copy=False)
    if width <= FLOAT64_WIDTH:
        return raw.astype(np.float64, copy=False)
    if width <= INT64_WIDTH:
        return raw.astype(np.int64, copy=False)
    if raw.dtype.kind == "f":  # via int64 (exact below 2^53): ints, not floats
        raw = raw.astype(np.int64)
    return raw.astype(object, copy=False)


def _scale(raw: np.ndarray, k: int) -> np.ndarray:
    """raw · 2^k for k ≥ 0, exact in the array's representation."""
    if k == 0:
        return raw
    if raw.dtype.kind == "f":
        return raw * raw.dtype.type(2.0**k)
    return np.left_shift(raw, k)


@dataclass(frozen=True, order=True)
class Format:
    width: int
    frac: int

    def __post_init__(self):
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(
                f"fixed-point width must be in [1, {MAX_WIDTH}], got {self.width}"
            )

    def __str__(self) -> str:
        return f"fixed<{self.width},{self.frac}>"

    @property
    def int_bits(self) -> int:
        """Bits left of the binary point, sign included."""
        return self.width - self.frac

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def lsb(self) -> Fraction:
        return (
            Fraction(1, 1 << self.frac) if self.frac >= 0 else Fraction(1 << -self.frac)
        )

    @property
    def min_value(self) -> float:
        return math.ldexp(self.min_raw, -self.frac)

    @property
    def max_value(self) -> float:
        return math.ldexp(self.max_raw, -self.frac)

    def value(self, raw: int) -> Fraction:
        return raw * self.lsb

    def to_float(self, raw: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(raw, np.float64), -self.frac)


# ----------------------------------------------------------- exact result formats


def add_format(a: Format, b: Format) -> Format:
    """a ± b: align binary points, one carry bit."""
    frac = max(a.frac, b.frac)
    return Format(max(a.int_bits, b.int_bits) + 1 + frac, frac)


def mul_format(a: Format, b: Format) -> Format:
    return Format(a.width + b.width, a.frac + b.frac)


def growth_bits(terms: int) -> int:
    """Extra bits a sum of `terms` products needs: ceil(log2(terms))."""
    return max(terms - 1, 0).bit_length()


def matmul_format(a: Format, b: Format, terms: int) -> Format:
    """Sum of `terms` products a_i·b_i, exact."""
    p = mul_format(a, b)
    return Format(p.width + growth_bits(terms), p.frac)


def select_format(a: Format, b: Format) -> Format:
    """Smallest format holding both (used to merge two values without loss)."""
    frac = max(a.frac, b.frac)
    return Format(max(a.int_bits, b.int_bits) + frac, frac)


# ------------------------------------------------------------------ raw arithmetic


def align(raw: np.ndarray, src: Format, frac: int, width: int) -> np.ndarray:
    """Exact re-scaling to more fractional bits (frac ≥ src.frac), `width` bits."""
    assert frac >= src.frac
    return _scale(raw_array(raw, width), frac - src.frac)


def add(a: np.ndarray, fa: Format, b: np.ndarray, fb: Format, subtract=False):
    out = add_format(fa, fb)
    x, y = align(a, fa, out.frac, out.width), align(b, fb, out.frac, out.width)
    return (x - y if subtract else x + y), out


def mul(a: np.ndarray, fa: Format, b: np.ndarray, fb: Format):
    out = mul_format(fa, fb)
    return np.multiply(raw_array(a, out.width), raw_array(b, out.width)), out


def matmul(a: np.ndarray, fa: Format, b: np.ndarray, fb: Format):
    """Exact integer matrix product, with BLAS where the sums provably fit.

    Every partial sum is bounded by 2^(W-2) for the exact result width W, so a
    float64 product (53-bit mantissa) is exact when W ≤ 53."""
    out = matmul_format(fa, fb, a.shape[-1])
    return np.matmul(raw_array(a, out.width), raw_array(b, out.width)), out


def round_shift(raw: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """raw · 2^-shift rounded to an integer (exact left shift when shift ≤ 0).

    In float64 (|raw| < 2^53): scaling is exact, and floor, rint (ties to even)
    and floor(v + 1/2) are exact too, since v + 1/2 still fits 53 bits."""
    raw = np.asarray(raw)
    if shift <= 0:
        return _scale(raw, -shift)
    if raw.dtype.kind == "f":
        if shift > 60:  # |raw| < 2^53: |v| < 2^-7 (and 2^-shift may underflow)
            if rounding == "floor":
                return np.where(raw < 0, -1.0, 0.0).astype(raw.dtype)
            return np.zeros_like(raw)
        v = raw * raw.dtype.type(2.0**-shift)
        if rounding == "floor":
            return np.floor(v, out=v)
        if rounding == "half-even":
            return np.rint(v, out=v)
        if rounding == "half-up":
            v += 0.5
            return np.floor(v, out=v)
        raise ValueError(f"unknown rounding mode '{rounding}'")
    if raw.dtype != object:
        raw = raw.astype(np.int64, copy=False)
        if shift >= 64:
            # raw · 2^-shift is in [-1/2, 1/2): floor keeps the sign, others give 0.
            floor = np.where(raw < 0, -1, 0).astype(np.int64)
            return floor if rounding == "floor" else np.zeros_like(raw)
    floor = np.right_shift(raw, shift)
    if rounding == "floor":
        return floor
    rest = np.bitwise_and(raw, (1 << shift) - 1)  # the dropped bits, in [0, 2^shift)
    half = 1 << (shift - 1)
    if rounding == "half-up":
        return floor + (rest >= half)
    if rounding == "half-even":
        up = (rest > half) | ((rest == half) & (floor % 2 == 1))
        return floor + up
    raise ValueError(f"unknown rounding mode '{rounding}'")


def fit(raw: np.ndarray, dst: Format, overflow: str) -> tuple[np.ndarray, int]:
    """Bring integers into dst's range; returns (raw, number out of range)."""
    raw = np.asarray(raw)
    if raw.dtype == np.float32 and dst.width > FLOAT32_WIDTH:
        raw = raw.astype(np.float64)  # compare with bounds beyond float32's range
    if overflow == "saturate":
        if raw.dtype.kind == "f" and dst.width <= FLOAT64_WIDTH:
            # Exact float bounds take numpy's fast path.
            clipped = np.clip(raw, float(dst.min_raw), float(dst.max_raw))
        else:
            clipped = np.clip(raw, dst.min_raw, dst.max_raw)
        count = int(np.count_nonzero(clipped != raw))
        return raw_array(clipped, dst.width), count
    if overflow != "wrap":
        raise ValueError(f"unknown overflow mode '{overflow}'")
    outside = (raw < dst.min_raw) | (raw > dst.max_raw)
    count = int(np.count_nonzero(outside))
    if count:
        if raw.dtype.kind == "f" and dst.width < FLOAT64_WIDTH:
            # Integer-valued float64: the fmod-based mod is exact.
            raw = raw.astype(np.float64)
            raw = np.mod(raw - dst.min_raw, 2.0**dst.width) + dst.min_raw
        else:
            low = np.bitwise_and(
                raw_array(raw, max(dst.width + 1, 65)), (1 << dst.width) - 1
            )
            raw = np.where(low > dst.max_raw, low - (1 << dst.width), low)
    return raw_array(raw, dst.width), count


def cast(
    raw: np.ndarray, src: Format, dst: Format, rounding: str, overflow: str
) -> tuple[np.ndarray, int]:
    """The one lossy operation: re-scale with rounding, then fit with overflow."""
    shift = src.frac - dst.frac
    # A left shift by -shift needs src.width - shift bits before the range check.
    shifted = round_shift(raw_array(raw, src.width - min(shift, 0)), shift, rounding)
    return fit(shifted, dst, overflow)


def quantize(
    values: np.ndarray, dst: Format, rounding: str, overflow: str
) -> tuple[np.ndarray, int]:
    """Float → raw integers of dst (a cast from the reals).

    The float is scaled by 2^F exactly (ldexp) and rounded by the same rule as
    `round_shift`, so a float that is already on the grid is taken exactly. Values
    beyond int64 (or whose x · 2^F overflows float64) are converted to exact Python
    ints before `fit`, so saturation, wrap and overflow counts stay exact."""
    values = np.asarray(values, np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot quantize NaN or infinite values")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scaled = np.ldexp(values, dst.frac)  # ±inf when |x · 2^F| ≥ 2^1024
        floor = np.floor(scaled)
        # x < 0 whose scaled value underflowed to -0.0: the exact floor is -1
        floor = np.where((values < 0) & (floor == 0), -1.0, floor)
        rest = scaled - floor  # exact, in [0, 1]; nan for ±inf
        if rounding == "floor":
            rounded = floor
        elif rounding == "half-up":
            rounded = floor + (rest >= 0.5)
        elif rounding == "half-even":
            odd = np.mod(floor, 2) == 1
            rounded = floor + ((rest > 0.5) | ((rest == 0.5) & odd))
        else:
            raise ValueError(f"unknown rounding mode '{rounding}'")
        if dst.width <= INT64_WIDTH and np.all(np.abs(rounded) < 2.0**63):
            return fit(rounded.astype(np.int64), dst, overflow)
    # ±inf stands for |x · 2^F| ≥ 2^1024: out of range, and ≡ 0 modulo 2^MAX_WIDTH
    exact = [
        int(v) if math.isfinite(v) else int(math.copysign(1, v)) << MAX_WIDTH
        for v in rounded.ravel().tolist()
    ]
    return fit(np.array(exact, dtype=object).reshape(rounded.shape), dst, overflow)


def format_for_range(lo: float, hi: float, width: int, guard_bits: int = 0) -> Format:
    """The format of `width` bits with the most fractional bits covering [lo, hi].

    Integer bits I (sign included) are the fewest with -2^(I-1) ≤ lo and
    hi < 2^(I-1) = max_value + lsb (at most the top lsb saturates), plus guard bits;
    fractional bits F = width - I."""
    m = max(abs(lo), abs(hi))
    if m == 0 or not math.isfinite(m):
        int_bits = 1
    else:
        int_bits = math.frexp(m)[1] + 1  # 2^(e-1) <= m < 2^e  → I = e + 1
        # lo = -2^(I-2) exactly fits one bit lower when also hi < 2^(I-2).
        if lo == -math.ldexp(1.0, int_bits - 2) and hi < -lo:
            int_bits -= 1
    int_bits += guard_bits
    return Format(width, width - int_bits)


# Constants (weights, tables, PWL parameters) are quantized with this rounding and
# saturation (docs/fixed-point.md).
CONSTANT_ROUNDING = "half-even"
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
    cover = format_for_range(lo, hi, width)
    for extra in range(MSE_EXTRA_FRAC_BITS + 1):
        fmt = Format(width, cover.frac + extra)
        raw, _ = quantize(values, fmt, CONSTANT_ROUNDING, "saturate")
        err = float(np.sum((fmt.to_float(raw) - values) ** 2))
        if err < best_err:
            best, best_err = fmt, err
    return best


# ------------------------------------------------------------------ activations


def lut_index(raw: np.ndarray, shift: int, entries: int, symmetry: str) -> np.ndarray:
    """Table index of each input (docs/fixed-point.md, activation LUT)."""
    raw = np.asarray(raw)
    if raw.dtype.kind != "f":
        raw = raw.astype(object)  # |min int64| does not fit int64
    if symmetry == "none":
        scaled = round_shift(raw, shift, "floor") + entries // 2
        return np.clip(scaled, 0, entries - 1).astype(np.int64)
    index = np.minimum(round_shift(np.abs(raw), shift, "floor"), entries - 1)
    return index.astype(np.int64)


def lut(
    raw: np.ndarray, table: np.ndarray, shift: int, symmetry: str, out: Format
) -> np.ndarray:
    """Look up and rebuild the sign: odd → -y, sigmoid → 1 - y for x < 0."""
    raw = np.asarray(raw)
    entries = raw_array(table, out.width + 1)
    y = entries[lut_index(raw, shift, len(entries), symmetry)]
    if symmetry == "odd":
        y = np.where(raw < 0, -y, y)
    elif symmetry == "sigmoid":
        one = (1 << out.frac) if out.frac >= 0 else 0  # 1.0 in the output format
        y = np.where(raw < 0, one - y, y)
    return fit(y, out, "saturate")[0]


def pwl(
    raw: np.ndarray,
    src: Format,
    breakpoints: np.ndarray,
    slopes: np.ndarray,
    slope_frac: int,
    intercepts: np.ndarray,
    out: Format,
    rounding: str,
    overflow: str,
) -> tuple[np.ndarray, int]:
    """Segment i covers [bp[i-1], bp[i]); y = cast(s_i·x, out) + c_i, then fit."""
    slopes = np.asarray(slopes, np.int64)
    slope_bits = int(np.abs(slopes).max()).bit_length() + 1 if slopes.size else 1
    width = src.width + slope_bits
    x = raw_array(raw, width)
    seg = np.searchsorted(np.asarray(breakpoints, np.int64), x, side="right")
    product = raw_array(slopes, width)[seg] * x  # frac = slope_frac + src.frac
    scaled = round_shift(product, slope_frac + src.frac - out.frac, rounding)
    offsets = raw_array(intercepts, max(out.width, width) + 1)[seg]
    return fit(scaled + offsets, out, overflow)
