"""The `rnnc` command.

    rnnc MODEL [--emit=mlir|expanded] [-o FILE]      compile and print IR
    rnnc run MODEL --input x.npz -o y.npz [--expand]  run the float interpreter

Every user error ends as one `rnnc: error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

from rnnc import driver
from rnnc.errors import RnncError

EMIT_PASSES = {"mlir": (), "expanded": driver.EXPANDED}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage dump is noise here
        raise RnncError(message)


def _input_shapes(specs: list[str]) -> dict[str, list[int]]:
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = [int(d) for d in dims.split("x")]
        except ValueError:
            raise RnncError(
                f"bad --input-shape '{spec}', expected NAME=2x7x3"
            ) from None
    return shapes


def compile_command(argv: list[str]) -> int:
    p = _Parser(prog="rnnc", description="Compile an ONNX RNN model.")
    p.add_argument("model", help=".onnx model or .mlir module")
    p.add_argument("--emit", choices=sorted(EMIT_PASSES), default="mlir")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDxD",
        help="fix the shape of a graph input (repeatable)",
    )
    args = p.parse_args(argv)
    module = driver.load_module(args.model, _input_shapes(args.input_shape))
    driver.run_passes(module, EMIT_PASSES[args.emit])
    text = str(module) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise RnncError(f"cannot read input arrays '{path}': {err}") from None


def run_command(argv: list[str]) -> int:
    p = _Parser(prog="rnnc run", description="Run a model on arrays from an npz.")
    p.add_argument("model", help=".onnx model or .mlir module")
    p.add_argument("--input", "-i", required=True, help="npz keyed by input names")
    p.add_argument("-o", "--output", required=True, help="npz to write outputs to")
    p.add_argument(
        "--expand", action="store_true", help="run expand-cells before interpreting"
    )
    p.add_argument("-p", "--passes", default="", help="comma-separated passes to run")
    args = p.parse_args(argv)
    passes = [*(driver.EXPANDED if args.expand else ())]
    passes += [n for n in args.passes.split(",") if n]
    outputs = driver.run(args.model, _read_npz(args.input), passes)
    np.savez(args.output, **outputs)
    shapes = ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in outputs.items())
    print(f"wrote {args.output}: {shapes}", file=sys.stderr)
    return 0


COMMANDS = {"run": run_command}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = COMMANDS.get(argv[0]) if argv else None
    try:
        if command is not None:
            code = command(argv[1:])
        else:
            code = compile_command(argv)
    except RnncError as err:
        print(f"rnnc: error: {err}", file=sys.stderr)
        code = 2
    return code


def entry() -> None:
    sys.exit(main())
