"""Softmax and LogSoftmax heads in fixed point: the decomposition and its tables.

docs/fixed-point.md (softmax) is the spec. Over the last axis of logits x:

    m = reduce_max(x)          d = x - m ≤ 0            (exact)
    e = exp_table(d)           s = reduce_sum(e)        (exact sum, s ∈ [1, N])
    l = log_table(s)           z = d - l                (exact: log softmax)
    LogSoftmax: cast(z)        Softmax: exp_table(z)

Only two reductions are new ops (`fxp.reduce_max`, `fxp.reduce_sum`); the rest are
the `fxp.lut`, `fxp.sub` and `fxp.cast` every activation uses, so the hardware
needs no divider: one pass over the units per reduction (fxp_to_hw/reduction.py).
Softmax goes through the log domain (exp(d - log s), not e / s) for the same reason.

The tables are `fxp.lut` without symmetry over [-R, R). The exp table is read at
its bins' centres clamped to ≤ 0 (its inputs are ≤ 0: the maximum hits exp(0) = 1
exactly) and covers R = 2^EXP_LOG2_RANGE (exp(-16) ≈ 1e-7); the log table reads
centres clamped to ≥ 1 (s ≥ e_max = 1) over R = 2^r > N. Bins are 2^-7 wide
(exp) and 2^-8 (log), with at most 2^(b+4) (exp) and 2^(b+6) (log) entries, b
the policy's `lut_bits` (default 8: 2^12 and 2^14; approximate-activations notes
it on the softmax as BITS_ATTR); beyond, the bins widen (a log table's with N).
No bin is narrower than the input's lsb.
Internal formats follow from the logits' and the output's (assign-formats):
e in `fixed<W, W-2>` (values in [0, 1]), l in `format_for_range(0, log N, W)`,
W = the output's width + GUARD_BITS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue

from rnnc.dialects import approx, fixed, fxp
from rnnc.dialects.arrays import array_of, dense_of
from rnnc.dialects.fixed import Format, Symmetry

EXP_LOG2_RANGE = 4
GUARD_BITS = 2
BITS_ATTR = "rnnc.softmax_lut_bits"
"""On an `rnn.softmax`/`rnn.log_softmax`: the policy's lut_bits, which sizes its
tables (DEFAULT_LUT_BITS without it)."""
DEFAULT_LUT_BITS = 8
EXP_EXTRA_BITS, LOG_EXTRA_BITS = 4, 6
TABLE_ATTR = "rnnc.softmax_table"
"""On each softmax table: which function it holds ("exp" or "log")."""


@dataclass(frozen=True)
class Table:
    """One function of the softmax as an `fxp.lut` geometry."""

    function: str  # "exp" | "log"
    log2_range: int
    bin_bits: int  # bins of 2^-bin_bits
    max_bits: int  # at most 2^max_bits entries

    def exact(self, x: np.ndarray) -> np.ndarray:
        """The function on its domain (exp of x ≤ 0, log of x ≥ 1)."""
        if self.function == "exp":
            return np.exp(np.minimum(x, 0.0))
        return np.log(np.maximum(x, 1.0))

    def bits(self, src: Format) -> int:
        """log2 of the entries: bins of 2^-bin_bits over [-R, R), at most
        2^max_bits entries, no bin narrower than the input's lsb."""
        finest = self.log2_range + 1 + min(self.bin_bits, src.frac)
        return max(1, min(self.max_bits, finest))

    def build(self, x: SSAValue, out: Format) -> fxp.LutOp:
        src = fxp.format_of(x)
        k = self.bits(src)
        centres = approx.centers(self.log2_range, k, Symmetry.NONE)
        table, _ = fixed.quantize(
            self.exact(centres), out, fixed.CONSTANT_ROUNDING, fixed.CONSTANT_OVERFLOW
        )
        shift = approx.fixed_shift(self.log2_range, k, Symmetry.NONE, src.frac)
        lut = fxp.LutOp.build(
            operands=[x],
            result_types=[fxp.fixed_tensor(fxp._shape(x), out)],
            properties={
                "table": dense_of(table.astype(np.int64)),
                "shift": IntegerAttr(shift, 64),
                "symmetry": fxp.SymmetryAttr(Symmetry.NONE),
            },
        )
        lut.attributes[TABLE_ATTR] = StringAttr(self.function)
        return lut


