"""lower-to-fxp: float `rnn` IR with assigned formats → fixed-point `fxp` IR.

Every arithmetic op becomes its exact `fxp` op followed by an `fxp.cast` to the
assigned format, omitted when they agree (and for a mat-vec whose exact sum fits the
accumulator width, as a hardware accumulator would keep it): casts sit exactly where
formats change. Constants are quantized (half-even, saturating), float inputs enter
through `fxp.quantize` and outputs leave through `fxp.dequantize`; tables and PWL
constants of approximated activations are quantized to their input/output formats.
After the pass no float arithmetic is left (checked by `check_no_float`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    TensorType,
    i64,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from rnnc.dialects import approx, fixed, fxp, rnn
from rnnc.dialects.arrays import array_of, dense_of
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.dialects.rnn_semantics import activate, main_function
from rnnc.passes.assign_formats import FORMAT, QCLASS, STATE_FORMATS


def _assigned(op: Operation, index: int = 0) -> Format:
    attr = op.attributes.get(FORMAT)
    if not isinstance(attr, ArrayAttr):
        raise RnncError(
            f"{op.name} %{op.results[index].name_hint or '?'} has no format: run "
            "assign-formats first"
        )
    return attr.data[index].format


def _shape(value: SSAValue) -> tuple[int, ...]:
    return rnn.shape_of(value)


class Lowering:
    def __init__(self, rounding: str, overflow: str):
        self.rounding = rounding
        self.overflow = overflow
        self.values: dict[SSAValue, SSAValue] = {}
        self.builder: Builder | None = None
        self.saturated_constants: list[str] = []

    # ------------------------------------------------------------- helpers

    def emit(self, op: Operation, name: str | None = None) -> SSAValue:
        assert self.builder is not None
        self.builder.insert(op)
        if not op.results:
            return None  # type: ignore[return-value]
        if name:
            op.results[0].name_hint = name
        return op.results[0]

    def cast(self, value: SSAValue, fmt: Format, name: str | None = None) -> SSAValue:
        if fxp.format_of(value) == fmt:
            return value
        return self.emit(fxp.CastOp(value, fmt, self.rounding, self.overflow), name)

    def get(self, value: SSAValue) -> SSAValue:
        return self.values[value]

    def fixed_constant(self, array: np.ndarray, fmt: Format, name: str | None):
        raw, _ = fixed.quantize(array, fmt, fixed.CONSTANT_ROUNDING, "saturate")
        # Saturating the range's edge by < 1 lsb is rounding; report what is more.
        err = np.abs(fmt.to_float(raw) - np.asarray(array, np.float64))
        bad = int(np.count_nonzero(err > float(fmt.lsb)))
        if bad:
            self.saturated_constants.append(
                f"%{name or '?'}: {bad} values, max error {err.max():.3g}"
            )
        return self.emit(fxp.ConstantOp(dense_of(raw.astype(np.int64)), fmt), name)

    # ------------------------------------------------------------- driving

    def lower_function(self, fn: func.FuncOp) -> None:
        old_block = fn.body.block
        new_block = Block(arg_types=[a.type for a in old_block.args])
        self.builder = Builder(InsertPoint.at_end(new_block))
        arg_attrs = fn.arg_attrs.data if fn.arg_attrs is not None else []
        for i, (old, new) in enumerate(
            zip(old_block.args, new_block.args, strict=True)
        ):
            new.name_hint = old.name_hint
            fmt_attr = arg_attrs[i].data.get(FORMAT) if i < len(arg_attrs) else None
            if isinstance(fmt_attr, ArrayAttr):
                fmt = fmt_attr.data[0].format
                self.values[old] = self.emit(
                    fxp.QuantizeOp.build(
                        operands=[new],
                        result_types=[fxp.fixed_tensor(_shape(old), fmt)],
                        properties=fxp.CastOp.modes(self.rounding, self.overflow),
                    ),
                    f"{old.name_hint or 'in'}_q",
                )
            else:
                self.values[old] = new
        self.lower_ops(old_block)
        fn.body.detach_block(old_block)
        fn.body.add_block(new_block)
        if fn.arg_attrs is not None:
            fn.arg_attrs = ArrayAttr(
                [
                    DictionaryAttr(
                        {k: v for k, v in d.data.items() if k in ("onnx.name", FORMAT)}
                    )
                    for d in fn.arg_attrs.data
                ]
            )

    def lower_ops(self, block: Block) -> None:
        for op in block.ops:
            self.lower_op(op)

    def lower_op(self, op: Operation) -> None:
        handler = HANDLERS.get(type(op))
        if handler is None:
            raise RnncError(f"{op.name} cannot be lowered to fixed point")
        for old, new in zip(op.results, handler(self, op), strict=True):
            if old.name_hint and not new.name_hint:
                new.name_hint = old.name_hint
            self.values[old] = new


Handler = Callable[[Lowering, Operation], list[SSAValue]]
HANDLERS: dict[type[Operation], Handler] = {}


def handles(*types: type[Operation]):
    def register(fn: Handler) -> Handler:
        for t in types:
            HANDLERS[t] = fn
        return fn

    return register


@handles(func.ReturnOp)
def _return(low: Lowering, op: func.ReturnOp):
    outs = []
    for value in op.operands:
        new = low.get(value)
        if fxp.is_fixed(new):
            new = low.emit(
                fxp.DequantizeOp.build(operands=[new], result_types=[value.type]),
                f"{value.name_hint or 'out'}_f",
            )
        outs.append(new)
    low.emit(func.ReturnOp(*outs))
    return []


@handles(rnn.ConstantOp)
def _constant(low: Lowering, op: rnn.ConstantOp):
    if rnn.element_type_of(op.result).name not in ("f32", "f64"):
        return [low.emit(rnn.ConstantOp(op.value))]  # shapes, indices, masks
    const = low.fixed_constant(array_of(op.value), _assigned(op), op.result.name_hint)
    const.owner.attributes[QCLASS] = op.attributes[QCLASS]
    return [const]


_EXACT = {rnn.AddOp: fxp.AddOp, rnn.SubOp: fxp.SubOp, rnn.MulOp: fxp.MulOp}


@handles(*_EXACT)
def _binary(low: Lowering, op):
    exact = low.emit(_EXACT[type(op)](low.get(op.lhs), low.get(op.rhs)))
    return [low.cast(exact, _assigned(op))]


@handles(rnn.MatMulOp)
def _matmul(low: Lowering, op: rnn.MatMulOp):
    exact = low.emit(fxp.MatMulOp(low.get(op.lhs), low.get(op.rhs)))
    assigned = _assigned(op)
    if fxp.format_of(exact).width <= assigned.width:
        return [exact]  # the exact sum fits the accumulator: nothing to drop
    return [low.cast(exact, assigned)]


@handles(rnn.GemmOp)
def _gemm(low: Lowering, op: rnn.GemmOp):
    if op.alpha.value.data != 1 or op.beta.value.data != 1:
        raise RnncError("Gemm with alpha or beta other than 1 has no fixed-point form")
    a, b = low.get(op.a), low.get(op.b)
    if op.trans_a.value.data:
        a = low.emit(rnn.TransposeOp(a, [1, 0]))
    if op.trans_b.value.data:
        b = low.emit(rnn.TransposeOp(b, [1, 0]))
    acc = low.emit(fxp.MatMulOp(a, b))
    if op.c is not None:
        acc = low.emit(fxp.AddOp(acc, low.get(op.c)))
    return [low.cast(acc, _assigned(op))]


@handles(rnn.ReluOp)
def _relu(low: Lowering, op: rnn.ReluOp):
    x = low.get(op.input)
    clipped = low.emit(fxp.ClipOp(x, 0, fxp.format_of(x).max_raw))
    return [low.cast(clipped, _assigned(op))]


@handles(rnn.ClipOp)
def _clip(low: Lowering, op: rnn.ClipOp):
    x = low.get(op.input)
    fmt = fxp.format_of(x)
    lo, hi = fmt.min_raw, fmt.max_raw
    if op.min is not None:
        lo = max(lo, int(np.ceil(np.ldexp(op.min.value.data, fmt.frac))))
    if op.max is not None:
        hi = min(hi, int(np.floor(np.ldexp(op.max.value.data, fmt.frac))))
    clipped = low.emit(fxp.ClipOp(x, lo, max(lo, hi)))
    return [low.cast(clipped, _assigned(op))]


@handles(rnn.LutOp)
def _lut(low: Lowering, op: rnn.LutOp):
    x = low.get(op.input)
    out = _assigned(op)
    kind, r, k = op.kind.data, op.log2_range.value.data, op.log2_entries.value.data
    sym = approx.symmetry_of(kind)
    alpha = None if op.alpha is None else op.alpha.value.data
    beta = None if op.beta is None else op.beta.value.data
    values = activate(kind, approx.centers(r, k, sym), alpha, beta)
    table, _ = fixed.quantize(values, out, fixed.CONSTANT_ROUNDING, "saturate")
    shift = approx.fixed_shift(r, k, sym, fxp.format_of(x).frac)
    lut = fxp.LutOp.build(
        operands=[x],
        result_types=[fxp.fixed_tensor(_shape(op.result), out)],
        properties={
            "table": dense_of(table.astype(np.int64)),
            "shift": IntegerAttr(shift, 64),
            "symmetry": fxp.SymmetryAttr(sym),
        },
    )
    return [low.emit(lut)]


SLOPE_BITS = 16


@handles(rnn.PwlOp)
def _pwl(low: Lowering, op: rnn.PwlOp):
    x = low.get(op.input)
    src, out = fxp.format_of(x), _assigned(op)
    bps = np.array(op.breakpoints.get_values(), np.float64)
    slopes = np.array(op.slopes.get_values(), np.float64)
    intercepts = np.array(op.intercepts.get_values(), np.float64)
    # x ≥ b  ⇔  raw ≥ ceil(b·2^F): breakpoints keep their meaning on the grid.
    raw_bps = np.clip(np.ceil(np.ldexp(bps, src.frac)), -(2.0**62), 2.0**62)
    m = float(np.abs(slopes).max()) if slopes.size else 0.0
    slope_fmt = fixed.format_for_range(-m, m, SLOPE_BITS)
    raw_slopes, _ = fixed.quantize(
        slopes, slope_fmt, fixed.CONSTANT_ROUNDING, "saturate"
    )
    raw_icepts, _ = fixed.quantize(intercepts, out, fixed.CONSTANT_ROUNDING, "saturate")
    pwl = fxp.PwlOp.build(
        operands=[x],
        result_types=[fxp.fixed_tensor(_shape(op.result), out)],
        properties={
            "breakpoints": DenseArrayBase.from_list(
                i64, raw_bps.astype(np.int64).tolist()
            ),
            "slopes": DenseArrayBase.from_list(
                i64, raw_slopes.astype(np.int64).tolist()
            ),
            "intercepts": DenseArrayBase.from_list(
                i64, raw_icepts.astype(np.int64).tolist()
            ),
            "slope_frac": IntegerAttr(slope_fmt.frac, 64),
            **fxp.PwlOp.modes(low.rounding, fixed.Overflow.SATURATE),
        },
    )
    return [low.emit(pwl)]


@handles(rnn.SigmoidOp, rnn.TanhOp, rnn.ActivationOp)
def _not_approximated(low: Lowering, op):
    raise RnncError(
        f"{op.name} %{op.results[0].name_hint or '?'} has no fixed-point form: run "
        "approximate-activations before lower-to-fxp"
    )


@handles(rnn.DivOp)
def _div(low: Lowering, op):
    raise RnncError("division (ONNX Div) is not supported in fixed point")


def _retyped(value: SSAValue, like: SSAValue) -> TensorType:
    """`value`'s shape with the element type of `like`."""
    return TensorType(rnn.element_type_of(like), list(_shape(value)))


