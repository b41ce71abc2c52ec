"""Ranges measured on calibration data: the float interpreter run with an observer.

`measure_ranges` annotates every float value with the range it takes on the
calibration inputs (`rnnc.calib`, all time steps folded into one range) and a
percentile of |x| (`rnnc.calib_abs`, for clipping outliers); the `range-analysis`
pass then adds the static bounds, seeded with the measured input ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from rnnc.backends.interpreter.float_interpreter import Interpreter
from rnnc.backends.interpreter.signature import check_inputs, read_arrays, signature
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn_semantics import main_function
from rnnc.passes.range_analysis import CALIB, CALIB_ABS, RangeAnalysisPass, annotate

DEFAULT_PERCENTILE = 99.99


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


def measure_ranges(
    module: ModuleOp,
    calibration: dict[str, np.ndarray],
    *,
    percentile: float = DEFAULT_PERCENTILE,
) -> None:
    """Run @main on the named `calibration` arrays and annotate every float value
    (and input) it computes with its measured range."""
    inputs, _ = signature(module)
    ordered = check_inputs(inputs, calibration)
    stats = _Stats()
    fn = main_function(module)
    for arg, array in zip(fn.body.block.args, ordered, strict=True):
        stats.observe(arg, array)

    def observer(op: Operation, results: list[np.ndarray]) -> None:
        for value, array in zip(op.results, results, strict=True):
            stats.observe(value, np.asarray(array))

    Interpreter(observer).run_function(fn, ordered)
    measured = {v: (stats.lo[v], stats.hi[v]) for v in stats.lo}
    abs_percentile = {v: (stats.percentile(v, percentile),) for v in stats.lo}
    annotate(fn, [(CALIB, measured), (CALIB_ABS, abs_percentile)])


def load_calibration(path: str) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file."""
    if not Path(path).is_file():
        raise RnncError(f"calibration file '{path}' not found")
    return read_arrays(path, "calibration arrays")


@dataclass(frozen=True)
class CalibratedRangeAnalysisPass(RangeAnalysisPass):
    """`range-analysis` as rnnc-opt runs it: with `calibration="inputs.npz"`, the
    ranges are first measured on those inputs, then the static bounds added."""

    calibration: str = ""
    percentile: float = DEFAULT_PERCENTILE

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.calibration:
            measure_ranges(
                op, load_calibration(self.calibration), percentile=self.percentile
            )
        super().apply(ctx, op)
