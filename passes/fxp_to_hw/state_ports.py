"""Where a host-given initial state comes from: a graph input's elements.

The hardware loads each sequence's initial states from the input stream
(`hwplan.state ... loaded`, docs/hardware.md "State ports"). The words are the
module's value that feeds the recurrence; when that value is a graph input
quantized (and re-cast) and cut by layout ops (the ONNX `initial_h[d]` of one
direction), the host can fill the words straight from the input array: this
module finds which of its elements they are, by running the layout ops on the
input's element indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.ir import BlockArgument, Operation, SSAValue

from rnnc.dialects import fxp, rnn, rnn_semantics


@dataclass(frozen=True)
class StateSource:
    """Word k of sequence b's state is element `positions[k] + b · stride` of
    the flattened graph input `input` (argument `index` of @main), converted by
    the module's quantize and casts to the state's format."""

    index: int
    positions: np.ndarray
    stride: int


_RESHAPING = (rnn.SliceOp, rnn.SqueezeOp, rnn.UnsqueezeOp, rnn.TransposeOp)
_CONVERTING = (fxp.QuantizeOp, fxp.CastOp)


def state_source(fn: func.FuncOp, value: SSAValue) -> StateSource | None:
    """The graph input elements of a host state value (B, N), or None when the
    value is computed otherwise (the words are then the module's value)."""
    chain: list[Operation] = []
    while not isinstance(value, BlockArgument):
        op = value.owner
        if not isinstance(op, (*_RESHAPING, *_CONVERTING)) or len(op.operands) != 1:
            return None
        chain.append(op)
        value = op.operands[0]
    if value.block is not fn.body.block:
        return None
    ids = np.arange(int(np.prod(value.type.get_shape()))).reshape(
        value.type.get_shape()
    )
    for op in reversed(chain):
        if isinstance(op, _RESHAPING):
            ids = rnn_semantics.evaluate(op, [ids])[0]
    ids = np.asarray(ids)
    if ids.ndim != 2:
        return None
    stride = int(ids[1, 0] - ids[0, 0]) if ids.shape[0] > 1 else 0
    expected = ids[0][None, :] + stride * np.arange(ids.shape[0])[:, None]
    if not np.array_equal(ids, expected):
        return None
    return StateSource(value.index, ids[0].astype(np.int64), stride)
