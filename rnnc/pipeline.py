"""Every pass sequence the tools run, written once.

- `EMIT`: the pass names behind `rnnc --emit=mlir|expanded` (`EXPANDED` also for
  `rnnc run --expand`).
- quantization: `prepare_float` (expand-cells, approximate-activations) →
  `calibrate` (range-analysis on calibration arrays) → `lower_calibrated`
  (assign-formats, lower-to-fxp). `calibrated_float` stops before the formats, so
  that one calibration serves many policies (`rnnc eval/search/sweep`);
  `quantize_model` runs it all.
- hardware: `emit_verilog` (fxp → hw conversion and export, in the backend).

Ranges are calibrated on a module imported at the calibration arrays' shapes, with
the model's dynamic sizes that the module does not depend on (the batch; the
sequence length where no reshape fixes it) marked free: the quantized module runs
at any value of them. `input_shapes` specialises on purpose: the ranges are
transferred to an import at those shapes, whose given inputs keep their sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp

from rnnc import registry
from rnnc.backends.interpreter.calibration import measure_ranges
from rnnc.backends.interpreter.signature import DIMS_ATTR
from rnnc.dialects import rnn
from rnnc.dialects.errors import RnncError
from rnnc.dialects.rnn_semantics import main_function as rnn_main
from rnnc.frontend.onnx_import import import_free
from rnnc.passes.approximate_activations import ApproximateActivationsPass, error_report
from rnnc.passes.assign_formats import assign
from rnnc.passes.expand_cells import ExpandCellsPass
from rnnc.passes.lower_to_fxp import lower
from rnnc.passes.quant_config import QuantConfig
from rnnc.passes.range_analysis import BOUND, CALIB, CALIB_ABS, RangeAnalysisPass

EXPANDED = ("expand-cells",)
EMIT: dict[str, tuple[str, ...]] = {"mlir": (), "expanded": EXPANDED}
RANGE_KEYS = (CALIB, CALIB_ABS, BOUND)


@dataclass
class QuantizeReport:
    activation_errors: list[str] = field(default_factory=list)
    saturated_constants: list[str] = field(default_factory=list)


def is_fixed_point(module: ModuleOp) -> bool:
    return any(op.dialect_name() == "fxp" for op in module.walk())


def prepare_float(module: ModuleOp, config: QuantConfig) -> list[str]:
    """expand-cells + approximate-activations; returns the approximation errors."""
    ctx = registry.make_context()
    if any(isinstance(op, rnn.RecurrentCellOp) for op in module.walk()):
        ExpandCellsPass().apply(ctx, module)
    ApproximateActivationsPass(
        method=config.activation_method,
        lut_bits=config.lut_bits,
        log2_range=config.lut_log2_range,
        pwl_segments=config.pwl_segments,
    ).apply(ctx, module)
    return error_report(module)


def calibrate(module: ModuleOp, calibration: Mapping[str, np.ndarray]) -> None:
    """Annotate a prepared float module with the ranges its values take on the
    calibration arrays (measured by the interpreter) and their static bounds
    (range-analysis)."""
    measure_ranges(module, dict(calibration))
    RangeAnalysisPass().apply(registry.make_context(), module)


def transfer_ranges(src: ModuleOp, dst: ModuleOp) -> None:
    """Copy range annotations between two imports of one model (other shapes)."""
    src_ops, dst_ops = list(src.walk()), list(dst.walk())
    if [o.name for o in src_ops] != [o.name for o in dst_ops]:
        raise RnncError("the model imports differently for these input shapes")
    for s, d in zip(src_ops, dst_ops, strict=True):
        for key in RANGE_KEYS:
            if key in s.attributes:
                d.attributes[key] = s.attributes[key]
        if isinstance(s, func.FuncOp) and s.arg_attrs is not None:
            d.arg_attrs = _with_dims_of(s.arg_attrs, d.arg_attrs)


def _with_dims_of(attrs: ArrayAttr, dims_from: ArrayAttr | None) -> ArrayAttr:
    """`attrs` (argument attributes, e.g. ranges) with the free dims of
    `dims_from` (another import's)."""
    entries = []
    for i, entry in enumerate(attrs.data):
        data = {k: v for k, v in entry.data.items() if k != DIMS_ATTR}
        theirs = dims_from.data[i].data if dims_from is not None else {}
        if DIMS_ATTR in theirs:
            data[DIMS_ATTR] = theirs[DIMS_ATTR]
        entries.append(DictionaryAttr(data))
    return ArrayAttr(entries)


def calibrated_float(
    model: onnx.ModelProto,
    calibration: Mapping[str, np.ndarray],
    config: QuantConfig,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> tuple[ModuleOp, list[str]]:
    """The float module, prepared and annotated with ranges calibrated at the
    calibration arrays' shapes, for `input_shapes` (default: the same shapes);
    and the activation approximation errors. Depends on `config`'s activation
    approximation only."""
    calib_shapes = {k: np.shape(v) for k, v in calibration.items()}
    module = import_free(model, calib_shapes)
    errors = prepare_float(module, config)
    calibrate(module, calibration)
    if input_shapes:
        target = import_free(model, {**calib_shapes, **input_shapes}, input_shapes)
        prepare_float(target, config)
        transfer_ranges(module, target)
        module = target
    return module, errors


def lower_calibrated(module: ModuleOp, config: QuantConfig) -> list[str]:
    """assign-formats + lower-to-fxp, in place; returns the saturated constants."""
    fn = rnn_main(module)
    marks = fn.arg_attrs
    assign(module, config)
    lowering = lower(module, config.rounding, config.overflow)
    if marks is not None:  # lower-to-fxp keeps the names and formats only
        fn.arg_attrs = _with_dims_of(fn.arg_attrs, marks)
    module.verify()
    return lowering.saturated_constants


def quantize_model(
    model: onnx.ModelProto,
    calibration: dict[str, np.ndarray],
    config: QuantConfig,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> tuple[ModuleOp, QuantizeReport]:
    """Float model → fixed-point `fxp` module: calibrate at the calibration arrays'
    shapes, emit for `input_shapes` (default: the same shapes)."""
    module, errors = calibrated_float(model, calibration, config, input_shapes)
    saturated = lower_calibrated(module, config)
    return module, QuantizeReport(errors, saturated)


def emit_verilog(module: ModuleOp, out_dir: str | Path, lanes: int = 1):
    """fxp module → RTL directory (plan, fxp → hw conversion, CIRCT export);
    returns the backend's `Emitted`. Imported on use: it loads the hardware flow."""
    from rnnc.backends.verilog.emit import emit_verilog

    return emit_verilog(module, out_dir, lanes)
