"""rnnc.lab.peers and rnnc.lab.results on tiny synthetic IMDb/PTB data (through
$RNNC_DATA) and tiny models exported like the real ones (training/*.py): the
torch module rebuilt from ONNX reproduces onnxruntime, the peers report metrics
on rnnc eval's data and their memory, and `python -m rnnc.lab.results` writes the
table."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from synthetic_data import write_imdb, write_ptb
from torch import nn

from rnnc.dialects.errors import RnncError
from rnnc.lab import datasets as ds
from rnnc.lab import peers, results
from rnnc.lab.evaluate import evaluate_imdb, evaluate_ptb
from rnnc.passes.quant_config import load_config

ROOT = Path(__file__).resolve().parents[1]
WORDS = "great awful the movie plot was fun dull and , . !".split()
PTB_WORDS = "the cat dog sat on a mat ran N <unk> and".split()
MAX_LEN, EMB, HIDDEN = 10, 6, 5
IMDB_BATCH = 8  # 20 test reviews: the last batch is padded
BPTT = 7


def _train_ptb():
    spec = importlib.util.spec_from_file_location(
        "train_ptb_for_tests", ROOT / "training" / "train_ptb.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Classifier(nn.Module):  # training/train_imdb.py's IMDbClassifier, tiny
    def __init__(self, cell: str, vocab: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, EMB, padding_idx=0)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](EMB, HIDDEN, batch_first=True)
        self.fc = nn.Linear(HIDDEN, 2)

    def forward(self, tokens):
        _, state = self.rnn(self.embedding(tokens))
        h = state[0] if isinstance(state, tuple) else state
        return self.fc(h[-1])


def _write_data(root: Path, rng) -> None:
    def text(_label):
        return " ".join(rng.choice(WORDS, rng.integers(3, 14)))

    write_imdb(root, "train", 24, text)
    write_imdb(root, "test", 20, text)
    for split, lines in (("train", 520), ("valid", 5), ("test", 16)):
        write_ptb(root, rng, split, lines, (2, 8), PTB_WORDS)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("peers")
    data, models = root / "data", root / "models"
    models.mkdir()
    rng = np.random.default_rng(3)
    _write_data(data, rng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNC_DATA", str(data))
        train, _ = ds.load_imdb("train")
        vocab = ds.build_imdb_vocab(train, 14)
        ptb_vocab = ds.ptb_vocab()
    ds.save_vocab(vocab, models / "imdb_vocab.txt")
    ds.save_vocab(ptb_vocab, models / "ptb_vocab.txt")
    tp = _train_ptb()
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cell in ("lstm", "gru"):
            clf = Classifier(cell, len(vocab)).eval()
            with torch.no_grad():
                clf.fc.weight.mul_(6)
            torch.onnx.export(
                clf,
                (torch.zeros(2, MAX_LEN, dtype=torch.int64),),
                str(models / f"imdb_{cell}.onnx"),
                dynamo=False,
                opset_version=17,
                input_names=["tokens"],
                output_names=["logits"],
                dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}},
            )
            meta = {"vocab_file": "imdb_vocab.txt", "hyperparameters": {"max_len": 10}}
            (models / f"imdb_{cell}.json").write_text(json.dumps(meta))
            lm = tp.PTBModel(cell, len(ptb_vocab), HIDDEN, 0.0)
            with torch.no_grad():
                lm.embedding.weight.mul_(20)  # logits and state that matter
            check = tp.export_onnx(
                lm,
                rng.integers(0, len(ptb_vocab), (10, 105)),
                models / f"ptb_{cell}.onnx",
            )
            assert check["passed"] and check["tied_initializers_replaced_by_transpose"]
            (models / f"ptb_{cell}.json").write_text(
                json.dumps({"vocab_file": "ptb_vocab.txt"})
            )
    return {"data": data, "models": models, "root": root}


@pytest.fixture
def env(world, monkeypatch):
    monkeypatch.setenv("RNNC_DATA", str(world["data"]))
    return world


def _model(world, name):
    return world["models"] / f"{name}.onnx"


@pytest.mark.parametrize("name", ["imdb_lstm", "imdb_gru", "ptb_lstm", "ptb_gru"])
def test_rebuilt_torch_reproduces_onnxruntime(env, name):
    path = _model(env, name)
    model = peers.load_model(path)
    data = peers.load_data(path, batch=IMDB_BATCH if "imdb" in name else 3, bptt=BPTT)
    module = peers.rebuild_torch(model, data.dataset)
    assert module.spec.tied == (data.dataset == "ptb")
    assert module.spec.cell == name.split("_")[1].upper()
    diff = peers.compare(
        peers.torch_runner(module, data), peers.ort_runner(model), data
    )
    assert diff < 1e-5
    # The gate reordering matters: the ONNX order does not reproduce it.
    with torch.no_grad():
        w = module.rnn.weight_hh_l0
        h = module.spec.hidden
        w.copy_(torch.cat([w[h:], w[:h]]))
    bad = peers.compare(peers.torch_runner(module, data), peers.ort_runner(model), data)
    assert bad > 1e-3


def test_rebuild_refuses_what_torch_cannot_run(env):
    model = peers.load_model(_model(env, "ptb_gru"))
    gru = next(n for n in model.graph.node if n.op_type == "GRU")
    for attr in gru.attribute:
        if attr.name == "linear_before_reset":
            attr.i = 0
    with pytest.raises(RnncError, match="linear_before_reset=0"):
        peers.rebuild_torch(model, "ptb")


def test_peers_on_imdb_gru(env):
    path = _model(env, "imdb_gru")
    got = {r.key: r for r in peers.evaluate_peers(path, limit=12, batch=IMDB_BATCH)}
    assert list(got) == ["ort-dynamic", "torch-dynamic", "torch-dynamic-emb"]
    rnnc = evaluate_imdb(
        path, config=load_config(), limit=12, batch=IMDB_BATCH, progress=False
    )
    vocab = len(ds.load_vocab(env["models"] / "imdb_vocab.txt"))
    params = vocab * EMB + 3 * HIDDEN * (EMB + HIDDEN + 2) + 2 * HIDDEN + 2
    for r in got.values():
        assert r.samples == 12 and r.metric == "accuracy"
        assert r.float_metric == rnnc.float_metric  # same reviews, same batches
        assert 0 <= r.quant_metric <= 1
        assert r.float32_bytes == 4 * params
        assert r.weight_bytes == sum(m.bytes for m in r.memory)
    ort = got["ort-dynamic"]
    assert any("GRU left float32" in n for n in ort.notes)
    assert ort.w_bits == "8 + fp32" and ort.a_bits.startswith("fp32")
    # torch + 8-bit embedding: every byte accounted for.
    emb = vocab * EMB + vocab * 8  # quint8 rows + float scale and zero point each
    gru = 3 * HIDDEN * (EMB + HIDDEN) + 2 * 5 + 2 * 3 * HIDDEN * 4
    fc = 2 * HIDDEN + 5 + 2 * 4
    assert got["torch-dynamic-emb"].weight_bytes == emb + gru + fc
    assert got["torch-dynamic"].weight_bytes == 4 * vocab * EMB + gru + fc
    assert got["torch-dynamic"].rebuild_max_diff < 1e-5


def test_peers_on_ptb_lstm(env):
    path = _model(env, "ptb_lstm")
    got = {r.key: r for r in peers.evaluate_peers(path, batch=3, bptt=BPTT)}
    assert list(got) == list(peers.PEERS)
    rnnc = evaluate_ptb(path, config=load_config(), batch=3, bptt=BPTT, progress=False)
    vocab = len(ds.ptb_vocab())
    emb, lstm = vocab * HIDDEN, 4 * HIDDEN * (2 * HIDDEN + 2)
    for r in got.values():
        assert r.metric == "perplexity" and r.samples == rnnc.samples
        assert r.float_metric == pytest.approx(rnnc.float_metric, rel=1e-5)
        assert r.quant_metric > 1
        assert r.float32_bytes == 4 * (emb + lstm + vocab)  # tied: emb stored once
    ort = got["ort-dynamic"]
    assert any("DynamicQuantizeLSTM" in n for n in ort.notes)
    # The tied decoder reads the float table through a Transpose: it stays float
    # next to the 8-bit copy the Gather quantizer adds.
    assert any("MatMul (via Transpose)" in n for n in ort.notes)
    assert ort.weight_bytes > 4 * emb + emb
    folded = got["ort-dynamic-folded"]
    assert folded.w_bits == "8" and folded.weight_bytes < ort.weight_bytes
    assert any("stored twice" in n for n in got["torch-dynamic-emb"].notes)


def test_results_command(env, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("imdb_lstm", "ptb_gru"):
        for suffix in (".onnx", ".json"):
            (models / f"{name}{suffix}").write_bytes(
                (env["models"] / f"{name}{suffix}").read_bytes()
            )
    for vocab in ("imdb_vocab.txt", "ptb_vocab.txt"):
        (models / vocab).write_bytes((env["models"] / vocab).read_bytes())
    (models / "imdb_lstm.search.toml").write_text(
        "# rnnc search imdb_lstm.onnx: test header\n[bits]\nweight = 6\n"
    )
    out = tmp_path / "docs" / "results.md"
    (out.parent / "plots").mkdir(parents=True)
    (out.parent / "plots" / "imdb_lstm_pareto.png").write_bytes(b"\x89PNG")
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnc.lab.results",
            "--limit",
            "30",
            "--models",
            str(models),
        ]
        + ["--out", str(out), "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RNNC_DATA": str(env["data"])},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 60
    text = out.read_text()
    assert "| model | layers | units | method | W bits | A bits |" in text
    assert "--limit 30" in text and "-core CPU" in text
    assert "`imdb_gru`, `ptb_lstm`" in text  # missing models are named
    rows = [ln for ln in text.splitlines() if ln.startswith("| IMDb LSTM")]
    n_imdb, n_ptb = len(results.CONFIGS["imdb"]), len(results.CONFIGS["ptb"])
    assert len(rows) == n_imdb + 1 + 3  # uniform configs, search, peers
    ptb = [ln for ln in text.splitlines() if ln.startswith("| PTB GRU")]
    assert len(ptb) == n_ptb + 1 + 4  # uniform, the paper's GRU W8/A3, peers
    assert "| PTB GRU | 1 | 5 | rnnc uniform (paper's GRU W/A) | 8 | 3 |" in text
    assert "| IMDb LSTM | 1 | 5 | rnnc uniform | 8 | 16 |" in text
    assert "| IMDb LSTM | 1 | 5 | rnnc uniform, mse fit | 3 | 16 |" in text
    assert "rnnc search (imdb_lstm.search.toml) | 6 | 16 |" in text
    assert "test header" in text
    assert "no `rnnc search` row: ptb_gru.search.toml not found" in text
    assert "no Pareto plot:" in text and "ptb_gru_pareto.png" in text
    assert "![imdb_lstm Pareto front](plots/imdb_lstm_pareto.png)" in text
    assert "92.8 → 93.7" in text and "91.3 → 90.6" in text
    rows = json.loads((tmp_path / "r.json").read_text())
    assert [r["name"] for r in rows] == ["imdb_lstm", "ptb_gru"]
