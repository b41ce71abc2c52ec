"""Static interval analysis of float `rnn` IR: a sound [lo, hi] per tensor.

Each op maps operand intervals to result intervals. Mat-vecs with a constant matrix
use the actual weights column by column (much tighter than |W|·K). Recurrent states
are iterated to a fixpoint; since a recurrence runs at most T steps, T iterations of
the union already bound every reachable state, so no widening is needed for a static
sequence length.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xdsl.dialects import func
from xdsl.ir import Block, Operation, SSAValue

from rnnc.dialects import rnn
from rnnc.dialects.arrays import array_of
from rnnc.dialects.rnn_semantics import IMPLS
from rnnc.dialects.shapes import DYN

INF = float("inf")
Interval = tuple[float, float]
UNBOUNDED: Interval = (-INF, INF)
MAX_ITERATIONS = 10_000


def union(a: Interval, b: Interval) -> Interval:
    return (min(a[0], b[0]), max(a[1], b[1]))


def _products(a: Interval, b: Interval) -> list[float]:
    out = []
    for x in a:
        for y in b:
            # 0 · inf is 0 here: a zero factor bounds the product whatever the other.
            out.append(0.0 if x == 0 or y == 0 else x * y)
    return out


def _mul(a: Interval, b: Interval) -> Interval:
    p = _products(a, b)
    return (min(p), max(p))


def _matmul_const_rhs(a: Interval, w: np.ndarray) -> Interval:
    """x @ W with every x_i in [lo, hi]: per output column, Σ_i min/max(W_ij·x_i)."""
    w = w.reshape(w.shape[0], -1) if w.ndim >= 2 else w.reshape(-1, 1)
    lo_terms = np.minimum(w * a[0], w * a[1]) if np.isfinite(a).all() else None
    if lo_terms is None:
        return UNBOUNDED if np.any(w) else (0.0, 0.0)
    hi_terms = np.maximum(w * a[0], w * a[1])
    return (float(lo_terms.sum(axis=0).min()), float(hi_terms.sum(axis=0).max()))


def _matmul_const_lhs(w: np.ndarray, b: Interval) -> Interval:
    return _matmul_const_rhs(b, np.swapaxes(w, -1, -2) if w.ndim >= 2 else w)


def _matmul(a: Interval, b: Interval, k: int) -> Interval:
    lo, hi = _mul(a, b)
    return (lo * k, hi * k)


def _sample(op: Operation, points: list[float]) -> Interval:
    """Monotone-or-PWL functions: extremes lie at the sampled points."""
    finite = [p for p in points if np.isfinite(p)]
    xs = np.array(finite or [0.0], np.float64)
    ys = IMPLS[type(op)](op, [xs.astype(np.float32)])[0].astype(np.float64)
    lo, hi = float(ys.min()), float(ys.max())
    if not np.isfinite(points).all():
        # Evaluate far out too: these functions saturate or grow monotonically.
        far = IMPLS[type(op)](op, [np.array([-1e30, 1e30], np.float32)])[0]
        if points[0] == -INF:
            lo, hi = min(lo, float(far[0])), max(hi, float(far[0]))
        if points[-1] == INF:
            lo, hi = min(lo, float(far[1])), max(hi, float(far[1]))
    return (lo, hi)


def _activation(op: Operation, a: Interval) -> Interval:
    points = [a[0], a[1]]
    if a[0] < 0 < a[1]:
        points.append(0.0)
    if isinstance(op, rnn.PwlOp):
        for bp in op.breakpoints.get_values():
            if a[0] <= bp <= a[1]:
                points += [bp, float(np.nextafter(np.float32(bp), np.float32(-INF)))]
    if isinstance(op, rnn.ActivationOp) and op.alpha is not None:
        alpha = op.alpha.value.data
        if a[0] <= alpha <= a[1]:
            points += [alpha, float(np.nextafter(np.float32(alpha), np.float32(INF)))]
    points = sorted(points)
    return _sample(op, points)


class IntervalAnalysis:
    """Propagates intervals through @main; `intervals` maps every value."""

    def __init__(self):
        self.intervals: dict[SSAValue, Interval] = {}
        self.constants: dict[SSAValue, np.ndarray] = {}

    def run(self, fn: func.FuncOp, inputs: list[Interval]) -> None:
        for arg, interval in zip(fn.body.block.args, inputs, strict=True):
            self.intervals[arg] = interval
        self.run_block(fn.body.block)

    def run_block(self, block: Block) -> list[Interval]:
        for op in block.ops:
            if isinstance(op, func.ReturnOp | rnn.YieldOp):
                return [self.intervals[v] for v in op.operands]
            if isinstance(op, rnn.RecurrenceOp):
                results = self.recurrence(op)
            else:
                results = self.transfer(op)
            for value, interval in zip(op.results, results, strict=True):
                self.intervals[value] = interval
        raise ValueError("block has no terminator")

    def recurrence(self, op: rnn.RecurrenceOp) -> list[Interval]:
        block = op.body.block
        n_seq = len(op.seqs)
        for arg, seq in zip(block.args[:n_seq], op.seqs, strict=True):
            self.intervals[arg] = self.intervals[seq]
        states = [self.intervals[v] for v in op.inits]
        steps = rnn.shape_of(op.seqs[0])[0]
        limit = steps if steps != DYN else MAX_ITERATIONS
        outputs: list[Interval] = []
        converged = False
        for _ in range(max(limit, 1)):
            for arg, state in zip(block.args[n_seq:], states, strict=True):
                self.intervals[arg] = state
            yielded = self.run_block(block)
            new = [union(s, y) for s, y in zip(states, yielded, strict=False)]
            outputs = yielded[len(states) :]
            if new == states:
                converged = True
                break
            states = new
        if not converged and steps == DYN:
            states = [UNBOUNDED for _ in states]
            outputs = [UNBOUNDED for _ in outputs]
        return states + outputs

    def transfer(self, op: Operation) -> list[Interval]:
        if isinstance(op, rnn.ConstantOp):
            value = array_of(op.value)
            self.constants[op.result] = value
            if value.size == 0:
                return [(0.0, 0.0)]
            return [(float(value.min()), float(value.max()))]
        ins = [self.intervals.get(v, UNBOUNDED) for v in op.operands]
        consts = [self.constants.get(v) for v in op.operands]
        rule = RULES.get(type(op))
        if rule is None:
            return [UNBOUNDED for _ in op.results]
        return rule(op, ins, consts)


Rule = Callable[[Operation, list[Interval], list], list[Interval]]


def _add(op, ins, consts):
    (a, b) = ins
    return [(a[0] + b[0], a[1] + b[1])]


def _sub(op, ins, consts):
    (a, b) = ins
    return [(a[0] - b[1], a[1] - b[0])]


def _mul_rule(op, ins, consts):
    return [_mul(ins[0], ins[1])]


def _div(op, ins, consts):
    a, b = ins
    if b[0] <= 0 <= b[1]:
        return [UNBOUNDED]
    return [_mul(a, (1 / b[1], 1 / b[0]))]


def _matmul_rule(op: rnn.MatMulOp, ins, consts):
    a, b = ins
    if consts[1] is not None:
        return [_matmul_const_rhs(a, consts[1])]
    if consts[0] is not None:
        return [_matmul_const_lhs(consts[0], b)]
    return [_matmul(a, b, rnn.shape_of(op.lhs)[-1])]


def _gemm(op: rnn.GemmOp, ins, consts):
    a, b = ins[0], ins[1]
    w = consts[1]
    if w is not None:
        y = _matmul_const_rhs(a, w.T if op.trans_b.value.data else w)
    else:
        y = _matmul(a, b, rnn.shape_of(op.a)[0 if op.trans_a.value.data else -1])
    y = _mul(y, (op.alpha.value.data,) * 2)
    if len(ins) == 3:
        c = _mul(ins[2], (op.beta.value.data,) * 2)
        y = (y[0] + c[0], y[1] + c[1])
    return [y]


def _same(op, ins, consts):
    return [ins[0]]


def _union_all(op, ins, consts):
    out = ins[0]
    for i in ins[1:]:
        out = union(out, i)
    return [out]


def _select(op, ins, consts):
    return [union(ins[1], ins[2])]


def _clip(op: rnn.ClipOp, ins, consts):
    lo, hi = ins[0]
    if op.min is not None:
        lo, hi = max(lo, op.min.value.data), max(hi, op.min.value.data)
    if op.max is not None:
        lo, hi = min(lo, op.max.value.data), min(hi, op.max.value.data)
    return [(lo, hi)]


def _act(op, ins, consts):
    return [_activation(op, ins[0])]


RULES: dict[type[Operation], Rule] = {
    rnn.AddOp: _add,
    rnn.SubOp: _sub,
    rnn.MulOp: _mul_rule,
    rnn.DivOp: _div,
    rnn.MatMulOp: _matmul_rule,
    rnn.GemmOp: _gemm,
    rnn.SigmoidOp: _act,
    rnn.TanhOp: _act,
    rnn.ReluOp: _act,
    rnn.ActivationOp: _act,
    rnn.LutOp: _act,
    rnn.PwlOp: _act,
    rnn.ClipOp: _clip,
    rnn.SelectOp: _select,
    rnn.CastOp: _same,
    rnn.ReshapeOp: _same,
    rnn.TransposeOp: _same,
    rnn.SqueezeOp: _same,
    rnn.UnsqueezeOp: _same,
    rnn.SliceOp: _same,
    rnn.ExpandOp: _same,
    rnn.GatherOp: _same,
    rnn.ConcatOp: _union_all,
    rnn.SoftmaxOp: lambda op, ins, consts: [(0.0, 1.0)],
    rnn.LogSoftmaxOp: lambda op, ins, consts: [(-INF, 0.0)],
    rnn.SequenceMaskOp: lambda op, ins, consts: [(0.0, 1.0)],
}
