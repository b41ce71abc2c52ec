"""What several `rnnc` commands share: the parser that reports errors as
`RnncError`, the quantization policy and data set flag groups, and the reading of
arrays and models."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from rnnc import driver
from rnnc.backends.interpreter.signature import read_arrays
from rnnc.cli import calib
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import OVERFLOW_MODES, ROUNDING_MODES
from rnnc.frontend.onnx_import import declared_inputs
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.approximate_activations import DEFAULT_LOG2_RANGE, METHODS
from rnnc.passes.quant_config import (
    ACT_CLASSES,
    CLASSES,
    DEFAULT_BITS,
    DEFAULT_LUT_BITS,
    RANGE_SOURCES,
    WEIGHT_FITS,
    QuantConfig,
    load_config,
)
from rnnc.pipeline import is_fixed_point, quantize_model

# Third-party modules that only the `lab` extra installs.
LAB_MODULES = ("dask", "distributed", "matplotlib", "tqdm")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage dump is noise here
        raise RnncError(message)


def add_argmax_flag(p: argparse.ArgumentParser) -> None:
    """`--argmax`: the hardware outputs class indices (pass `head-argmax`)."""
    p.add_argument(
        "--argmax",
        action="store_true",
        help="output the class index (argmax of the scores, the first on ties) "
        "instead of the scores",
    )


def add_onchip_flag(p: argparse.ArgumentParser) -> None:
    """`--onchip-kbits`: the MAC weight ROM's budget; the weight matrices
    beyond it are read from the weight stream port (docs/hardware.md)."""
    p.add_argument(
        "--onchip-kbits",
        type=int,
        metavar="N",
        help="keep at most N kbit (1024 bits) of mat-vec weights on chip; "
        "stream the others through the weight port (verilog; default: all on chip)",
    )


def onchip_kbits(args: argparse.Namespace) -> int | None:
    """The checked `--onchip-kbits` (None: every weight on chip)."""
    from rnnc.passes.fxp_to_hw.weight_stream import check_onchip_kbits

    check_onchip_kbits(args.onchip_kbits)
    return args.onchip_kbits


# Bounds on a --input-shape: each dim, and the elements of one input.
MAX_DIM = 1 << 20
MAX_ELEMENTS = 1 << 28


def input_shapes(specs: list[str]) -> dict[str, list[int]]:
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shape = [int(d) for d in dims.split("x")]
        except ValueError:
            raise RnncError(
                f"bad --input-shape '{spec}', expected NAME=2x7x3"
            ) from None
        if any(not 1 <= d <= MAX_DIM for d in shape):
            raise RnncError(
                f"bad --input-shape '{spec}': each dim must be in [1, {MAX_DIM}]"
            )
        if math.prod(shape) > MAX_ELEMENTS:
            raise RnncError(
                f"bad --input-shape '{spec}': {math.prod(shape)} elements, over the "
                f"limit of {MAX_ELEMENTS}"
            )
        if name in shapes:
            raise RnncError(f"--input-shape given twice for '{name}'")
        shapes[name] = shape
    return shapes


def inputs_of(args: argparse.Namespace) -> list[str]:
    """The files a command reads, which no output of it may overwrite."""
    names = ("model", "input", "calib", "config", "vocab")
    return [v for v in (getattr(args, n, None) for n in names) if v]


def read_npz(path: str) -> dict[str, np.ndarray]:
    return read_arrays(path, "input arrays")


def add_quant_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quantization policy (flags override --config)")
    g.add_argument("--config", help="TOML policy file (see passes/quant_config.py)")
    for cls in CLASSES:
        g.add_argument(
            f"--{cls}-bits",
            type=int,
            metavar="W",
            help=f"(default: {DEFAULT_BITS[cls]})",
        )
    g.add_argument(
        "--act-bits",
        type=int,
        metavar="W",
        help="default for input, preactivation, activation, state and output bits",
    )
    default = QuantConfig()
    g.add_argument(
        "--rounding",
        choices=ROUNDING_MODES,
        help=f"rounding of the lossy casts (default: {default.rounding})",
    )
    g.add_argument(
        "--overflow",
        choices=OVERFLOW_MODES,
        help=f"overflow of the lossy casts (default: {default.overflow})",
    )
    g.add_argument(
        "--range",
        choices=RANGE_SOURCES,
        help=f"range source (default: {default.range})",
    )
    g.add_argument(
        "--weight-fit",
        choices=WEIGHT_FITS,
        help="F of weights and biases: cover (their whole range) or mse (least "
        f"squared error, may clip outliers) (default: {default.weight_fit})",
    )
    g.add_argument("--guard-bits", type=int, help=f"(default: {default.guard_bits})")
    g.add_argument(
        "--activation",
        choices=METHODS,
        help=f"activation approximation (default: {default.activation_method})",
    )
    g.add_argument(
        "--lut-bits",
        type=int,
        help="log2 of the table size (default: the activation bits, within "
        + "[{}, {}])".format(*DEFAULT_LUT_BITS),
    )
    g.add_argument(
        "--lut-range",
        type=int,
        help="log2 of the table's input range (default: per function, "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_LOG2_RANGE.items())
        + ")",
    )
    g.add_argument(
        "--pwl-segments",
        type=int,
        help=f"segments of a pwl approximation (default: {default.pwl_segments})",
    )


POLICY_DESTS = (
    "config",
    *(f"{cls}_bits" for cls in CLASSES),
    "act_bits",
    "rounding",
    "overflow",
    "range",
    "weight_fit",
    "guard_bits",
    "activation",
    "lut_bits",
    "lut_range",
    "pwl_segments",
)


def refuse_unused_policy(args: argparse.Namespace, why: str) -> None:
    """Policy flags that would be ignored are an error, not a silent float run."""
    given = [
        "--" + d.replace("_", "-")
        for d in POLICY_DESTS
        if getattr(args, d, None) is not None
    ]
    if given:
        raise RnncError(f"{', '.join(given)} would be ignored: {why}")


def config_from(args: argparse.Namespace) -> QuantConfig:
    flags = {f"{cls}_bits": getattr(args, f"{cls}_bits") for cls in CLASSES}
    if args.act_bits is not None:
        for cls in ACT_CLASSES:
            if flags[f"{cls}_bits"] is None:
                flags[f"{cls}_bits"] = args.act_bits
    return load_config(
        args.config,
        **flags,
        rounding=args.rounding,
        overflow=args.overflow,
        range=args.range,
        weight_fit=args.weight_fit,
        guard_bits=args.guard_bits,
        activation_method=args.activation,
        lut_bits=args.lut_bits,
        lut_log2_range=args.lut_range,
        pwl_segments=args.pwl_segments,
    )


def add_data_flags(p: argparse.ArgumentParser, datasets) -> None:
    p.add_argument("--dataset", required=True, choices=datasets)
    p.add_argument(
        "--batch", type=int, help="batch size (default: imdb 64, ptb 10 streams)"
    )
    p.add_argument("--bptt", type=int, help="ptb window length (default 35)")
    p.add_argument(
        "--calib-size",
        type=int,
        help="train reviews (imdb, default 256) or train windows (ptb, default 64) "
        "to calibrate on",
    )
    p.add_argument("--vocab", help="vocabulary file (default: the sidecar JSON's)")
    p.add_argument("--max-len", type=int, help="imdb review length (default: JSON's)")


def quantize(args: argparse.Namespace, shapes=None) -> ModuleOp:
    """The .onnx model of `args` quantized with the policy flags, the approximation
    errors and saturated constants told on stderr."""
    if Path(args.model).suffix == ".mlir":
        raise RnncError("quantize an .onnx model (an .mlir module is already lowered)")
    config = config_from(args)
    calibration = calib.calibration(args)
    model = load_model(args.model)
    driver.check_inputs(declared_inputs(model), calibration)
    module, report = quantize_model(model, calibration, config, shapes)
    for line in report.activation_errors:
        print(f"activation {line}", file=sys.stderr)
    for line in report.saturated_constants:
        print(f"warning: constant saturated when quantized: {line}", file=sys.stderr)
    return module


def fixed_point_module(args: argparse.Namespace) -> ModuleOp:
    """The model as an fxp module: a .fxp.mlir as is, an .onnx quantized."""
    if Path(args.model).suffix == ".mlir":
        module = driver.load_module(args.model)
        if not is_fixed_point(module):
            raise RnncError(f"'{args.model}' is not a fixed-point (.fxp.mlir) module")
        refuse_unused_policy(args, f"'{args.model}' is already quantized")
        return module
    if not calib.has_calibration(args):
        raise RnncError(
            "RTL needs a fixed-point model: give --calib FILE.npz or --dataset NAME "
            "(and a policy) or a .fxp.mlir from `rnnc quantize`"
        )
    return quantize(args, input_shapes(args.input_shape) or None)
