"""Reductions over the unit index in the elementwise unit: sweeps and registers.

The elementwise unit sees one unit index j per cycle, so a reduction over j
(`fxp.reduce_max`, `fxp.reduce_sum`, `fxp.argmax`: softmax heads and the argmax
output) is a register that folds in one element per cycle, and its result is
known only after the last unit. A stage with reductions therefore runs its
elementwise DAG in several **sweeps** over j = 0..N-1: the ops of sweep p use
the results of the reductions of sweeps < p, held in their registers; every
sweep recomputes the same DAG (its vector values are not stored), and the
stage's writes happen in the last sweep only (a held scalar result, such as the
argmax, once, at j = 0).

Sweep p starts at E + p·L with L = N + 2·D + 2 (D the deepest pipeline level):
the register of a reduction of level D takes its last element at E + p·L + N - 1
+ D, and the ops on it settle within D more cycles, before sweep p + 1 reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import comb
from xdsl.ir import Operation, SSAValue

from rnnc.dialects import fxp
from rnnc.passes.fxp_to_hw.arith import constant, sext, width_of
from rnnc.passes.fxp_to_hw.circuit import Circuit, and_, eq, mux, resize, uge, ult


@dataclass(frozen=True)
class SweepPlan:
    """How many sweeps a stage's elementwise DAG runs, and how long each is."""

    sweeps: int
    length: int  # L: cycles from one sweep's start to the next

    @property
    def extra_cycles(self) -> int:
        """Cycles of the sweeps before the last."""
        return (self.sweeps - 1) * self.length


def sweep_of(ops: list[Operation]) -> dict[SSAValue, int]:
    """The first sweep in which each op result is valid: a reduction's result one
    sweep after its operand, any other op's with its latest operand."""
    sweep: dict[SSAValue, int] = {}
    for op in ops:
        p = max((sweep.get(v, 0) for v in op.operands), default=0)
        if isinstance(op, fxp.REDUCTIONS):
            p += 1
        for r in op.results:
            sweep[r] = p
    return sweep


def plan_sweeps(ops, written, units: int, levels: dict) -> SweepPlan:
    """Sweeps of a stage: one more than the latest sweep a written value needs."""
    sweep = sweep_of(ops)
    sweeps = 1 + max((sweep.get(v, 0) for v in written), default=0)
    depth = max((lv for lv in levels.values() if lv is not None), default=0)
    return SweepPlan(sweeps, units + 2 * depth + 2)


def is_scalar(value: SSAValue, units: int) -> bool:
    """A value held for the whole sweep (one element per sequence) in a stage of
    `units` > 1: a reduction's result or an op of such results."""
    return units > 1 and fxp._shape(value)[-1] == 1


class Sweeps:
    """The sweep windows of a stage from its cycle counter `sc`: `on` while a
    unit enters the pipeline, `last` while it is in the last sweep, and
    `in_sweep(p)` while in sweep p."""

    def __init__(self, active, sc: SSAValue, start: int, units: int, plan: SweepPlan):
        self.flags = []
        width = width_of(sc)
        for p in range(plan.sweeps):
            lo = start + p * plan.length
            hi = lo + units
            hi_ok = ult(sc, hi) if hi < 1 << width else constant(1, 1)
            self.flags.append(and_(active, uge(sc, lo), hi_ok))
        self.on = (
            self.flags[0]
            if len(self.flags) == 1
            else comb.OrOp(list(self.flags)).result
        )
        self.last = self.flags[-1]

    def in_sweep(self, p: int) -> SSAValue:
        return self.flags[p]


def reduce(
    c: Circuit,
    op: Operation,
    x: SSAValue,
    level: int,
    enter: SSAValue,
    j: SSAValue,
    name: str,
) -> SSAValue:
    """The register of reduction `op` over operand signal `x` (pipeline level
    `level`); `enter` is high while unit j enters the pipeline in the op's
    sweep. Its value holds the reduction of the sweep's units from the cycle
    after the last one until the op's next sweep."""
    # A signal of pipeline level ℓ carries unit j ℓ + 1 cycles after j entered.
    take = c.delay(enter, level + 1, reset=False)
    first = c.delay(and_(enter, eq(j, 0)), level + 1, reset=False)
    out_width = fxp.format_of(op.results[0]).width
    if isinstance(op, fxp.ReduceSumOp):
        acc = c.reg(out_width, None, name)
        x = sext(x, out_width)
        acc.next(mux(take, mux(first, x, comb.AddOp([acc.q, x]).result), acc.q))
        return acc.q
    best = c.reg(width_of(x), None, f"{name}_best")
    # Strictly greater: the first of equal maxima stays (fxp.argmax's rule).
    better = comb.ICmpOp(x, best.q, "sgt").result
    update = and_(take, comb.OrOp([first, better]).result)
    best.next(mux(update, x, best.q))
    if isinstance(op, fxp.ReduceMaxOp):
        return best.q
    index = c.reg(out_width, None, name)
    j_here = c.delay(j, level + 1, reset=False)
    index.next(mux(update, resize(j_here, out_width), index.q))
    return index.q
