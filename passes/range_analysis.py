"""range-analysis: attach a sound static range to every float tensor of the IR.

Ranges are printed as per-result attributes (function inputs get the same keys in
their argument attributes):
- `rnnc.calib = [array<f64: lo, hi>]` and `rnnc.calib_abs = [array<f64: p>]`: the
  ranges measured on calibration inputs (all time steps folded into one range; p = a
  percentile of |x|, for clipping outliers). Measuring runs the model, so it is the
  interpreter's job (`rnnc.backends.interpreter.calibration.measure_ranges`); this
  pass only reads them.
- `rnnc.bound = [array<f64: lo, hi>]`: a sound static interval (interval_analysis),
  written by this pass, seeded with the measured ranges of the inputs when present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    ModuleOp,
    TensorType,
    f64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass

from rnnc.dialects.rnn_semantics import main_function
from rnnc.passes.interval_analysis import UNBOUNDED, Interval, IntervalAnalysis

CALIB, CALIB_ABS, BOUND = "rnnc.calib", "rnnc.calib_abs", "rnnc.bound"


def is_float_tensor(value: SSAValue) -> bool:
    typ = value.type
    return isinstance(typ, TensorType) and typ.element_type.name in ("f32", "f64")


def ranges_attr(ranges: Sequence[Sequence[float]]) -> ArrayAttr:
    return ArrayAttr(
        [DenseArrayBase.from_list(f64, [float(v) for v in r]) for r in ranges]
    )


def read_range(owner: Operation | DictionaryAttr, key: str, index: int = 0):
    """The `key` range of result `index` (or of an argument's attributes)."""
    attrs = owner.data if isinstance(owner, DictionaryAttr) else owner.attributes
    attr = attrs.get(key)
    if not isinstance(attr, ArrayAttr) or index >= len(attr.data):
        return None
    return tuple(attr.data[index].get_values())


def annotate(
    fn: func.FuncOp, ranges: Sequence[tuple[str, dict[SSAValue, Sequence[float]]]]
) -> None:
    """Write each (key, value -> range) of `ranges` on the results of every op of
    `fn` and on its arguments: only where every value of the op is a float tensor
    with a range."""

    def keys_for(values: Sequence[SSAValue]) -> dict[str, Attribute]:
        if not values or not all(is_float_tensor(v) for v in values):
            return {}
        return {
            key: ranges_attr([table[v] for v in values])
            for key, table in ranges
            if all(v in table for v in values)
        }

    for op in fn.walk():
        if op is fn:
            continue
        op.attributes.update(keys_for(list(op.results)))
    arg_attrs = []
    for i, arg in enumerate(fn.args):
        old = fn.arg_attrs.data[i].data if fn.arg_attrs is not None else {}
        arg_attrs.append(DictionaryAttr({**old, **keys_for([arg])}))
    fn.arg_attrs = ArrayAttr(arg_attrs)


def input_ranges(fn: func.FuncOp) -> list[Interval]:
    """The measured range of each argument of `fn`; unbounded where none."""
    seeds = []
    for i in range(len(fn.args)):
        attrs = fn.arg_attrs.data[i] if fn.arg_attrs is not None else None
        measured = read_range(attrs, CALIB) if attrs is not None else None
        seeds.append(measured if measured is not None else UNBOUNDED)
    return seeds


def annotate_bounds(module: ModuleOp) -> None:
    fn = main_function(module)
    analysis = IntervalAnalysis()
    analysis.run(fn, input_ranges(fn))
    annotate(fn, [(BOUND, analysis.intervals)])


@dataclass(frozen=True)
class RangeAnalysisPass(ModulePass):
    """Annotate every float value with its static bound (from measured input
    ranges, if annotated)."""

    name = "range-analysis"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        annotate_bounds(op)
