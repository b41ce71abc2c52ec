"""Running a recurrence on blocks of batch rows: one after another so that a
step's values stay in the caches, and side by side on the free cores.

A body whose every row depends on that row alone (elementwise ops and products
with loop-invariant matrices, operands outside it broadcast over the rows) gives
for a block of rows the rows of the whole batch: the blocks are run separately and
joined, bit-identical. 20,000 sequences at once make each step's values tens of
MB and the interpreter memory-bound (3x slower per sequence than in blocks of
about 1,000 rows of a 32-wide LSTM).
"""

from __future__ import annotations

import math
from collections.abc import Collection

import numpy as np
from xdsl.ir import Operation, SSAValue

from rnnc.backends.interpreter import parallel
from rnnc.dialects import rnn

# Elements of a step's widest value per block of rows, so that a step's values
# stay in the L2 cache (about 1,000 rows of a 32-wide LSTM, 256 of a 128-wide).
BLOCK_ELEMENTS = 1 << 15
# Below this the per-step Python work outweighs the kernels: blocks of 64 rows
# made bench/interp.py (hidden 128, batch 256, four blocks) 1.3x slower than one.
MIN_BLOCK_ROWS = 256

# Products whose second operand, a loop-invariant matrix, is shared by all rows
# (the fixed-point backend adds its own).
PRODUCTS: set[type[Operation]] = {rnn.MatMulOp}


def rows_independent(op: rnn.RecurrenceOp, row_wise: Collection[type]) -> bool:
    """Whether row i of every value of the body depends on row i of the sequences
    and states alone: each op that depends on them is row-wise (elementwise,
    broadcasting over leading axes) with batch-leading results, and its other
    operands are broadcast over the rows or the invariant matrix of a product."""
    block = op.body.block
    if not op.seqs or len(rnn.shape_of(op.seqs[0])) < 2:
        return False
    batch = rnn.shape_of(op.seqs[0])[1]
    varying: set[SSAValue] = set(block.args)
    if any(_lead(a) != batch for a in block.args):
        return False
    for body_op in block.ops:
        if body_op is block.last_op:
            break
        if not any(x in varying for x in body_op.operands):
            continue  # loop-invariant
        if type(body_op) not in row_wise:
            return False
        for i, x in enumerate(body_op.operands):
            if x in varying:
                continue
            shape = rnn.shape_of(x)
            shared = type(body_op) in PRODUCTS and i == 1 and len(shape) == 2
            if not shared and len(shape) > 1 and shape[0] != 1:
                return False
        if type(body_op) in PRODUCTS and len(rnn.shape_of(body_op.operands[0])) != 2:
            return False
        for r in body_op.results:
            if _lead(r) != batch:
                return False
            varying.add(r)
    return True


def _lead(value: SSAValue) -> int | None:
    shape = rnn.shape_of(value)
    return shape[0] if shape else None


def spans(rows: int, in_loop: list) -> list[slice]:
    """The row blocks of a batch: cache-sized, and at least one per thread when
    each still has MIN_BLOCK_ROWS rows."""
    widest = 1
    for item in in_loop:
        for r in item.results:
            shape = rnn.shape_of(r)[1:]
            if all(d >= 0 for d in shape):
                widest = max(widest, math.prod(shape))
    size = max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // widest)
    count = -(-rows // size)
    wanted = parallel.cores()
    if count < wanted and rows >= wanted * MIN_BLOCK_ROWS:
        count = wanted
    if count <= 1:
        return [slice(None)]
    bounds = [rows * k // count for k in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def join(parts: list[list[np.ndarray]], states: int) -> list[np.ndarray]:
    """The recurrence's results from those of its row blocks: final states are
    (batch, ...), step outputs (steps, batch, ...)."""
    out = []
    for i, pieces in enumerate(zip(*parts, strict=True)):
        axis = 0 if i < states else 1
        if all(p.size and not any(p.strides) for p in pieces):
            # unused step outputs: a stand-in taking no memory, as for one block
            shape = list(pieces[0].shape)
            shape[axis] = sum(p.shape[axis] for p in pieces)
            out.append(np.broadcast_to(pieces[0][(0,) * pieces[0].ndim], shape))
        else:
            out.append(np.concatenate(pieces, axis=axis))
    return out
