"""`rnnc search MODEL --dataset D --budget B`: per-class and per-tensor word
lengths of the smallest footprint within a metric budget (lab)."""

from __future__ import annotations

import argparse
import sys

from rnnc import outputs
from rnnc.cli.common import add_data_flags, add_quant_flags, config_from, inputs_of

NAME = "search"
HELP = "smallest word lengths within a metric budget (lab extra)"
DESCRIPTION = (
    "Smallest memory footprint whose validation metric stays within a budget of "
    "the float metric (docs/search.md). The quantization flags give the (wide) "
    "start and the settings that are not searched."
)
LAB = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnc.lab import evaluate, search

    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    add_data_flags(p, evaluate.DATASETS)
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


def run(args: argparse.Namespace) -> int:
    from rnnc.lab import search

    outputs.output_file(args.output, flag="-o", inputs=inputs_of(args))
    outputs.optional_output(args.json, flag="--json", inputs=inputs_of(args))
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
