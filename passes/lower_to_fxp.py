"""lower-to-fxp: float `rnn` IR with assigned formats → fixed-point `fxp` IR.

Every arithmetic op becomes its exact `fxp` op followed by an `fxp.cast` to the
assigned format, omitted when they agree (and for a mat-vec whose exact sum fits the
accumulator width, as a hardware accumulator would keep it): casts sit exactly where
formats change. Constants are quantized (half-even, saturating), float inputs enter
through `fxp.quantize` and outputs leave through `fxp.dequantize`; tables and PWL
constants of approximated activations are quantized to their input/output formats.
After the pass no float arithmetic is left (checked by `check_no_float`).

The conversion is one rewrite pattern per op kind (`patterns`), applied by a
`PatternRewriteWalker` in IR order, so an op's operands are lowered before it; a
recurrence retypes its body's arguments before the body is lowered and is rebuilt
with its new result types when its `rnn.yield` is. Formats are read through the
attribute names of `assign_formats` (FORMAT, QCLASS, STATE_FORMATS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
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
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from rnnc.dialects import approx, fixed, fxp, rnn
from rnnc.dialects.arrays import array_of, dense_of
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.dialects.rnn_semantics import activate
from rnnc.passes import softmax
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


def _retyped(value: SSAValue, like: SSAValue) -> TensorType:
    """`value`'s shape with the element type of `like`."""
    return TensorType(rnn.element_type_of(like), list(_shape(value)))


def _is_float(value: SSAValue) -> bool:
    return rnn.element_type_of(value).name in ("f32", "f64")


@dataclass
class Lowering:
    """What the patterns share: the cast modes and the report of constants that
    saturated when quantized. The patterns run in IR order, so an op's operands
    are already lowered when it is."""

    rounding: str
    overflow: str
    saturated_constants: list[str] = field(default_factory=list)

    def emit(self, rewriter: PatternRewriter, op: Operation, name=None) -> SSAValue:
        """Insert `op` before the op being lowered; its (first) result."""
        rewriter.insert(op)
        if name:
            op.results[0].name_hint = name
        return op.results[0]

    def cast(self, rewriter: PatternRewriter, value: SSAValue, fmt: Format):
        if fxp.format_of(value) == fmt:
            return value
        cast = fxp.CastOp(value, fmt, self.rounding, self.overflow)
        return self.emit(rewriter, cast)

    def fixed_constant(
        self, rewriter: PatternRewriter, array: np.ndarray, fmt: Format, name
    ) -> SSAValue:
        raw, _ = fixed.quantize(
            array, fmt, fixed.CONSTANT_ROUNDING, fixed.CONSTANT_OVERFLOW
        )
        # Saturating the range's edge by < 1 lsb is rounding; report what is more.
        err = np.abs(fmt.to_float(raw) - np.asarray(array, np.float64))
        bad = int(np.count_nonzero(err > float(fmt.lsb)))
        if bad:
            self.saturated_constants.append(
                f"%{name or '?'}: {bad} values, max error {err.max():.3g}"
            )
        const = fxp.ConstantOp(dense_of(raw.astype(np.int64)), fmt)
        return self.emit(rewriter, const, name)


def _replace(rewriter: PatternRewriter, op: Operation, values) -> None:
    """The lowered values take the place (and, unnamed, the names) of op's results."""
    rewriter.replace(op, (), list(values))


class LoweringPattern(RewritePattern):
    def __init__(self, low: Lowering):
        self.low = low


# ------------------------------------------------------------ function boundary


