"""`rnnc verify MODEL`: simulate the RTL and compare it with the interpreter."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnc import outputs
from rnnc.cli import calib
from rnnc.cli.calib import add_dataset_flags
from rnnc.cli.common import (
    add_argmax_flag,
    add_onchip_flag,
    add_quant_flags,
    fixed_point_module,
    inputs_of,
    onchip_kbits,
    read_npz,
)
from rnnc.dialects.errors import RnncError
from rnnc.passes.head_argmax import argmax_outputs

NAME = "verify"
HELP = (
    "simulate the RTL on random or given sequences and compare it with the interpreter"
)
DESCRIPTION = (
    "Simulate the generated RTL of an .onnx model or a .fxp.mlir module on random "
    "sequences (shaped like the calibration data) or on the sequences of --input, "
    "and compare every output word with the fixed-point interpreter."
)

# Simulated sequences: far beyond any useful check, and a bound on memory and time.
MAX_SEQUENCES = 100_000
DEFAULT_SEQUENCES = 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx model or .fxp.mlir module")
    p.add_argument("--calib", help="calibration inputs (npz by name)")
    add_dataset_flags(p)
    p.add_argument(
        "--input",
        help="replay these sequences (the first --sequences of them): npz of "
        "arrays by graph input name, any number of sequences on the batch axis "
        "(default: random sequences)",
    )
    p.add_argument("--sequences", type=int, default=DEFAULT_SEQUENCES)
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P")
    add_argmax_flag(p)
    add_onchip_flag(p)
    p.add_argument(
        "--stream-bandwidth",
        default="1/1",
        metavar="VALID/PERIOD",
        help="the testbench's weight memory is valid on VALID of every PERIOD "
        "cycles the design waits on it (default 1/1: full speed)",
    )
    p.add_argument("--simulator", choices=["iverilog", "verilator"], default="iverilog")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="rnnc_verify", help="work directory")
    p.add_argument("--json", help="also write the report as JSON")
    p.add_argument("--input-shape", action="append", default=[], help=argparse.SUPPRESS)
    add_quant_flags(p)


def run(args: argparse.Namespace) -> int:
    from rnnc.backends.verilog.testbench import verify

    if not 1 <= args.sequences <= MAX_SEQUENCES:
        raise RnncError(
            f"--sequences must be in [1, {MAX_SEQUENCES}], got {args.sequences}"
        )
    kbits = onchip_kbits(args)
    bandwidth = stream_bandwidth(args.stream_bandwidth)
    json_out = outputs.optional_output(args.json, flag="--json", inputs=inputs_of(args))
    workdir = Path(args.output)
    if workdir.exists() and not workdir.is_dir():
        raise RnncError(f"-o '{workdir}' is a file; verify needs a work folder")
    given = read_npz(args.input) if args.input else None
    module = fixed_point_module(args)
    if args.argmax:
        argmax_outputs(module)
    batches, sequences = _stimulus(args, module, given)
    report = verify(
        module,
        batches,
        args.output,
        args.lanes,
        args.simulator,
        sequences,
        kbits,
        bandwidth,
    )
    print(report.summary())
    for line in report.mismatches[:10]:
        print(line)
    for line in report.overflows:
        print(f"overflow: {line}")
    if json_out:
        json_out.write_json(report.as_dict())
    return 0 if report.ok else 1


def _stimulus(args, module, given):
    """The batches to simulate and how many of their sequences: the first
    --sequences of --input, or as many random ones shaped like the calibration
    data."""
    from rnnc.backends.verilog.testbench import given_batches, stimulus_batches

    if given is not None:
        return given_batches(module, given, args.sequences)
    if not calib.has_calibration(args):
        raise RnncError(
            "random sequences are shaped like the calibration data: give --calib "
            "FILE.npz or --dataset NAME, or replay sequences with --input FILE.npz"
        )
    calibration = calib.calibration(args)
    batches = stimulus_batches(module, calibration, args.sequences, args.seed)
    return batches, args.sequences


def stream_bandwidth(text: str) -> tuple[int, int]:
    """`--stream-bandwidth VALID/PERIOD` as (valid, period), checked."""
    from rnnc.passes.fxp_to_hw.weight_stream import check_bandwidth

    valid, sep, period = text.partition("/")
    try:
        if not sep:
            raise ValueError
        pair = int(valid), int(period)
    except ValueError:
        raise RnncError(
            f"bad --stream-bandwidth '{text}', expected VALID/PERIOD such as 1/2"
        ) from None
    check_bandwidth(*pair)
    return pair
