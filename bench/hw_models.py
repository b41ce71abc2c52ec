"""The project's own models in hardware: emit, simulate, compare bit for bit.

For each model of models/ (IMDb LSTM/GRU classifiers, PTB LSTM/GRU language
models) this runs `rnnc verify` as a user would: the searched policy
(`models/*.search.toml`), calibration from the data set, Verilator, P MAC lanes,
N random sequences shaped like the data set's. It prints whether every output
word matched the interpreter, the cycles measured per sequence against the
cycles the manifest plans (ratio 1.000 = the documented timing), and the time
each run took (emit + interpreter + simulation).

    python bench/hw_models.py [--models imdb_lstm,imdb_gru] [--sequences 20]
        [--lanes 16] [-- extra rnnc verify flags]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = {"imdb_lstm": "imdb", "imdb_gru": "imdb", "ptb_lstm": "ptb", "ptb_gru": "ptb"}


def run(model: str, sequences: int, lanes: int, extra: list[str], work: Path):
    out = work / model
    report = work / f"{model}.json"
    cmd = [
        sys.executable,
        "-m",
        "rnnc.cli",
        "verify",
        str(ROOT / "models" / f"{model}.onnx"),
        "--dataset",
        DATASET[model],
        "--config",
        str(ROOT / "models" / f"{model}.search.toml"),
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
    proc = subprocess.run(cmd, capture_output=True, text=True)
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
    args, extra = p.parse_known_args()
    extra = [e for e in extra if e != "--"]
    print(
        f"{'model':<10} {'result':<8} {'sequences':>9} {'cycles/seq':>11} "
        f"{'÷ planned':>9} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            got, seconds, error = run(
                model, args.sequences, args.lanes, extra, Path(tmp)
            )
            if got is None:
                print(f"{model:<10} {'refused':<8} {error}")
                continue
            data, manifest = got
            cycles = data["cycles_per_sequence"]
            mean = sum(cycles) / len(cycles)
            ratio = mean / manifest["compute_cycles"]
            result = "MATCH" if data["errors"] == 0 else "MISMATCH"
            print(
                f"{model:<10} {result:<8} {data['sequences']:>9} {mean:>11.0f} "
                f"{ratio:>9.4f} {seconds:>8.1f}"
            )


if __name__ == "__main__":
    main()