@handles(*rnn.LAYOUT_OPS)
def _shape_op(low: Lowering, op):
    x = low.get(op.operands[0])
    new = type(op).build(
        operands=[x],
        result_types=[_retyped(op.results[0], x)],
        properties=dict(op.properties),
    )
    return [low.emit(new)]


@handles(rnn.GatherOp)
def _gather(low: Lowering, op: rnn.GatherOp):
    data, idx = low.get(op.data), low.get(op.indices)
    new = rnn.GatherOp.build(
        operands=[data, idx],
        result_types=[_retyped(op.result, data)],
        properties=dict(op.properties),
    )
    return [low.emit(new)]


@handles(rnn.SelectOp)
def _select(low: Lowering, op: rnn.SelectOp):
    on_true = low.get(op.on_true)
    on_false = low.get(op.on_false)
    if fxp.is_fixed(on_true):
        on_false = low.cast(on_false, fxp.format_of(on_true))
    return [low.emit(rnn.SelectOp(low.get(op.cond), on_true, on_false))]


@handles(rnn.ConcatOp)
def _concat(low: Lowering, op: rnn.ConcatOp):
    parts = [low.get(v) for v in op.inputs]
    if all(fxp.is_fixed(p) for p in parts):
        common = fxp.format_of(parts[0])
        for p in parts[1:]:
            common = fixed.select_format(common, fxp.format_of(p))
        parts = [low.cast(p, common) for p in parts]
    return [low.emit(rnn.ConcatOp(parts, op.axis.value.data))]


