"""Train the IMDb sentiment classifier (float) and export it to ONNX.

Model: Embedding(vocab, emb, padding_idx=0) -> 1-layer LSTM/GRU (batch_first)
-> Linear(hidden, 2) on the final hidden state. The output is 2 logits
(index 1 = positive); the prediction is their argmax.

ONNX interface (``models/imdb_<cell>.onnx``, opset 17, TorchScript exporter):
    input  ``tokens``  int64 [batch, max_len]  ids from ``datasets.encode_imdb``
                       with ``models/imdb_vocab.txt`` (pre-padded with 0)
    output ``logits``  float [batch, 2]
The batch axis is dynamic.

Model selection uses the last 10 % of the shuffled (fixed seed) train set; the test
set is only evaluated once, for the selected checkpoint.

    python training/train_imdb.py --cell lstm
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

from rnnc.lab import datasets as ds


class IMDbClassifier(nn.Module):
    def __init__(
        self, cell: str, vocab: int, emb: int, hidden: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=ds.PAD_ID)
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_cls(emb, hidden, num_layers=1, batch_first=True)
        self.drop = nn.Dropout(dropout)  # training only; exported in eval mode
        self.fc = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.drop(self.embedding(tokens)))
        h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        return self.fc(self.drop(h[-1]))


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch: int = 256):
    """(accuracy, mean cross-entropy) over a whole split."""
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i : i + batch])
            yb = torch.from_numpy(y[i : i + batch])
            logits = model(xb)
            loss_sum += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
    return correct / len(x), loss_sum / len(x)


def export_onnx(model: nn.Module, x_test: np.ndarray, path: Path) -> dict:
    """Export in eval mode and check onnxruntime against torch on test batches."""
    import onnx
    import onnxruntime as ort

    model.eval()
    example = torch.from_numpy(x_test[:2])
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["tokens"],
        output_names=["logits"],
        dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(str(path)))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    max_diff, n, agree = 0.0, 0, 0
    with torch.no_grad():
        for start, size in ((0, 1), (100, 7), (12_400, 64), (24_000, 200)):
            xb = x_test[start : start + size]
            ref = model(torch.from_numpy(xb)).numpy()
            got = sess.run(["logits"], {"tokens": xb})[0]
            max_diff = max(max_diff, float(np.abs(ref - got).max()))
            agree += int((ref.argmax(1) == got.argmax(1)).sum())
            n += len(xb)
    return {
        "rows_checked": n,
        "batch_sizes": [1, 7, 64, 200],
        "max_abs_diff_logits": max_diff,
        "argmax_agreement": agree / n,
        "passed": max_diff < 1e-4,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", choices=["lstm", "gru"], required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--max-len", type=int, default=300)
    p.add_argument("--vocab", type=int, default=20000)
    p.add_argument("--emb", type=int, default=128)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.0, help="on embeddings and h")
    p.add_argument("--lr-decay", type=float, default=1.0, help="lr factor per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--ckpt-dir", type=Path, default=Path("checkpoints"))
    p.add_argument(
        "--budget-min",
        type=float,
        default=0.0,
        help="stop before an epoch that would not finish within this many minutes",
    )
    p.add_argument(
        "--limit", type=int, default=0, help="use only N train reviews (smoke test)"
    )
    p.add_argument("--name", default=None, help="output name (default imdb_<cell>)")
    args = p.parse_args(argv)

    t_start = time.time()
    torch.set_num_threads(args.threads)
    # Denormal floats (vanishing gradients through long pre-padded sequences)
    # made the native GRU path many times slower on this CPU; flush them.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    name = args.name or f"imdb_{args.cell}"
    args.out.mkdir(parents=True, exist_ok=True)
    args.ckpt_dir.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    texts, labels = ds.load_imdb("train")
    perm = np.random.default_rng(args.seed).permutation(len(texts))
    texts = [texts[i] for i in perm]
    labels = labels[perm]
    n_val = len(texts) // 10
    tr_texts, va_texts = texts[:-n_val], texts[-n_val:]
    tr_y, va_y = labels[:-n_val], labels[-n_val:]
    if args.limit:
        tr_texts, tr_y = tr_texts[: args.limit], tr_y[: args.limit]
    te_texts, te_y = ds.load_imdb("test")

    # The vocabulary comes from the training part only (not validation/test).
    vocab = ds.build_imdb_vocab(tr_texts, args.vocab)
    vocab_path = args.out / "imdb_vocab.txt"
    if vocab_path.exists() and ds.load_vocab(vocab_path) != vocab:
        vocab_path = args.out / f"{name}_vocab.txt"
    ds.save_vocab(vocab, vocab_path)
    x_tr = ds.encode_imdb(tr_texts, vocab, args.max_len)
    x_va = ds.encode_imdb(va_texts, vocab, args.max_len)
    x_te = ds.encode_imdb(te_texts, vocab, args.max_len)
    log(
        f"data: train {len(x_tr)} val {len(x_va)} test {len(x_te)}, "
        f"vocab {len(vocab)} -> {vocab_path}, max_len {args.max_len}, "
        f"unk rate {float((x_tr == ds.UNK_ID).sum() / (x_tr != 0).sum()):.3f}"
    )

    model = IMDbClassifier(args.cell, len(vocab), args.emb, args.hidden, args.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {args.cell}: {n_params} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    ckpt = args.ckpt_dir / f"{name}.pt"
    rng = np.random.default_rng(args.seed + 1)

    best_acc, best_epoch, history = -1.0, 0, []
    epoch_times: list[float] = []
    t_train = time.time()
    for epoch in range(1, args.epochs + 1):
        if args.budget_min and epoch_times:
            elapsed = time.time() - t_start
            if elapsed + max(epoch_times) > args.budget_min * 60:
                log(f"time budget: stop before epoch {epoch}")
                break
        t_ep = time.time()
        model.train()
        for g in opt.param_groups:
            g["lr"] = args.lr * args.lr_decay ** (epoch - 1)
        order = rng.permutation(len(x_tr))
        loss_sum, seen, n_batches = 0.0, 0, math.ceil(len(order) / args.batch)
        for b in range(n_batches):
            idx = order[b * args.batch : (b + 1) * args.batch]
            xb, yb = torch.from_numpy(x_tr[idx]), torch.from_numpy(tr_y[idx])
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            if (b + 1) % 100 == 0:
                rate = seen / (time.time() - t_ep)
                log(
                    f"  epoch {epoch} batch {b + 1}/{n_batches} "
                    f"loss {loss_sum / seen:.4f} ({rate:.0f} reviews/s)"
                )
        val_acc, val_loss = evaluate(model, x_va, va_y)
        epoch_times.append(time.time() - t_ep)
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / seen,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "seconds": epoch_times[-1],
            }
        )
        improved = val_acc > best_acc
        if improved:
            best_acc, best_epoch = val_acc, epoch
            torch.save({"state_dict": model.state_dict(), "epoch": epoch}, ckpt)
        log(
            f"epoch {epoch}: train loss {loss_sum / seen:.4f} val loss {val_loss:.4f} "
            f"val acc {val_acc:.4f} ({epoch_times[-1]:.0f}s)"
            + (" *best, saved" if improved else "")
        )
    train_seconds = time.time() - t_train

    model.load_state_dict(torch.load(ckpt)["state_dict"])
    test_acc, test_loss = evaluate(model, x_te, te_y)
    log(f"best epoch {best_epoch}: val acc {best_acc:.4f}, TEST acc {test_acc:.4f}")

    onnx_path = args.out / f"{name}.onnx"
    check = export_onnx(model, x_te, onnx_path)
    log(f"exported {onnx_path} ({onnx_path.stat().st_size} bytes); check {check}")

    meta = {
        "name": name,
        "task": "IMDb sentiment (binary)",
        "cell": args.cell,
        "onnx": onnx_path.name,
        "vocab_file": vocab_path.name,
        "inputs": {"tokens": "int64 [batch, max_len], rnnc.lab.datasets.encode_imdb"},
        "outputs": {"logits": "float [batch, 2], argmax 1 = positive"},
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "val_accuracy": best_acc,
        "selected_epoch": best_epoch,
        "epochs_run": len(history),
        "epochs_requested": args.epochs,
        "history": history,
        "hyperparameters": {
            "vocab": len(vocab),
            "max_len": args.max_len,
            "truncation": "keep last max_len tokens, pre-pad with 0",
            "emb": args.emb,
            "hidden": args.hidden,
            "batch": args.batch,
            "optimizer": "Adam",
            "lr": args.lr,
            "lr_decay_per_epoch": args.lr_decay,
            "dropout_emb_and_final_h": args.dropout,
            "clip_grad_norm": args.clip,
            "seed": args.seed,
            "train_reviews": len(x_tr),
            "val_reviews": len(x_va),
            "validation": "last 10% of shuffled train (seed), vocab from the rest",
        },
        "num_parameters": n_params,
        "train_wall_seconds": train_seconds,
        "total_wall_seconds": time.time() - t_start,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "onnx_bytes": onnx_path.stat().st_size,
        "onnx_check": check,
        "command": " ".join(["python"] + sys.argv),
    }
    (args.out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0 if check["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
