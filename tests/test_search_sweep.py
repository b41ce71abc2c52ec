"""`rnnc search` and `rnnc sweep` on tiny synthetic IMDb/PTB sets and models.

search: finds a configuration within budget and smaller than float on the
validation split, writes a TOML policy that reproduces that metric, and never
reads the test split. sweep: a 2-worker local Dask cluster evaluates every grid
point, writes the CSV and the plots; the Pareto front is checked by hand.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import rnnc
from synthetic_data import review, write_imdb, write_ptb
from torch import nn
from torch_models import TinyClassifier, TinyLanguageModel, export_onnx

from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_loader import load_model
from rnnc.lab import datasets as ds
from rnnc.lab import evaluate, search, sweep
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

MAX_LEN = 10
N_TRAIN, N_TEST = 200, 24  # IMDb validation: the last 20 shuffled train reviews


def _write_imdb(root, rng, split: str, n: int) -> None:
    write_imdb(root, split, n, lambda label: review(rng, label, (2, 8), (1, 3)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """`valid_only`: train (+ PTB valid) files only, no test split at all;
    `full`: every split. A briefly trained classifier and an untrained LM."""
    root = tmp_path_factory.mktemp("search")
    rng = np.random.default_rng(3)
    valid_only, full = root / "valid_only", root / "full"
    for data in (valid_only, full):
        _write_imdb(data, np.random.default_rng(3), "train", N_TRAIN)
        write_ptb(data, np.random.default_rng(4), "train", 120)
        write_ptb(data, np.random.default_rng(5), "valid", 12)
    _write_imdb(full, rng, "test", N_TEST)
    write_ptb(full, rng, "test", 12)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors; the cores are shared
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RNNC_DATA", str(full))
        train, labels = ds.load_imdb("train")
        vocab = ds.build_imdb_vocab(train, 30)
        ptb_vocab = ds.ptb_vocab()

    models = root / "models"
    models.mkdir()
    ds.save_vocab(vocab, models / "tiny_vocab.txt")
    meta = {"vocab_file": "tiny_vocab.txt", "hyperparameters": {"max_len": MAX_LEN}}
    (models / "imdb_tiny.json").write_text(json.dumps(meta))
    torch.manual_seed(0)
    clf = TinyClassifier(len(vocab))
    x = torch.from_numpy(ds.encode_imdb(train, vocab, MAX_LEN))
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(clf.parameters(), lr=0.05)
    for _ in range(30):  # full batch: confident predictions
        opt.zero_grad()
        nn.functional.cross_entropy(clf(x), y).backward()
        opt.step()
    torch.set_num_threads(threads)
    export_onnx(
        clf,
        (x[:2],),
        models / "imdb_tiny.onnx",
        ["tokens"],
        ["logits"],
        {"tokens": {0: "batch"}, "logits": {0: "batch"}},
    )
    lm = TinyLanguageModel(len(ptb_vocab))
    zero = torch.zeros(1, 2, 8)
    export_onnx(
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
        "valid_only": valid_only,
        "full": full,
        "imdb": models / "imdb_tiny.onnx",
        "ptb": models / "ptb_tiny.onnx",
    }


@pytest.fixture
def no_test_split(world, monkeypatch):
    """Data without test files, and loaders that fail on the test split."""
    monkeypatch.setenv("RNNC_DATA", str(world["valid_only"]))
    imdb, ptb = ds.load_imdb, ds.load_ptb

    def guard(load):
        def wrapped(split):
            if split == "test":
                raise AssertionError("the search read the test split")
            return load(split)

        return wrapped

    monkeypatch.setattr(ds, "load_imdb", guard(imdb))
    monkeypatch.setattr(ds, "load_ptb", guard(ptb))
    return world


# ----------------------------------------------------------------------- search


def test_budget_parsing_and_semantics():
    assert search.parse_budget("0.5%") == pytest.approx(0.005)
    assert search.parse_budget("0.01") == pytest.approx(0.01)
    for bad in ("x", "-1%", "100%"):
        with pytest.raises(RnncError):
            search.parse_budget(bad)
    # accuracy: absolute drop; perplexity: relative rise
    assert search.within("accuracy", 0.90, 0.895, 0.005)
    assert not search.within("accuracy", 0.90, 0.894, 0.005)
    assert search.within("perplexity", 200.0, 201.0, 0.005)
    assert not search.within("perplexity", 200.0, 201.2, 0.005)
    # with a margin, the change plus z standard errors must fit (log scale for
    # perplexity)
    assert search.within("accuracy", 0.90, 0.897, 0.005, se=0.002, margin=1)
    assert not search.within("accuracy", 0.90, 0.897, 0.005, se=0.0021, margin=1)
    assert search.within("perplexity", 200.0, 200.5, 0.005, se=0.002, margin=1)
    assert not search.within("perplexity", 200.0, 200.5, 0.005, se=0.003, margin=1)


def test_validation_split_is_disjoint_from_calibration(no_test_split):
    """valid = the last 10 % of the seed-shuffled train set; calibration = the
    first of the other 90 % (256 asked, 180 there)."""
    model = no_test_split["imdb"]
    prep = evaluate.prepare(model, "imdb", split="valid", progress=False, batch=8)
    n_val = N_TRAIN // 10
    assert prep.samples == n_val and prep.calib_size == N_TRAIN - n_val
    words = ds.load_vocab(model.parent / "tiny_vocab.txt")
    texts, labels = ds.load_imdb("train")
    order = np.random.default_rng(evaluate.CALIB_SEED).permutation(len(texts))
    calib = ds.encode_imdb([texts[i] for i in order[:-n_val]], words, MAX_LEN)
    assert np.array_equal(prep.calibration["tokens"], calib)
    held_out = order[-n_val:]
    x = ds.encode_imdb([texts[i] for i in held_out], words, MAX_LEN)
    (logits,) = ort.InferenceSession(str(model)).run(None, {"tokens": x})
    assert prep.float_metric == np.mean(logits.argmax(-1) == labels[held_out])


def test_cached_quantization_is_quantize_model(no_test_split):
    prep = evaluate.prepare(
        no_test_split["imdb"], "imdb", split="valid", progress=False, batch=8
    )
    for config in (load_config(weight_bits=6), load_config(activation_method="pwl")):
        cached, _, _ = prep.quantize(config)
        fresh, _ = quantize_model(
            load_model(no_test_split["imdb"]), prep.calibration, config, prep.shapes
        )
        assert str(cached) == str(fresh)


def test_search_cli_imdb(no_test_split, tmp_path, capsys):
    toml, report = tmp_path / "chosen.toml", tmp_path / "report.json"
    code = rnnc(
        "search",
        no_test_split["imdb"],
        "--dataset",
        "imdb",
        "--budget",
        "0.5%",
        "--batch",
        "8",
        "--weight-fit",
        "mse",
        "-o",
        toml,
        "--json",
        report,
    )
    assert code == 0
    got = json.loads(report.read_text())
    assert got["split"] == "valid" and got["samples"] == N_TRAIN // 10
    assert got["float"] - got["fixed"] <= 0.005
    # the tiny model's 1,024-entry tables (16-bit activations) outweigh its float
    # weights at the start; the search narrows them below
    assert got["memory_bytes"] < min(got["start_memory_bytes"], got["float32_bytes"])
    assert got["bits"]["weight"] < 16 and got["overrides"]
    runs = [t for t in got["trials"] if t["same_as"] is None]
    assert got["evaluations"] == len(runs)
    assert {t["phase"] for t in runs} >= {"start", "class", "tensor", "datapath"}
    # the chosen configuration is the smallest evaluated one within budget
    ok = [t["memory_bytes"] for t in got["trials"] if t["within_budget"]]
    assert got["memory_bytes"] == min(ok)
    out = capsys.readouterr().out
    assert "weight" in out and "memory (bytes)" in out and "evaluations" in out

    # The TOML loads and reproduces the reported validation metric and memory.
    config = load_config(toml)
    assert config.bits == got["bits"] and config.weight_fit == "mse"
    assert {k: str(v) for k, v in config.overrides.items()} == got["overrides"]
    again = evaluate.evaluate_imdb(
        no_test_split["imdb"], config=config, split="valid", batch=8, progress=False
    )
    assert again.fixed_metric == got["fixed"] and again.float_metric == got["float"]
    assert math.ceil(again.memory.total_bits / 8) == got["memory_bytes"]
    # `rnnc quantize --config` accepts it too
    calib = tmp_path / "calib.npz"
    np.savez(calib, tokens=np.zeros((2, MAX_LEN), np.int64))
    fxp = tmp_path / "m.fxp.mlir"
    assert rnnc("quantize", no_test_split["imdb"], "--calib", calib, "--config", toml,
                "-o", fxp) == 0  # fmt: skip


def test_search_runs_each_module_once(no_test_split):
    """Configurations that give the same fixed-point module are not run again."""
    prep = evaluate.prepare(
        no_test_split["imdb"], "imdb", split="valid", progress=False, batch=8
    )
    searcher = search.Searcher(prep, 0.005, load_config())
    first = searcher.evaluate(load_config(), "start", "start")
    # the input is integer tokens, and the override repeats the bias default
    same = load_config(input_bits=8, overrides={"Bi": 16})
    again = searcher.evaluate(same, "test", "same")
    assert again.same_as == first.index == 0 and searcher.runs == 1
    assert (again.metric, again.memory_bytes) == (first.metric, first.memory_bytes)
    other = searcher.evaluate(load_config(weight_bits=8), "test", "other")
    assert other.same_as is None and searcher.runs == 2


def test_search_ptb_relative_budget(no_test_split):
    budget = 0.02
    result = search.search(
        no_test_split["ptb"],
        "ptb",
        budget=budget,
        batch=3,
        bptt=5,
        calib_size=6,
        memory_only=True,
        max_evals=8,
        progress=False,
    )
    assert result.split == "valid" and result.metric == "perplexity"
    assert result.evaluations <= 8
    assert result.chosen.metric <= result.float_metric * (1 + budget)
    assert result.chosen.memory_bytes < result.start.memory_bytes
    assert result.config.bits["weight"] < 16


def test_search_rejects_a_start_outside_the_budget(no_test_split):
    with pytest.raises(RnncError, match="start configuration already misses"):
        search.search(
            no_test_split["imdb"],
            "imdb",
            budget=0.0,
            start=load_config(weight_bits=2, activation_bits=2, state_bits=2),
            batch=8,
            progress=False,
        )


def test_tensor_phase_bisects_then_scans_below(monkeypatch):
    """A tensor's width is binary-searched in [2, class width] as an override,
    then every narrower width is tried once (fitted weights are not monotone):
    with 8, 7, 6 and 3 bits within budget, 5 (over) -> 7 -> 6, then 4 (over),
    3 (kept), 2 (over)."""
    searcher = search.Searcher(None, 0.005, load_config(weight_bits=8))
    tried, seen = [], {}

    def fake_evaluate(config, phase, change):
        width = config.overrides["emb"]
        if width not in seen:  # Searcher.evaluate returns a seen trial again
            tried.append((phase, width))
            seen[width] = type("T", (), {"ok": width in (8, 7, 6, 3)})()
            if seen[width].ok:
                searcher.best_config = config
        return seen[width]

    def bits(config, per_bit):
        width = config.overrides.get("emb", config.bits["weight"])
        return type("Memory", (), {"total_bits": 1000 + per_bit * width})()

    monkeypatch.setattr(searcher, "evaluate", fake_evaluate)
    monkeypatch.setattr(searcher, "signature", lambda config: str(config))
    monkeypatch.setattr(searcher, "memory_of", lambda config: bits(config, 100))
    searcher.refine_tensor("emb")
    assert [w for _, w in tried] == [5, 7, 6, 4, 3, 2]
    assert {p for p, _ in tried} == {"tensor"}
    assert searcher.best_config.overrides == {"emb": 3}

    # A tied matrix: an override stores a second copy, so it is not tried at all.
    searcher.best_config, tried[:] = load_config(weight_bits=8), []
    monkeypatch.setattr(searcher, "memory_of", lambda config: bits(config, -100))
    searcher.refine_tensor("emb")
    assert tried == []


# ------------------------------------------------------------------------ sweep


def test_pareto_front_by_hand():
    #        0    1    2    3    4    5    6
    memory = [10, 20, 20, 30, 40, 5, 30]
    acc = [0.7, 0.8, 0.9, 0.85, 0.95, 0.5, 0.9]
    # 1 is beaten by 2 (same memory, better), 3 by 2, 6 ties 2 with more memory
    assert sweep.pareto_front(memory, acc, True) == [5, 0, 2, 4]
    ppl = [300, 200, 150, 150, 100, 400, 120]  # lower is better
    assert sweep.pareto_front(memory, ppl, False) == [5, 0, 2, 6, 4]
    assert sweep.pareto_front([1, 1], [0.5, 0.5], True) == [0]


@pytest.mark.parametrize(
    "parse, text, needle",
    [
        (lambda t: sweep.parse_ints(t, "--act-bits"), "8,x", "bad --act-bits"),
        (sweep.parse_methods, "lut,spline", "bad --activation"),
        (lambda t: sweep.parse_fits(t, load_config()), "mse,l1", "bad --weight-fit"),
    ],
)
def test_sweep_grid_flags_are_checked(parse, text, needle):
    with pytest.raises(RnncError, match=needle):
        parse(text)


def test_sweep_grid_takes_the_fit_of_the_policy():
    base = load_config(weight_fit="mse")
    assert sweep.parse_fits(None, base) == ["mse"]
    points = sweep.grid(base, [4], [8, 16], ["lut"], ["cover", "mse"])
    assert [(p.act_bits, p.weight_fit) for p in points] == [
        (8, "cover"),
        (16, "cover"),
        (8, "mse"),
        (16, "mse"),
    ]


def test_sweep_cli_two_workers(world, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RNNC_DATA", str(world["full"]))
    out = tmp_path / "sweep"
    code = rnnc(
        "sweep",
        world["imdb"],
        "--dataset",
        "imdb",
        "--weight-bits",
        "3,12",
        "--act-bits",
        "6,12",
        "--activation",
        "lut,hard",
        "--weight-fit",
        "cover,mse",
        "--workers",
        "2",
        "--batch",
        "8",
        "-o",
        out,
    )
    assert code == 0
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 * 2
    grid = {
        (r["weight_bits"], r["act_bits"], r["activation"], r["weight_fit"])
        for r in rows
    }
    assert len(grid) == 16 and {r["weight_fit"] for r in rows} == {"cover", "mse"}
    for key in ("float", "fixed", "delta", "weight_bytes", "reduction_pct"):
        assert all(r[key] != "" for r in rows), key
    assert {r["split"] for r in rows} == {"test"}
    assert len({r["float"] for r in rows}) == 1
    front = [r for r in rows if r["pareto"] == "True"]
    assert front and min(int(r["weight_bytes"]) for r in rows) in {
        int(r["weight_bytes"]) for r in front
    }
    for name in ("sweep_pareto.png", "sweep_bits.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["workers"] == 2 and summary["speedup"] > 0
    assert "speed-up" in capsys.readouterr().out
