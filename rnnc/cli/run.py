"""`rnnc run MODEL`: run a model, float or fixed point, on arrays from an npz."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from rnnc import driver, outputs
from rnnc.backends.interpreter.signature import non_finite_outputs
from rnnc.cli.common import (
    add_quant_flags,
    inputs_of,
    quantize,
    read_npz,
    refuse_unused_policy,
)
from rnnc.pipeline import EXPANDED

NAME = "run"
HELP = "run a model (float or fixed point) on arrays from an npz"
DESCRIPTION = "Run a model on arrays from an npz."


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=".onnx model or .mlir module (float or fxp)")
    p.add_argument("--input", "-i", required=True, help="npz keyed by input names")
    p.add_argument("-o", "--output", required=True, help="npz to write outputs to")
    p.add_argument(
        "--expand", action="store_true", help="run expand-cells before interpreting"
    )
    p.add_argument("-p", "--passes", default="", help="comma-separated passes to run")
    p.add_argument("--calib", help="quantize first, calibrating on this npz")
    add_quant_flags(p)


def run(args: argparse.Namespace) -> int:
    out = outputs.output_file(args.output, flag="-o", inputs=inputs_of(args))
    arrays = read_npz(args.input)
    if args.calib:
        module = quantize(args, {k: np.shape(v) for k, v in arrays.items()})
    else:
        refuse_unused_policy(
            args, "without --calib the model runs as it is (float, or its fixed point)"
        )
        module = driver.load_for_run(args.model, arrays)
        passes = [*(EXPANDED if args.expand else ())]
        driver.run_passes(module, passes + ([args.passes] if args.passes else []))
    results, counter = driver.execute(module, arrays)
    out.write_npz(results)
    for line in non_finite_outputs(results):
        print(f"overflow: {line}", file=sys.stderr)
    if counter is not None:
        lines = counter.report()
        for line in lines:
            print(f"overflow: {line}", file=sys.stderr)
        print(
            f"fixed point: {counter.total_overflows} values out of range"
            + ("" if lines else " (no overflow)"),
            file=sys.stderr,
        )
    if args.calib:  # the quantization error, next to the float result
        reference, _ = driver.execute(driver.load_for_run(args.model, arrays), arrays)
        for name, value in results.items():
            err = np.abs(value.astype(np.float64) - reference[name]).max()
            print(f"{name}: max |fixed - float| = {err:.3g}", file=sys.stderr)
    shapes = ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in results.items())
    print(f"wrote {args.output}: {shapes}", file=sys.stderr)
    return 0
