"""`rnnc quantize MODEL`: write the fixed-point (.fxp.mlir) module."""

from __future__ import annotations

import argparse
import sys

from rnnc import outputs
from rnnc.cli.calib import add_dataset_flags
from rnnc.cli.common import add_quant_flags, input_shapes, inputs_of, quantize
from rnnc.memory_report import memory_report

NAME = "quantize"
HELP = "quantize a model to fixed point (.fxp.mlir)"
DESCRIPTION = "Quantize a model to fixed point."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx model")
    p.add_argument("--calib", help="calibration inputs (npz by name)")
    add_dataset_flags(p)
    p.add_argument("-o", "--output", required=True, help="the .fxp.mlir to write")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDxD",
        help="emit for these input shapes (default: the calibration shapes)",
    )
    add_quant_flags(p)


def run(args: argparse.Namespace) -> int:
    out = outputs.output_file(args.output, flag="-o", inputs=inputs_of(args))
    module = quantize(args, input_shapes(args.input_shape) or None)
    out.write_text(str(module) + "\n")
    table = memory_report(module)
    print(
        f"wrote {args.output}: weights and tables {table.total_bits / 8:.0f} bytes "
        f"({table.versus_float()})",
        file=sys.stderr,
    )
    return 0
