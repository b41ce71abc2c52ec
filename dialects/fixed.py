"""Fixed-point arithmetic rules: the executable form of docs/fixed-point.md.

A format `Format(W, F)` is a signed two's-complement integer of W bits whose value is
raw · 2^-F (F may be negative or larger than W). Add, sub, mul and dot products are
exact: their result formats grow so no information is lost. The only lossy step is
`cast`, with a rounding mode and an overflow mode. Verifiers, lowering, both
interpreters and the Verilog backend take their rules from here.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from xdsl.utils.str_enum import StrEnum


class Rounding(StrEnum):
    """How a cast chooses the integer n from raw · 2^-s (docs/fixed-point.md)."""

    FLOOR = "floor"
    HALF_UP = "half-up"
    HALF_EVEN = "half-even"


class Overflow(StrEnum):
    """What a cast does with an integer outside the destination's range."""

    WRAP = "wrap"
    SATURATE = "saturate"


class Symmetry(StrEnum):
    """How a table covers the input: [-R, R), or |x| with the sign rebuilt."""

    NONE = "none"
    ODD = "odd"  # f(-x) = -f(x)
    SIGMOID = "sigmoid"  # f(-x) = 1 - f(x)


# The modes as plain strings (they compare equal to the enum members).
ROUNDING_MODES = tuple(m.value for m in Rounding)
OVERFLOW_MODES = tuple(m.value for m in Overflow)
SYMMETRIES = tuple(m.value for m in Symmetry)
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


def cast_shift(src: Format, dst: Format) -> int:
    """Bits a cast from src to dst drops (negative: zero bits it appends)."""
    return src.frac - dst.frac


def rescaled_width(src: Format, dst: Format) -> int:
    """Bits of the re-scaled integer before the range check: a left shift by
    -shift needs src.width - shift bits."""
    return src.width - min(cast_shift(src, dst), 0)


def rounds_up(rounding: str, half, below, odd, and_=operator.and_, or_=operator.or_):
    """Whether the rounded integer is floor + 1 (None for `floor`), from the dropped
    bits: `half` is the top dropped bit (d ≥ h), `below` whether a lower dropped bit
    is set (d ≠ h given half), `odd` the floor's lowest bit. The one statement of
    the rounding modes: numpy arrays use it as is, comb circuits pass their and/or.
    """
    if rounding == Rounding.FLOOR:
        return None
    if rounding == Rounding.HALF_UP:
        return half
    if rounding == Rounding.HALF_EVEN:
        return and_(half, or_(below, odd))
    raise ValueError(f"unknown rounding mode '{rounding}'")


def round_float(v: np.ndarray, rounding: str, out: np.ndarray | None = None):
    """`rounds_up` on exact float values v = raw · 2^-s: floor(v), floor(v + 1/2)
    (ties up) and rint(v) (ties to even), exact while v + 1/2 still fits the
    significand. v may be changed in place (half-up)."""
    if rounding == Rounding.FLOOR:
        return np.floor(v, out=out)
    if rounding == Rounding.HALF_EVEN:
        return np.rint(v, out=out)
    if rounding == Rounding.HALF_UP:
        v += 0.5
        return np.floor(v, out=out)
    raise ValueError(f"unknown rounding mode '{rounding}'")


def _round_below_half(raw: np.ndarray, rounding: str, dtype) -> np.ndarray:
    """raw · 2^-shift rounded when |raw · 2^-shift| < 1/2: every dropped bit at
    and below the top one is a copy of the sign."""
    negative = raw < 0
    floor = np.where(negative, -1, 0).astype(dtype)
    up = rounds_up(rounding, negative, negative, negative)
    return floor if up is None else floor + up


def round_shift(raw: np.ndarray, shift: int, rounding: str) -> np.ndarray:
    """raw · 2^-shift rounded to an integer (exact left shift when shift ≤ 0).

    In float64 (|raw| < 2^53): scaling is exact, and so is `round_float`."""
    raw = np.asarray(raw)
    if shift <= 0:
        return _scale(raw, -shift)
    if raw.dtype.kind == "f":
        if shift > 60:  # |raw| < 2^53: |v| < 2^-7 (and 2^-shift may underflow)
            return _round_below_half(raw, rounding, raw.dtype)
        v = raw * raw.dtype.type(2.0**-shift)
        return round_float(v, rounding, out=v)
    if raw.dtype != object:
        raw = raw.astype(np.int64, copy=False)
        if shift >= 64:  # raw · 2^-shift is in [-1/2, 1/2)
            return _round_below_half(raw, rounding, np.int64)
    floor = np.right_shift(raw, shift)
    if rounding == Rounding.FLOOR:
        return floor
    rest = np.bitwise_and(raw, (1 << shift) - 1)  # the dropped bits, in [0, 2^shift)
    half = 1 << (shift - 1)
    up = rounds_up(
        rounding,
        rest >= half,
        np.bitwise_and(rest, half - 1) != 0,
        np.bitwise_and(floor, 1) == 1,
    )
    return floor + up