@handles(rnn.CastOp)
def _cast(low: Lowering, op: rnn.CastOp):
    x = low.get(op.input)
    if fxp.is_fixed(x):
        if op.result.type.element_type.name not in ("f32", "f64"):
            raise RnncError("a cast from fixed point to integers is not supported")
        return [x]
    return [low.emit(rnn.CastOp.build(operands=[x], result_types=[op.result.type]))]


@handles(rnn.SequenceMaskOp)
def _mask(low: Lowering, op: rnn.SequenceMaskOp):
    return [low.emit(rnn.SequenceMaskOp(low.get(op.seq_lens), low.get(op.like)))]


@handles(rnn.SoftmaxOp, rnn.LogSoftmaxOp)
def _softmax(low: Lowering, op):
    uses = [u.operation for u in op.results[0].uses]
    if not uses or not all(isinstance(u, func.ReturnOp) for u in uses):
        raise RnncError(f"{op.name} inside the model has no fixed-point form")
    x = low.get(op.operands[0])
    if fxp.is_fixed(x):
        x = low.emit(
            fxp.DequantizeOp.build(operands=[x], result_types=[op.operands[0].type])
        )
    new = type(op).build(
        operands=[x], result_types=[op.results[0].type], properties=dict(op.properties)
    )
    return [low.emit(new)]