class LowerFunction(LoweringPattern):
    """Inputs with a format enter through `fxp.quantize`; argument attributes keep
    only the ONNX name and the format."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, fn: func.FuncOp, rewriter: PatternRewriter):
        block = fn.body.block
        arg_attrs = fn.arg_attrs.data if fn.arg_attrs is not None else []
        quantized = []
        for i, arg in enumerate(block.args):
            fmt_attr = arg_attrs[i].data.get(FORMAT) if i < len(arg_attrs) else None
            if not isinstance(fmt_attr, ArrayAttr):
                continue
            quantize = fxp.QuantizeOp.build(
                operands=[arg],
                result_types=[fxp.fixed_tensor(_shape(arg), fmt_attr.data[0].format)],
                properties=fxp.QuantizeOp.modes(self.low.rounding, self.low.overflow),
            )
            quantize.result.name_hint = f"{arg.name_hint or 'in'}_q"
            quantized.append((arg, quantize))
        first = block.first_op
        for arg, quantize in quantized:
            rewriter.insert(quantize, InsertPoint.before(first))
            rewriter.replace_uses_with_if(
                arg, quantize.result, lambda use, q=quantize: use.operation is not q
            )
        if fn.arg_attrs is not None:
            keep = ("onnx.name", FORMAT)
            fn.arg_attrs = ArrayAttr(
                [
                    DictionaryAttr({k: v for k, v in d.data.items() if k in keep})
                    for d in fn.arg_attrs.data
                ]
            )


class LowerReturn(LoweringPattern):
    """Outputs leave fixed point through `fxp.dequantize`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.ReturnOp, rewriter: PatternRewriter):
        fn = op.parent_op()
        assert isinstance(fn, func.FuncOp)
        outs = []
        for value, float_type in zip(
            op.operands, fn.function_type.outputs.data, strict=True
        ):
            if fxp.is_fixed(value):
                dequantize = fxp.DequantizeOp.build(
                    operands=[value], result_types=[float_type]
                )
                name = f"{value.name_hint or 'out'}_f"
                value = self.low.emit(rewriter, dequantize, name)
            outs.append(value)
        rewriter.replace(op, func.ReturnOp(*outs))


# ------------------------------------------------------------------ arithmetic


class LowerConstant(LoweringPattern):
    """Float constants are quantized (half-even, saturating); shapes, indices and
    masks stay `rnn.constant`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.ConstantOp, rewriter: PatternRewriter):
        if not _is_float(op.result):
            _replace(rewriter, op, [self.low.emit(rewriter, rnn.ConstantOp(op.value))])
            return
        const = self.low.fixed_constant(
            rewriter, array_of(op.value), _assigned(op), op.result.name_hint
        )
        const.owner.attributes[QCLASS] = op.attributes[QCLASS]
        _replace(rewriter, op, [const])


class KeepIndexArithmetic(LoweringPattern):
    """Arithmetic and predicates on integer or boolean tensors (token ids, masks:
    Keras wraps negative ids before its embedding) are the host's work on the
    input, exact as they are: they stay `rnn` ops."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, (*rnn.PREDICATE_OPS, rnn.AddOp, rnn.SubOp, rnn.MulOp)):
            return
        if any(_is_float(v) or fxp.is_fixed(v) for v in op.operands):
            return
        _replace(rewriter, op, [self.low.emit(rewriter, op.clone())])


_EXACT = {rnn.AddOp: fxp.AddOp, rnn.SubOp: fxp.SubOp, rnn.MulOp: fxp.MulOp}


class LowerBinary(LoweringPattern):
    """add, sub, mul: the exact fxp op, then a cast to the assigned format."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: rnn.AddOp | rnn.SubOp | rnn.MulOp, rewriter: PatternRewriter
    ):
        exact = self.low.emit(rewriter, _EXACT[type(op)](op.lhs, op.rhs))
        _replace(rewriter, op, [self.low.cast(rewriter, exact, _assigned(op))])


class LowerMatMul(LoweringPattern):
    """The exact product; no cast when its sum fits the accumulator width."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.MatMulOp, rewriter: PatternRewriter):
        exact = self.low.emit(rewriter, fxp.MatMulOp(op.lhs, op.rhs))
        assigned = _assigned(op)
        if fxp.format_of(exact).width > assigned.width:
            exact = self.low.cast(rewriter, exact, assigned)
        _replace(rewriter, op, [exact])


