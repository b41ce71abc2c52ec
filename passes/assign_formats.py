"""assign-formats: choose a fixed-point format for every computed float tensor.

Each value gets a class (input, weight, bias, accumulator, preactivation,
activation, state, output), the class gives the word length W (QuantConfig, with
per-name overrides), and the value's range gives the integer bits I; F = W - I.
Results are annotated `format = [!fxp.fixed<W, F>]` and `qclass = "..."`;
recurrences get `state_formats`, one per state, covering both the initial and the
yielded values, so a state has a single format across all time steps. Shape ops,
select, concat and gather keep the format of their data and get no annotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.ir import BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass

from rnnc.dialects import rnn
from rnnc.dialects.approx import symmetry_of
from rnnc.dialects.arrays import array_of
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format, Symmetry
from rnnc.dialects.fxp import FixedType
from rnnc.dialects.rnn_semantics import main_function
from rnnc.passes.quant_config import CONSTANT_CLASSES, QuantConfig, load_config
from rnnc.passes.range_analysis import (
    BOUND,
    CALIB,
    CALIB_ABS,
    is_float_tensor,
    read_range,
)

FORMAT, QCLASS, STATE_FORMATS = "rnnc.format", "rnnc.qclass", "state_formats"

# Ops whose result is their data re-arranged or selected: same format, no annotation.
PASS_THROUGH = (*rnn.LAYOUT_OPS, rnn.GatherOp, rnn.CastOp, rnn.SelectOp, rnn.ConcatOp)


def _is_initial_state_use(use) -> bool:
    user = use.operation
    return isinstance(user, rnn.RecurrenceOp) and use.index >= len(user.seqs)


def _is_weight_use(use) -> bool:
    """Multiplicands and embedding tables are weights; biases are added."""
    user = use.operation
    if isinstance(user, rnn.MatMulOp | rnn.MulOp):
        return True
    if isinstance(user, rnn.GemmOp):
        return use.index < 2  # A or B, not C
    if isinstance(user, rnn.GatherOp):
        return use.index == 0  # the table
    return False


def producer(value: SSAValue) -> Operation | None:
    """The op that computes `value`, looking through pass-through ops."""
    while True:
        owner = value.owner
        if isinstance(owner, BlockArgument) or not isinstance(owner, Operation):
            return None
        if isinstance(owner, rnn.SelectOp):
            value = owner.on_true
        elif isinstance(owner, PASS_THROUGH):
            value = owner.operands[0]
        else:
            return owner


def classify(fn: func.FuncOp) -> dict[Operation, str]:
    classes: dict[Operation, str] = {}
    for op in fn.walk():
        if not op.results or not all(is_float_tensor(r) for r in op.results):
            continue
        if isinstance(op, rnn.ConstantOp):
            uses = list(op.result.uses)
            if uses and all(_is_initial_state_use(use) for use in uses):
                classes[op] = "state"  # a zero initial state: a register, not memory
            elif any(_is_weight_use(use) for use in uses):
                classes[op] = "weight"
            else:
                classes[op] = "bias"
        elif isinstance(op, rnn.MatMulOp):
            classes[op] = "accumulator"
        elif isinstance(op, (*rnn.ACTIVATION_OPS, rnn.SoftmaxBaseOp)):
            classes[op] = "activation"
        elif isinstance(op, rnn.GemmOp):
            classes[op] = "accumulator"
        elif isinstance(op, rnn.AddOp | rnn.SubOp | rnn.MulOp | rnn.DivOp | rnn.ClipOp):
            classes[op] = "preactivation"
    for op in fn.walk():
        if isinstance(op, rnn.RecurrenceOp):
            yields = op.body.block.last_op
            for value in list(yields.operands)[: len(op.inits)]:
                if (p := producer(value)) in classes:
                    classes[p] = "state"
    for value in fn.body.block.last_op.operands:
        if (p := producer(value)) in classes:
            classes[p] = "output"
    return classes


def value_range(
    owner: Operation | DictionaryAttr, index: int, source: str, what: str
) -> tuple[float, float]:
    calib = read_range(owner, CALIB, index)
    bound = read_range(owner, BOUND, index)
    if source == "percentile" and calib is not None:
        percentile = read_range(owner, CALIB_ABS, index)
        if percentile is None:
            raise RnncError(
                f"no percentile of |x| for {what}: measure ranges on calibration "
                "data first"
            )
        (p,) = percentile
        lo, hi = max(calib[0], -p), min(calib[1], p)
    elif source == "bound" and bound is not None:
        lo, hi = bound
    else:
        lo, hi = calib if calib is not None else (bound or (None, None))
    if lo is None:
        raise RnncError(f"no range for {what}: run range-analysis first")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RnncError(
            f"the range of {what} is unbounded; give calibration data or use "
            "range = 'calib'"
        )
    return lo, hi


def _name(value: SSAValue) -> str:
    return f"%{value.name_hint}" if value.name_hint else f"a {value.owner.name} value"


def _range_of_value(value: SSAValue, source: str) -> tuple[float, float]:
    """Range of any value: its defining op's annotation or its argument's."""
    owner = value.owner
    if isinstance(owner, BlockArgument):
        parent = owner.block.parent_op()
        if isinstance(parent, func.FuncOp) and parent.arg_attrs is not None:
            return value_range(
                parent.arg_attrs.data[owner.index], 0, source, _name(value)
            )
        raise RnncError(f"no range for block argument {_name(value)}")
    return value_range(owner, value.index, source, _name(value))


def _value_names(module: ModuleOp) -> set[str]:
    """The SSA names an override may use."""
    names = set()
    for op in module.walk():
        values = [*op.results]
        values += [a for r in op.regions for b in r.blocks for a in b.args]
        names |= {v.name_hint for v in values if v.name_hint}
    return names


def assign(module: ModuleOp, config: QuantConfig) -> None:
    if config.overrides:
        config.check_overrides(_value_names(module))
    fn = main_function(module)
    classes = classify(fn)
    for op, cls in classes.items():
        formats = []
        values = _constant_values(op, cls)
        for result in op.results:
            lo, hi = value_range(op, result.index, config.range, _name(result))
            lo, hi = _with_mirror(op, lo, hi)
            formats.append(
                FixedType.of(config.format_for(cls, result.name_hint, lo, hi, values))
            )
        op.attributes[FORMAT] = ArrayAttr(formats)
        op.attributes[QCLASS] = StringAttr(cls)
    # A state input (initial h / c given by the caller) must carry every state the
    # recurrence reaches: a calibration that fed zeros would otherwise saturate it.
    state_inputs: dict[SSAValue, tuple[float, float]] = {}
    for op in fn.walk():
        if isinstance(op, rnn.RecurrenceOp):
            formats = state_formats(op, config)
            op.attributes[STATE_FORMATS] = ArrayAttr([FixedType.of(f) for f in formats])
            for init, fmt in zip(op.inits, formats, strict=True):
                source = _function_argument(init)
                if source is not None:
                    lo, hi = state_inputs.get(source, (0.0, 0.0))
                    state_inputs[source] = (
                        min(lo, fmt.min_value),
                        max(hi, fmt.max_value),
                    )
    arg_attrs = []
    for i, arg in enumerate(fn.args):
        old = dict(fn.arg_attrs.data[i].data) if fn.arg_attrs is not None else {}
        if is_float_tensor(arg):
            owner = DictionaryAttr(old)
            lo, hi = value_range(owner, 0, config.range, _name(arg))
            if arg in state_inputs:
                lo, hi = min(lo, state_inputs[arg][0]), max(hi, state_inputs[arg][1])
            fmt = config.format_for("input", arg.name_hint, lo, hi)
            old[FORMAT] = ArrayAttr([FixedType.of(fmt)])
        arg_attrs.append(DictionaryAttr(old))
    fn.arg_attrs = ArrayAttr(arg_attrs)


def _with_mirror(op: Operation, lo: float, hi: float) -> tuple[float, float]:
    """An activation tabulated over |x| stores one half of its outputs and
    rebuilds the other (tanh: -y; sigmoid: 1 - y): its format must hold both
    halves of the range seen, or a sigmoid that only saw outputs below 1/2
    would store its entries saturated. A softmax reaches 1 (one class certain)
    and a log-softmax 0, whatever the calibration saw."""
    if isinstance(op, rnn.SoftmaxOp):
        return min(lo, 0.0), max(hi, 1.0)
    if isinstance(op, rnn.LogSoftmaxOp):
        return lo, max(hi, 0.0)
    if not isinstance(op, rnn.LutOp):  # PWLs and exact ops store no half
        return lo, hi
    symmetry = symmetry_of(op.kind.data)
    if symmetry == Symmetry.ODD:
        return min(lo, -hi), max(hi, -lo)
    if symmetry == Symmetry.SIGMOID:
        return min(lo, 1 - hi), max(hi, 1 - lo)
    return lo, hi


def _constant_values(op: Operation, cls: str) -> np.ndarray | None:
    """A weight's or bias's values, for the `weight_fit = "mse"` choice of F."""
    if cls in CONSTANT_CLASSES and isinstance(op, rnn.ConstantOp):
        return array_of(op.value)
    return None


def _function_argument(value: SSAValue) -> BlockArgument | None:
    """The @main argument `value` re-arranges (through layout ops), if any."""
    while isinstance(value.owner, rnn.LAYOUT_OPS):
        value = value.owner.operands[0]
    owner = value.owner
    if isinstance(owner, BlockArgument) and isinstance(
        owner.block.parent_op(), func.FuncOp
    ):
        return owner
    return None


def state_formats(op: rnn.RecurrenceOp, config: QuantConfig) -> list[Format]:
    out = []
    yields = op.body.block.last_op
    for init, new in zip(op.inits, yields.operands, strict=False):
        lo1, hi1 = _range_of_value(init, config.range)
        lo2, hi2 = _range_of_value(new, config.range)
        source = producer(new)
        name = source.results[0].name_hint if source is not None else None
        out.append(config.format_for("state", name, min(lo1, lo2), max(hi1, hi2)))
    return out


@dataclass(frozen=True)
class AssignFormatsPass(ModulePass):
    """Annotate formats from ranges and a word-length policy."""

    name = "assign-formats"

    config: str = ""
    input_bits: int | None = None
    weight_bits: int | None = None
    bias_bits: int | None = None
    accumulator_bits: int | None = None
    preactivation_bits: int | None = None
    activation_bits: int | None = None
    state_bits: int | None = None
    output_bits: int | None = None
    rounding: str | None = None
    overflow: str | None = None
    range: str | None = None
    weight_fit: str | None = None
    guard_bits: int | None = None

    def quant_config(self) -> QuantConfig:
        flags = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in ("config", "name")
        }
        return load_config(self.config or None, **flags)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        assign(op, self.quant_config())
