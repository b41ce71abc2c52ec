"""Bit-accurate interpreter for the `fxp` dialect.

Fixed-point tensors are numpy arrays of raw values (`fixed.raw_array`); every op
follows its reference semantics (`FxpSemantics.reference` in `rnnc.dialects.fxp`,
written with the rules of `rnnc.dialects.fixed`), run as is or through the
compiled kernels of `fxp_kernels`, which return the same values
with fewer passes (exact int8 digit products, add/mul fused with their cast).
Shape ops, gather, select and recurrences reuse the float interpreter's
implementations, which are element-type agnostic. Values pushed out of range by a
cast, a quantize or a PWL are counted per op and reported, never hidden.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from rnnc.backends.interpreter import (
    batch_blocks,
    block_run,
    fxp_elementwise,
    parallel,
    step_loop,
)
from rnnc.backends.interpreter import fxp_kernels as kernels
from rnnc.backends.interpreter.float_interpreter import (
    TIME_BROADCASTING,
    Interpreter,
    compiler,
    impl,
    main_function,
)
from rnnc.backends.interpreter.fusion import (
    BLOCKS,
    CHAINS,
    PRODUCT_FUSION,
    RUNS,
    STEP_LOOPS,
)
from rnnc.dialects import fixed, fxp, rnn
from rnnc.dialects.arrays import array_of


@dataclass
class OverflowCounter:
    """Out-of-range events per op: (values that overflowed, values processed)."""

    events: dict[Operation, list[int]] = field(default_factory=dict)
    # batch blocks on several threads count into one counter
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, op: Operation, overflowed: int, total: int) -> None:
        with self.lock:
            entry = self.events.setdefault(op, [0, 0])
            entry[0] += overflowed
            entry[1] += total

    @property
    def total_overflows(self) -> int:
        return sum(e[0] for e in self.events.values())

    def report(self) -> list[str]:
        """One line per op with values out of range, in the order of the IR."""
        lines = []
        for op, (bad, total) in sorted(
            self.events.items(), key=lambda item: _position(item[0])
        ):
            if not bad:
                continue
            mode = getattr(op, "overflow", None)
            how = mode.data if mode is not None else "saturate"
            lines.append(
                f"{op.name} {_label(op)}: {bad} of {total} values out of range "
                f"({100 * bad / total:.3g} %, {how})"
            )
        return lines


def _label(op: Operation) -> str:
    """%name of the op's result or, for an unnamed one, the nearest named
    values it is computed from (an unnamed cast is told apart by them)."""
    if op.results[0].name_hint:
        return f"%{op.results[0].name_hint}"
    names: list[str] = []
    frontier = list(op.operands)
    for _ in range(4):  # a few ops back: enough to find the named operands
        nxt = []
        for value in frontier:
            if value.name_hint:
                if value.name_hint not in names:
                    names.append(value.name_hint)
            elif isinstance(value.owner, Operation):
                nxt.extend(value.owner.operands)
        if names:
            break
        frontier = nxt
    return f"(from {', '.join('%' + n for n in names[:3])})" if names else "(unnamed)"


def _position(op: Operation) -> list[int]:
    """Where an op stands in its IR: its index in each enclosing block."""
    path = []
    while op is not None:
        block = op.parent_block()
        if block is None:
            break
        path.append(list(block.ops).index(op))
        op = block.parent_op()
    return path[::-1]


_COUNTER: ContextVar[OverflowCounter | None] = ContextVar("overflow", default=None)


def count(op: Operation, overflowed: int, total: int) -> None:
    """Adds events of op to the current run's counter."""
    counter = _COUNTER.get()
    if counter is not None:
        counter.add(op, overflowed, total)


@contextlib.contextmanager
def counted_apart() -> Iterator[OverflowCounter]:
    """Events counted inside go to a counter of their own (yielded), not the
    run's."""
    counter = OverflowCounter()
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)


def _counter(op: Operation) -> kernels.Count:
    return functools.partial(count, op)


@compiler(fxp.ConstantOp)
def _constant(op: fxp.ConstantOp):
    (raw,), _ = fxp.reference(op, [])
    raw.flags.writeable = False  # one array for every run: kernels never write it
    return lambda args: [raw]


@compiler(fxp.QuantizeOp)
def _quantize(op: fxp.QuantizeOp):
    quantize = kernels.quantize(
        fxp.format_of(op.result), op.rounding.data, op.overflow.data, _counter(op)
    )
    return lambda args: [quantize(args[0])]


@impl(fxp.DequantizeOp, fxp.ClipOp, fxp.PwlOp, *fxp.REDUCTIONS)
def _reference(op, args):
    """The op's reference semantics, with its overflow events counted."""
    results, bad = fxp.reference(op, args)
    if isinstance(op, fxp.PwlOp):
        count(op, bad, results[0].size)
    return results


@compiler(fxp.AddOp, fxp.SubOp)
def _add(op):
    add = kernels.add(
        fxp.format_of(op.lhs), fxp.format_of(op.rhs), isinstance(op, fxp.SubOp)
    )
    return lambda args: [add(args[0], args[1])]


@compiler(fxp.MulOp)
def _mul(op):
    mul = kernels.mul(fxp.format_of(op.lhs), fxp.format_of(op.rhs))
    return lambda args: [mul(args[0], args[1])]