class LowerGemm(LoweringPattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.GemmOp, rewriter: PatternRewriter):
        if op.alpha.value.data != 1 or op.beta.value.data != 1:
            raise RnncError(
                "Gemm with alpha or beta other than 1 has no fixed-point form"
            )
        a, b = op.a, op.b
        if op.trans_a.value.data:
            a = self.low.emit(rewriter, rnn.TransposeOp(a, [1, 0]))
        if op.trans_b.value.data:
            b = self.low.emit(rewriter, rnn.TransposeOp(b, [1, 0]))
        acc = self.low.emit(rewriter, fxp.MatMulOp(a, b))
        if op.c is not None:
            acc = self.low.emit(rewriter, fxp.AddOp(acc, op.c))
        _replace(rewriter, op, [self.low.cast(rewriter, acc, _assigned(op))])


class LowerRelu(LoweringPattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.ReluOp, rewriter: PatternRewriter):
        x = op.input
        clipped = self.low.emit(rewriter, fxp.ClipOp(x, 0, fxp.format_of(x).max_raw))
        _replace(rewriter, op, [self.low.cast(rewriter, clipped, _assigned(op))])


class LowerClip(LoweringPattern):
    """Bounds become the raw integers of the input format that stay inside."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.ClipOp, rewriter: PatternRewriter):
        x = op.input
        fmt = fxp.format_of(x)
        lo, hi = fmt.min_raw, fmt.max_raw
        if op.min is not None:
            lo = max(lo, int(np.ceil(np.ldexp(op.min.value.data, fmt.frac))))
        if op.max is not None:
            hi = min(hi, int(np.floor(np.ldexp(op.max.value.data, fmt.frac))))
        clipped = self.low.emit(rewriter, fxp.ClipOp(x, lo, max(lo, hi)))
        _replace(rewriter, op, [self.low.cast(rewriter, clipped, _assigned(op))])


# ------------------------------------------------------------------ activations


class LowerLut(LoweringPattern):
    """The table, evaluated at the bins' centres and quantized to the output."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.LutOp, rewriter: PatternRewriter):
        x = op.input
        out = _assigned(op)
        kind, r, k = op.kind.data, op.log2_range.value.data, op.log2_entries.value.data
        sym = approx.symmetry_of(kind)
        alpha = None if op.alpha is None else op.alpha.value.data
        beta = None if op.beta is None else op.beta.value.data
        values = activate(kind, approx.centers(r, k, sym), alpha, beta)
        table, _ = fixed.quantize(
            values, out, fixed.CONSTANT_ROUNDING, fixed.CONSTANT_OVERFLOW
        )
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
        _replace(rewriter, op, [self.low.emit(rewriter, lut)])


SLOPE_BITS = 16


class LowerPwl(LoweringPattern):
    """Breakpoints on the input grid, slopes in SLOPE_BITS, intercepts in the
    output format; saturating."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.PwlOp, rewriter: PatternRewriter):
        x = op.input
        src, out = fxp.format_of(x), _assigned(op)
        bps = np.array(op.breakpoints.get_values(), np.float64)
        slopes = np.array(op.slopes.get_values(), np.float64)
        intercepts = np.array(op.intercepts.get_values(), np.float64)
        # x ≥ b  ⇔  raw ≥ ceil(b·2^F): breakpoints keep their meaning on the grid.
        raw_bps = np.clip(np.ceil(np.ldexp(bps, src.frac)), -(2.0**62), 2.0**62)
        m = float(np.abs(slopes).max()) if slopes.size else 0.0
        slope_fmt = fixed.format_for_range(-m, m, SLOPE_BITS)
        rounding, overflow = fixed.CONSTANT_ROUNDING, fixed.CONSTANT_OVERFLOW
        raw_slopes, _ = fixed.quantize(slopes, slope_fmt, rounding, overflow)
        raw_icepts, _ = fixed.quantize(intercepts, out, rounding, overflow)

        def ints(values: np.ndarray) -> DenseArrayBase:
            return DenseArrayBase.from_list(i64, values.astype(np.int64).tolist())

        pwl = fxp.PwlOp.build(
            operands=[x],
            result_types=[fxp.fixed_tensor(_shape(op.result), out)],
            properties={
                "breakpoints": ints(raw_bps),
                "slopes": ints(raw_slopes),
                "intercepts": ints(raw_icepts),
                "slope_frac": IntegerAttr(slope_fmt.frac, 64),
                **fxp.PwlOp.modes(self.low.rounding, fixed.Overflow.SATURATE),
            },
        )
        _replace(rewriter, op, [self.low.emit(rewriter, pwl)])


class RejectFloatOnly(RewritePattern):
    """Ops with no fixed-point form: exact activations, division."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if isinstance(op, rnn.SigmoidOp | rnn.TanhOp | rnn.ActivationOp):
            raise RnncError(
                f"{op.name} %{op.results[0].name_hint or '?'} has no fixed-point "
                "form: run approximate-activations before lower-to-fxp"
            )
        if isinstance(op, rnn.DivOp):
            raise RnncError("division (ONNX Div) is not supported in fixed point")


