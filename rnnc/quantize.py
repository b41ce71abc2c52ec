"""The quantization pipeline: float model → fixed-point `fxp` module.

expand-cells → approximate-activations → range-analysis (calibration) →
assign-formats → lower-to-fxp, with the policy of a QuantConfig. Ranges are
calibrated on a module specialised to the calibration arrays' shapes and can be
transferred to one specialised to other shapes (e.g. batch 1 for hardware).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp

from rnnc import registry
from rnnc.backends.interpreter.calibration import measure_ranges
from rnnc.dialects import rnn
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_import import import_model
from rnnc.passes.approximate_activations import ApproximateActivationsPass, error_report
from rnnc.passes.assign_formats import assign
from rnnc.passes.expand_cells import ExpandCellsPass
from rnnc.passes.lower_to_fxp import lower
from rnnc.passes.quant_config import QuantConfig
from rnnc.passes.range_analysis import BOUND, CALIB, CALIB_ABS, RangeAnalysisPass

RANGE_KEYS = (CALIB, CALIB_ABS, BOUND)


@dataclass
class QuantizeReport:
    activation_errors: list[str] = field(default_factory=list)
    saturated_constants: list[str] = field(default_factory=list)


def is_fixed_point(module: ModuleOp) -> bool:
    return any(op.dialect_name() == "fxp" for op in module.walk())


def prepare_float(module: ModuleOp, config: QuantConfig) -> list[str]:
    """expand-cells + approximate-activations; returns the approximation errors."""
    ctx: Context = registry.make_context()
    if any(isinstance(op, rnn.RecurrentCellOp) for op in module.walk()):
        ExpandCellsPass().apply(ctx, module)
    ApproximateActivationsPass(
        method=config.activation_method,
        lut_bits=config.lut_bits,
        log2_range=config.lut_log2_range,
        pwl_segments=config.pwl_segments,
    ).apply(ctx, module)
    return error_report(module)


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
            d.arg_attrs = s.arg_attrs


def quantize_model(
    model: onnx.ModelProto,
    calibration: dict[str, np.ndarray],
    config: QuantConfig,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> tuple[ModuleOp, QuantizeReport]:
    """Calibrate at the calibration arrays' shapes, emit for `input_shapes`
    (default: the same shapes)."""
    calib_shapes = {k: np.shape(v) for k, v in calibration.items()}
    module = import_model(model, calib_shapes)
    report = QuantizeReport(activation_errors=prepare_float(module, config))
    measure_ranges(module, calibration)
    RangeAnalysisPass().apply(Context(), module)
    if input_shapes is not None and dict(input_shapes) != calib_shapes:
        target = import_model(model, {**calib_shapes, **input_shapes})
        prepare_float(target, config)
        transfer_ranges(module, target)
        module = target
    assign(module, config)
    lowering = lower(module, config.rounding, config.overflow)
    report.saturated_constants = lowering.saturated_constants
    module.verify()
    return module, report