def exp_table(lut_bits: int) -> Table:
    """The exp table of a policy with `lut_bits`: R = 2^EXP_LOG2_RANGE."""
    return Table("exp", EXP_LOG2_RANGE, 7, lut_bits + EXP_EXTRA_BITS)


def log_table(units: int, lut_bits: int) -> Table:
    """The log table of a sum of `units` exps: R = 2^r > units."""
    return Table("log", max(units, 1).bit_length(), 8, lut_bits + LOG_EXTRA_BITS)


def lower_softmax(
    emit: Callable[[Operation, str], SSAValue],
    x: SSAValue,
    out: Format,
    log: bool,
    rounding: str,
    name: str,
    lut_bits: int = DEFAULT_LUT_BITS,
) -> SSAValue:
    """The fixed-point (log) softmax of `x` over its last axis, in format `out`;
    `emit(op, name)` inserts an op. The log-softmax's final cast rounds with
    the policy's `rounding` and saturates, as the tables do: a log-probability
    below the format's range is the format's minimum, never wrapped."""
    units = fxp._shape(x)[-1]
    width = out.width + GUARD_BITS
    exp_fmt = Format(width, width - 2)
    log_fmt = fixed.format_for_range(0.0, float(np.log(units)), width)
    m = emit(fxp.ReduceMaxOp.of(x), f"{name}_max")
    d = emit(fxp.SubOp(x, m), f"{name}_shifted")
    exp = exp_table(lut_bits)
    e = emit(exp.build(d, exp_fmt), f"{name}_exp")
    s = emit(fxp.ReduceSumOp.of(e), f"{name}_sum")
    lg = emit(log_table(units, lut_bits).build(s, log_fmt), f"{name}_log")
    z = emit(fxp.SubOp(d, lg), f"{name}_logp")
    if log:
        if fxp.format_of(z) == out:
            return z
        return emit(fxp.CastOp(z, out, rounding, fixed.Overflow.SATURATE), name)
    return emit(exp.build(z, out), name)


def table_report(module: ModuleOp) -> list[str]:
    """One line per softmax table, as `rnnc quantize` reports activation tables:
    its size, formats and error against the exact function over every input of
    its format in the table's range [-R, R) and the function's domain (exp:
    x ≤ 0, log: x ≥ 1; a sum of N exps is at most N < R)."""
    lines = []
    for op in module.walk():
        attr = op.attributes.get(TABLE_ATTR)
        if not isinstance(op, fxp.LutOp) or not isinstance(attr, StringAttr):
            continue
        src, out = fxp.format_of(op.input), fxp.format_of(op.result)
        table = Table(attr.data, 0, 0, 0)
        entries = array_of(op.table).size
        # The table covers [-R, R): R = N/2 bins of 2^shift raw steps.
        reach = float(np.ldexp(entries // 2, op.shift.value.data - src.frac))
        raw = _inputs_of(src)
        x = src.to_float(raw)
        if table.function == "exp":
            domain = x <= 0
        else:  # a sum of N exps of at most 1
            domain = (x >= 1) & (x <= _terms(op.input))
        raw = raw[domain & (x >= -reach) & (x < reach)]
        if raw.size == 0:
            continue
        (got,), _ = op.reference([raw])
        err = np.abs(out.to_float(got) - table.exact(src.to_float(raw)))
        lines.append(
            f"%{op.result.name_hint or '?'} softmax {table.function} lut {entries} "
            f"entries, {src} -> {out}: max |err| {err.max():.3g}, mean "
            f"{err.mean():.3g}"
        )
    return lines


def _terms(value: SSAValue) -> float:
    """N of a reduce_sum's result (inf for another value)."""
    owner = value.owner
    if isinstance(owner, fxp.ReduceSumOp):
        return float(fxp._shape(owner.input)[-1])
    return float("inf")


def _inputs_of(src: Format) -> np.ndarray:
    """Every raw value of `src` (at most 2^16 of them, evenly spread)."""
    if src.width <= 16:
        return np.arange(src.min_raw, src.max_raw + 1, dtype=np.int64)
    grid = np.linspace(src.min_raw, src.max_raw, 1 << 16)
    return np.unique(np.round(grid).astype(np.int64))
