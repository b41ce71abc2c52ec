"""`rnnc sweep MODEL --dataset D`: a grid of word lengths and activation
approximations evaluated on a Dask cluster (lab)."""

from __future__ import annotations

import argparse
import sys

from rnnc import outputs
from rnnc.cli.common import add_data_flags
from rnnc.passes.quant_config import load_config

NAME = "sweep"
HELP = "grid of word lengths evaluated in parallel with Dask (lab extra)"
DESCRIPTION = (
    "Grid of word lengths and activation approximations, evaluated in parallel on "
    "a Dask cluster: sweep.csv and metric-vs-memory plots."
)
LAB = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnc.lab import evaluate

    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    add_data_flags(p, evaluate.DATASETS)
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


def run(args: argparse.Namespace) -> int:
    from rnnc.lab import sweep

    outputs.work_folder(args.output, flag="-o")
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
