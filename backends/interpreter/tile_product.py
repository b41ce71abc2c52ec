"""A fused product (`FusedProducts` on `FusedMatmul`) computed per block of ROWS
(16) rows on VNNI tiles inside a generated numba loop, for the compiled run that
reads it.

The generated code (lines of source, `split_lines`, `tile_lines`) splits the
block's lhs rows into unsigned 8-bit digits, adds up their row sums when the rhs
has two digits, and computes every digit product into `p`, an int32 buffer of
(lhs digits · ROWS) rows and (rhs digits · padded columns) that stays in the
caches (128 KB for 2 x 16 rows and 2 x 512 columns of digits; 16 rows measured
about 3 % faster than 8 in bench/interp.py: half the calls of the run). The
run's loop reads it as a deferred product (`fxp_elementwise`, variant
(na, nb, True)): element (r, j) of block g is

    sum_ab 256^(a+b) · p[a·ROWS + r, b·padded + base_g + j]
      + colterm_g[j] + rowsum(r) · C_b - K · C_a · C_b

modulo the run's word, with the unsigned lhs digits' offset

    a = sum_i 256^i · u_i + C_a,   u_i in [0, 255],   C_a = -128 · 256^(n-1)

(the top digit is stored as top + 128; the rhs digits are `int_matmul.split`'s,
C_b = `int_matmul.offset`). The sum is exact where the run's word holds the
product's format, as in `int_matmul`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rnnc.backends.interpreter import fxp_elementwise, int_matmul
from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter.fusion import FusedProducts
from rnnc.dialects import rnn

_VNNI_SOURCE = hashlib.sha256(
    (Path(__file__).parent / "vnni.py").read_bytes()
).hexdigest()[:16]
ROWS = 16  # rows of a block: tiles of vnni.ROWS rows per lhs digit
MAX_DIGITS = 2  # per side: up to 16-bit lhs and rhs


class Input(NamedTuple):
    """How a generated loop passes one input to the run: the argument, the
    loop's parameters for it, the run's parameters after its outputs, and
    lines run per block of rows before the call."""

    arg: str | list[str]
    params: list[str]
    extra: list[str]
    lines: list[str]


def joined(inputs: list[Input]) -> Input:
    """The inputs' arguments, parameters and lines, in order."""
    return Input(
        [x.arg for x in inputs],
        [p for x in inputs for p in x.params],
        [e for x in inputs for e in x.extra],
        [line for x in inputs for line in x.lines],
    )


def rows_input(i: int) -> Input:
    """Run input i from outside the loop (x{i}): the block's rows, or the one
    row broadcast."""
    line = f"v{i} = x{i}[r0 : r0 + nv] if x{i}.shape[0] > 1 else x{i}[0:1]"
    return Input(f"v{i}", [f"x{i}"], [], [line])


def fits(product) -> bool:
    """Whether the fused product can run on tiles (VNNI, bounded widths)."""
    from rnnc.backends.interpreter import vnni

    if not (
        isinstance(product, FusedProducts)
        and product.deferred
        and isinstance(product.product, kernels.FusedMatmul)
        and vnni.available()
    ):
        return False
    matmul = product.product
    if not matmul.bounded or matmul.terms > vnni.MAX_TERMS or matmul.terms < 1:
        return False
    widths = [rnn.shape_of(r)[-1] for r in product.results]
    if any(w < 1 for w in widths):
        return False
    digits = (int_matmul.digits(matmul.fa.width), int_matmul.digits(matmul.rhs_width))
    return max(digits) <= MAX_DIGITS


