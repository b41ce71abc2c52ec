"""Fixed-point interpreter throughput vs onnxruntime float, same model and batch.

LSTM classifier: embedding 64, hidden 128, sequence 200, batch 256 (random weights;
throughput does not depend on them). Prints sequences/s of both and the ratio.
    python bench/interp.py [--repeat N] [--weight-bits 8 --act-bits 16]
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


def best_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
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

        t_ort = best_time(lambda: session.run(None, feeds), args.repeat)
        t_fxp = best_time(lambda: driver.execute(module, feeds), args.repeat)

    seq = args.batch
    print(f"LSTM classifier: embedding 64, hidden 128, T={args.steps}, batch {seq}")
    print(f"onnxruntime float32 : {seq / t_ort:10.1f} sequences/s ({t_ort:.3f} s)")
    print(
        f"rnnc fixed point    : {seq / t_fxp:10.1f} sequences/s ({t_fxp:.3f} s), "
        f"W{args.weight_bits}/A{args.act_bits}"
    )
    print(f"ratio fixed/onnxruntime: {t_ort / t_fxp:.3f}")


if __name__ == "__main__":
    main()
