"""Time of `rnnc model.onnx --emit=verilog` on a hidden-300 LSTM (goal: < 5 s).

LSTM classifier: embedding 300 (vocabulary 1000), hidden 300, sequence 20, W8/A12,
16 MAC lanes. Runs the real command line in a subprocess (import, quantization,
lowering, CIRCT export, .hex files) and prints the wall time of each repeat.
    python bench/hw_emit.py [--repeat 3] [--lanes 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from lstm_classifier import Classifier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--lanes", type=int, default=16)
    args = p.parse_args()
    torch.manual_seed(0)
    tokens = torch.randint(0, 1000, (4, 20))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, calib = Path(tmp) / "h300.onnx", Path(tmp) / "calib.npz"
        torch.onnx.export(
            Classifier(vocab=1000, emb=300, hidden=300).eval(),
            (tokens,),
            str(model),
            dynamo=False,
            input_names=["tokens"],
            output_names=["logits"],
        )
        np.savez(calib, tokens=tokens.numpy())
        command = [
            sys.executable,
            "-c",
            "from rnnc.cli import entry; entry()",
            str(model),
            "--emit=verilog",
            "-o",
            str(Path(tmp) / "rtl"),
            "--calib",
            str(calib),
            "--weight-bits",
            "8",
            "--act-bits",
            "12",
            "--lanes",
            str(args.lanes),
        ]
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not (Path(tmp) / "rtl" / "rnnc_top.sv").exists():
                sys.exit(f"emission failed: {done.stderr.strip()[-500:]}")
            times.append(time.perf_counter() - start)
        best = min(times)
        print(
            f"rnnc --emit=verilog, hidden-300 LSTM, P={args.lanes}: "
            + ", ".join(f"{t:.2f}" for t in times)
            + f" s (best {best:.2f} s; goal < 5 s: {'met' if best < 5 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
