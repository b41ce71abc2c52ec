"""range-analysis: attach the value range of every float tensor to the IR.

Two sources, both printed as per-result attributes:
- `calib = [array<f64: lo, hi>]` and `calib_abs = [array<f64: p>]`: observed by the
  float interpreter over calibration inputs (all time steps folded into one range;
  p = the `percentile` of |x|, for clipping outliers);
- `bound = [array<f64: lo, hi>]`: a sound static interval (backends/
  interval_interpreter), seeded with the calibration inputs' ranges when given.
Function inputs get the same keys in their argument attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
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

from rnnc.backends.interpreter.float_interpreter import Interpreter, main_function
from rnnc.backends.interpreter.interval_interpreter import (
    UNBOUNDED,
    IntervalInterpreter,
)
from rnnc.dialects.errors import RnncError

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


@dataclass
class _Stats:
    """Running min/max and a sample of |x| per observed value."""

    sample_size: int = 4096
    lo: dict[SSAValue, float] = field(default_factory=dict)
    hi: dict[SSAValue, float] = field(default_factory=dict)
    samples: dict[SSAValue, list[np.ndarray]] = field(default_factory=dict)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def observe(self, value: SSAValue, array: np.ndarray) -> None:
        if array.size == 0 or array.dtype.kind != "f":
            return
        lo, hi = float(array.min()), float(array.max())
        self.lo[value] = min(lo, self.lo.get(value, lo))
        self.hi[value] = max(hi, self.hi.get(value, hi))
        flat = np.abs(array.reshape(-1))
        if flat.size > 256:
            flat = flat[self.rng.integers(0, flat.size, 256)]
        self.samples.setdefault(value, []).append(flat)

    def percentile(self, value: SSAValue, q: float) -> float:
        return float(np.percentile(np.concatenate(self.samples[value]), q))


def calibrate(module: ModuleOp, arrays: dict[str, np.ndarray]) -> _Stats:
    from rnnc.driver import check_inputs, signature

    inputs, _ = signature(module)
    ordered = check_inputs(inputs, arrays)
    stats = _Stats()
    fn = main_function(module)
    for arg, array in zip(fn.body.block.args, ordered, strict=True):
        stats.observe(arg, array)

    def observer(op: Operation, results: list[np.ndarray]) -> None:
        for value, array in zip(op.results, results, strict=True):
            stats.observe(value, np.asarray(array))

    Interpreter(observer).run_function(fn, ordered)
    return stats


def load_calibration(path: str) -> dict[str, np.ndarray]:
    if not Path(path).is_file():
        raise RnncError(f"calibration file '{path}' not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise RnncError(f"cannot read calibration arrays '{path}': {err}") from None


def _annotate(
    fn: func.FuncOp,
    stats: _Stats | None,
    bounds: dict[SSAValue, tuple[float, float]],
    percentile: float,
) -> None:
    def keys_for(values: Sequence[SSAValue]) -> dict[str, Attribute]:
        if not values or not all(is_float_tensor(v) for v in values):
            return {}
        out: dict[str, Attribute] = {}
        if stats is not None and all(v in stats.lo for v in values):
            out[CALIB] = ranges_attr([(stats.lo[v], stats.hi[v]) for v in values])
            out[CALIB_ABS] = ranges_attr(
                [(stats.percentile(v, percentile),) for v in values]
            )
        if all(v in bounds for v in values):
            out[BOUND] = ranges_attr([bounds[v] for v in values])
        return out

    for op in fn.walk():
        if op is fn:
            continue
        op.attributes.update(keys_for(list(op.results)))
    arg_attrs = []
    for i, arg in enumerate(fn.args):
        old = fn.arg_attrs.data[i].data if fn.arg_attrs is not None else {}
        arg_attrs.append(DictionaryAttr({**old, **keys_for([arg])}))
    fn.arg_attrs = ArrayAttr(arg_attrs)


@dataclass(frozen=True)
class RangeAnalysisPass(ModulePass):
    """Annotate every float value with calibrated and static ranges."""

    name = "range-analysis"

    calibration: str = ""
    percentile: float = 99.99

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.run(op, load_calibration(self.calibration) if self.calibration else None)

    def run(self, module: ModuleOp, arrays: dict[str, np.ndarray] | None) -> None:
        fn = main_function(module)
        stats = calibrate(module, arrays) if arrays is not None else None
        seeds = []
        for arg in fn.args:
            if stats is not None and arg in stats.lo:
                seeds.append((stats.lo[arg], stats.hi[arg]))
            else:
                seeds.append(UNBOUNDED)
        analysis = IntervalInterpreter()
        analysis.run(fn, seeds)
        _annotate(fn, stats, analysis.intervals, self.percentile)
