"""Head to head with hls4ml's C simulation: the same small LSTM regressor in both.

LSTM 16 -> 32 (last hidden state), Linear(32, 1), T = 50, random weights (seed 0),
inputs N(0, 1). rnnc runs at W16/A16 with its default policy otherwise, through the
Python API and through the CLI (`rnnc quantize`, then `rnnc run`, its start-up
measured on one sequence and subtracted); hls4ml 1.3.0 (PyTorch frontend,
io_parallel, Vivado backend, ap_fixed<16,6>) runs its compiled C simulation. Each
throughput is the median of --runs timed runs. The error of each is the RMS of
(fixed - torch float) over the RMS of the float output. hls4ml is not a dependency:
without it only rnnc is measured.
    python bench/hls4ml_vs_rnnc.py [--sequences 1000] [--cli-sequences 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from rnnc import driver
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

IN, HIDDEN, STEPS = 16, 32, 50
CALIBRATION = 256
ACT_CLASSES = ("input", "preactivation", "activation", "state", "output")


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(IN, HIDDEN, batch_first=True)
        self.fc = torch.nn.Linear(HIDDEN, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


def relative_error(y: np.ndarray, ref: np.ndarray) -> float:
    y, ref = np.ravel(y).astype(np.float64), np.ravel(ref).astype(np.float64)
    return float(np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref**2)))


def export(model: torch.nn.Module, path: Path) -> None:
    x = torch.zeros(2, STEPS, IN)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}},
            dynamo=False,
        )


def median_time(fn, runs: int):
    """(median seconds of `runs` calls, the last call's result)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def rnnc_api(path: Path, calib: np.ndarray, x: np.ndarray, bits: int, runs: int):
    start = time.perf_counter()
    config = load_config(weight_bits=bits, **{f"{c}_bits": bits for c in ACT_CLASSES})
    module, _ = quantize_model(load_model(path), {"x": calib}, config)
    compile_s = time.perf_counter() - start
    program = driver.Program(module)  # as hls4ml's compiled model, reused
    for _ in range(2):  # warm-up: loops compile during the second run (cold cache)
        program.run({"x": x})
    t, y = median_time(lambda: program.run({"x": x})[0]["y"], runs)
    return compile_s, t, y


def _rnnc(*args: str) -> float:
    exe = Path(sys.executable).with_name("rnnc")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "rnnc.cli"]
    start = time.perf_counter()
    subprocess.run([*cmd, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def rnnc_cli(
    tmp: Path, path: Path, calib: np.ndarray, x: np.ndarray, bits: int, runs: int
):
    np.savez(tmp / "calib.npz", x=calib)
    np.savez(tmp / "x.npz", x=x)
    np.savez(tmp / "one.npz", x=x[:1])
    fxp = tmp / "model.fxp.mlir"
    compile_s = _rnnc(
        "quantize", str(path), "--calib", str(tmp / "calib.npz"), "-o", str(fxp),
        "--weight-bits", str(bits), "--act-bits", str(bits),
    )  # fmt: skip
    run = ("run", str(fxp), "-o", str(tmp / "y.npz"), "-i")
    startup, _ = median_time(lambda: _rnnc(*run, str(tmp / "one.npz")), runs)
    total, _ = median_time(lambda: _rnnc(*run, str(tmp / "x.npz")), runs)
    with np.load(tmp / "y.npz") as out:
        y = out["y"]
    return compile_s, total - startup, y


def hls4ml_csim(
    model: torch.nn.Module, tmp: Path, x: np.ndarray, precision: str, runs: int
):
    import hls4ml  # noqa: PLC0415 (optional)

    start = time.perf_counter()
    config = hls4ml.utils.config_from_pytorch_model(
        model,
        input_shape=(STEPS, IN),
        default_precision=precision,
        granularity="model",
        backend="Vivado",
        channels_last_conversion="off",  # the LSTM's input is (batch, T, features)
    )
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model,
        hls_config=config,
        output_dir=str(tmp / "hls4ml"),
        backend="Vivado",
        io_type="io_parallel",
    )
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model.compile()
    compile_s = time.perf_counter() - start
    data = np.ascontiguousarray(x, dtype=np.float32)
    t, y = median_time(lambda: hls_model.predict(data), runs)
    return compile_s, t, np.asarray(y).reshape(len(x), -1)


def report(name: str, compile_s: float, run_s: float, count: int, error: float):
    print(
        f"{name:32s} compile {compile_s:7.1f} s  {count / run_s:10.0f} seq/s  "
        f"error {100 * error:6.2f} %"
    )
    return count / run_s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sequences", type=int, default=1000)
    p.add_argument("--cli-sequences", type=int, default=20000)
    p.add_argument("--bits", type=int, default=16)
    p.add_argument("--precision", default="ap_fixed<16,6>")
    p.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    p.add_argument("--no-hls4ml", action="store_true")
    args = p.parse_args()

    torch.manual_seed(0)
    model = Regressor().eval()
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((CALIBRATION, STEPS, IN)).astype(np.float32)
    count = max(args.sequences, args.cli_sequences)
    x = rng.standard_normal((count, STEPS, IN)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    few = slice(0, args.sequences)
    print(
        f"LSTM {IN}->{HIDDEN}, T={STEPS}, Linear({HIDDEN},1); "
        f"rnnc W{args.bits}/A{args.bits}"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        path = tmp / "model.onnx"
        export(model, path)
        c, t, y = rnnc_api(path, calib, x[few], args.bits, args.runs)
        api = report(
            f"rnnc API ({args.sequences} seq)",
            c, t, args.sequences, relative_error(y, ref[few]),
        )  # fmt: skip
        c, t, y = rnnc_cli(
            tmp, path, calib, x[: args.cli_sequences], args.bits, args.runs
        )
        cli = report(
            f"rnnc CLI ({args.cli_sequences} seq)",
            c, t, args.cli_sequences, relative_error(y, ref[: args.cli_sequences]),
        )  # fmt: skip
        if args.no_hls4ml:
            return
        try:
            import hls4ml  # noqa: F401, PLC0415
        except ImportError:
            print("hls4ml is not installed: not measured")
            return
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        c, t, y = hls4ml_csim(model, tmp, x[few], args.precision, args.runs)
        hls = report(
            f"hls4ml {args.precision} ({args.sequences} seq)",
            c, t, args.sequences, relative_error(y, ref[few]),
        )  # fmt: skip
        print(f"rnnc/hls4ml throughput: API {api / hls:.0f}x, CLI {cli / hls:.0f}x")


if __name__ == "__main__":
    main()
