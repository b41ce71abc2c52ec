"""Train the PTB word-level language model (float) and export it to ONNX.

Model: Embedding(10000, 300) -> dropout -> 1-layer LSTM/GRU(300, batch_first)
-> dropout -> Linear(300, 10000) whose weight IS the embedding matrix (tied).
Training: truncated BPTT windows of ``--bptt`` steps over ``--batch`` parallel
streams (``rnnc.lab.datasets.batchify``); the hidden state is carried (detached)
from one window to the next and reset at the start of each epoch.

The number of optimisation steps is fitted to ``--budget-min``: after
``--measure`` batches the throughput is measured and the run is sized to end
(with validation, test and export) inside the budget; the learning rate follows a
cosine decay over that planned length. The best-validation checkpoint is kept and
is the one that gets tested and exported.

ONNX interface (``models/ptb_<cell>.onnx``, opset 17, TorchScript exporter):
    inputs  ``tokens`` int64 [batch, steps]  ids per ``models/ptb_vocab.txt``
            ``h0``     float [1, batch, 300]
            ``c0``     float [1, batch, 300]  (LSTM only)
    outputs ``logits`` float [batch, steps, 10000]  (unnormalised; log_softmax them)
            ``h``      float [1, batch, 300]
            ``c``      float [1, batch, 300]  (LSTM only)
batch and steps are dynamic. Feeding ``h``/``c`` back as ``h0``/``c0`` continues
the text, which is how the stateful evaluation runs.

    python training/train_ptb.py --cell lstm --budget-min 38
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnnc.lab import datasets as ds


class PTBModel(nn.Module):
    def __init__(self, cell: str, vocab: int, size: int, dropout: float) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab, size)
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(size, size, num_layers=1, batch_first=True)
        self.drop = nn.Dropout(dropout)
        # Tied decoder: the weight is self.embedding.weight, only the bias is new.
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def forward(self, tokens, state):
        b, t = tokens.shape
        out, state = self.rnn(self.drop(self.embedding(tokens)), state)
        out = self.drop(out)
        # The exporter constant-folds the transposed tied matrix into a copy;
        # retie_decoder() turns it back into a Transpose of the embedding.
        logits = F.linear(out.reshape(b * t, -1), self.embedding.weight)
        return (logits + self.decoder_bias).reshape(b, t, -1), state

    def zero_state(self, batch: int):
        h = torch.zeros(1, batch, self.rnn.hidden_size)
        return (h, h.clone()) if self.cell == "lstm" else h


class LSTMExport(nn.Module):
    """Flat (tokens, h0, c0) -> (logits, h, c) signature for ONNX."""

    def __init__(self, m: PTBModel) -> None:
        super().__init__()
        self.m = m

    def forward(self, tokens, h0, c0):
        logits, (h, c) = self.m(tokens, (h0, c0))
        return logits, h, c


class GRUExport(nn.Module):
    def __init__(self, m: PTBModel) -> None:
        super().__init__()
        self.m = m

    def forward(self, tokens, h0):
        logits, h = self.m(tokens, h0)
        return logits, h


def detach(state):
    return (
        tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    )


def evaluate(model: PTBModel, data: np.ndarray, chunk: int = 35) -> tuple[float, int]:
    """Stateful perplexity over batchified ``data`` ([batch, steps]).

    Every token after the first of each row is predicted exactly once, carrying the
    state across chunks (standard PTB evaluation). Returns (ppl, predicted tokens).
    """
    model.eval()
    state = model.zero_state(data.shape[0])
    nll, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, data.shape[1] - 1, chunk):
            seq = min(chunk, data.shape[1] - 1 - i)
            x = torch.from_numpy(data[:, i : i + seq])
            y = torch.from_numpy(data[:, i + 1 : i + 1 + seq])
            logits, state = model(x, state)
            nll += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
            ).item()
            n += y.numel()
    return math.exp(nll / n), n


def retie_decoder(proto, emb: np.ndarray) -> list[str]:
    """Store the tied matrix once: replace the exporter's constant-folded copy.

    The TorchScript exporter folds ``embedding.weight.T`` into a second
    initializer for the decoder MatMul, doubling the file size; this swaps that
    initializer for a ``Transpose`` node reading the embedding initializer.
    """
    from onnx import helper, numpy_helper

    emb_name = next(
        t.name
        for t in proto.graph.initializer
        if tuple(t.dims) == emb.shape and np.array_equal(numpy_helper.to_array(t), emb)
    )
    replaced = []
    for t in list(proto.graph.initializer):
        if tuple(t.dims) == emb.shape[::-1] and np.array_equal(
            numpy_helper.to_array(t), emb.T
        ):
            proto.graph.initializer.remove(t)
            node = helper.make_node(
                "Transpose", [emb_name], [t.name], name=f"tied_{t.name}", perm=[1, 0]
            )
            proto.graph.node.insert(0, node)
            replaced.append(t.name)
    return replaced


def export_onnx(model: PTBModel, test: np.ndarray, path: Path) -> dict:
    """Export in eval mode; check onnxruntime vs torch statefully on test windows."""
    import onnx
    import onnxruntime as ort

    model.eval()
    lstm = model.cell == "lstm"
    wrapper = LSTMExport(model) if lstm else GRUExport(model)
    # export() restores the wrapper's mode afterwards; a fresh module is in
    # training mode, which would switch dropout back on for the comparison.
    wrapper.eval()
    state_in = ["h0", "c0"] if lstm else ["h0"]
    state_out = ["h", "c"] if lstm else ["h"]
    dyn = {"tokens": {0: "batch", 1: "steps"}, "logits": {0: "batch", 1: "steps"}}
    dyn.update({n: {1: "batch"} for n in state_in + state_out})
    ex_state = model.zero_state(2)
    ex_state = ex_state if lstm else (ex_state,)
    torch.onnx.export(
        wrapper,
        (torch.from_numpy(test[:2, :5]), *ex_state),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["tokens", *state_in],
        output_names=["logits", *state_out],
        dynamic_axes=dyn,
    )
    proto = onnx.load(str(path))
    untie_fix = retie_decoder(proto, model.embedding.weight.detach().numpy())
    onnx.save(proto, str(path))
    onnx.checker.check_model(proto)
    assert not any(
        t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    max_logit, max_state, n = 0.0, 0.0, 0
    with torch.no_grad():
        for batch, steps, windows in ((1, 35, 3), (10, 35, 3), (7, 100, 1), (3, 1, 2)):
            data = test[:batch]
            st = model.zero_state(batch)
            st = st if lstm else (st,)
            ort_st = [s.numpy() for s in st]
            for w in range(windows):
                x = np.ascontiguousarray(data[:, w * steps : (w + 1) * steps])
                ref = wrapper(torch.from_numpy(x), *st)
                got = sess.run(
                    None, {"tokens": x, **dict(zip(state_in, ort_st, strict=True))}
                )
                max_logit = max(max_logit, float(np.abs(ref[0].numpy() - got[0]).max()))
                for r, g in zip(ref[1:], got[1:], strict=True):
                    max_state = max(max_state, float(np.abs(r.numpy() - g).max()))
                st, ort_st = tuple(ref[1:]), got[1:]  # carry each side's own state
                n += x.size
    return {
        "tokens_checked": n,
        "cases_batch_steps_windows": [[1, 35, 3], [10, 35, 3], [7, 100, 1], [3, 1, 2]],
        "stateful": True,
        "tied_initializers_replaced_by_transpose": untie_fix,
        "max_abs_diff_logits": max_logit,
        "max_abs_diff_state": max_state,
        "passed": max(max_logit, max_state) < 1e-4,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", choices=["lstm", "gru"], required=True)
    p.add_argument("--size", type=int, default=300, help="embedding = hidden size")
    p.add_argument("--dropout", type=float, default=0.4)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--optim", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=None, help="adam 2e-3, sgd 20")
    p.add_argument("--clip", type=float, default=None, help="adam 1.0, sgd 0.25")
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--min-lr-frac", type=float, default=0.02)
    p.add_argument("--budget-min", type=float, default=38.0)
    p.add_argument(
        "--epochs", type=float, default=0.0, help="fixed length; 0 = fit budget"
    )
    p.add_argument("--max-steps", type=int, default=0, help="cap (smoke/compare)")
    p.add_argument("--measure", type=int, default=200, help="batches to time")
    p.add_argument("--reserve-sec", type=float, default=150.0)
    p.add_argument("--eval-batch", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--ckpt-dir", type=Path, default=Path("checkpoints"))
    p.add_argument("--name", default=None, help="output name (default ptb_<cell>)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument(
        "--skip-test", action="store_true", help="optimizer comparison runs only"
    )
    args = p.parse_args(argv)
    lr0 = args.lr or (2e-3 if args.optim == "adam" else 20.0)
    clip = args.clip or (1.0 if args.optim == "adam" else 0.25)

    t_start = time.time()
    torch.set_num_threads(args.threads)
    # Denormal floats (vanishing gradients through long pre-padded sequences)
    # made the native GRU path many times slower on this CPU; flush them.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    name = args.name or f"ptb_{args.cell}"
    args.out.mkdir(parents=True, exist_ok=True)
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    vocab = ds.ptb_vocab()
    ds.save_vocab(vocab, args.out / "ptb_vocab.txt")
    splits = {
        s: ds.encode_ptb(ds.load_ptb(s), vocab) for s in ("train", "valid", "test")
    }
    train = ds.batchify(splits["train"], args.batch)
    valid = ds.batchify(splits["valid"], args.eval_batch)
    n_batches = math.ceil((train.shape[1] - 1) / args.bptt)
    log(
        f"vocab {len(vocab)}; tokens train {len(splits['train'])} valid "
        f"{len(splits['valid'])} test {len(splits['test'])}; {n_batches} batches/epoch"
    )

    model = PTBModel(args.cell, len(vocab), args.size, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {args.cell}: {n_params} parameters (decoder tied to embedding)")
    if args.optim == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr0)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr0)
    ckpt = args.ckpt_dir / f"{name}.pt"

    # Fixed length (--epochs/--max-steps) schedules by steps; otherwise the run
    # and its cosine schedule are fitted to the wall-clock budget, so a slower
    # machine (other jobs on the 2 cores) still anneals fully before the deadline.
    fixed_steps = int(args.epochs * n_batches) if args.epochs else 0
    if args.max_steps:
        fixed_steps = min(fixed_steps or args.max_steps, args.max_steps)
    deadline = t_start + args.budget_min * 60 - args.reserve_sec
    step, epoch, best_ppl, best_step, history = 0, 0, float("inf"), 0, []
    eval_sec = 0.0
    t_train = time.time()

    def progress() -> float:
        """Fraction of the run done: by steps for a fixed length, else by time."""
        if fixed_steps:
            return min(step / fixed_steps, 1.0)
        return min((time.time() - t_train) / (deadline - t_train), 1.0)

    def set_lr() -> float:
        frac = progress()
        scale = 1.0
        if args.schedule == "cosine":
            lo = args.min_lr_frac
            scale = lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr0 * scale
        return lr0 * scale

    def validate() -> None:
        nonlocal best_ppl, best_step, eval_sec
        t0 = time.time()
        ppl, _ = evaluate(model, valid)
        eval_sec = time.time() - t0
        improved = ppl < best_ppl
        if improved:
            best_ppl, best_step = ppl, step
            torch.save({"state_dict": model.state_dict(), "step": step}, ckpt)
        history.append(
            {
                "step": step,
                "epochs": step / n_batches,
                "train_ppl_window": math.exp(loss_sum / max(seen, 1)),
                "valid_ppl": ppl,
                "lr": opt.param_groups[0]["lr"],
                "elapsed": time.time() - t_train,
            }
        )
        log(
            f"epoch {step / n_batches:.2f} (step {step}): train ppl "
            f"{math.exp(loss_sum / max(seen, 1)):.1f} VALID ppl {ppl:.2f} "
            f"lr {opt.param_groups[0]['lr']:.3g} ({eval_sec:.0f}s eval)"
            + (" *best, saved" if improved else "")
        )
        model.train()

    done = False
    loss_sum, seen = 0.0, 0
    while not done:
        epoch += 1
        state = model.zero_state(args.batch)
        model.train()
        t_ep = time.time()
        for i in range(0, train.shape[1] - 1, args.bptt):
            seq = min(args.bptt, train.shape[1] - 1 - i)
            x = torch.from_numpy(train[:, i : i + seq])
            y = torch.from_numpy(train[:, i + 1 : i + 1 + seq])
            lr = set_lr()
            state = detach(state)
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step += 1
            loss_sum += loss.item() * y.numel()
            seen += y.numel()
            if step == args.measure:
                sec_per_step = (time.time() - t_train) / step
                est = step + int((deadline - time.time()) / (sec_per_step * 1.04))
                log(
                    f"throughput {sec_per_step * 1000:.0f} ms/batch "
                    f"({args.batch * args.bptt / sec_per_step:.0f} tok/s); at this "
                    f"rate the budget fits ~{est} steps = {est / n_batches:.2f} epochs"
                )
            if step % 200 == 0:
                log(
                    f"  step {step} epoch {epoch} train ppl "
                    f"{math.exp(loss_sum / seen):.1f} lr {lr:.3g} "
                    f"({(time.time() - t_ep) / ((i // args.bptt) + 1) * 1000:.0f} ms/b)"
                )
            if progress() >= 1.0:
                log("planned length reached" if fixed_steps else "time budget used")
                done = True
                break
        validate()
        loss_sum, seen = 0.0, 0
    train_seconds = time.time() - t_train

    if args.skip_test:
        log(f"best valid ppl {best_ppl:.2f} at step {best_step} (test skipped)")
        return 0
    model.load_state_dict(torch.load(ckpt)["state_dict"])
    test_ids = splits["test"]
    test10 = ds.batchify(test_ids, 10)
    t0 = time.time()
    test_ppl_b10, n10 = evaluate(model, test10)
    test_ppl_b1, n1 = evaluate(model, ds.batchify(test_ids, 1), chunk=1000)
    log(
        f"best valid ppl {best_ppl:.2f} at step {best_step}; "
        f"TEST ppl {test_ppl_b1:.2f} "
        f"(batch 1, {n1} tokens), {test_ppl_b10:.2f} (batch 10, {n10} tokens) "
        f"({time.time() - t0:.0f}s)"
    )

    meta: dict = {
        "name": name,
        "task": "PTB word-level language model (Mikolov 10k vocab)",
        "cell": args.cell,
        "test_ppl": test_ppl_b1,
        "test_ppl_eval": "stateful, batch 1 = whole test stream, every token after "
        f"the first predicted once ({n1} tokens incl. <eos>)",
        "test_ppl_batch10": test_ppl_b10,
        "test_tokens_batch10": n10,
        "valid_ppl": best_ppl,
        "valid_ppl_eval": f"stateful, batch {args.eval_batch}",
        "selected_step": best_step,
        "selected_epochs": best_step / n_batches,
        "epochs_run": step / n_batches,
        "steps_run": step,
        "batches_per_epoch": n_batches,
        "history": history,
        "hyperparameters": {
            "vocab": len(vocab),
            "emb": args.size,
            "hidden": args.size,
            "layers": 1,
            "tied_weights": True,
            "dropout_emb_and_output": args.dropout,
            "batch": args.batch,
            "bptt": args.bptt,
            "optimizer": args.optim,
            "lr": lr0,
            "schedule": args.schedule,
            "min_lr_frac": args.min_lr_frac,
            "clip_grad_norm": clip,
            "schedule_length": f"{fixed_steps} steps"
            if fixed_steps
            else f"wall clock, {args.budget_min} min minus {args.reserve_sec} s",
            "budget_min": args.budget_min,
            "seed": args.seed,
        },
        "num_parameters": n_params,
        "train_wall_seconds": train_seconds,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "vocab_file": "ptb_vocab.txt",
        "command": " ".join(["python"] + sys.argv),
    }
    ok = True
    if not args.no_export:
        onnx_path = args.out / f"{name}.onnx"
        check = export_onnx(model, test10, onnx_path)
        ok = check["passed"]
        log(f"exported {onnx_path} ({onnx_path.stat().st_size} bytes); check {check}")
        meta.update(
            onnx=onnx_path.name,
            onnx_bytes=onnx_path.stat().st_size,
            onnx_check=check,
            inputs={
                "tokens": "int64 [batch, steps]",
                "h0": "float [1, batch, 300]",
                **({"c0": "float [1, batch, 300]"} if args.cell == "lstm" else {}),
            },
            outputs={
                "logits": "float [batch, steps, 10000], unnormalised",
                "h": "float [1, batch, 300]",
                **({"c": "float [1, batch, 300]"} if args.cell == "lstm" else {}),
            },
        )
    meta["total_wall_seconds"] = time.time() - t_start
    (args.out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
