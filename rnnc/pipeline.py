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
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    ModuleOp,
    StringAttr,
    f64,
)
from xdsl.ir import Operation

from rnnc import registry
from rnnc.backends.interpreter.calibration import measure_ranges
from rnnc.backends.interpreter.signature import DIMS_ATTR
from rnnc.dialects import fixed, fxp, rnn
from rnnc.dialects.arrays import array_of
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.dialects.rnn_semantics import activate
from rnnc.dialects.rnn_semantics import main_function as rnn_main
from rnnc.frontend.onnx_import import import_free
from rnnc.passes import softmax
from rnnc.passes.approximate_activations import (
    ApproximateActivationsPass,
    error_report,
    kind_of,
)
from rnnc.passes.assign_formats import assign
from rnnc.passes.expand_cells import ExpandCellsPass
from rnnc.passes.lower_to_fxp import lower
from rnnc.passes.quant_config import QuantConfig
from rnnc.passes.range_analysis import BOUND, CALIB, CALIB_ABS, RangeAnalysisPass

EXPANDED = ("expand-cells",)
EMIT: dict[str, tuple[str, ...]] = {"mlir": (), "expanded": EXPANDED}
RANGE_KEYS = (CALIB, CALIB_ABS, BOUND)
# On an activation and the table or PWL standing for it: the exact function
# ({kind, alpha?, beta?}), which the error report compares with.
ACTIVATION_ATTR = "rnnc.activation"


@dataclass
class QuantizeReport:
    activation_errors: list[str] = field(default_factory=list)
    saturated_constants: list[str] = field(default_factory=list)


def is_fixed_point(module: ModuleOp) -> bool:
    return any(op.dialect_name() == "fxp" for op in module.walk())


