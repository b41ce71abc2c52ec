"""`rnnc eval` / rnnc.lab.evaluate on tiny synthetic IMDb and PTB sets (same file
formats as the real ones, found through $RNNC_DATA) with tiny torch models: the
float metric equals torch's, wide formats reproduce it, narrow ones report their
error, and the CLI writes JSON or fails with one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import WIDE_POLICY, rnnc
from synthetic_data import review, write_imdb, write_ptb
from torch_models import TinyClassifier, TinyLanguageModel, export_onnx

from rnnc.lab import datasets as ds
from rnnc.lab.evaluate import evaluate_imdb, evaluate_ptb, paired_se
from rnnc.passes.quant_config import load_config

WIDE = load_config(**{**WIDE_POLICY, "lut_bits": 16})  # smaller tables: faster
NARROW = load_config(weight_bits=4)

MAX_LEN = 12
IMDB_BATCH = 8  # 30 test reviews: the last batch is padded
PTB_BATCH, BPTT = 3, 7


def _write_data(root, rng):
    def text(label):
        return review(rng, label, tail=" <br /><br />The End")

    write_imdb(root, "train", 40, text)
    write_imdb(root, "test", 30, text)
    for split, lines in (("train", 120), ("valid", 5), ("test", 22)):
        write_ptb(root, rng, split, lines)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Data root, models and their torch references (built once for the module)."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(1)
    data = root / "data"
    _write_data(data, rng)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNC_DATA", str(data))
        train, _ = ds.load_imdb("train")
        vocab = ds.build_imdb_vocab(train, 30)
        ptb_vocab = ds.ptb_vocab()
        test, labels = ds.load_imdb("test")
        ptb_test = ds.encode_ptb(ds.load_ptb("test"), ptb_vocab)

    models = root / "models"
    models.mkdir()
    ds.save_vocab(vocab, models / "tiny_vocab.txt")
    meta = {"vocab_file": "tiny_vocab.txt", "hyperparameters": {"max_len": MAX_LEN}}
    (models / "imdb_tiny.json").write_text(json.dumps(meta))
    torch.manual_seed(0)
    clf = TinyClassifier(len(vocab))
    with torch.no_grad():
        clf.head.weight.mul_(8)  # clear margins: argmax must not hinge on 1e-7
    x = torch.from_numpy(ds.encode_imdb(test, vocab, MAX_LEN))
    with torch.no_grad():
        logits = clf(x).numpy()
    assert np.abs(logits[:, 0] - logits[:, 1]).min() > 1e-4
    export_onnx(
        clf,
        (x[:2],),
        models / "imdb_tiny.onnx",
        ["tokens"],
        ["logits"],
        {"tokens": {0: "batch"}, "logits": {0: "batch"}},
    )

    lm = TinyLanguageModel(len(ptb_vocab))
    with torch.no_grad():  # make the carried state and the logits matter
        lm.rnn.weight_hh_l0.mul_(3)
        lm.out.weight.mul_(4)
    zero = torch.zeros(1, 2, 8)
    export_onnx(  # no sidecar JSON: the vocabulary defaults to ptb_vocab()
        lm,
        (torch.zeros(2, 4, dtype=torch.int64), zero, zero),
        models / "ptb_tiny.onnx",
        ["tokens", "h0", "c0"],
        ["logits", "h", "c"],
        {
            "tokens": {0: "batch", 1: "steps"},
            "logits": {0: "batch", 1: "steps"},
            **{n: {1: "batch"} for n in ("h0", "c0", "h", "c")},
        },
    )
    return {
        "data": data,
        "imdb": models / "imdb_tiny.onnx",
        "ptb": models / "ptb_tiny.onnx",
        "imdb_acc": float(np.mean(logits.argmax(-1) == labels)),
        "ptb_ppl": _torch_ppl(lm, ds.batchify(ptb_test, PTB_BATCH), window=3),
        "ptb_ppl_stateless": _torch_ppl(
            lm, ds.batchify(ptb_test, PTB_BATCH), window=3, carry=False
        ),
        "ptb_steps": len(ptb_test) // PTB_BATCH,
    }


def _torch_ppl(lm, data: np.ndarray, window: int, carry: bool = True) -> float:
    """Stateful perplexity in torch, in windows of another length than rnnc's."""
    state = (torch.zeros(1, len(data), 8), torch.zeros(1, len(data), 8))
    nll, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, data.shape[1] - 1, window):
            seq = min(window, data.shape[1] - 1 - i)
            x = torch.from_numpy(data[:, i : i + seq])
            y = torch.from_numpy(data[:, i + 1 : i + 1 + seq])
            logits, h, c = lm(x, *state)
            if carry:
                state = (h, c)
            nll += torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).double(),
                y.reshape(-1),
                reduction="sum",
            ).item()
            n += y.numel()
    return math.exp(nll / n)


