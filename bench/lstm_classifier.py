"""The LSTM classifier the benchmarks measure (random weights: timing and
throughput do not depend on them)."""

from __future__ import annotations

from torch import nn


class Classifier(nn.Module):
    """Embedding → 1-layer LSTM → linear head on the final hidden state."""

    def __init__(self, vocab=10000, emb=64, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens):
        _, (h, _) = self.rnn(self.emb(tokens))
        return self.head(h[-1])