@handles(rnn.RecurrenceOp)
def _recurrence(low: Lowering, op: rnn.RecurrenceOp):
    formats_attr = op.attributes.get(STATE_FORMATS)
    if not isinstance(formats_attr, ArrayAttr):
        raise RnncError("rnn.recurrence has no state_formats: run assign-formats first")
    formats = [a.format for a in formats_attr.data]
    seqs = [low.get(v) for v in op.seqs]
    inits = [low.cast(low.get(v), f) for v, f in zip(op.inits, formats, strict=True)]
    old_block = op.body.block
    arg_types = [
        TensorType(rnn.element_type_of(s), list(_shape(s)[1:])) for s in seqs
    ] + [i.type for i in inits]
    block = Block(arg_types=arg_types)
    for old, new in zip(old_block.args, block.args, strict=True):
        new.name_hint = old.name_hint
        low.values[old] = new
    outer = low.builder
    low.builder = Builder(InsertPoint.at_end(block))
    for body_op in old_block.ops:
        if isinstance(body_op, rnn.YieldOp):
            values = [low.get(v) for v in body_op.values]
            n = len(formats)
            states = [low.cast(v, f) for v, f in zip(values[:n], formats, strict=True)]
            low.emit(rnn.YieldOp([*states, *values[n:]]))
            yielded_outputs = values[n:]
            break
        low.lower_op(body_op)
    low.builder = outer
    steps = _shape(op.seqs[0])[0]
    out_types = [
        TensorType(rnn.element_type_of(v), [steps, *_shape(v)]) for v in yielded_outputs
    ]
    new = rnn.RecurrenceOp(seqs, inits, out_types, Region(block), op.is_reverse)
    low.builder.insert(new)
    return list(new.outs)


FLOAT_ALLOWED = (
    fxp.QuantizeOp,
    fxp.DequantizeOp,
    rnn.SoftmaxOp,
    rnn.LogSoftmaxOp,
    func.ReturnOp,
    func.FuncOp,
)


def check_no_float(module: ModuleOp) -> None:
    """After lowering only the boundary ops may touch float tensors."""
    for op in module.walk():
        if isinstance(op, (ModuleOp, *FLOAT_ALLOWED)):
            continue
        for value in [*op.operands, *op.results]:
            typ = value.type
            if isinstance(typ, TensorType) and typ.element_type.name in ("f32", "f64"):
                raise RnncError(f"float value left after lowering: {op.name}")


@dataclass(frozen=True)
class LowerToFxpPass(ModulePass):
    """Lower float `rnn` IR with assigned formats to the `fxp` dialect."""

    name = "lower-to-fxp"

    rounding: str = "half-even"
    overflow: str = "saturate"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower(op, self.rounding, self.overflow)


def lower(module: ModuleOp, rounding: str, overflow: str) -> Lowering:
    if rounding not in fixed.ROUNDING_MODES:
        raise RnncError(f"unknown rounding mode '{rounding}'")
    if overflow not in fixed.OVERFLOW_MODES:
        raise RnncError(f"unknown overflow mode '{overflow}'")
    low = Lowering(rounding, overflow)
    low.lower_function(main_function(module))
    check_no_float(module)
    return low