@pytest.fixture
def data_env(world, monkeypatch):
    monkeypatch.setenv("RNNC_DATA", str(world["data"]))
    return world


def test_imdb_float_matches_torch_and_wide_fixed_matches_float(data_env):
    r = evaluate_imdb(data_env["imdb"], config=WIDE, batch=IMDB_BATCH, progress=False)
    assert r.samples == 30 and r.calib_size == 40  # 256 asked, the train split has 40
    assert r.float_metric == data_env["imdb_acc"]
    assert abs(r.fixed_metric - r.float_metric) <= 1 / 30 + 1e-12
    assert r.overflows == 0
    assert r.memory.reduction < 0.5  # 24-bit weights


def test_imdb_limit(data_env):
    r = evaluate_imdb(
        data_env["imdb"], config=NARROW, batch=4, limit=10, progress=False
    )
    assert r.samples == 10
    assert {row.bits for row in r.memory.rows if row.kind == "weight"} == {4}
    assert r.delta == r.fixed_metric - r.float_metric


def test_ptb_float_matches_stateful_torch(data_env):
    assert (data_env["ptb_steps"] - 1) % BPTT, "want a padded last window"
    want = data_env["ptb_ppl"]
    assert abs(data_env["ptb_ppl_stateless"] / want - 1) > 1e-3  # state matters
    r = evaluate_ptb(
        data_env["ptb"],
        config=WIDE,
        batch=PTB_BATCH,
        bptt=BPTT,
        progress=False,
    )
    assert r.samples == PTB_BATCH * (data_env["ptb_steps"] - 1)
    assert r.float_metric == pytest.approx(want, rel=1e-4)
    assert r.fixed_metric == pytest.approx(r.float_metric, rel=1e-3)
    assert r.overflows == 0

    narrow = evaluate_ptb(
        data_env["ptb"],
        config=NARROW,
        batch=PTB_BATCH,
        bptt=BPTT,
        progress=False,
    )
    assert narrow.float_metric == r.float_metric
    assert abs(narrow.delta) > 1e-3 * r.float_metric
    # the change is a mean over tokens of NLL differences: its standard error is
    # positive, and much larger for the narrow formats
    assert 0 < r.paired_se < narrow.paired_se


def test_paired_se_of_correctness_is_the_discordant_count_formula():
    """For 0/1 scores, the variance of the paired difference follows from the
    counts n10 (only float right) and n01 (only fixed right) alone."""
    rng = np.random.default_rng(0)
    n = 500
    ref = (rng.random(n) < 0.8).astype(float)
    fixed = np.where(rng.random(n) < 0.1, 1 - ref, ref)
    n01 = int(np.sum((fixed == 1) & (ref == 0)))
    n10 = int(np.sum((fixed == 0) & (ref == 1)))
    var = (n01 + n10 - (n01 - n10) ** 2 / n) / (n - 1)
    assert paired_se(fixed, ref) == pytest.approx(math.sqrt(var / n), rel=1e-12)
    assert paired_se(ref, ref) == 0.0


def test_cli_writes_json(data_env, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["eval", data_env["imdb"], "--dataset", "imdb", "--batch", "16"]
    assert rnnc(*args, "--weight-bits", "8", "--act-bits", "16", "--json", out) == 0
    got = json.loads(out.read_text())
    for key in (
        "metric",
        "float",
        "fixed",
        "delta",
        "weight_bytes_float32",
        "weight_bytes_fixed",
        "memory_reduction",
        "memory",
        "overflows",
        "seconds",
        "config",
    ):
        assert key in got, key
    assert got["metric"] == "accuracy" and got["float"] == data_env["imdb_acc"]
    assert got["config"]["bits"]["weight"] == 8
    table = capsys.readouterr().out
    assert "accuracy" in table and "weights (bytes)" in table and "overflows" in table


def test_cli_model_not_fitting_the_dataset(data_env, capsys):
    assert rnnc("eval", data_env["imdb"], "--dataset", "ptb") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit the ptb dataset" in err[0]


def test_cli_missing_data_is_one_line(world, tmp_path):
    env = {**os.environ, "RNNC_DATA": str(tmp_path / "nowhere")}
    proc = subprocess.run(
        [sys.executable, "-c", "from rnnc.cli import entry; entry()"]
        + ["eval", str(world["imdb"]), "--dataset", "imdb"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rnnc: error: cannot read IMDb")
    assert "nowhere" in lines[0]
