"""Exact integer matrix products on int8 units (`torch._int_mm`).

`torch._int_mm` multiplies int8 matrices into int32 exactly (VNNI / AMX on x86).
Wider operands are split into 8-bit digits: an integer x of W bits is

    x = sum_i 256^i · d_i + C,    d_i int8,   C = 128 · sum_{i < n-1} 256^i

with n = ceil(W / 8) digits. The lower digits are the unsigned bytes u_i of x's
two's complement, stored as u_i - 128 (a flip of the top bit), and the top digit is
the signed top byte, so C is a constant. For a = A' + C_a and b = B' + C_b (K
terms) the exact product is

    a @ b = sum_ij 256^(i+j) · (d_i @ e_j) + C_b · rowsum(a) + C_a · colsum(b)
            - K · C_a · C_b

Every digit product d_i @ e_j is an exact int32 when K · 128 · 128 < 2^31, i.e.
K ≤ 131071 (`MAX_TERMS`). The sum is accumulated modulo 2^32 (int32) or 2^64
(int64): it is the exact result because the result fits its format's width W
(docs/fixed-point.md), so the wrap-around of partial sums cancels. The result is
returned in the raw representation of `fixed.raw_array(·, W)`.

torch is optional (a development dependency): without it, or outside the bounds
above, callers use `fixed.matmul`.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator

import numpy as np

from rnnc.dialects import fixed

DIGIT_BITS = 8
MAX_TERMS = (2**31 - 1) // (128 * 128)  # 131071: every int8 digit product fits int32
MAX_DIGIT_PRODUCTS = 4  # beyond this many int8 products float64 BLAS is as fast
MIN_TERMS_4 = 64  # terms from which 4 digit products beat float64 BLAS (measured)
MIN_WORK = 1 << 20  # multiply-adds below which BLAS is as fast (torch stays unloaded)

torch = None  # imported on first use: it takes seconds
_threads: list[int | None] = [None]  # threads wanted for the products (innermost last)
_default_threads = [0]  # torch's own setting when it was imported
_set: list[int | None] = [None]  # threads set for the products in this context


def available() -> bool:
    """Whether torch (with `_int_mm`) can be imported; imports it."""
    global torch
    if torch is None:
        try:
            torch = importlib.import_module("torch")
        except ImportError:
            return False
        _default_threads[0] = torch.get_num_threads()
    return hasattr(torch, "_int_mm") and sys.byteorder == "little"


def digits(width: int) -> int:
    """Number of 8-bit digits of a `width`-bit signed integer."""
    return max(1, -(-width // DIGIT_BITS))


def offset(count: int) -> int:
    """C: what the stored digits of a `count`-digit number add up short of it."""
    return 128 * sum(256**i for i in range(count - 1))


def within_bounds(lhs_width: int, rhs_width: int, terms: int, out_width: int) -> bool:
    """Whether `matmul` computes this product exactly (else use fixed.matmul)."""
    return (
        1 <= terms <= MAX_TERMS
        and out_width <= fixed.INT64_WIDTH
        and digits(lhs_width) * digits(rhs_width) <= MAX_DIGIT_PRODUCTS
    )


def worthwhile(rows: int, terms: int, cols: int, products: int = 1) -> bool:
    """Whether a product is large enough for int8 units (and torch is there).
    With 4 digit products the per-output combination costs as much as a float64
    product of MIN_TERMS_4 terms: below that, float64 BLAS (exact to 53 bits)."""
    if products > 2 and terms < MIN_TERMS_4:
        return False
    return rows * terms * cols >= MIN_WORK and available()


_INT_OF_BYTES = {1: np.int8, 2: np.int16, 3: np.int32, 4: np.int32}


def split(x: np.ndarray, width: int, axis: int) -> np.ndarray:
    """The int8 digits of a 2-D array of exact integers of `width` bits, stacked
    along `axis` (0: the rows of digit 0, then of digit 1, ...; 1: column blocks)."""
    n = digits(width)
    if n == 1:
        return np.ascontiguousarray(x, dtype=np.int8)
    whole = np.asarray(x).astype(_INT_OF_BYTES.get(n, np.int64))
    rows, cols = whole.shape
    out = np.empty((n * rows, cols) if axis == 0 else (rows, n * cols), np.int8)
    for i in range(n):
        if axis == 0:
            block = out[i * rows : (i + 1) * rows]
        else:
            block = out[:, i * cols : (i + 1) * cols]
        part = np.right_shift(whole, DIGIT_BITS * i) if i else whole
        if i < n - 1:  # the low byte u_i, stored as u_i - 128: its top bit flipped
            np.bitwise_xor(part, 0x80, out=block, casting="unsafe")
        else:  # the top digit is the signed rest
            np.copyto(block, part, casting="unsafe")
    return out


def _wrap(value: int, dtype) -> int:
    """A Python int reduced to the signed range of an integer dtype (mod 2^bits)."""
    bits = np.dtype(dtype).itemsize * 8
    value %= 1 << bits
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


class Rhs:
    """A right-hand matrix (K, N) prepared once: digits, column sums, offset."""

    def __init__(self, b: np.ndarray, width: int):
        b = np.asarray(b)
        assert b.ndim == 2
        self.source = b
        self.width = width
        self.count = digits(width)
        self.terms, self.cols = b.shape
        self.offset = offset(self.count)
        self.digits = torch.from_numpy(split(b, width, axis=1))
        self.colsum = _exact_sum(b, axis=0)  # for the lhs offset C_a
        self._combination: dict[int, tuple] = {}
        self.layouts: dict[tuple, list] = {}  # fxp_kernels' digit layouts

    def combination(self, lhs_count: int) -> tuple[np.ndarray, np.ndarray, int]:
        """For an lhs of `lhs_count` digits, modulo 2^64: the scale 256^(i+j) of
        each digit block (i, j) (row-major), C_a · colsum(b) and -K · C_a · C_b."""
        if lhs_count not in self._combination:
            ca = offset(lhs_count)
            scales = [
                _wrap(256 ** (i + j), np.int64)
                for i in range(lhs_count)
                for j in range(self.count)
            ]
            colterm = np.multiply(self.colsum, _wrap(ca, np.int64), dtype=np.int64)
            const = _wrap(-self.terms * ca * self.offset, np.int64)
            self._combination[lhs_count] = (np.array(scales, np.int64), colterm, const)
        return self._combination[lhs_count]


def _exact_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """Exact int64 sums of integers of at most 64 - log2(terms) bits."""
    return np.sum(np.asarray(x).astype(np.int64), axis=axis)


def rowterm(a2: np.ndarray, rhs: Rhs, sums: np.ndarray | None = None):
    """C_b · rowsum(a) modulo 2^64 (None when the rhs has one digit, C_b = 0);
    `sums`: the row sums when known."""
    if not rhs.offset:
        return None
    if sums is None:
        sums = _exact_sum(a2, axis=1)
    return np.multiply(sums, _wrap(rhs.offset, np.int64))


def products(lhs_digits: np.ndarray, rhs: Rhs) -> np.ndarray:
    """All digit products d_i @ e_j at once: (na·rows, nb·cols) int32, block
    (i, j) in rows i·rows.., columns j·cols.. (exact: K ≤ MAX_TERMS)."""
    want = _threads[-1]
    if want is not None and _set[0] != want:
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
        _set[0] = want
    return torch._int_mm(torch.from_numpy(lhs_digits), rhs.digits).numpy()


def matmul(a: np.ndarray, lhs_width: int, rhs: Rhs, out_width: int) -> np.ndarray:
    """Exact raw product a @ b for a of shape (..., K) and prepared b (K, N), in the
    representation of `fixed.raw_array(·, out_width)`. Requires `within_bounds`."""
    a = np.asarray(a)
    lead, terms = a.shape[:-1], a.shape[-1]
    assert terms == rhs.terms
    rows = int(np.prod(lead, dtype=np.int64))
    a2 = a.reshape(rows, terms)
    na, nb, cols = digits(lhs_width), rhs.count, rhs.cols
    p = products(split(a2, lhs_width, axis=0), rhs)
    acc = np.int32 if out_width <= 32 else np.int64
    if na == 1 and nb == 1:
        result = p  # |d @ e| < 2^31
    else:
        scales, colterm, const = rhs.combination(na)
        result = np.zeros((rows, cols), acc)
        for i in range(na):
            for j in range(nb):
                block = p[i * rows : (i + 1) * rows, j * cols : (j + 1) * cols]
                scale = _wrap(int(scales[i * nb + j]), acc)
                if scale == 1:
                    result += block
                elif scale:
                    result += np.multiply(block, scale, dtype=acc)
        if offset(na):
            result += colterm.astype(acc)  # modulo 2^32 for int32: exact
        extra = rowterm(a2, rhs)
        if extra is not None:
            result += extra.astype(acc)[:, None]
        if const:
            result += acc(_wrap(const, acc))
    return fixed.raw_array(result, out_width).reshape(*lead, cols)


@contextlib.contextmanager
def threads(count: int = 1) -> Iterator[None]:
    """torch's intra-op threads for the products made inside (default 1); torch's
    own setting is restored on exit.

    One thread is the robust choice: the per-step products are small, and
    spinning worker threads are far slower when other processes use the cores;
    the interpreter uses the cores for blocks of batch rows instead
    (batch_blocks, $RNNC_THREADS)."""
    before = torch.get_num_threads() if torch is not None else None
    _threads.append(max(1, count))
    _set[0] = None
    try:
        yield
    finally:
        _threads.pop()
        _set[0] = None
        if torch is not None:
            if before is None:  # imported inside: back to torch's default
                before = _default_threads[0]
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
