"""A fused product and the compiled run that reads it, as one compiled loop over
blocks of 16 rows (numba, AVX-512 VNNI).

Run apart, the product (`torch._int_mm`) writes every row's int32 digit
products to memory and the run reads them back: for the input projections of a
chunk of time steps (x_t @ W of 1,024 rows and 4 gates, two digits a side) that
is 8 MB each way, and the pair was memory-bound. Here each block's products are
computed on VNNI tiles into a buffer that stays in L1 (tile_product) and added
up by the run's own generated loop at once; blocks are split over the cores.
Same values and overflow counts as the pair (the run's code, exact products).
"""

from __future__ import annotations

import math

import numpy as np

from rnnc.backends.interpreter import fxp_elementwise, parallel
from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter.fusion import FusedProducts
from rnnc.backends.interpreter.tile_product import (
    ROWS,
    TileProduct,
    fits,
    joined,
    rows_input,
)
from rnnc.dialects import rnn


class BlockRun:
    """A FusedProducts and the Run that alone reads it, run as one loop."""

    def __init__(self, product: FusedProducts, run: fxp_elementwise.Run):
        self.product, self.run_ = product, run
        self.tiles = TileProduct(product)
        self.ops = [*product.ops, *run.ops]
        self.results = run.outputs
        self.lhs = product.operands[0]
        self.cols = rnn.shape_of(run.outputs[0])[-1]
        self.blocks = {r: k for k, r in enumerate(product.results)}
        variant = tuple(
            self.tiles.variant if v in self.blocks else None for v in run.inputs
        )
        built = run._built(variant)
        self.casts, inputs, self.outputs, self.tables = built[:4]
        source, self.dtypes, self.word = built[4:]
        assert list(inputs) == list(run.inputs)
        self.source = source + "\n" + self._rows_source()

    def _rows_source(self) -> str:
        tiles = self.tiles
        args, params, extra, slices = joined(
            [
                tiles.product_input(i, self.blocks[v])
                if v in self.blocks
                else rows_input(i)
                for i, v in enumerate(self.run_.inputs)
            ]
        )
        outs = [f"y{m}" for m in range(len(self.outputs))]
        tables = [f"t{k}" for k in range(len(self.tables))]
        counters = max(len(self.casts), 1)
        sliced = [f"{y}[r0 : r0 + nv]" for y in outs]
        call = ", ".join(["nv", "cols", *args, *sliced, *extra, *tables, "badp"])
        part = [
            *tiles.buffers(),
            f"badp = np.zeros({counters}, np.int64)",
            "first = rows * part // parts",
            "last = rows * (part + 1) // parts",
            f"for r0 in range(first, last, {ROWS}):",
            f"    nv = min({ROWS}, last - r0)",
            *(f"    {x}" for x in tiles.split_lines(lambda i: f"a[r0 + {i}]")),
            *(f"    {x}" for x in tiles.tile_lines()),
            *(f"    {x}" for x in slices),
            f"    run({call})",
            "counts[part] = badp",
        ]
        signature = ", ".join(
            ["parts", "rows", "cols", "a", *params, *outs, "wp", *tables, "bad"]
        )
        return "\n".join(
            [
                *tiles.imports(),
                "",
                "",
                "@njit(cache=True, nogil=True, parallel=True)",
                f"def rows_loop({signature}):",
                f"    counts = np.zeros((parts, {counters}), np.int64)",
                "    for part in prange(parts):",
                *(f"        {x}" for x in part),
                f"    for n in range({counters}):",
                "        bad[n] += counts[:, n].sum()",
                "",
            ]
        )

    def reset(self) -> None:
        self.product.reset()

    def flush(self) -> None:
        self.run_.flush()

    def run(self, env: dict) -> None:
        if not self._run(env):  # the two as they are
            self.product.run(env)
            self.run_.run(env)

    def _run(self, env: dict) -> bool:
        a = np.asarray(env[self.lhs])
        terms = self.tiles.terms
        if a.ndim < 2 or a.shape[-1] != terms or not a.size:
            return False
        shape = (*a.shape[:-1], self.cols)
        rows = math.prod(a.shape[:-1])
        args: list = []  # per input: its rows, or the block of a product
        for v in self.run_.inputs:
            if v in self.blocks:
                args.append(self.blocks[v])
                continue
            x = kernels.rows_of(np.asarray(env[v]), shape)
            if x is None:
                return False
            args.append(x)
        work = rows * self.cols * len(self.ops)
        function = self.run_.compiled(self.source, "rows_loop", work)
        if function is None:
            return False
        packed, colterms = self.tiles.prepared(env, self.word)
        args = [colterms[x] if isinstance(x, int) else x for x in args]
        a2 = np.ascontiguousarray(a).reshape(rows, terms)
        outs = [np.empty(shape, d) for d in self.dtypes]
        flat = [o.reshape(rows, self.cols) for o in outs]
        parts = min(parallel.parallel_loops(rows * self.cols), -(-rows // ROWS))
        pending = self.run_.pending()
        function(
            parts, rows, self.cols, a2, *args, *flat, packed, *self.tables,
            pending[0],
        )  # fmt: skip
        pending[1] += rows * self.cols
        for value, out in zip(self.outputs, outs, strict=True):
            env[value] = out
        return True


def fuse(ops: list) -> list:
    """`ops` with each deferred fused product that fits the tiles and the run
    that reads it replaced by one BlockRun at the run's place."""
    runs = [op for op in ops if isinstance(op, fxp_elementwise.Run)]
    deferred = {
        v
        for item in ops
        if isinstance(item, FusedProducts) and item.deferred
        for v in item.results
    }
    pairs: dict[object, FusedProducts] = {}
    for item in ops:
        if not fits(item):
            continue
        readers = [run for run in runs if set(item.results) & set(run.inputs)]
        if len(readers) != 1:
            continue
        (run,) = readers
        if (set(run.inputs) & deferred) - set(item.results):
            continue  # it reads another deferred product too
        shape = rnn.shape_of(run.outputs[0]) if run.outputs else []
        if not shape or shape[-1] < 1:
            continue
        if any(rnn.shape_of(r)[-1] != shape[-1] for r in item.results):
            continue
        pairs[run] = item
    if not pairs:
        return ops
    taken = set(pairs.values())
    return [
        BlockRun(pairs[item], item) if item in pairs else item
        for item in ops
        if item not in taken
    ]
