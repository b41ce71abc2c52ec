"""`rnnc calib MODEL --dataset imdb|ptb -o calib.npz`: calibration arrays from a
data set (lab extra), the ones `rnnc eval` calibrates on; for a language model
also its state inputs (h0, c0) as the float model carries them over the windows.

`add_dataset_flags` and `calibration` give quantize, `--emit=verilog` and verify
`--dataset` as an alternative to `--calib FILE.npz`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnnc.backends.interpreter.signature import read_arrays
from rnnc.dialects.errors import RnncError

NAME = "calib"
HELP = "write calibration arrays from a data set (lab extra)"
DESCRIPTION = (
    "Write the calibration arrays of a data set for a model: train reviews (imdb) "
    "or train windows with the float model's states at their starts (ptb)."
)
LAB = True


def add_dataset_flags(p: argparse.ArgumentParser) -> None:
    """--dataset/--samples, for commands that otherwise take --calib FILE.npz."""
    p.add_argument(
        "--dataset",
        metavar="NAME",
        help="calibrate on a data set instead of --calib (imdb or ptb; lab extra)",
    )
    p.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help="with --dataset: reviews (imdb) or windows (ptb) to calibrate on "
        "(default: as rnnc eval)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnc.lab import evaluate

    p.add_argument("model", help=".onnx model (models/NAME.json next to it is read)")
    p.add_argument("--dataset", required=True, choices=evaluate.DATASETS)
    p.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help=f"train reviews (imdb, default {evaluate.DEFAULT_CALIB['imdb']}) or "
        f"train windows (ptb, default {evaluate.DEFAULT_CALIB['ptb']})",
    )
    p.add_argument("-o", "--output", required=True, help="the .npz to write")
    p.add_argument(
        "--batch",
        type=int,
        help="ptb: streams run side by side to carry the state (default "
        f"{evaluate.DEFAULT_BATCH['ptb']})",
    )
    p.add_argument("--bptt", type=int, help="ptb window length (default 35)")
    p.add_argument("--vocab", help="vocabulary file (default: the sidecar JSON's)")
    p.add_argument("--max-len", type=int, help="imdb review length (default: JSON's)")


def from_dataset(
    model: str,
    dataset: str,
    samples: int | None = None,
    *,
    batch: int | None = None,
    bptt: int | None = None,
    vocab: str | None = None,
    max_len: int | None = None,
) -> dict[str, np.ndarray]:
    """The calibration arrays of `dataset` for the .onnx `model`."""
    from rnnc.cli import require_lab

    require_lab(f"--dataset {dataset}")
    from rnnc.lab import evaluate

    if dataset not in evaluate.DATASETS:
        raise RnncError(
            f"unknown dataset '{dataset}'; expected one of {list(evaluate.DATASETS)}"
        )
    if Path(model).suffix != ".onnx":
        raise RnncError(f"--dataset calibrates an .onnx model, got '{model}'")
    options = {"calib_size": samples, "vocab": vocab}
    if dataset == "imdb":
        if bptt is not None or batch is not None:
            raise RnncError("--bptt and --batch apply to --dataset ptb only")
        options["max_len"] = max_len
        given = {k: v for k, v in options.items() if v is not None}
        return evaluate.imdb_calibration(model, **given)
    if max_len is not None:
        raise RnncError("--max-len applies to --dataset imdb only")
    options |= {"batch": batch, "bptt": bptt, "progress": sys.stderr.isatty()}
    given = {k: v for k, v in options.items() if v is not None}
    return evaluate.ptb_calibration(model, **given)


def calibration(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The calibration arrays of a command: --calib FILE.npz or --dataset NAME
    (computed once per command)."""
    cached = getattr(args, "_calibration", None)
    if cached is not None:
        return cached
    dataset = getattr(args, "dataset", None)
    if args.calib and dataset:
        raise RnncError("give --calib FILE.npz or --dataset NAME, not both")
    if args.calib:
        arrays = read_arrays(args.calib, "calibration arrays")
    elif dataset:
        arrays = from_dataset(args.model, dataset, getattr(args, "samples", None))
    else:
        raise RnncError(
            "quantization needs calibration inputs: give --calib FILE.npz or "
            "--dataset imdb|ptb"
        )
    args._calibration = arrays
    return arrays


def has_calibration(args: argparse.Namespace) -> bool:
    return bool(args.calib or getattr(args, "dataset", None))


def run(args: argparse.Namespace) -> int:
    arrays = from_dataset(
        args.model,
        args.dataset,
        args.samples,
        batch=args.batch,
        bptt=args.bptt,
        vocab=args.vocab,
        max_len=args.max_len,
    )
    np.savez(args.output, **arrays)
    shapes = ", ".join(f"{k} {v.dtype}{list(v.shape)}" for k, v in arrays.items())
    print(f"wrote {args.output}: {shapes}", file=sys.stderr)
    return 0
