"""Bit-accurate interpreter for the `fxp` dialect.

Fixed-point tensors are int64 numpy arrays of raw values; every op follows
`rnnc.dialects.fixed` (the executable form of docs/fixed-point.md). Shape ops,
gather, select and recurrences reuse the float interpreter's implementations, which
are element-type agnostic. Values pushed out of range by a cast, a quantize or a
PWL are counted per op and reported, never hidden.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from rnnc.backends.float_interpreter import (
    EXACT_PRODUCTS,
    TIME_BROADCASTING,
    Interpreter,
    impl,
    main_function,
)
from rnnc.dialects import fixed, fxp
from rnnc.dialects.arrays import array_of, numpy_dtype


@dataclass
class OverflowCounter:
    """Out-of-range events per op: (values that overflowed, values processed)."""

    events: dict[Operation, list[int]] = field(default_factory=dict)

    def add(self, op: Operation, overflowed: int, total: int) -> None:
        entry = self.events.setdefault(op, [0, 0])
        entry[0] += overflowed
        entry[1] += total

    @property
    def total_overflows(self) -> int:
        return sum(e[0] for e in self.events.values())

    def report(self) -> list[str]:
        lines = []
        for op, (bad, total) in self.events.items():
            if not bad:
                continue
            name = op.results[0].name_hint or "?"
            mode = getattr(op, "overflow", None)
            how = mode.data if mode is not None else "saturate"
            lines.append(
                f"{op.name} %{name}: {bad} of {total} values out of range "
                f"({100 * bad / total:.3g} %, {how})"
            )
        return lines


_COUNTER: ContextVar[OverflowCounter | None] = ContextVar("overflow", default=None)


def _count(op: Operation, overflowed: int, total: int) -> None:
    counter = _COUNTER.get()
    if counter is not None:
        counter.add(op, overflowed, total)


@impl(fxp.ConstantOp)
def _constant(op: fxp.ConstantOp, args):
    return [fixed.raw_array(array_of(op.value), fxp.format_of(op.result).width)]


@impl(fxp.QuantizeOp)
def _quantize(op: fxp.QuantizeOp, args):
    raw, bad = fixed.quantize(
        args[0], fxp.format_of(op.result), op.rounding.data, op.overflow.data
    )
    _count(op, bad, raw.size)
    return [raw]


@impl(fxp.DequantizeOp)
def _dequantize(op: fxp.DequantizeOp, args):
    dtype = numpy_dtype(op.result.type.element_type)
    return [fxp.format_of(op.input).to_float(args[0]).astype(dtype)]


@impl(fxp.AddOp, fxp.SubOp)
def _add(op, args):
    raw, _ = fixed.add(
        args[0],
        fxp.format_of(op.lhs),
        args[1],
        fxp.format_of(op.rhs),
        subtract=isinstance(op, fxp.SubOp),
    )
    return [raw]


@impl(fxp.MulOp)
def _mul(op, args):
    return [
        fixed.mul(args[0], fxp.format_of(op.lhs), args[1], fxp.format_of(op.rhs))[0]
    ]


@impl(fxp.MatMulOp)
def _matmul(op, args):
    fa, fb = fxp.format_of(op.lhs), fxp.format_of(op.rhs)
    return [fixed.matmul(args[0], fa, args[1], fb)[0]]


@impl(fxp.CastOp)
def _cast(op: fxp.CastOp, args):
    raw, bad = fixed.cast(
        args[0],
        fxp.format_of(op.input),
        fxp.format_of(op.result),
        op.rounding.data,
        op.overflow.data,
    )
    _count(op, bad, raw.size)
    return [raw]


@impl(fxp.ClipOp)
def _clip(op: fxp.ClipOp, args):
    return [np.clip(args[0], op.min.value.data, op.max.value.data)]


FULL_TABLE_MAX_WIDTH = 20


@functools.lru_cache(maxsize=64)
def _full_table(
    table: bytes, shift: int, symmetry: str, src: fixed.Format, out: fixed.Format
) -> np.ndarray:
    """The LUT's output for every raw input of a narrow format, by its definition."""
    raws = np.arange(src.min_raw, src.max_raw + 1, dtype=np.int64)
    entries = np.frombuffer(table, dtype=np.int64)
    return fixed.lut(fixed.raw_array(raws, src.width), entries, shift, symmetry, out)


@impl(fxp.LutOp)
def _lut(op: fxp.LutOp, args):
    src, out = fxp.format_of(op.input), fxp.format_of(op.result)
    table = array_of(op.table)
    shift, symmetry = op.shift.value.data, op.symmetry.data
    if src.width <= FULL_TABLE_MAX_WIDTH:
        # Same values, three passes: index a table over all 2^W inputs.
        full = _full_table(table.tobytes(), shift, symmetry, src, out)
        index = (args[0] - src.min_raw).astype(np.int64)
        return [full[index]]
    return [fixed.lut(args[0], table, shift, symmetry, out)]


@impl(fxp.PwlOp)
def _pwl(op: fxp.PwlOp, args):
    raw, bad = fixed.pwl(
        args[0],
        fxp.format_of(op.input),
        np.array(op.breakpoints.get_values(), np.int64),
        np.array(op.slopes.get_values(), np.int64),
        op.slope_frac.value.data,
        np.array(op.intercepts.get_values(), np.int64),
        fxp.format_of(op.result),
        op.rounding.data,
        op.overflow.data,
    )
    _count(op, bad, raw.size)
    return [raw]


TIME_BROADCASTING.update(
    {
        fxp.QuantizeOp,
        fxp.DequantizeOp,
        fxp.AddOp,
        fxp.SubOp,
        fxp.MulOp,
        fxp.MatMulOp,
        fxp.CastOp,
        fxp.ClipOp,
        fxp.LutOp,
        fxp.PwlOp,
    }
)


def _exact_in_float64(op: fxp.MatMulOp) -> bool:
    return fxp.format_of(op.result).width <= fixed.FLOAT64_WIDTH


EXACT_PRODUCTS[fxp.MatMulOp] = _exact_in_float64


def run_fixed(
    module: ModuleOp, inputs: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], OverflowCounter]:
    """Run @main bit-accurately; returns outputs and the overflow events."""
    counter = OverflowCounter()
    token = _COUNTER.set(counter)
    try:
        outputs = Interpreter().run_function(main_function(module), inputs)
    finally:
        _COUNTER.reset(token)
    return outputs, counter
