"""Property tests: every rule of dialects/fixed.py equals an exact reference.

The references below are written from docs/fixed-point.md with Python ints and
`fractions.Fraction` only (no numpy, no Format helpers beyond width/frac), and the
strategies lean on the hard cases: negative F, F > W, widths 1..MAX_WIDTH (int64
arrays up to 64 bits, Python ints beyond), raw values at min/max, exact rounding
ties and the int64 limits.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnc.dialects import fixed
from rnnc.dialects.fixed import Format
from rnnc.passes import weight_fit

HALF = Fraction(1, 2)
PAIRS = [(r, o) for r in fixed.ROUNDING_MODES for o in fixed.OVERFLOW_MODES]
MAX_WIDTH = fixed.MAX_WIDTH
INT64 = fixed.INT64_WIDTH


def representation(width: int):
    """How the implementation holds raw integers (docs/fixed-point.md): exact
    float32 up to 24 bits, float64 up to 53, int64 up to 64, Python ints beyond."""
    if width <= 24:
        return np.float32
    if width <= 53:
        return np.float64
    return np.int64 if width <= INT64 else object


def np_raw(values, width: int) -> np.ndarray:
    exact = np.array(values, dtype=object)  # Python ints: no float detour
    return exact.astype(representation(width))


def check_dtype(raw: np.ndarray, fmt: Format) -> None:
    assert raw.dtype == representation(fmt.width)


# ------------------------------------------------------------------ references


def ref_value(raw: int, fmt: Format) -> Fraction:
    return Fraction(int(raw)) * Fraction(2) ** -fmt.frac


def ref_round(q: Fraction, rounding: str) -> int:
    """q rounded to an integer: floor, ties toward +inf, ties to even."""
    floor = q.numerator // q.denominator  # floor division: toward -inf
    rest = q - floor  # in [0, 1)
    if rounding == "floor":
        return floor
    if rounding == "half-up":
        return floor + (rest >= HALF)
    assert rounding == "half-even"
    return floor + (rest > HALF or (rest == HALF and floor % 2 == 1))


def ref_fit(n: int, width: int, overflow: str) -> tuple[int, bool]:
    """(raw, overflowed): saturate clamps, wrap keeps the low W bits signed."""
    lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    if lo <= n <= hi:
        return n, False
    if overflow == "saturate":
        return min(max(n, lo), hi), True
    return (n - lo) % 2**width + lo, True


def ref_quantize(q: Fraction, dst: Format, rounding: str, overflow: str):
    return ref_fit(
        ref_round(q * Fraction(2) ** dst.frac, rounding), dst.width, overflow
    )


def ref_cast(raw: int, src: Format, dst: Format, rounding: str, overflow: str):
    return ref_quantize(ref_value(raw, src), dst, rounding, overflow)


def in_format(raw: int, fmt: Format) -> bool:
    return -(2 ** (fmt.width - 1)) <= raw < 2 ** (fmt.width - 1)


def check_cast(got, count, want):
    assert [int(v) for v in got] == [w for w, _ in want]
    assert count == sum(bad for _, bad in want)


# ------------------------------------------------------------------ strategies

FRACS = st.integers(-80, 80)


def widths(lo=1, hi=MAX_WIDTH):
    """Mostly int64 widths, often at the 64-bit boundary, sometimes wide."""
    edges = [w for w in (1, 2, 24, 25, 53, 54, 63, 64, 65, hi) if lo <= w <= hi]
    return st.one_of(
        st.integers(lo, min(hi, INT64)), st.sampled_from(edges), st.integers(lo, hi)
    )


@st.composite
def formats(draw, min_width=1, max_width=MAX_WIDTH, fracs=FRACS):
    return Format(draw(widths(min_width, max_width)), draw(fracs))


def raw_values(fmt: Format):
    """Raw integers of fmt, often at the edges."""
    lo, hi = fmt.min_raw, fmt.max_raw
    edges = sorted(
        {lo, hi, 0, max(lo, -1), min(hi, 1), min(hi, lo + 1), max(lo, hi - 1)}
    )
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def tie_values(fmt: Format, shift: int, neighbours: bool = True):
    """Raw values whose `shift` dropped bits are exactly 10…0 (none if impossible),
    and with `neighbours` the raw values one below and above them."""
    if shift < 1:
        return st.nothing()
    step, half = 2**shift, 2 ** (shift - 1)
    kmin = -((half - fmt.min_raw) // step)  # ceil((min_raw - half) / step)
    kmax = (fmt.max_raw - half) // step
    if kmin > kmax:
        return st.nothing()
    ks = st.one_of(
        st.sampled_from([kmin, kmax, max(kmin, min(kmax, 0))]), st.integers(kmin, kmax)
    )
    # ties, and their neighbours one lsb away (clipped into the format)
    offsets = [0, 0, -1, 1] if neighbours else [0]
    return st.tuples(ks, st.sampled_from(offsets)).map(
        lambda kd: min(max(kd[0] * step + half + kd[1], fmt.min_raw), fmt.max_raw)
    )


def arrays(elements, min_size=1, max_size=8):
    return st.lists(elements, min_size=min_size, max_size=max_size)


# --------------------------------------------------------------------- formats


@settings(max_examples=100, deadline=None)
@given(formats())
def test_format_range_and_lsb(fmt):
    w, f = fmt.width, fmt.frac
    assert fmt.min_raw == -(2 ** (w - 1)) and fmt.max_raw == 2 ** (w - 1) - 1
    assert fmt.lsb == Fraction(2) ** -f
    assert fmt.int_bits == w - f
    assert fmt.value(fmt.min_raw) == -(Fraction(2) ** (w - 1 - f))
    assert fmt.value(fmt.max_raw) == (2 ** (w - 1) - 1) * fmt.lsb
    assert Fraction(fmt.min_value) == fmt.value(fmt.min_raw)  # a power of two
    assert fmt.to_float(np_raw([fmt.min_raw], w))[0] == fmt.min_value


@pytest.mark.parametrize("width", [0, -1, MAX_WIDTH + 1])
def test_format_width_limit(width):
    with pytest.raises(ValueError):
        Format(width, 0)


# -------------------------------------------------------------------- add / sub


def operand_pairs(draw, fa: Format, fb: Format) -> tuple[list[int], list[int]]:
    """Raw operands of fa and fb: every pair of extremes, then random values."""
    n = draw(st.integers(0, 6))
    a = [fa.min_raw, fa.min_raw, fa.max_raw, fa.max_raw]
    b = [fb.min_raw, fb.max_raw, fb.min_raw, fb.max_raw]
    a += draw(arrays(raw_values(fa), n, n))
    b += draw(arrays(raw_values(fb), n, n))
    return a, b


@st.composite
def add_operands(draw):
    fa_frac = draw(FRACS)
    fb_frac = fa_frac + draw(st.one_of(st.integers(-4, 4), st.integers(-62, 62)))
    frac = max(fa_frac, fb_frac)
    # out width = max(Wa + frac - Fa, Wb + frac - Fb) + 1 must stay ≤ the limit
    limit = draw(st.sampled_from([INT64, INT64, MAX_WIDTH]))
    fa = Format(draw(widths(1, limit - 1 - (frac - fa_frac))), fa_frac)
    fb = Format(draw(widths(1, limit - 1 - (frac - fb_frac))), fb_frac)
    return fa, fb, *operand_pairs(draw, fa, fb)


@settings(max_examples=150, deadline=None)
@given(add_operands(), st.booleans())
def test_add_sub_exact(operands, subtract):
    fa, fb, a, b = operands
    raw, out = fixed.add(np_raw(a, fa.width), fa, np_raw(b, fb.width), fb, subtract)
    frac = max(fa.frac, fb.frac)
    assert out == fixed.add_format(fa, fb) == fixed.add_format(fb, fa)
    assert out.frac == frac and out.int_bits == max(fa.int_bits, fb.int_bits) + 1
    check_dtype(raw, out)
    for x, y, z in zip(a, b, raw.tolist(), strict=True):
        want = (
            ref_value(x, fa) - ref_value(y, fb)
            if subtract
            else ref_value(x, fa) + ref_value(y, fb)
        )
        assert in_format(z, out)
        assert ref_value(z, out) == want


def test_add_carry_bit_is_needed():
    f = Format(8, 3)
    raw, out = fixed.add(np.array([-128]), f, np.array([-128]), f)
    assert out == Format(9, 3) and raw[0] == -256 == out.min_raw
    raw, out = fixed.add(np.array([-128]), f, np.array([127]), f, subtract=True)
    assert raw[0] == -255


# ------------------------------------------------------------------------ mul


@st.composite
def mul_operands(draw):
    limit = draw(st.sampled_from([INT64, INT64, MAX_WIDTH]))
    wa = draw(widths(1, limit - 1))
    fa = Format(wa, draw(FRACS))
    fb = Format(draw(widths(1, limit - wa)), draw(FRACS))
    return fa, fb, *operand_pairs(draw, fa, fb)


@settings(max_examples=120, deadline=None)
@given(mul_operands())
def test_mul_exact(operands):
    fa, fb, a, b = operands
    raw, out = fixed.mul(np_raw(a, fa.width), fa, np_raw(b, fb.width), fb)
    check_dtype(raw, out)
    assert (
        out
        == fixed.mul_format(fa, fb)
        == Format(fa.width + fb.width, fa.frac + fb.frac)
    )
    for x, y, z in zip(a, b, raw.tolist(), strict=True):
        assert in_format(z, out)
        assert ref_value(z, out) == ref_value(x, fa) * ref_value(y, fb)
    # min·min = 2^(Wa+Wb-2) does not fit in Wa+Wb-1 bits: the width is tight
    assert not in_format(fa.min_raw * fb.min_raw, Format(out.width - 1, out.frac))


# --------------------------------------------------------------------- matmul

PATHS = {
    "float32": (2, 24),
    "float64": (25, 53),
    "int64": (54, 64),
    "python-int": (65, MAX_WIDTH),
}


@st.composite
def matmul_operands(draw, path):
    lo, hi = PATHS[path]
    terms = draw(st.integers(1, 16))
    g = fixed.growth_bits(terms)
    width = draw(st.integers(max(lo, g + 2), hi))
    wa = draw(st.integers(1, width - g - 1))
    fa = Format(wa, draw(FRACS))
    fb = Format(width - g - wa, draw(FRACS))
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if draw(st.booleans()):  # the largest partial sums: every term is min·min
        a = [[fa.min_raw] * terms for _ in range(m)]
        b = [[fb.min_raw] * n for _ in range(terms)]
    else:
        a = draw(arrays(arrays(raw_values(fa), terms, terms), m, m))
        b = draw(arrays(arrays(raw_values(fb), n, n), terms, terms))
    return fa, fb, a, b


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_matmul_exact(path, data):
    fa, fb, a, b = data.draw(matmul_operands(path))
    terms = len(b)
    raw, out = fixed.matmul(np_raw(a, fa.width), fa, np_raw(b, fb.width), fb)
    assert out == fixed.matmul_format(fa, fb, terms)
    assert out == Format(
        fa.width + fb.width + math.ceil(math.log2(terms)), fa.frac + fb.frac
    )
    lo, hi = PATHS[path]
    assert lo <= out.width <= hi  # the BLAS path under test is the one taken
    check_dtype(raw, out)
    assert raw.shape == (len(a), len(b[0]))
    for i, row in enumerate(a):
        for j in range(len(b[0])):
            want = sum(
                ref_value(row[k], fa) * ref_value(b[k][j], fb) for k in range(terms)
            )
            assert in_format(int(raw[i, j]), out)
            assert ref_value(raw[i, j], out) == want
            # every partial sum is bounded by 2^(W-2)
            partial = 0
            for k in range(terms):
                partial += row[k] * b[k][j]
                assert abs(partial) <= 2 ** (out.width - 2)


def test_growth_bits_is_ceil_log2():
    assert [fixed.growth_bits(k) for k in range(1, 10)] == [0, 1, 2, 2, 3, 3, 3, 3, 4]


# ----------------------------------------------------------------------- cast


@st.composite
def cast_operands(draw):
    src = draw(formats())
    special = [0, 1, 62, 63, 64, 65, 128, 255, 256]
    special += [src.width - 1, src.width, src.width + 1]
    shift = draw(
        st.one_of(
            st.integers(-8, 8),
            st.sampled_from(special),
            st.sampled_from([-s for s in special]),
            st.integers(-90, 90),
        )
    )
    dst = Format(draw(widths()), src.frac - shift)
    raw = draw(arrays(st.one_of(raw_values(src), tie_values(src, shift)), 1, 10))
    return src, dst, raw


@pytest.mark.parametrize("rounding,overflow", PAIRS)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_cast_matches_reference(rounding, overflow, data):
    src, dst, raw = data.draw(cast_operands())
    got, count = fixed.cast(np_raw(raw, src.width), src, dst, rounding, overflow)
    check_dtype(got, dst)
    check_cast(got, count, [ref_cast(r, src, dst, rounding, overflow) for r in raw])


@pytest.mark.parametrize("rounding,overflow", PAIRS)
@settings(max_examples=40, deadline=None)
@given(src=formats(min_width=2), shift=widths(), data=st.data())
def test_cast_exact_ties(rounding, overflow, src, shift, data):
    """Raw values that are exactly halfway between two results."""
    ties = tie_values(src, shift, neighbours=False)
    raw = data.draw(arrays(ties, 1, 6)) if shift <= src.width else []
    if not raw:
        return
    dst = Format(src.width, src.frac - shift)  # no overflow: only rounding is seen
    got, count = fixed.cast(np_raw(raw, src.width), src, dst, rounding, overflow)
    assert count == 0
    for r, g in zip(raw, got.tolist(), strict=True):
        q = ref_value(r, src) / dst.lsb
        assert q - math.floor(q) == HALF
        down = math.floor(q)
        want = {"floor": down, "half-up": down + 1}.get(rounding, down + (down % 2))
        assert g == want


@pytest.mark.parametrize("rounding,overflow", PAIRS)
@settings(max_examples=40, deadline=None)
@given(src=formats(), dst=formats())
def test_cast_saturation_boundaries(rounding, overflow, src, dst):
    """The values just inside and just outside dst, expressed in src."""
    edges = {src.min_raw, src.max_raw, 0}
    for bound in (dst.min_raw, dst.max_raw):
        for d in (-1, 0, 1):
            target = ref_value(bound + d, dst) / src.lsb  # in src raw units
            for r in (math.floor(target) - 1, math.floor(target), math.ceil(target)):
                if src.min_raw <= r <= src.max_raw:
                    edges.add(r)
    raw = sorted(edges)
    got, count = fixed.cast(np_raw(raw, src.width), src, dst, rounding, overflow)
    check_cast(got, count, [ref_cast(r, src, dst, rounding, overflow) for r in raw])


def test_cast_examples():
    src, dst = Format(8, 4), Format(8, 2)
    raw = np.array([6, 10, -6, -10, 7, 127, -128])  # 0.375, 0.625, -0.375, ...
    assert fixed.cast(raw, src, dst, "floor", "wrap")[0].tolist() == [
        1,
        2,
        -2,
        -3,
        1,
        31,
        -32,
    ]
    assert fixed.cast(raw, src, dst, "half-up", "wrap")[0].tolist() == [
        2,
        3,
        -1,
        -2,
        2,
        32,
        -32,
    ]
    assert fixed.cast(raw, src, dst, "half-even", "wrap")[0].tolist() == [
        2,
        2,
        -2,
        -2,
        2,
        32,
        -32,
    ]
    # 200 = 12.5 in fixed<8,4> does not fit fixed<8,4>'s [-8, 7.9375]
    wide = Format(16, 4)
    raw, count = fixed.cast(np.array([200, -200]), wide, src, "floor", "saturate")
    assert raw.tolist() == [127, -128] and count == 2
    assert fixed.cast(np.array([200, -200]), wide, src, "floor", "wrap")[
        0
    ].tolist() == [-56, 56]


def test_cast_regressions():
    """Cases the implementation once got wrong."""
    # shift of exactly 63: raw · 2^-63 ∈ [-1, 1) still rounds to ±1
    q63, i8 = Format(64, 63), Format(8, 0)
    raw = np.array([2**62 + 1, 2**62, -(2**62) - 1, -(2**62), -(2**63)])
    assert fixed.cast(raw, q63, i8, "half-up", "wrap")[0].tolist() == [1, 1, -1, 0, -1]
    assert fixed.cast(raw, q63, i8, "half-even", "wrap")[0].tolist() == [
        1,
        0,
        -1,
        0,
        -1,
    ]
    # a left shift past 64 bits: -1 · 2^64 must saturate (and count), not become 0
    raw, count = fixed.cast(
        np.array([-1, 0]), Format(1, 0), Format(1, 64), "floor", "saturate"
    )
    assert raw.tolist() == [-1, 0] and count == 1
    raw, count = fixed.cast(
        np.array([8, 3]), Format(8, 0), Format(8, 60), "floor", "saturate"
    )
    assert raw.tolist() == [127, 127] and count == 2


# ------------------------------------------------------------------- quantize


def float_values(fmt: Format):
    lsb = 2.0**-fmt.frac
    grid = st.integers(-(2**53), 2**53).map(lambda k: k * lsb)
    ties = st.integers(-(2**51), 2**51).map(lambda k: (k + 0.5) * lsb)
    near = ties.map(lambda t: math.nextafter(t, math.inf if t < 0 else -math.inf))
    small = st.integers(-300, 300).map(lambda k: k / 4 * lsb)
    huge = st.tuples(
        st.integers(2**52, 2**53 - 1),
        st.integers(0, 960 + min(fmt.frac, 0)),
        st.booleans(),
    ).map(lambda t: math.ldexp(-t[0] if t[2] else t[0], t[1] - fmt.frac))
    return st.one_of(
        grid,
        ties,
        near,
        small,
        huge,
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1e308]),
    ).filter(math.isfinite)


@pytest.mark.parametrize("rounding,overflow", PAIRS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_quantize_matches_reference(rounding, overflow, data):
    dst = data.draw(formats())
    values = data.draw(arrays(float_values(dst), 1, 10))
    got, count = fixed.quantize(np.array(values), dst, rounding, overflow)
    check_dtype(got, dst)
    check_cast(
        got, count, [ref_quantize(Fraction(v), dst, rounding, overflow) for v in values]
    )


@pytest.mark.parametrize("rounding,overflow", PAIRS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_quantize_is_a_cast_from_the_reals(rounding, overflow, data):
    """For values exactly representable as float64, quantize = cast."""
    src, dst = data.draw(formats(max_width=53)), data.draw(formats())
    raw = data.draw(arrays(raw_values(src)))
    values = [float(ref_value(r, src)) for r in raw]
    if any(Fraction(v) != ref_value(r, src) for v, r in zip(values, raw, strict=True)):
        return  # outside float64's exponent range
    got_q = fixed.quantize(np.array(values), dst, rounding, overflow)
    got_c = fixed.cast(np_raw(raw, src.width), src, dst, rounding, overflow)
    assert got_q[0].tolist() == got_c[0].tolist() and got_q[1] == got_c[1]


def test_quantize_examples():
    f = Format(8, 0)
    ties = np.array([2.5, 3.5, -2.5, -3.5, 0.5, -0.5])
    assert fixed.quantize(ties, f, "floor", "wrap")[0].tolist() == [2, 3, -3, -4, 0, -1]
    assert fixed.quantize(ties, f, "half-up", "wrap")[0].tolist() == [
        3,
        4,
        -2,
        -3,
        1,
        0,
    ]
    assert fixed.quantize(ties, f, "half-even", "wrap")[0].tolist() == [
        2,
        4,
        -2,
        -4,
        0,
        0,
    ]
    # 2.5·2^-3 in fixed<8,3>: raw 2.5 → 2 (half-even)
    assert fixed.quantize(np.array([2.5 / 8]), Format(8, 3), "half-even", "wrap")[
        0
    ] == [2]
    raw, count = fixed.quantize(
        np.array([1e300, -1e300, 200.0]), f, "floor", "saturate"
    )
    assert raw.tolist() == [127, -128, 127] and count == 3
    raw, count = fixed.quantize(np.array([1e300, 200.0]), f, "floor", "wrap")
    assert raw.tolist() == [0, -56] and count == 2
    # 2^62 + 2^11 is a float64; its low 16 bits are 2^11
    raw, count = fixed.quantize(
        np.array([2.0**62 + 2**11]), Format(16, 0), "floor", "wrap"
    )
    assert raw.tolist() == [2**11] and count == 1
    big = Format(64, 0)
    raw, count = fixed.quantize(
        np.array([1.5 * 2**62, -(2.0**63)]), big, "floor", "wrap"
    )
    assert raw.tolist() == [3 * 2**61, -(2**63)] and count == 0


def test_quantize_wide_formats_are_exact():
    wide = Format(200, 0)
    raw, count = fixed.quantize(
        np.array([2.0**150 + 2.0**100, -1e300]), wide, "floor", "saturate"
    )
    assert raw.tolist() == [2**150 + 2**100, wide.min_raw] and count == 1
    raw, count = fixed.quantize(
        np.array([-(2.0**199) - 2.0**150]), wide, "floor", "wrap"
    )
    assert raw.tolist() == [2**199 - 2**150] and count == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_quantize_rejects_nan_and_inf(bad):
    with pytest.raises(ValueError):
        fixed.quantize(np.array([1.0, bad]), Format(8, 4), "half-even", "saturate")


# ----------------------------------------------------------- format_for_range


def covers(int_bits: int, lo: Fraction, hi: Fraction) -> bool:
    """[lo, hi] ⊆ [-2^(I-1), 2^(I-1)): at most the top lsb saturates."""
    top = Fraction(2) ** (int_bits - 1)
    return -top <= lo and hi < top


def range_bounds():
    powers = st.tuples(st.integers(-1074, 1023), st.booleans()).map(
        lambda t: -math.ldexp(1.0, t[0]) if t[1] else math.ldexp(1.0, t[0])
    )
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(-4, 4),
        powers,
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -0.5]),
    )


@settings(max_examples=150, deadline=None)
@given(range_bounds(), range_bounds(), widths(), st.integers(0, 3))
def test_format_for_range(a, b, width, guard):
    lo, hi = min(a, b), max(a, b)
    fmt = fixed.format_for_range(lo, hi, width, guard)
    assert fmt.width == width
    flo, fhi = Fraction(lo), Fraction(hi)
    # covers: min_value ≤ lo and hi < max_value + lsb (so hi ≤ max_value + lsb)
    assert ref_value(fmt.min_raw, fmt) <= flo
    assert fhi < ref_value(fmt.max_raw, fmt) + fmt.lsb
    assert covers(fmt.int_bits, flo, fhi)
    # fewest integer bits: without the guard bits, one bit fewer would not cover
    int_bits = fmt.int_bits - guard
    if lo == hi == 0:
        assert int_bits == 1
    else:
        assert not covers(int_bits - 1, flo, fhi)


def ref_squared_error(values, fmt: Format) -> Fraction:
    """Exact sum of squared errors of a constant quantization (half-even, saturate)."""
    total = Fraction(0)
    for v in values:
        raw, _ = ref_quantize(Fraction(v), fmt, "half-even", "saturate")
        total += (ref_value(raw, fmt) - Fraction(v)) ** 2
    return total


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-8, 8, allow_subnormal=False), min_size=1, max_size=12),
    st.integers(2, 10),
)
def test_format_for_mse_is_least_squared_error(values, width):
    """No F from the covering one to MSE_EXTRA_FRAC_BITS finer has less exact error,
    and the covering format is never better than the choice."""
    fmt = weight_fit.format_for_mse(np.array(values), width)
    cover = fixed.format_for_range(min(values), max(values), width)
    assert fmt.width == width
    assert cover.frac <= fmt.frac <= cover.frac + weight_fit.MSE_EXTRA_FRAC_BITS
    best = ref_squared_error(values, fmt)
    for frac in range(cover.frac, cover.frac + weight_fit.MSE_EXTRA_FRAC_BITS + 1):
        assert best <= ref_squared_error(values, Format(width, frac))


def test_format_for_mse_clips_a_rare_outlier():
    values = np.array([0.3, -0.3, 0.2, -0.2, 0.3, 0.25, -0.35, 1.0])
    assert fixed.format_for_range(-0.35, 1.0, 3) == Format(3, 1)
    assert weight_fit.format_for_mse(values, 3) == Format(3, 2)


def test_format_for_range_examples():
    assert fixed.format_for_range(-1.0, 1.0, 8) == Format(8, 6)  # 1.0 must fit
    assert fixed.format_for_range(-1.0, 0.5, 8) == Format(8, 7)
    assert fixed.format_for_range(-1.0, 0.0, 8) == Format(8, 7)
    assert fixed.format_for_range(-3.2, 2.0, 16) == Format(16, 13)
    assert fixed.format_for_range(0.0, 0.3, 8) == Format(8, 8)
    assert fixed.format_for_range(0.0, 0.3, 8, guard_bits=2) == Format(8, 6)
    assert fixed.format_for_range(0.0, 1000.0, 8) == Format(8, -3)
    assert fixed.format_for_range(0.0, 0.0, 8) == Format(8, 7)
