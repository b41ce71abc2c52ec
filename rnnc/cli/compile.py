"""`rnnc compile MODEL` (also bare `rnnc MODEL`): print the IR, or write RTL."""

from __future__ import annotations

import argparse
import sys

from rnnc import driver, outputs, pipeline
from rnnc.cli import calib
from rnnc.cli.calib import add_dataset_flags
from rnnc.cli.common import (
    add_argmax_flag,
    add_onchip_flag,
    add_quant_flags,
    fixed_point_module,
    input_shapes,
    inputs_of,
    onchip_kbits,
    refuse_unused_policy,
)
from rnnc.dialects.errors import RnncError
from rnnc.passes.head_argmax import argmax_outputs

NAME = "compile"
HELP = "compile a model and print its IR (--emit) or write RTL (--emit=verilog)"
DESCRIPTION = "Compile an ONNX RNN model."
EMIT_CHOICES = sorted([*pipeline.EMIT, "verilog"])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx model or .mlir module")
    p.add_argument("--emit", choices=EMIT_CHOICES, default="mlir")
    p.add_argument(
        "-o", "--output", help="output file (default: stdout); a directory for RTL"
    )
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDxD",
        help="fix the shape of a graph input (repeatable)",
    )
    p.add_argument(
        "--elide-constants",
        action="store_true",
        help="print large constants as dense_resource<__elided__> (for reading; "
        "the text does not parse back)",
    )
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P (verilog)")
    add_argmax_flag(p)
    add_onchip_flag(p)
    p.add_argument("--calib", help="calibration inputs, to quantize an .onnx model")
    add_dataset_flags(p)
    add_quant_flags(p)


def run(args: argparse.Namespace) -> int:
    if args.emit == "verilog":
        return _emit_verilog(args)
    out = outputs.optional_output(args.output, flag="-o", inputs=inputs_of(args))
    if args.argmax:
        raise RnncError("--argmax is for --emit=verilog")
    if args.calib:
        raise RnncError("--calib is for --emit=verilog (or `rnnc quantize`)")
    if args.onchip_kbits is not None:
        raise RnncError("--onchip-kbits is for --emit=verilog")
    refuse_unused_policy(args, f"--emit={args.emit} prints the model unquantized")
    module = driver.load_module(args.model, input_shapes(args.input_shape))
    driver.run_passes(module, pipeline.EMIT[args.emit])
    text = driver.module_text(module, 64 if args.elide_constants else None)
    if out:
        out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


TESTBENCH_SEQUENCES = 8


def _testbench(module, emitted, stimulus) -> None:
    """`rnnc_tb.sv` and its .hex files beside the design: sequences shaped like
    the calibration data, checked against the interpreter's words."""
    from rnnc.backends.verilog.testbench import (
        expected_words,
        stimulus_batches,
        write_testbench,
    )

    batches = stimulus_batches(module, stimulus, TESTBENCH_SEQUENCES)
    expected = expected_words(module, emitted, batches, TESTBENCH_SEQUENCES)
    write_testbench(emitted, expected)


def _emit_verilog(args: argparse.Namespace) -> int:
    if not args.output:
        raise RnncError("--emit=verilog writes a directory: give -o DIR")
    folder = outputs.output_folder(args.output, flag="-o", inputs=inputs_of(args))
    kbits = onchip_kbits(args)
    module = fixed_point_module(args)
    if args.argmax:
        argmax_outputs(module)
    stimulus = calib.calibration(args) if calib.has_calibration(args) else None

    def build(tmp):
        emitted = pipeline.emit_verilog(module, tmp, args.lanes, kbits)
        if stimulus is not None:
            _testbench(module, emitted, stimulus)
        return emitted

    emitted = folder.build(build)
    manifest = emitted.manifest()
    print(
        f"wrote {args.output}: {', '.join(p.name for p in emitted.sources)} and "
        f"{len(manifest['memories'])} memory files; {manifest['compute_cycles']} "
        f"cycles per sequence with {args.lanes} MAC lane(s)",
        file=sys.stderr,
    )
    stream = manifest["weight_stream"]
    if stream:
        full = stream["full_speed"]
        print(
            f"weight stream: {stream['words_per_sequence']} words of "
            f"{stream['word_width']} bits per sequence ({stream['file']}); full "
            f"speed takes a word in every cycle the MAC array asks "
            f"({full['average_words_per_cycle']:.3f} words per cycle on average)",
            file=sys.stderr,
        )
    if stimulus is not None:
        print(
            f"testbench: {TESTBENCH_SEQUENCES} sequences shaped like the calibration "
            "data, expected words from the interpreter (iverilog -g2012 "
            "rnnc_top.sv rnnc_tb.sv, run in the folder; prints DONE errors=0)",
            file=sys.stderr,
        )
    fewest = pipeline.fewest_lanes(emitted)
    if fewest < args.lanes:
        print(
            f"note: {args.lanes} MAC lanes take as many mat-vec cycles as {fewest} "
            "(the mat-vec columns split into as many groups); the others idle",
            file=sys.stderr,
        )
    return 0