def prepare_float(module: ModuleOp, config: QuantConfig) -> list[str]:
    """expand-cells + approximate-activations; returns the approximation errors
    (of the float tables; `activation_report` tells those of the fixed ones)."""
    ctx = registry.make_context()
    if any(isinstance(op, rnn.RecurrentCellOp) for op in module.walk()):
        ExpandCellsPass().apply(ctx, module)
    _tag_activations(module)
    ApproximateActivationsPass(
        method=config.activation_method,
        lut_bits=config.table_bits,
        log2_range=config.lut_log2_range,
        pwl_segments=config.pwl_segments,
        softmax_lut_bits=config.softmax_table_bits,
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


def _tag_activations(module: ModuleOp) -> None:
    """Name on each activation the exact function (ACTIVATION_ATTR), which its
    table or PWL approximation keeps."""
    for op in module.walk():
        found = kind_of(op)
        if found is not None:
            kind, alpha, beta = found
            tag = {"kind": StringAttr(kind)}
            for key, value in (("alpha", alpha), ("beta", beta)):
                if value is not None:
                    tag[key] = FloatAttr(value, f64)
            op.attributes[ACTIVATION_ATTR] = DictionaryAttr(tag)


def _approximations(module: ModuleOp) -> list[Operation]:
    kinds = rnn.LutOp | rnn.PwlOp | fxp.LutOp | fxp.PwlOp
    return [op for op in module.walk() if isinstance(op, kinds)]


def lower_calibrated(module: ModuleOp, config: QuantConfig) -> list[str]:
    """assign-formats + lower-to-fxp, in place; returns the saturated constants."""
    fn = rnn_main(module)
    marks = fn.arg_attrs
    tags = [op.attributes.get(ACTIVATION_ATTR) for op in _approximations(module)]
    assign(module, config)
    lowering = lower(module, config.rounding, config.overflow)
    if marks is not None:  # lower-to-fxp keeps the names and formats only
        fn.arg_attrs = _with_dims_of(fn.arg_attrs, marks)
    lowered = [  # in the same order, one for one (softmax tables are new)
        op for op in _approximations(module) if softmax.TABLE_ATTR not in op.attributes
    ]
    if len(lowered) == len(tags):
        for op, tag in zip(lowered, tags, strict=True):
            if tag is not None:
                op.attributes[ACTIVATION_ATTR] = tag
    module.verify()
    return lowering.saturated_constants


def _inputs_of(src: Format) -> np.ndarray:
    """Every raw value of `src` (at most 2^16 of them, evenly spread)."""
    if src.width <= 16:
        return np.arange(src.min_raw, src.max_raw + 1, dtype=np.int64)
    grid = np.linspace(src.min_raw, src.max_raw, 1 << 16)
    return np.unique(np.round(grid).astype(np.int64))


def _approximation_text(op: Operation, kind: str, raw: np.ndarray) -> str:
    if isinstance(op, fxp.LutOp):
        entries = array_of(op.table).size
        index = fixed.lut_index(raw, op.shift.value.data, entries, op.symmetry.data)
        used = np.unique(np.asarray(index, np.int64)).size
        reach = f" ({used} reachable from the input)" if used < entries else ""
        return f"lut {kind} {entries} entries{reach}"
    slopes = list(op.slopes.get_values())
    tails = 2 if len(slopes) > 2 and slopes[0] == 0 == slopes[-1] else 0
    text = f"pwl {kind} {len(slopes) - tails} segments"
    return text + (" + 2 constant tails" if tails else "")


def activation_report(module: ModuleOp) -> list[str]:
    """One line per activation table or PWL of an fxp module, as lowered: its
    size, formats and error against the exact function over every input its
    format can hold."""
    lines = []
    for op in _approximations(module):
        tag = op.attributes.get(ACTIVATION_ATTR)
        if not isinstance(op, fxp.LutOp | fxp.PwlOp) or tag is None:
            continue
        kind = tag.data["kind"].data
        alpha, beta = (
            tag.data[k].value.data if k in tag.data else None for k in ("alpha", "beta")
        )
        src, out = fxp.format_of(op.input), fxp.format_of(op.result)
        raw = _inputs_of(src)
        (got,), _ = op.reference([raw])
        exact = activate(kind, src.to_float(raw), alpha, beta)
        err = np.abs(out.to_float(got) - exact)
        lines.append(
            f"%{op.result.name_hint or '?'} {_approximation_text(op, kind, raw)}, "
            f"{src} -> {out}: max |err| {err.max():.3g}, mean {err.mean():.3g}"
        )
    return lines


def quantize_model(
    model: onnx.ModelProto,
    calibration: dict[str, np.ndarray],
    config: QuantConfig,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> tuple[ModuleOp, QuantizeReport]:
    """Float model → fixed-point `fxp` module: calibrate at the calibration arrays'
    shapes, emit for `input_shapes` (default: the same shapes)."""
    module, _ = calibrated_float(model, calibration, config, input_shapes)
    saturated = lower_calibrated(module, config)
    tables = activation_report(module) + softmax.table_report(module)
    return module, QuantizeReport(tables, saturated)


def _mac_cycles(emitted, lanes: int) -> int:
    """Mat-vec cycles of a sequence at `lanes` MAC lanes, as the datapath issues
    them: each weight row's columns in groups of `lanes`."""
    return sum(
        stage.steps
        * sum(-(-m.weight.shape[1] // lanes) * m.weight.shape[0] for m in stage.matvecs)
        for stage in emitted.plan.stages
    )


def fewest_lanes(emitted) -> int:
    """The fewest MAC lanes with the cycles of the emitted design's lanes (the
    extra lanes would idle: the columns split into as many groups)."""
    lanes = emitted.design.lanes
    built = sum(s.steps * s.mac_cycles for s in emitted.design.stages)
    if _mac_cycles(emitted, lanes) != built:  # another schedule: no claim
        return lanes
    fewest = lanes
    while fewest > 1 and _mac_cycles(emitted, fewest - 1) == built:
        fewest -= 1
    return fewest


def emit_verilog(
    module: ModuleOp,
    out_dir: str | Path,
    lanes: int = 1,
    onchip_kbits: int | None = None,
):
    """fxp module → RTL directory (plan, fxp → hw conversion, CIRCT export);
    returns the backend's `Emitted`. Imported on use: it loads the hardware flow."""
    from rnnc.backends.verilog.emit import emit_verilog

    return emit_verilog(module, out_dir, lanes, onchip_kbits)