# ------------------------------------------------------- data movement, control


class LowerLayout(LoweringPattern):
    """Shape ops and gather move raw values unchanged: only the type changes."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, (*rnn.LAYOUT_OPS, rnn.GatherOp)):
            return
        new = type(op).build(
            operands=list(op.operands),
            result_types=[_retyped(op.results[0], op.operands[0])],
            properties=dict(op.properties),
        )
        _replace(rewriter, op, [self.low.emit(rewriter, new)])


class LowerSelect(LoweringPattern):
    """Both branches in the true branch's format."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.SelectOp, rewriter: PatternRewriter):
        on_true, on_false = op.on_true, op.on_false
        if fxp.is_fixed(on_true):
            on_false = self.low.cast(rewriter, on_false, fxp.format_of(on_true))
        new = rnn.SelectOp(op.cond, on_true, on_false)
        _replace(rewriter, op, [self.low.emit(rewriter, new)])


class LowerConcat(LoweringPattern):
    """Parts in the smallest format that holds them all, without loss."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.ConcatOp, rewriter: PatternRewriter):
        parts = list(op.inputs)
        if all(fxp.is_fixed(p) for p in parts):
            common = fxp.format_of(parts[0])
            for p in parts[1:]:
                common = fixed.select_format(common, fxp.format_of(p))
            parts = [self.low.cast(rewriter, p, common) for p in parts]
        new = rnn.ConcatOp(parts, op.axis.value.data)
        _replace(rewriter, op, [self.low.emit(rewriter, new)])


class LowerCast(LoweringPattern):
    """A cast of fixed point to float is the value itself (it stays exact)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.CastOp, rewriter: PatternRewriter):
        x = op.input
        if fxp.is_fixed(x):
            if op.result.type.element_type.name not in ("f32", "f64"):
                raise RnncError("a cast from fixed point to integers is not supported")
            _replace(rewriter, op, [x])
            return
        new = rnn.CastOp.build(operands=[x], result_types=[op.result.type])
        _replace(rewriter, op, [self.low.emit(rewriter, new)])


class LowerSequenceMask(LoweringPattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.SequenceMaskOp, rewriter: PatternRewriter):
        new = rnn.SequenceMaskOp(op.seq_lens, op.like)
        _replace(rewriter, op, [self.low.emit(rewriter, new)])


