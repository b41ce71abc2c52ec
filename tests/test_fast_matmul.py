"""Exact integer products on int8 digits (backends/int_matmul.py, torch._int_mm)
against Python integers and `fixed.matmul`: random formats with operands up to 32
bits, negative values, the extremes min·min, K at the int32 bound, odd shapes,
strided and N-D operands, and the interpreter's fused products."""

from __future__ import annotations

import numpy as np
import pytest

from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter import int_matmul
from rnnc.dialects import fixed
from rnnc.dialects.fixed import Format

pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    not int_matmul.available(), reason="torch._int_mm is not available"
)


def draw(rng: np.random.Generator, fmt: Format, shape) -> np.ndarray:
    """Raw values of fmt (Python ints), leaning on the extremes."""
    kind = rng.integers(0, 4)
    if kind == 0:
        return np.full(shape, fmt.min_raw, dtype=object)
    if kind == 1:
        picks = [fmt.min_raw, fmt.max_raw, 0, -1 if fmt.width > 1 else 0]
        return rng.choice(np.array(picks, dtype=object), shape)
    values = rng.integers(fmt.min_raw, fmt.max_raw + 1, shape, dtype=np.int64)
    return values.astype(object)


def exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=object) @ np.asarray(b, dtype=object)


def raw(values: np.ndarray, fmt: Format) -> np.ndarray:
    return fixed.raw_array(np.asarray(values, dtype=object), fmt.width)


def widths(rng: np.random.Generator) -> tuple[int, int]:
    while True:
        wa, wb = (int(w) for w in rng.integers(1, 33, 2))
        if int_matmul.digits(wa) * int_matmul.digits(wb) <= 4:
            return wa, wb


def test_digits_rebuild_the_integers():
    rng = np.random.default_rng(0)
    for width in range(1, 33):
        fmt = Format(width, 0)
        x = draw(rng, fmt, (5, 7))
        for axis in (0, 1):
            d = int_matmul.split(raw(x, fmt), width, axis).astype(np.int64)
            n = int_matmul.digits(width)
            parts = np.split(d, n, axis=axis)
            rebuilt = sum(p.astype(object) * 256**i for i, p in enumerate(parts))
            assert (rebuilt + int_matmul.offset(n) == x).all()


def test_random_formats_match_python_ints():
    rng = np.random.default_rng(1)
    for _ in range(400):
        wa, wb = widths(rng)
        fa, fb = (
            Format(wa, int(rng.integers(-8, 40))),
            Format(wb, int(rng.integers(-8, 40))),
        )
        m, k, n = (int(v) for v in rng.integers(1, 9, 3))
        a, b = draw(rng, fa, (m, k)), draw(rng, fb, (k, n))
        out = fixed.matmul_format(fa, fb, k)
        assert int_matmul.within_bounds(wa, wb, k, out.width)
        got = int_matmul.matmul(
            raw(a, fa), wa, int_matmul.Rhs(raw(b, fb), wb), out.width
        )
        want, fmt = fixed.matmul(raw(a, fa), fa, raw(b, fb), fb)
        assert fmt == out
        assert got.dtype == want.dtype == np.dtype(kernels.representation(out.width))
        assert (got.astype(object) == exact(a, b)).all()
        assert np.array_equal(got, want)


def test_products_at_the_int32_bound():
    """K = 131071 terms of (-128)·(-128): 2^31 - 2^14, the largest exact int32 sum;
    one term more is refused (it would wrap)."""
    k = int_matmul.MAX_TERMS
    fmt = Format(8, 0)
    out = fixed.matmul_format(fmt, fmt, k)
    assert int_matmul.within_bounds(8, 8, k, out.width)
    assert not int_matmul.within_bounds(8, 8, k + 1, out.width)
    a = np.full((3, k), -128.0, np.float32)
    b = np.full((k, 2), -128.0, np.float32)
    b[:, 1] = 127
    got = int_matmul.matmul(a, 8, int_matmul.Rhs(b, 8), out.width)
    assert got.tolist() == [[k * 128 * 128, -k * 128 * 127]] * 3
    # 16-bit lhs, two digits: every digit product is at the bound too
    wide = Format(16, 0)
    out = fixed.matmul_format(wide, fmt, k)
    a = np.full((2, k), wide.min_raw, np.float32)
    got = int_matmul.matmul(a, 16, int_matmul.Rhs(b, 8), out.width)
    assert got.tolist() == [[k * 2**15 * 128, -k * 2**15 * 127]] * 2


def test_strided_and_batched_operands():
    rng = np.random.default_rng(2)
    fa, fb = Format(16, 3), Format(12, 5)
    a = raw(draw(rng, fa, (4, 3, 40)), fa)[:, :, ::2]  # (4, 3, 20), strided
    b = raw(draw(rng, fb, (9, 20)), fb).T  # (20, 9), transposed
    out = fixed.matmul_format(fa, fb, 20)
    got = int_matmul.matmul(a, fa.width, int_matmul.Rhs(b, fb.width), out.width)
    want = fixed.matmul(a, fa, b, fb)[0]
    assert got.shape == (4, 3, 9) and np.array_equal(got, want)