def fit(raw: np.ndarray, dst: Format, overflow: str) -> tuple[np.ndarray, int]:
    """Bring integers into dst's range; returns (raw, number out of range)."""
    raw = np.asarray(raw)
    if raw.dtype == np.float32 and dst.width > FLOAT32_WIDTH:
        raw = raw.astype(np.float64)  # compare with bounds beyond float32's range
    if overflow == Overflow.SATURATE:
        if raw.dtype.kind == "f" and dst.width <= FLOAT64_WIDTH:
            # Exact float bounds take numpy's fast path.
            clipped = np.clip(raw, float(dst.min_raw), float(dst.max_raw))
        else:
            clipped = np.clip(raw, dst.min_raw, dst.max_raw)
        count = int(np.count_nonzero(clipped != raw))
        return raw_array(clipped, dst.width), count
    if overflow != Overflow.WRAP:
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
    raw = raw_array(raw, rescaled_width(src, dst))
    return fit(round_shift(raw, cast_shift(src, dst), rounding), dst, overflow)


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
        up = rounds_up(
            rounding, rest >= 0.5, np.fmod(rest, 0.5) != 0, np.mod(floor, 2) == 1
        )
        rounded = floor if up is None else floor + up
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
CONSTANT_ROUNDING = Rounding.HALF_EVEN
CONSTANT_OVERFLOW = Overflow.SATURATE


# ------------------------------------------------------------------ activations


def folds(symmetry: str) -> bool:
    """A symmetric table covers |x|; its sign is rebuilt by `reflection`."""
    if symmetry not in SYMMETRIES:
        raise ValueError(f"unknown symmetry '{symmetry}'")
    return symmetry != Symmetry.NONE


def fold(x: np.ndarray, symmetry: str) -> np.ndarray:
    """The input a table is indexed by: |x| for a symmetric table, else x."""
    return np.abs(x) if folds(symmetry) else x


def index_offset(entries: int, symmetry: str) -> int:
    """Added to the floored input: a table over [-R, R) starts at -R."""
    return 0 if folds(symmetry) else entries // 2


def clamp_index(steps: np.ndarray, entries: int, symmetry: str) -> np.ndarray:
    """The entry selected by an input floored to table steps (`fold`ed first):
    offset, then clamped to the table (inputs beyond its range take the end)."""
    index = np.clip(steps + index_offset(entries, symmetry), 0, entries - 1)
    return index.astype(np.int64)


def reflection(symmetry: str, out: Format) -> int | None:
    """A symmetric table's output for x < 0 is r - y: odd r = 0 (-y), sigmoid
    r = 1.0 in the output format (0 when F < 0); None for a table over [-R, R)."""
    if not folds(symmetry):
        return None
    if symmetry == Symmetry.SIGMOID and out.frac >= 0:
        return 1 << out.frac
    return 0


def lut_index(raw: np.ndarray, shift: int, entries: int, symmetry: str) -> np.ndarray:
    """Table index of each input (docs/fixed-point.md, activation LUT)."""
    raw = np.asarray(raw)
    if raw.dtype.kind != "f":
        raw = raw.astype(object)  # |min int64| does not fit int64
    steps = round_shift(fold(raw, symmetry), shift, Rounding.FLOOR)
    return clamp_index(steps, entries, symmetry)


def lut(
    raw: np.ndarray, table: np.ndarray, shift: int, symmetry: str, out: Format
) -> np.ndarray:
    """Look up and rebuild the sign: odd → -y, sigmoid → 1 - y for x < 0."""
    raw = np.asarray(raw)
    entries = raw_array(table, out.width + 1)
    y = entries[lut_index(raw, shift, len(entries), symmetry)]
    r = reflection(symmetry, out)
    if r is not None:
        y = np.where(raw < 0, r - y, y)
    return fit(y, out, Overflow.SATURATE)[0]


def pwl_widths(src: Format, slopes, out: Format) -> tuple[int, int]:
    """Bits of the slope product s·x and of the intercepts (and the sum): enough
    for every segment, so only the final fit can lose information."""
    slopes = np.asarray(slopes, np.int64)
    slope_bits = int(np.abs(slopes).max()).bit_length() + 1 if slopes.size else 1
    width = src.width + slope_bits
    return width, max(out.width, width) + 1


def pwl_shift(src: Format, slope_frac: int, out: Format) -> int:
    """Bits the product s·x (slope_frac + src.frac fractional bits) drops."""
    return slope_frac + src.frac - out.frac


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
    width, offset_width = pwl_widths(src, slopes, out)
    x = raw_array(raw, width)
    seg = np.searchsorted(np.asarray(breakpoints, np.int64), x, side="right")
    product = raw_array(np.asarray(slopes, np.int64), width)[seg] * x
    scaled = round_shift(product, pwl_shift(src, slope_frac, out), rounding)
    offsets = raw_array(intercepts, offset_width)[seg]
    return fit(scaled + offsets, out, overflow)
