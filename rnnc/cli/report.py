"""`rnnc report MODEL`: the memory footprint table."""

from __future__ import annotations

import argparse
import sys

from rnnc import driver, outputs
from rnnc.cli.common import input_shapes
from rnnc.memory_report import memory_report

NAME = "report"
HELP = "memory footprint of a model"
DESCRIPTION = "Memory footprint of a model."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".fxp.mlir module (or a float model)")
    p.add_argument("--json", help="also write the table as JSON")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDxD",
        help="import an .onnx model at this input shape (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    out = outputs.optional_output(args.json, flag="--json", inputs=[args.model])
    module = driver.load_module(args.model, input_shapes(args.input_shape))
    table = memory_report(module)
    sys.stdout.write(table.text())
    if out:
        out.write_json(table.as_dict())
    return 0