class LowerSoftmax(LoweringPattern):
    """A softmax or log-softmax head over the last axis: reductions, tables and
    exact subtractions (`passes/softmax.py`, docs/fixed-point.md)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: rnn.SoftmaxOp | rnn.LogSoftmaxOp, rewriter: PatternRewriter
    ):
        uses = [u.operation for u in op.results[0].uses]
        if not uses or not all(isinstance(u, func.ReturnOp) for u in uses):
            raise RnncError(f"{op.name} inside the model has no fixed-point form")
        x = op.operands[0]
        rank = len(_shape(x))
        if op.axis.value.data % max(rank, 1) != rank - 1:
            raise RnncError(f"{op.name} over an axis other than the last")
        if not fxp.is_fixed(x):
            raise RnncError(f"{op.name} of a value that is not fixed point")

        def emit(new: Operation, name: str) -> SSAValue:
            return self.low.emit(rewriter, new, name)

        y = softmax.lower_softmax(
            emit,
            x,
            _assigned(op),
            isinstance(op, rnn.LogSoftmaxOp),
            self.low.rounding,
            op.results[0].name_hint or "softmax",
            _int_attr(op, softmax.BITS_ATTR, softmax.DEFAULT_LUT_BITS),
        )
        _replace(rewriter, op, [y])


def _int_attr(op: Operation, name: str, default: int) -> int:
    attr = op.attributes.get(name)
    return attr.value.data if isinstance(attr, IntegerAttr) else default


def _state_formats(op: rnn.RecurrenceOp) -> list[Format]:
    formats_attr = op.attributes.get(STATE_FORMATS)
    if not isinstance(formats_attr, ArrayAttr):
        raise RnncError("rnn.recurrence has no state_formats: run assign-formats first")
    return [a.format for a in formats_attr.data]


class LowerRecurrence(LoweringPattern):
    """Before its body: initial states cast to the state formats, the body's
    arguments retyped (a sequence's element, the states)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.RecurrenceOp, rewriter: PatternRewriter):
        formats = _state_formats(op)
        n_seqs = len(op.seqs)
        for i, (init, fmt) in enumerate(zip(op.inits, formats, strict=True)):
            op.operands[n_seqs + i] = self.low.cast(rewriter, init, fmt)
        block = op.body.block
        arg_types = [
            TensorType(rnn.element_type_of(s), list(_shape(s)[1:])) for s in op.seqs
        ] + [i.type for i in op.inits]
        for arg, typ in zip(block.args, arg_types, strict=True):
            rewriter.replace_value_with_new_type(arg, typ)


class LowerYield(LoweringPattern):
    """After the body: states cast to their formats, and the recurrence rebuilt
    with the result types its body now yields."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: rnn.YieldOp, rewriter: PatternRewriter):
        loop = op.parent_op()
        assert isinstance(loop, rnn.RecurrenceOp)
        formats = _state_formats(loop)
        values = list(op.values)
        n = len(formats)
        states = [
            self.low.cast(rewriter, v, f)
            for v, f in zip(values[:n], formats, strict=True)
        ]
        outputs = values[n:]
        rewriter.replace(op, rnn.YieldOp([*states, *outputs]))
        steps = _shape(loop.seqs[0])[0]
        out_types = [
            TensorType(rnn.element_type_of(v), [steps, *_shape(v)]) for v in outputs
        ]
        body = rewriter.move_region_contents_to_new_regions(loop.body)
        new = rnn.RecurrenceOp(
            list(loop.seqs), list(loop.inits), out_types, body, loop.is_reverse
        )
        rewriter.insert(new, InsertPoint.before(loop))
        _replace(rewriter, loop, list(new.outs))


class Unsupported(RewritePattern):
    """Anything else has no fixed-point form (tried last)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if not isinstance(op, func.FuncOp):
            raise RnncError(f"{op.name} cannot be lowered to fixed point")


class StopAtFirstError(RewritePattern):
    """Applies `pattern` until it raises an RnncError, then nothing more: `lower`
    raises that error as it is (the walker would attach the whole module to it)."""

    def __init__(self, pattern: RewritePattern):
        self.pattern = pattern
        self.error: RnncError | None = None

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter):
        if self.error is not None:
            return
        try:
            self.pattern.match_and_rewrite(op, rewriter)
        except RnncError as err:
            self.error = err


def patterns(low: Lowering) -> list[RewritePattern]:
    lowering = [
        LowerFunction,
        LowerReturn,
        LowerConstant,
        KeepIndexArithmetic,
        LowerBinary,
        LowerMatMul,
        LowerGemm,
        LowerRelu,
        LowerClip,
        LowerLut,
        LowerPwl,
        LowerLayout,
        LowerSelect,
        LowerConcat,
        LowerCast,
        LowerSequenceMask,
        LowerSoftmax,
        LowerRecurrence,
        LowerYield,
    ]
    return [RejectFloatOnly(), *(p(low) for p in lowering), Unsupported()]


FLOAT_ALLOWED = (
    fxp.QuantizeOp,
    fxp.DequantizeOp,
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
    applier = GreedyRewritePatternApplier(patterns(low), dce_enabled=False)
    guarded = StopAtFirstError(applier)
    # In IR order, an op before the ops of its regions; new ops are not revisited.
    PatternRewriteWalker(guarded, apply_recursively=False).rewrite_module(module)
    if guarded.error is not None:
        raise guarded.error
    check_no_float(module)
    return low
