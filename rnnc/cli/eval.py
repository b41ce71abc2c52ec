"""`rnnc eval MODEL --dataset D`: test metric in float and in fixed point (lab)."""

from __future__ import annotations

import argparse
import sys

from rnnc import outputs
from rnnc.cli.common import add_data_flags, add_quant_flags, config_from, inputs_of

NAME = "eval"
HELP = "test-set metric of a model in float and in fixed point (lab extra)"
DESCRIPTION = "Test-set metric of a model in float and in fixed point."
LAB = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnc.lab import evaluate

    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    add_data_flags(p, evaluate.DATASETS)
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


def run(args: argparse.Namespace) -> int:
    from rnnc.lab import evaluate

    out = outputs.optional_output(args.json, flag="--json", inputs=inputs_of(args))
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
    if out:
        out.write_json(result.as_dict())
    return 0
