"""Fixed-point interpreter throughput vs onnxruntime float, same model and batch.

LSTM classifier: embedding 64, hidden 128, sequence 200, batch 256 (random weights;
throughput does not depend on them). onnxruntime runs a session created once, rnnc
a `driver.Program` prepared once. The two run in turn, --repeat times after a
warm-up; prints the median sequences/s of both and the median of the pairwise
ratios (robust when other processes share the cores).
    python bench/interp.py [--repeat N] [--weight-bits 8|16 --act-bits 16]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from lstm_classifier import Classifier

from rnnc import driver
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

GAP = 0.05  # seconds between timed runs


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def settled(fn) -> float:
    """fn's time after a short idle gap: both engines keep worker threads spinning
    for a while after a run, which would take the cores from the next one."""
    time.sleep(GAP)
    return timed(fn)


def paired_times(a, b, repeat: int) -> tuple[np.ndarray, np.ndarray]:
    """Times of a and b run in turn, after two warm-up runs of each (rnnc's loops
    compile during its second run when numba has no copy on disk)."""
    a(), b(), a(), b()
    pairs = [(settled(a), settled(b)) for _ in range(repeat)]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--weight-bits", type=int, default=8)
    p.add_argument("--act-bits", type=int, default=16)
    args = p.parse_args()

    torch.manual_seed(0)
    model = Classifier().eval()
    tokens = np.random.default_rng(0).integers(0, 10000, (args.batch, args.steps))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cls.onnx"
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.from_numpy(tokens),),
                str(path),
                input_names=["tokens"],
                output_names=["logits"],
                dynamic_axes={"tokens": {0: "batch"}},
                dynamo=False,
            )
        feeds = {"tokens": tokens}
        acts = {
            f"{c}_bits": args.act_bits
            for c in ("input", "preactivation", "activation", "state", "output")
        }
        config = load_config(weight_bits=args.weight_bits, **acts)
        module, _ = quantize_model(load_model(path), feeds, config)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        program = driver.Program(module)

        ort_times, fxp_times = paired_times(
            lambda: session.run(None, feeds),
            lambda: program.run(feeds),
            args.repeat,
        )

    seq = args.batch
    t_ort, t_fxp = np.median(ort_times), np.median(fxp_times)
    print(f"LSTM classifier: embedding 64, hidden 128, T={args.steps}, batch {seq}")
    print(f"onnxruntime float32 : {seq / t_ort:10.1f} sequences/s ({t_ort:.3f} s)")
    print(
        f"rnnc fixed point    : {seq / t_fxp:10.1f} sequences/s ({t_fxp:.3f} s), "
        f"W{args.weight_bits}/A{args.act_bits}"
    )
    ratios = ort_times / fxp_times
    print(
        f"ratio fixed/onnxruntime: {np.median(ratios):.3f} (median of {args.repeat} "
        f"pairs; min {ratios.min():.3f}, max {ratios.max():.3f})"
    )


if __name__ == "__main__":
    main()