@compiler(fxp.MatMulOp)
def _matmul(op):
    matmul = kernels.Matmul(fxp.format_of(op.lhs), fxp.format_of(op.rhs))
    return lambda args: [matmul(args[0], args[1])]


def _terms(op: fxp.MatMulOp) -> int:
    return rnn.shape_of(op.lhs)[-1]


def _fuse_matmuls(ops: list[fxp.MatMulOp]):
    """The gate products h @ R_g of one lhs, as one product."""
    terms = _terms(ops[0])
    if terms < 0:
        return None
    fa = fxp.format_of(ops[0].lhs)
    cols = sum(rnn.shape_of(op.rhs)[-1] for op in ops)
    fbs = [fxp.format_of(op.rhs) for op in ops]
    fused = kernels.FusedMatmul(fa, fbs, terms, max(cols, 0))
    if fused.outs != [fxp.format_of(op.result) for op in ops]:
        return None
    return fused


PRODUCT_FUSION[fxp.MatMulOp] = _fuse_matmuls
batch_blocks.PRODUCTS.add(fxp.MatMulOp)


def _cast_args(op: fxp.CastOp):
    return (
        fxp.format_of(op.result),
        op.rounding.data,
        op.overflow.data,
        _counter(op),
    )


@compiler(fxp.CastOp)
def _cast(op: fxp.CastOp):
    cast = kernels.cast(fxp.format_of(op.input), *_cast_args(op))
    return lambda args: [cast(args[0])]


def _add_cast(add, cast: fxp.CastOp):
    fused = kernels.add_cast(
        fxp.format_of(add.lhs),
        fxp.format_of(add.rhs),
        isinstance(add, fxp.SubOp),
        *_cast_args(cast),
    )
    return None if fused is None else (lambda args: [fused(args[0], args[1])])


def _mul_cast(mul: fxp.MulOp, cast: fxp.CastOp):
    fused = kernels.mul_cast(
        fxp.format_of(mul.lhs), fxp.format_of(mul.rhs), *_cast_args(cast)
    )
    return None if fused is None else (lambda args: [fused(args[0], args[1])])


def _add_cast_lut(add, cast: fxp.CastOp, lut: fxp.LutOp):
    fused = kernels.add_cast_lut(
        fxp.format_of(add.lhs),
        fxp.format_of(add.rhs),
        isinstance(add, fxp.SubOp),
        *_cast_args(cast),
        array_of(lut.table),
        lut.shift.value.data,
        lut.symmetry.data,
        fxp.format_of(lut.result),
    )
    return None if fused is None else (lambda args: [fused(args[0], args[1])])


CHAINS[(fxp.AddOp, fxp.CastOp)] = _add_cast
CHAINS[(fxp.SubOp, fxp.CastOp)] = _add_cast
CHAINS[(fxp.MulOp, fxp.CastOp)] = _mul_cast
CHAINS[(fxp.AddOp, fxp.CastOp, fxp.LutOp)] = _add_cast_lut
CHAINS[(fxp.SubOp, fxp.CastOp, fxp.LutOp)] = _add_cast_lut
RUNS.append(lambda ops, fallback: fxp_elementwise.fuse_runs(ops, fallback, count))
STEP_LOOPS.append(step_loop.recognise)
BLOCKS.append(block_run.fuse)


FULL_TABLE_MAX_WIDTH = 20


@functools.lru_cache(maxsize=64)
def _full_table(
    table: bytes, shift: int, symmetry: str, src: fixed.Format, out: fixed.Format
) -> np.ndarray:
    """The LUT's output for every raw input of a narrow format, by its definition."""
    raws = np.arange(src.min_raw, src.max_raw + 1, dtype=np.int64)
    entries = np.frombuffer(table, dtype=np.int64)
    return fixed.lut(fixed.raw_array(raws, src.width), entries, shift, symmetry, out)


@compiler(fxp.LutOp)
def _lut(op: fxp.LutOp):
    src, out = fxp.format_of(op.input), fxp.format_of(op.result)
    table = array_of(op.table)
    shift, symmetry = op.shift.value.data, op.symmetry.data
    small = kernels.table_lut(table, shift, symmetry, src, out)
    if small is not None:
        return lambda args: [small(args[0])]
    if src.width <= FULL_TABLE_MAX_WIDTH:
        # Same values, three passes: index a table over all 2^W inputs.
        full = _full_table(table.tobytes(), shift, symmetry, src, out)
        lookup = kernels.full_table_lut(full, src)
        return lambda args: [lookup(args[0])]
    return lambda args: fxp.reference(op, args)[0]


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


def run_fixed(
    module: ModuleOp,
    inputs: Sequence[np.ndarray],
    interpreter: Interpreter | None = None,
) -> tuple[list[np.ndarray], OverflowCounter]:
    """Run @main bit-accurately; returns outputs and the overflow events. An
    interpreter kept by the caller keeps its plans and kernels
    (`driver.Program`)."""
    counter = OverflowCounter()
    token = _COUNTER.set(counter)
    try:
        with parallel.threads():
            interpreter = interpreter or Interpreter()
            outputs = interpreter.run_function(main_function(module), inputs)
    finally:
        _COUNTER.reset(token)
    return outputs, counter
