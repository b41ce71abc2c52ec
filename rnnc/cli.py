"""The `rnnc` command.

    rnnc MODEL [--emit=mlir|expanded] [-o FILE]        compile and print IR
    rnnc MODEL --emit=verilog -o DIR [--lanes P] [--calib c.npz policy]   RTL
    rnnc verify MODEL --calib c.npz [policy] [--sequences N] [--lanes P]
                                                        RTL simulation vs interpreter
    rnnc synth-report DIR [--json r.json]               yosys / nextpnr estimates
    rnnc run MODEL --input x.npz -o y.npz [--expand]    run (float or fixed point)
    rnnc quantize MODEL --calib c.npz [policy] -o m.fxp.mlir
    rnnc report MODEL.fxp.mlir [--json r.json]          memory footprint
    rnnc eval MODEL.onnx --dataset imdb|ptb [policy]    test metric, float vs fixed
    rnnc search MODEL.onnx --dataset D --budget 0.5% -o chosen.toml   word lengths
    rnnc sweep MODEL.onnx --dataset D --weight-bits 4,8 --act-bits 8,16 -o DIR

Every user error ends as one `rnnc: error: ...` line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

from rnnc import driver
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_import import declared_inputs
from rnnc.frontend.onnx_loader import load_model
from rnnc.memory_report import memory_report
from rnnc.passes.quant_config import CLASSES, QuantConfig, load_config
from rnnc.quantize import is_fixed_point, quantize_model

EMIT_PASSES = {"mlir": (), "expanded": driver.EXPANDED}
EMIT_CHOICES = sorted([*EMIT_PASSES, "verilog"])


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
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P (verilog)")
    p.add_argument("--calib", help="calibration inputs, to quantize an .onnx model")
    add_quant_flags(p)
    args = p.parse_args(argv)
    if args.emit == "verilog":
        return _emit_verilog(args)
    module = driver.load_module(args.model, _input_shapes(args.input_shape))
    driver.run_passes(module, EMIT_PASSES[args.emit])
    text = str(module) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _fixed_point_module(args):
    """The model as an fxp module: a .fxp.mlir as is, an .onnx quantized."""
    if Path(args.model).suffix == ".mlir":
        module = driver.load_module(args.model)
        if not is_fixed_point(module):
            raise RnncError(f"'{args.model}' is not a fixed-point (.fxp.mlir) module")
        return module
    if not args.calib:
        raise RnncError(
            "RTL needs a fixed-point model: give --calib FILE.npz (and a policy) "
            "or a .fxp.mlir from `rnnc quantize`"
        )
    return _quantize(args, _input_shapes(args.input_shape) or None)


def _emit_verilog(args) -> int:
    from rnnc.backends.verilog.hardware import emit_verilog

    if not args.output:
        raise RnncError("--emit=verilog writes a directory: give -o DIR")
    emitted = emit_verilog(_fixed_point_module(args), args.output, args.lanes)
    manifest = emitted.manifest()
    print(
        f"wrote {args.output}: {', '.join(p.name for p in emitted.sources)} and "
        f"{len(manifest['memories'])} memory files; {manifest['compute_cycles']} "
        f"cycles per sequence with {args.lanes} MAC lane(s)",
        file=sys.stderr,
    )
    return 0


def verify_command(argv: list[str]) -> int:
    from rnnc.backends.verilog.hardware import random_batches, verify

    p = _Parser(
        prog="rnnc verify",
        description="Simulate the generated RTL on random sequences and compare "
        "every output word with the fixed-point interpreter.",
    )
    p.add_argument("model", help=".onnx model")
    p.add_argument("--calib", required=True, help="calibration inputs (npz by name)")
    p.add_argument("--sequences", type=int, default=100)
    p.add_argument("--lanes", type=int, default=1, help="MAC lanes P")
    p.add_argument("--simulator", choices=["iverilog", "verilator"], default="iverilog")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="rnnc_verify", help="work directory")
    p.add_argument("--json", help="also write the report as JSON")
    p.add_argument("--input-shape", action="append", default=[], help=argparse.SUPPRESS)
    add_quant_flags(p)
    args = p.parse_args(argv)
    module = _fixed_point_module(args)
    calibration = _read_npz(args.calib)
    names = [name for name, _ in driver.signature(module)[0]]
    from rnnc.passes.fxp_to_hw.plan import plan_hardware

    batch = plan_hardware(module).batch
    batches = random_batches(calibration, names, args.sequences, batch, args.seed)
    report = verify(module, batches, args.output, args.lanes, args.simulator)
    print(report.summary())
    for line in report.mismatches[:10]:
        print(line)
    for line in report.overflows:
        print(f"overflow: {line}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0 if report.ok else 1


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise RnncError(f"cannot read input arrays '{path}': {err}") from None


def add_quant_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("quantization policy (flags override --config)")
    g.add_argument("--config", help="TOML policy file (see rnnc/quant_config.py)")
    for cls in CLASSES:
        g.add_argument(f"--{cls}-bits", type=int, metavar="W")
    g.add_argument(
        "--act-bits",
        type=int,
        metavar="W",
        help="default for input, preactivation, activation, state and output bits",
    )
    g.add_argument("--rounding", help="floor | half-up | half-even")
    g.add_argument("--overflow", help="wrap | saturate")
    g.add_argument("--range", help="range source: calib | percentile | bound")
    g.add_argument(
        "--weight-fit",
        help="F of weights and biases: cover (their whole range) | mse (least "
        "squared error, may clip outliers)",
    )
    g.add_argument("--guard-bits", type=int)
    g.add_argument("--activation", help="activation approximation: lut | pwl | hard")
    g.add_argument("--lut-bits", type=int, help="log2 of the table size")
    g.add_argument("--lut-range", type=int, help="log2 of the table's input range")
    g.add_argument("--pwl-segments", type=int)


ACT_CLASSES = ("input", "preactivation", "activation", "state", "output")


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


def _quantize(args, input_shapes=None):
    if not args.calib:
        raise RnncError("quantization needs calibration inputs: give --calib FILE.npz")
    if Path(args.model).suffix == ".mlir":
        raise RnncError("quantize an .onnx model (an .mlir module is already lowered)")
    config = config_from(args)
    calibration = _read_npz(args.calib)
    model = load_model(args.model)
    driver.check_inputs(declared_inputs(model), calibration)
    module, report = quantize_model(model, calibration, config, input_shapes)
    for line in report.activation_errors:
        print(f"activation {line}", file=sys.stderr)
    for line in report.saturated_constants:
        print(f"warning: constant saturated when quantized: {line}", file=sys.stderr)
    return module


def run_command(argv: list[str]) -> int:
    p = _Parser(prog="rnnc run", description="Run a model on arrays from an npz.")
    p.add_argument("model", help=".onnx model or .mlir module (float or fxp)")
    p.add_argument("--input", "-i", required=True, help="npz keyed by input names")
    p.add_argument("-o", "--output", required=True, help="npz to write outputs to")
    p.add_argument(
        "--expand", action="store_true", help="run expand-cells before interpreting"
    )
    p.add_argument("-p", "--passes", default="", help="comma-separated passes to run")
    p.add_argument("--calib", help="quantize first, calibrating on this npz")
    add_quant_flags(p)
    args = p.parse_args(argv)
    arrays = _read_npz(args.input)
    if args.calib:
        module = _quantize(args, {k: np.shape(v) for k, v in arrays.items()})
    else:
        module = driver.load_for_run(args.model, arrays)
        passes = [*(driver.EXPANDED if args.expand else ())]
        driver.run_passes(module, passes + [n for n in args.passes.split(",") if n])
    outputs, counter = driver.execute(module, arrays)
    np.savez(args.output, **outputs)
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
        for name, value in outputs.items():
            err = np.abs(value.astype(np.float64) - reference[name]).max()
            print(f"{name}: max |fixed - float| = {err:.3g}", file=sys.stderr)
    shapes = ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in outputs.items())
    print(f"wrote {args.output}: {shapes}", file=sys.stderr)
    return 0


def quantize_command(argv: list[str]) -> int:
    p = _Parser(prog="rnnc quantize", description="Quantize a model to fixed point.")
    p.add_argument("model", help=".onnx model")
    p.add_argument("--calib", required=True, help="calibration inputs (npz by name)")
    p.add_argument("-o", "--output", required=True, help="the .fxp.mlir to write")
    p.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="NAME=DxDxD",
        help="emit for these input shapes (default: the calibration shapes)",
    )
    add_quant_flags(p)
    args = p.parse_args(argv)
    module = _quantize(args, _input_shapes(args.input_shape) or None)
    Path(args.output).write_text(str(module) + "\n")
    table = memory_report(module)
    print(
        f"wrote {args.output}: weights {table.total_bits / 8:.0f} bytes "
        f"({100 * table.reduction:.1f} % smaller than float32)",
        file=sys.stderr,
    )
    return 0


def report_command(argv: list[str]) -> int:
    p = _Parser(prog="rnnc report", description="Memory footprint of a model.")
    p.add_argument("model", help=".fxp.mlir module (or a float model)")
    p.add_argument("--json", help="also write the table as JSON")
    args = p.parse_args(argv)
    module = driver.load_module(args.model)
    table = memory_report(module)
    sys.stdout.write(table.text())
    if args.json:
        Path(args.json).write_text(json.dumps(table.as_dict(), indent=2) + "\n")
    return 0


def eval_command(argv: list[str]) -> int:
    from rnnc.lab import evaluate

    p = _Parser(
        prog="rnnc eval",
        description="Test-set metric of a model in float and in fixed point.",
    )
    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    _add_data_flags(p, evaluate.DATASETS)
    p.add_argument(
        "--limit",
        type=int,
        help="evaluate N test reviews (imdb: a fixed random subset) or the first N "
        "test tokens (ptb)",
    )
    p.add_argument(
        "--split",
        choices=evaluate.SPLITS,
        default="test",
        help="test (default) or valid: imdb's held-out last 10 %% of the shuffled "
        "train set, ptb.valid",
    )
    p.add_argument("--json", help="also write the results as JSON")
    add_quant_flags(p)
    args = p.parse_args(argv)
    result = evaluate.evaluate(
        args.model,
        args.dataset,
        config=config_from(args),
        vocab=args.vocab,
        max_len=args.max_len,
        limit=args.limit,
        batch=args.batch,
        bptt=args.bptt,
        calib_size=args.calib_size,
        split=args.split,
    )
    for line in result.activation_errors:
        print(f"activation {line}", file=sys.stderr)
    for line in result.saturated_constants:
        print(f"warning: constant saturated when quantized: {line}", file=sys.stderr)
    for line in result.overflow_report:
        print(f"overflow: {line}", file=sys.stderr)
    sys.stdout.write(result.table())
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    return 0


def _add_data_flags(p: argparse.ArgumentParser, datasets) -> None:
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


def search_command(argv: list[str]) -> int:
    from rnnc.lab import evaluate, search

    p = _Parser(
        prog="rnnc search",
        description="Smallest memory footprint whose validation metric stays within "
        "a budget of the float metric (docs/search.md). The quantization flags give "
        "the (wide) start and the settings that are not searched.",
    )
    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    _add_data_flags(p, evaluate.DATASETS)
    p.add_argument(
        "--budget",
        required=True,
        help="allowed loss: accuracy drop in percentage points (0.5%%) or relative "
        "perplexity rise (0.5%% = 0.005)",
    )
    p.add_argument(
        "--limit",
        type=int,
        help="validation reviews (imdb) or tokens (ptb) to evaluate (default: all)",
    )
    p.add_argument("--max-evals", type=int, help="stop after K fixed-point runs")
    p.add_argument(
        "--memory-only",
        action="store_true",
        help="skip the datapath phase (classes that hold no memory)",
    )
    p.add_argument(
        "--min-share",
        type=float,
        default=0.001,
        help="refine weight tensors holding at least this share of the footprint "
        "(default 0.001)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=search.DEFAULT_MARGIN,
        help="the budget must hold by this many standard errors of the paired "
        f"float/fixed difference (default {search.DEFAULT_MARGIN:g}; 0 = as measured)",
    )
    p.add_argument("-o", "--output", required=True, help="the chosen .toml policy")
    p.add_argument("--json", help="also write the search report as JSON")
    add_quant_flags(p)
    args = p.parse_args(argv)
    result = search.search(
        args.model,
        args.dataset,
        budget=search.parse_budget(args.budget),
        start=config_from(args),
        limit=args.limit,
        max_evals=args.max_evals,
        memory_only=args.memory_only,
        min_share=args.min_share,
        margin=args.margin,
        batch=args.batch,
        bptt=args.bptt,
        calib_size=args.calib_size,
        vocab=args.vocab,
        max_len=args.max_len,
        log=search.stderr_log,
    )
    search.write_outputs(result, args.output, args.json)
    sys.stdout.write(result.table())
    print(
        f"wrote {args.output}" + (f" and {args.json}" if args.json else ""),
        file=sys.stderr,
    )
    return 0


def sweep_command(argv: list[str]) -> int:
    from rnnc.lab import evaluate, sweep

    p = _Parser(
        prog="rnnc sweep",
        description="Grid of word lengths and activation approximations, evaluated "
        "in parallel on a Dask cluster: sweep.csv and metric-vs-memory plots.",
    )
    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    _add_data_flags(p, evaluate.DATASETS)
    p.add_argument("--weight-bits", default="4,6,8,12,16", help="comma-separated")
    p.add_argument(
        "--act-bits",
        default="8,12,16",
        help="comma-separated; for input, preactivation, activation, state, output",
    )
    p.add_argument("--activation", default="lut", help="comma-separated lut,pwl,hard")
    p.add_argument(
        "--weight-fit",
        help="comma-separated cover,mse (default: --config's, else cover)",
    )
    p.add_argument("--config", help="TOML policy for everything the grid does not set")
    p.add_argument(
        "--limit",
        type=int,
        help="evaluate N reviews (imdb) or tokens (ptb) of the split",
    )
    p.add_argument("--split", choices=evaluate.SPLITS, default="test")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="local Dask worker processes, 1 thread each (default 2)",
    )
    p.add_argument(
        "--scheduler", help="address of a running Dask scheduler (tcp://host:8786)"
    )
    p.add_argument("-o", "--output", required=True, help="output directory")
    args = p.parse_args(argv)
    base = load_config(args.config)
    points = sweep.grid(
        base,
        sweep.parse_ints(args.weight_bits, "--weight-bits"),
        sweep.parse_ints(args.act_bits, "--act-bits"),
        sweep.parse_methods(args.activation),
        sweep.parse_fits(args.weight_fit, base),
    )
    result = sweep.run_sweep(
        args.model,
        args.dataset,
        points,
        workers=args.workers,
        scheduler=args.scheduler,
        log=sweep.stderr_log,
        limit=args.limit,
        split=args.split,
        batch=args.batch,
        bptt=args.bptt,
        calib_size=args.calib_size,
        vocab=args.vocab,
        max_len=args.max_len,
    )
    files = sweep.write_outputs(result, args.output)
    sys.stdout.write(result.summary())
    print("wrote " + ", ".join(str(f) for f in files), file=sys.stderr)
    return 0


def synth_report_command(argv: list[str]) -> int:
    from rnnc.backends.verilog import synth_report

    return synth_report.command(argv)


COMMANDS = {
    "run": run_command,
    "verify": verify_command,
    "synth-report": synth_report_command,
    "quantize": quantize_command,
    "report": report_command,
    "eval": eval_command,
    "search": search_command,
    "sweep": sweep_command,
}


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
