"""The project's own models in hardware: emit, simulate, compare bit for bit.

For each model of models/ this runs `rnnc verify` as a user would: the searched
policy (`models/*.search.toml`), Verilator, P MAC lanes, N sequences.

- IMDb LSTM/GRU classifiers: calibration from the data set, N random sequences
  shaped like its reviews.
- PTB LSTM/GRU language models (state inputs h0/c0, a 10,000-word decoder at
  every step): two consecutive windows of N text streams from the training set
  (`rnnc calib --dataset ptb --batch N`), weights beyond `--onchip-kbits`
  (default 2,048) streamed. Window 1 starts from zero states; window 2 replays
  the next 35 tokens of each stream (`verify --input`) from the final states the
  RTL sent at the end of window 1 (read from its words, scaled by the manifest).

It prints whether every output word matched the interpreter, the cycles measured
per sequence against the cycles the manifest plans (ratio 1.000 = the documented
timing; streamed weights at full speed add no stall), and the time each run took
(emit + interpreter + simulation).

    python bench/hw_models.py [--models imdb_lstm,ptb_lstm] [--sequences 20]
        [--lanes 16] [--onchip-kbits 2048] [-- extra rnnc verify flags]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnc.backends.verilog.testbench import received_words

ROOT = Path(__file__).resolve().parent.parent
DATA = str(ROOT.parent / "shared" / "data")
DATASET = {"imdb_lstm": "imdb", "imdb_gru": "imdb", "ptb_lstm": "ptb", "ptb_gru": "ptb"}


def rnnc(*args) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnc.cli", *map(str, args)]
    env = {**os.environ, "RNNC_DATA": os.environ.get("RNNC_DATA", DATA)}
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def run(model, sequences, lanes, extra, work, name=None, source=None):
    """`rnnc verify` of `source` (default: the model with its data set): the
    report, the manifest, the seconds taken and the error line if refused."""
    name = name or model
    out = work / name
    report = work / f"{name}.json"
    if source is None:
        source = [ROOT / "models" / f"{model}.onnx", "--dataset", DATASET[model]]
        source += ["--config", ROOT / "models" / f"{model}.search.toml"]
    cmd = [
        "verify",
        *source,
        "--sequences",
        str(sequences),
        "--lanes",
        str(lanes),
        "--simulator",
        "verilator",
        "-o",
        str(out),
        "--json",
        str(report),
        *extra,
    ]
    start = time.perf_counter()
    proc = rnnc(*cmd)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        return None, seconds, proc.stderr.strip().splitlines()[-1]
    data = json.loads(report.read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    return (data, manifest), seconds, ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", default="imdb_lstm,imdb_gru,ptb_lstm,ptb_gru")
    p.add_argument("--sequences", type=int, default=20)
    p.add_argument("--lanes", type=int, default=16)
    p.add_argument("--onchip-kbits", type=int, default=2048)
    args, extra = p.parse_known_args()
    extra = [e for e in extra if e != "--"]
    print(
        f"{'model':<10} {'result':<8} {'sequences':>9} {'cycles/seq':>11} "
        f"{'÷ planned':>9} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            if DATASET[model] == "ptb":
                extra_ptb = [*extra, "--onchip-kbits", str(args.onchip_kbits)]
                windows = ptb_windows(
                    model, args.sequences, args.lanes, extra_ptb, Path(tmp)
                )
                for name, got, seconds, error in windows:
                    show(name, got, seconds, error)
                continue
            got, seconds, error = run(
                model, args.sequences, args.lanes, extra, Path(tmp)
            )
            show(model, got, seconds, error)


def show(name, got, seconds, error) -> None:
    if got is None:
        print(f"{name:<10} {'refused':<8} {error}")
        return
    data, manifest = got
    cycles = data["cycles_per_sequence"]
    mean = sum(cycles) / len(cycles)
    ratio = mean / manifest["compute_cycles"]
    result = "MATCH" if data["errors"] == 0 else "MISMATCH"
    print(
        f"{name:<10} {result:<8} {data['sequences']:>9} {mean:>11.0f} "
        f"{ratio:>9.4f} {seconds:>8.1f}"
    )


def ptb_windows(model, sequences, lanes, extra, work):
    """Two consecutive windows of `sequences` text streams, the second from the
    final states the RTL sent after the first."""
    calib = work / f"{model}_calib.npz"
    proc = rnnc(
        "calib", ROOT / "models" / f"{model}.onnx", "--dataset", "ptb",
        "--batch", sequences, "--samples", 2 * sequences, "-o", calib,
    )  # fmt: skip
    if proc.returncode:
        return [(model, None, 0.0, proc.stderr.strip().splitlines()[-1])]
    module = work / f"{model}.fxp.mlir"
    proc = rnnc(
        "quantize", ROOT / "models" / f"{model}.onnx", "--calib", calib,
        "--config", ROOT / "models" / f"{model}.search.toml", "-o", module,
    )  # fmt: skip
    if proc.returncode:
        return [(model, None, 0.0, proc.stderr.strip().splitlines()[-1])]
    data = dict(np.load(calib))
    states = [k for k in data if k != "tokens"]
    window = {"tokens": data["tokens"][:sequences]}
    window |= {k: np.zeros_like(data[k][:, :sequences]) for k in states}
    results = []
    for index in (1, 2):
        given = work / f"{model}_w{index}.npz"
        np.savez(given, **window)
        name = f"{model}.w{index}"
        got, seconds, error = run(
            model, sequences, lanes, extra, work, name, [module, "--input", given]
        )
        results.append((name, got, seconds, error))
        if got is None:
            break
        finals = final_states(work / name, sequences, states)
        window = {"tokens": data["tokens"][sequences : 2 * sequences]} | finals
    return results


def final_states(out: Path, sequences: int, states: list[str]) -> dict:
    """The final states the RTL sent (outputs named like the model's state
    outputs, h0 → h), as floats of shape (directions, sequences, units)."""
    manifest = json.loads((out / "manifest.json").read_text())
    words = received_words(out / "tb_got.hex", manifest["output_width"], sequences)
    got, offset = {}, 0
    for o in manifest["outputs"]:
        part = words[:, offset : offset + o["elements"]]
        offset += o["elements"]
        got[o["name"]] = (part * 2.0 ** -o["frac"]).astype(np.float32)
    return {s: got[s.rstrip("0")][None] for s in states}


if __name__ == "__main__":
    main()
