"""Cycles per time step of the generated RTL, measured in simulation, vs the bound.

LSTM classifier: embedding 64, hidden 128 (random weights; timing does not depend
on them), W8/A16, for P ∈ {1, 4, 16} MAC lanes. The RTL is simulated (Verilator if
installed, else iverilog) on sequences of two lengths; the difference of the
measured cycles per sequence over the difference of lengths is the cycles per step,
compared with 1.02 · MACs/P + D + 8 (issue 11's goal, D the elementwise depth)
and with the exact count of docs/hardware.md.
    python bench/hw_cycles.py [--lanes 1,4,16] [--steps 2,4]
        [--onchip-kbits N [--stream-bandwidth VALID/PERIOD]]

With --onchip-kbits, the weights beyond the budget come from the weight stream
port, fed by the testbench's memory at the given bandwidth; the expected count
then includes the stalls (`weight_stream.stall_cycles`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from lstm_classifier import Classifier

from rnnc.backends.verilog.simulate import have_tool
from rnnc.backends.verilog.testbench import random_batches, verify
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.fxp_to_hw.weight_stream import stall_cycles
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model


def measure(model_path, steps, lanes, simulator, work, kbits=None, bandwidth=(1, 1)):
    """Mean measured cycles per sequence, and the recurrence stage's timing."""
    tokens = np.random.default_rng(0).integers(0, 1000, (2, steps))
    calib = {"tokens": tokens}
    config = load_config(None, weight_bits=8, activation_bits=16)
    with contextlib.redirect_stderr(io.StringIO()):
        module, _ = quantize_model(load_model(model_path), calib, config)
    batches = random_batches(calib, ["tokens"], 2, 2, seed=1)
    report = verify(module, batches, work, lanes, simulator, None, kbits, bandwidth)
    assert report.ok, report.summary()
    return float(np.mean(report.cycles_per_sequence))


def expected_cycles(manifest: dict, bandwidth: tuple[int, int]) -> int:
    """The manifest's cycles of a sequence plus the weight stream's stalls."""
    stream = manifest["weight_stream"]
    words = stream["words_per_sequence"] if stream else 0
    return manifest["compute_cycles"] + stall_cycles(words, *bandwidth)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lanes", default="1,4,16")
    p.add_argument("--steps", default="2,4")
    p.add_argument("--onchip-kbits", type=int)
    p.add_argument("--stream-bandwidth", default="1/1")
    args = p.parse_args()
    bandwidth = tuple(int(v) for v in args.stream_bandwidth.split("/"))
    simulator = "verilator" if have_tool("verilator") else "iverilog"
    short, long = (int(s) for s in args.steps.split(","))
    torch.manual_seed(0)
    emb, hidden = 64, 128
    macs = 4 * hidden * (emb + hidden)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "lstm.onnx"
        torch.onnx.export(
            Classifier(vocab=1000).eval(),
            (torch.zeros(2, short, dtype=torch.long),),
            str(path),
            dynamo=False,
            input_names=["tokens"],
            output_names=["logits"],
            dynamic_axes={"tokens": {1: "steps"}},
        )
        print(
            f"LSTM emb {emb} hidden {hidden}: {macs} MACs per step, W8/A16, "
            f"{simulator}; per step = (cycles(T={long}) - cycles(T={short})) / "
            f"{long - short}"
        )
        print(f"{'P':>3} {'measured':>9} {'bound':>9} {'ratio':>6} {'MACs/P':>8}  s")
        for lanes in (int(x) for x in args.lanes.split(",")):
            start = time.perf_counter()
            runs = [
                measure(
                    path,
                    steps,
                    lanes,
                    simulator,
                    Path(tmp) / f"p{lanes}{which}",
                    args.onchip_kbits,
                    bandwidth,
                )
                for steps, which in ((short, "a"), (long, "b"))
            ]
            a, b = runs
            per_step = (b - a) / (long - short)
            # Pipeline depth: the elementwise chain of the step plus the MAC
            # pipeline and the write-back (from the emitted manifest).
            manifests = [
                json.loads((Path(tmp) / f"p{lanes}{w}" / "manifest.json").read_text())
                for w in "ab"
            ]
            stage = manifests[1]["stages"][0]
            expected = [expected_cycles(m, bandwidth) for m in manifests]
            expected_step = (expected[1] - expected[0]) / (long - short)
            # Issue 11's goal: the step's tail after the MACs is about P + D.
            bound = 1.02 * macs / lanes + stage["depth"] + 8
            print(
                f"{lanes:>3} {per_step:>9.0f} {bound:>9.0f} "
                f"{per_step / (macs / lanes):>6.3f} {macs / lanes:>8.0f}  "
                f"{time.perf_counter() - start:.0f}"
                + ("" if per_step <= bound else "  OVER THE BOUND")
            )
            print(
                f"    expected {expected_step:.0f} per step: compute_cycles + "
                f"stalls at weight stream bandwidth {args.stream_bandwidth}"
            )


if __name__ == "__main__":
    main()
