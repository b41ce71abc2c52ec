"""`rnnc verify MODEL`: simulate the RTL and compare it with the interpreter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnc import driver
from rnnc.cli import calib
from rnnc.cli.calib import add_dataset_flags
from rnnc.cli.common import add_quant_flags, fixed_point_module

NAME = "verify"
HELP = "simulate the RTL on random sequences and compare it with the interpreter"
DESCRIPTION = (
    "Simulate the generated RTL on random sequences and compare every output word "
    "with the fixed-point interpreter."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx model")
    p.add_argument("--calib", help="calibration inputs (npz by name)")
    add_dataset_flags(p)
    p.add_argument("--sequences", type=int, default=100)
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P")
    p.add_argument("--simulator", choices=["iverilog", "verilator"], default="iverilog")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="rnnc_verify", help="work directory")
    p.add_argument("--json", help="also write the report as JSON")
    p.add_argument("--input-shape", action="append", default=[], help=argparse.SUPPRESS)
    add_quant_flags(p)


def run(args: argparse.Namespace) -> int:
    from rnnc.backends.verilog.testbench import random_batches, verify
    from rnnc.passes.fxp_to_hw.plan import plan_hardware

    module = fixed_point_module(args)
    calibration = calib.calibration(args)
    names = [name for name, _ in driver.signature(module)[0]]
    batch = plan_hardware(module).batch
    batches = random_batches(calibration, names, args.sequences, batch, args.seed)
    report = verify(
        module, batches, args.output, args.lanes, args.simulator, args.sequences
    )
    print(report.summary())
    for line in report.mismatches[:10]:
        print(line)
    for line in report.overflows:
        print(f"overflow: {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0 if report.ok else 1