def test_kernel_products(loops, monkeypatch):
    """The interpreter's Matmul: int8 digits for large products (threshold 0 here),
    the rule itself where the bounds do not hold."""
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    rng = np.random.default_rng(3)
    for _ in range(150):
        wa, wb = widths(rng)
        fa, fb = Format(wa, 1), Format(wb, -2)
        lead = tuple(int(v) for v in rng.integers(1, 5, int(rng.integers(1, 3))))
        k, n = (int(v) for v in rng.integers(1, 12, 2))
        a, b = raw(draw(rng, fa, (*lead, k)), fa), raw(draw(rng, fb, (k, n)), fb)
        got = kernels.Matmul(fa, fb)(a, b)
        want = fixed.matmul(a, fa, b, fb)[0]
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert got.flags.c_contiguous
    # three digits by two: beyond MAX_DIGIT_PRODUCTS, and 64 + bits: the rule
    for fa, fb in [(Format(24, 0), Format(16, 0)), (Format(40, 0), Format(30, 0))]:
        a, b = raw(draw(rng, fa, (3, 4)), fa), raw(draw(rng, fb, (4, 2)), fb)
        got = kernels.Matmul(fa, fb)(a, b)
        assert np.array_equal(got, fixed.matmul(a, fa, b, fb)[0])


@pytest.mark.parametrize("path", ["int8", "float64", "separate"])
def test_fused_products_are_the_separate_products(loops, path, monkeypatch):
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0 if path == "int8" else 1 << 60)
    rng = np.random.default_rng(4)
    for trial in range(40):
        # 16 bits: two int8 digits; 50 bits: too many digits, and 53 + result bits
        fa = Format(16 if path != "separate" else 50, 15)
        k = int(rng.integers(1, 20))
        # equal widths (one block per op) or not (one product, sliced)
        cols = [5, 5, 5] if trial % 2 else [3, 7, 1]
        fbs = [Format(int(w), 7) for w in rng.integers(2, 9, len(cols))]
        mats = [raw(draw(rng, fb, (k, n)), fb) for fb, n in zip(fbs, cols, strict=True)]
        a = raw(draw(rng, fa, (2, 6, k)), fa)
        fused = kernels.FusedMatmul(fa, fbs, k)
        assert fused.bounded == (path != "separate")
        assert (fused.out_width > 53) == (path == "separate")
        blocks = fused.prepare(mats)(a)
        for block, b, fb in zip(blocks, mats, fbs, strict=True):
            want = fixed.matmul(a, fa, b, fb)[0]
            assert block.dtype == want.dtype and np.array_equal(block, want)


def test_threads_are_restored():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    with int_matmul.threads(1):
        a = np.ones((4, 8), np.float32)
        int_matmul.matmul(a, 8, int_matmul.Rhs(np.ones((8, 3), np.float32), 8), 20)
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_deferred_digit_products_add_up_to_the_products(monkeypatch):
    """A fused product left as int8 digit products (for a run to add up): each
    op's block, added up by `array`, is the exact product, for one and two digits
    on either side, one op or several of equal or unequal widths."""
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    rng = np.random.default_rng(5)
    cases = [(8, 8), (16, 8), (8, 16), (16, 16), (12, 5)]
    blocks_of = [[6, 6, 6], [3, 7, 1], [5], [4, 4], [2, 9]]
    for (wa, wb), cols in zip(cases, blocks_of, strict=True):
        fa, fbs = Format(wa, 3), [Format(wb, 2)] * len(cols)
        k = int(rng.integers(int_matmul.MIN_TERMS_4, 100))  # four digit products too
        mats = [raw(draw(rng, fb, (k, n)), fb) for fb, n in zip(fbs, cols, strict=True)]
        a = raw(draw(rng, fa, (9, k)), fa)
        fused = kernels.FusedMatmul(fa, fbs, k, sum(cols))
        assert fused.threaded(9)
        blocks = fused.prepare(mats)(a, deferred=True)
        for block, b, fb in zip(blocks, mats, fbs, strict=True):
            assert isinstance(block, kernels.DigitProducts)
            assert block.layout.na == int_matmul.digits(wa)
            assert block.layout.nb == int_matmul.digits(wb)
            want = fixed.matmul(a, fa, b, fb)[0]
            got = block.array(fixed.matmul_format(fa, fb, k).width)
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_products_on_blas_are_not_threaded(monkeypatch):
    """Four digit products of few terms run on float64 BLAS, on one core: the
    interpreter then computes the hoisted ops ahead instead of threading steps."""
    monkeypatch.setattr(int_matmul, "MIN_WORK", 0)
    few = kernels.FusedMatmul(Format(16, 8), [Format(16, 8)] * 4, 32, 128)
    many = kernels.FusedMatmul(Format(16, 8), [Format(16, 8)] * 4, 128, 512)
    eight = kernels.FusedMatmul(Format(16, 8), [Format(8, 8)] * 4, 32, 128)
    assert not few.threaded(256)
    assert many.threaded(256) and eight.threaded(256)