class TileProduct:
    """The code and prepared weights of one fused product on tiles."""

    def __init__(self, product: FusedProducts):
        matmul = product.product
        self.product = product
        self.terms = matmul.terms
        self.quads = -(-self.terms // 4)
        self.na = int_matmul.digits(matmul.fa.width)
        self.nb = int_matmul.digits(matmul.rhs_width)
        self.rhs_width = matmul.rhs_width
        self.widths = [rnn.shape_of(r)[-1] for r in product.results]
        self.bases = np.cumsum([0, *self.widths[:-1]]).tolist()
        from rnnc.backends.interpreter import vnni  # (fits: it is available)

        self.tile_cols = vnni.TILE_COLS
        cols = sum(self.widths)  # per rhs digit, padded to whole tiles:
        self.padded = -(-cols // self.tile_cols) * self.tile_cols
        # C_a of the unsigned lhs digits
        self.offset = -128 * 256 ** (self.na - 1)
        self._weights: tuple = ((), None)  # (matrices, prepared)

    @staticmethod
    def imports() -> list[str]:
        """The generated module's import of the tile, naming the version of
        vnni.py: numba's cache of a compiled loop does not follow changes in
        the functions it calls."""
        return [f"from rnnc.backends.interpreter.vnni import tile  # {_VNNI_SOURCE}"]

    @property
    def variant(self) -> tuple[int, int, bool]:
        """How the run reads the product's blocks."""
        return (self.na, self.nb, True)

    # -------------------------------------------------------------- source

    def buffers(self) -> list[str]:
        """Lines allocating the block's buffers (a4/a8 digits, p products, rt)."""
        rows = self.na * ROWS
        return [
            f"a4 = np.zeros(({rows}, {self.quads}), np.int32)",
            f"a8 = a4.view(np.uint8).reshape({rows}, {4 * self.quads})",
            f"p = np.empty(({rows}, {self.nb * self.padded}), np.int32)",
            f"rt = np.zeros({ROWS}, np.int64)",
        ]

    def split_lines(self, row: str) -> list[str]:
        """Lines splitting rows 0..nv-1 of the block (`row(i)`: the expression of
        lhs row i) into a8's digits, and their row sums into rt."""
        two = self.nb > 1
        lines = ["for i in range(nv):", f"    lhs = {row('i')}"]
        if two:
            lines.append("    sm = 0")
        lines += [
            f"    for k in range({self.terms}):",
            "        v = np.int64(lhs[k])",
        ]
        if two:
            lines.append("        sm += v")
        if self.na == 1:
            lines.append("        a8[i, k] = np.uint8(v + 128)")
        else:
            lines += [
                "        a8[i, k] = np.uint8(v & 255)",
                f"        a8[{ROWS} + i, k] = np.uint8((v >> 8) + 128)",
            ]
        if two:
            lines.append(f"    rt[i] = sm * {int_matmul.offset(self.nb)}")
        return lines

    def tile_lines(self) -> list[str]:
        from rnnc.backends.interpreter import vnni

        return [
            f"for i in range(0, {self.na * ROWS}, {vnni.ROWS}):",
            f"    for n in range(0, {self.nb * self.padded}, {self.tile_cols}):",
            f"        tile(a4, i, wp, n, {self.quads}, p)",
        ]

    def product_input(self, i: int, block: int) -> Input:
        """Run input i, the product's block `block`: read from p, with its
        column term a parameter (ct{i}) and its layout after the outputs."""
        extra = [str(self.bases[block]), str(self.padded), f"ct{i}", str(ROWS)]
        if self.nb > 1:
            extra += ["rt", str(self._const())]
        return Input("p", [f"ct{i}"], extra, [])

    def _const(self) -> int:
        """-K · C_a · C_b modulo 2^64."""
        const = -self.terms * self.offset * int_matmul.offset(self.nb)
        return int_matmul._wrap(const, np.int64)

    # ------------------------------------------------------------- weights

    def prepared(self, env: dict, word) -> tuple[np.ndarray, list[np.ndarray]]:
        """The packed rhs digits and each block's column term C_a · colsum (in
        the run's word), kept while the matrices are the same arrays."""
        matrices = tuple(env[op.operands[1]] for op in self.product.ops)
        held, prepared = self._weights
        if len(held) == len(matrices) and all(
            a is b for a, b in zip(held, matrices, strict=True)
        ):
            return prepared
        from rnnc.backends.interpreter import vnni

        matrix = np.concatenate([np.asarray(m) for m in matrices], axis=-1)
        digits = int_matmul.split(matrix, self.rhs_width, axis=1)
        n = matrix.shape[1]
        full = np.zeros((matrix.shape[0], self.nb * self.padded), np.int8)
        for b in range(self.nb):
            start = b * self.padded
            full[:, start : start + n] = digits[:, b * n : (b + 1) * n]
        packed = vnni.pack(full, self.nb * self.padded)
        colsum = int_matmul._exact_sum(matrix, axis=0)
        colterm = np.multiply(colsum, self.offset, dtype=np.int64)  # modulo 2^64
        narrow = word is fxp_elementwise.NARROW
        blocks = []
        for base, width in zip(self.bases, self.widths, strict=True):
            part = np.ascontiguousarray(colterm[base : base + width])
            blocks.append(part.astype(np.int32) if narrow else part)
        prepared = (packed, blocks)
        self._weights = (matrices, prepared)
        return prepared
