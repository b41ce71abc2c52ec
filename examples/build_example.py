"""Rebuild the bundled example: a small LSTM sentiment-classifier shape model.

Random weights (no data needed): embedding 32 → LSTM 16 → linear 2, batch-first token
ids of length 12. Run from the repo root: `python examples/build_example.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).parent


class Classifier(nn.Module):
    def __init__(self, vocab=100, emb=32, hidden=16, classes=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens):
        _, (h, _) = self.rnn(self.emb(tokens))
        return self.head(h[-1])


def main() -> None:
    torch.manual_seed(0)
    model = Classifier().eval()
    tokens = torch.randint(0, 100, (4, 12))
    torch.onnx.export(
        model,
        (tokens,),
        str(HERE / "lstm_classifier.onnx"),
        input_names=["tokens"],
        output_names=["logits"],
        dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    np.savez(HERE / "lstm_classifier_input.npz", tokens=tokens.numpy())


if __name__ == "__main__":
    main()
