"""Full PTB test set: fixed-point evaluation time vs float torch evaluation time.

The same model (default models/ptb_gru.onnx) is evaluated over the whole PTB test
stream, stateful across BPTT windows, by the PyTorch float model rebuilt from the
ONNX weights (rnnc.lab.peers) and by rnnc's bit-accurate fixed-point interpreter
(rnnc.lab.evaluate, W8/A16 unless given). Both perplexities and the time ratio are
printed; the goal is fixed < 2 × float.
    python bench/ptb_eval.py [--model models/ptb_lstm.onnx] [--weight-bits 8]
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnc.frontend.onnx_loader import load_model
from rnnc.lab import evaluate, peers
from rnnc.passes.quant_config import ACT_CLASSES, load_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="models/ptb_gru.onnx")
    p.add_argument("--weight-bits", type=int, default=8)
    p.add_argument("--act-bits", type=int, default=16)
    p.add_argument("--limit", type=int, help="first N test tokens only (smoke runs)")
    args = p.parse_args()

    data = peers.load_data(args.model, "ptb", limit=args.limit)
    module = peers.rebuild_torch(load_model(args.model), "ptb")
    start = time.perf_counter()
    with torch.inference_mode():
        torch_ppl = peers.metric(peers.torch_runner(module, data), data)
    torch_seconds = time.perf_counter() - start

    config = load_config(
        None,
        weight_bits=args.weight_bits,
        **{f"{c}_bits": args.act_bits for c in ACT_CLASSES},
    )
    prepared = evaluate.prepare(args.model, "ptb", limit=args.limit, progress=False)
    result = prepared.run(config, False)
    print(
        f"{args.model}: {data.samples} test tokens, torch threads "
        f"{torch.get_num_threads()}\n"
        f"torch float      : PPW {torch_ppl:8.2f}  {torch_seconds:6.1f} s\n"
        f"rnnc float interp: PPW {result.float_metric:8.2f}  "
        f"{result.float_seconds:6.1f} s\n"
        f"rnnc fixed W{args.weight_bits}/A{args.act_bits}: PPW "
        f"{result.fixed_metric:8.2f}  {result.fixed_seconds:6.1f} s\n"
        f"ratio fixed / torch float: {result.fixed_seconds / torch_seconds:.2f} "
        "(goal < 2)"
    )


if __name__ == "__main__":
    main()
