"""Small torch models of the kinds users export: built here, never downloaded."""

from __future__ import annotations

import warnings

import torch
from torch import nn


class BiLSTMClassifier(nn.Module):
    """Embedding → bidirectional LSTM → linear head on the last step."""

    def __init__(self, vocab=40, emb=8, hidden=6, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        y, _ = self.rnn(self.emb(tokens))
        return self.head(y[:, -1, :])


class TwoLayerGRU(nn.Module):
    def __init__(self, inp=5, hidden=7):
        super().__init__()
        self.rnn = nn.GRU(inp, hidden, num_layers=2)

    def forward(self, x):
        return self.rnn(x)


class LSTMLanguageModel(nn.Module):
    """Embedding → LSTM → linear over the vocabulary, with explicit state."""

    def __init__(self, vocab=50, emb=8, hidden=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tokens, h0, c0):
        y, (h, c) = self.rnn(self.emb(tokens), (h0, c0))
        return self.out(y), h, c


class TanhRNN(nn.Module):
    def __init__(self, inp=4, hidden=5):
        super().__init__()
        self.rnn = nn.RNN(inp, hidden, nonlinearity="tanh")

    def forward(self, x):
        return self.rnn(x)[0]


def examples(seed: int = 0) -> dict[str, tuple[nn.Module, tuple[torch.Tensor, ...]]]:
    torch.manual_seed(seed)
    return {
        "bilstm_classifier": (BiLSTMClassifier(), (torch.randint(0, 40, (3, 7)),)),
        "gru_2layer": (TwoLayerGRU(), (torch.randn(6, 3, 5),)),
        "lstm_lm": (
            LSTMLanguageModel(),
            (torch.randint(0, 50, (2, 5)), torch.randn(1, 2, 8), torch.randn(1, 2, 8)),
        ),
        "tanh_rnn": (TanhRNN(), (torch.randn(6, 3, 4),)),
    }


class TinyClassifier(nn.Module):
    """Embedding → LSTM → linear on the final state (an IMDb-shaped model)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8, padding_idx=0)
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, tokens):
        _, (h, _) = self.rnn(self.emb(tokens))
        return self.head(h[-1])


class TinyLanguageModel(nn.Module):
    """Embedding → LSTM → linear over the vocabulary, state in and out (PTB-shaped)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.out = nn.Linear(8, vocab)

    def forward(self, tokens, h0, c0):
        y, (h, c) = self.rnn(self.emb(tokens), (h0, c0))
        return self.out(y), h, c


def export_onnx(model, args, path, names_in, names_out, dynamic):
    """TorchScript export (opset 17) with named inputs/outputs and dynamic axes."""
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            args,
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=names_in,
            output_names=names_out,
            dynamic_axes=dynamic,
        )
