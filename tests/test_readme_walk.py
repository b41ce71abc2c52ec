"""The README walked as a new user would: every command's --help, the example
quantized at one batch and run at three others, verified at batch 1, emitted
without --input-shape, and calibration files made from both data sets (tiny
files in the real formats, through $RNNC_DATA) and used directly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import needs, rnnc
from synthetic_data import PTB_WORDS, review, write_imdb, write_ptb

from rnnc.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"
IMDB = ROOT / "models" / "imdb_lstm.onnx"
PTB = ROOT / "models" / "ptb_lstm.onnx"


def _readme_has(command: str) -> None:
    """The walk runs what the README shows (modulo file names)."""
    assert command in README, f"README no longer shows `{command}`"


@pytest.fixture
def data(tmp_path, monkeypatch):
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    write_imdb(root, "train", 20, lambda label: review(rng, label))
    in_vocab = (ROOT / "models" / "ptb_vocab.txt").read_text().split("\n")
    words = [w for w in PTB_WORDS if w in in_vocab]
    write_ptb(root, rng, "train", 60, vocab=words)
    monkeypatch.setenv("RNNC_DATA", str(root))
    return root


def test_every_command_explains_itself(capsys):
    for argv in (["--help"], *([c, "--help"] for c in COMMANDS)):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
        assert "usage: rnnc" in capsys.readouterr().out
    opt = [sys.executable, "-c", "from rnnc.opt import main; main()", "--help"]
    text = subprocess.run(opt, capture_output=True, text=True).stdout
    assert "expand-cells" in " ".join(text.split()).replace("- ", "-")


def test_quantize_at_one_batch_run_at_three_others(tmp_path, capsys):
    _readme_has("rnnc quantize model.onnx --calib calib.npz")
    _readme_has("rnnc run m.fxp.mlir -i x.npz -o y.npz")
    fxp = tmp_path / "m.fxp.mlir"
    calib = np.load(EXAMPLE_INPUT)["tokens"]
    assert rnnc(
        "quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "--weight-bits", "8",
        "--act-bits", "12", "-o", fxp,
    ) == 0  # fmt: skip
    tokens = np.random.default_rng(1).integers(0, 100, (16, 12))
    runs = {}
    for rows in (slice(0, 16), slice(0, 1), slice(1, 4), slice(4, 11)):
        np.savez(tmp_path / "x.npz", tokens=tokens[rows])
        assert rnnc("run", fxp, "-i", tmp_path / "x.npz", "-o", tmp_path / "y.npz") == 0
        runs[rows.start, rows.stop] = np.load(tmp_path / "y.npz")["logits"]
    big = runs.pop((0, 16))
    assert all(len(v) != len(calib) for v in runs.values())
    for (start, stop), logits in runs.items():
        np.testing.assert_array_equal(logits, big[start:stop])
    # the float model, printed once without --input-shape, runs like onnxruntime
    _readme_has("rnnc model.onnx --emit=mlir")
    printed = tmp_path / "f.mlir"
    assert rnnc(EXAMPLE, "--emit=mlir", "-o", printed) == 0
    np.savez(tmp_path / "x.npz", tokens=tokens[:5])
    assert rnnc("run", printed, "-i", tmp_path / "x.npz", "-o", tmp_path / "f.npz") == 0
    session = ort.InferenceSession(str(EXAMPLE), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"tokens": tokens[:5]})
    got = np.load(tmp_path / "f.npz")["logits"]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(big[:5] - want).max() < 0.1  # 8/12-bit fixed point near float
    # elided constants for reading
    capsys.readouterr()
    assert rnnc(EXAMPLE, "--emit=mlir", "--elide-constants") == 0
    assert "dense_resource<__elided__> : tensor<100x32xf32>" in capsys.readouterr().out


@needs("iverilog", "circt")
def test_emit_and_verify_at_batch_1(tmp_path, capsys):
    _readme_has("rnnc verify model.onnx --calib calib.npz")
    _readme_has("--emit=verilog -o out/")
    assert rnnc(
        "verify", EXAMPLE, "--calib", EXAMPLE_INPUT, "--weight-bits", "8",
        "--sequences", "1", "--lanes", "4", "-o", tmp_path / "work",
    ) == 0  # fmt: skip
    assert re.match(r"MATCH: 1 sequences, 2 output words", capsys.readouterr().out)
    out = tmp_path / "rtl"
    assert rnnc(
        EXAMPLE, "--emit=verilog", "-o", out, "--calib", EXAMPLE_INPUT, "--lanes", "4"
    ) == 0  # fmt: skip
    assert (out / "rnnc_top.sv").is_file() and (out / "manifest.json").is_file()


def test_calib_from_both_data_sets(tmp_path, data, capsys):
    _readme_has("rnnc calib models/imdb_lstm.onnx --dataset imdb")
    _readme_has("rnnc calib models/ptb_lstm.onnx --dataset ptb")
    imdb = tmp_path / "imdb.npz"
    assert rnnc("calib", IMDB, "--dataset", "imdb", "--samples", "6", "-o", imdb) == 0
    with np.load(imdb) as arrays:
        assert list(arrays) == ["tokens"] and arrays["tokens"].shape == (6, 300)
        assert (arrays["tokens"][:, -1] > 1).all()  # pre-padded real words
    ptb = tmp_path / "ptb.npz"
    assert rnnc(
        "calib", PTB, "--dataset", "ptb", "--samples", "4", "--batch", "2",
        "--bptt", "5", "-o", ptb,
    ) == 0  # fmt: skip
    with np.load(ptb) as f:
        arrays = {k: f[k] for k in f.files}
    assert arrays["tokens"].shape == (4, 5)
    assert arrays["h0"].shape == arrays["c0"].shape == (1, 4, 300)
    # windows 0 (rows 0-1) start from zero; window 1 (rows 2-3) from the state
    # the float model reaches after window 0: onnxruntime's
    assert not arrays["h0"][:, :2].any() and not arrays["c0"][:, :2].any()
    session = ort.InferenceSession(str(PTB), providers=["CPUExecutionProvider"])
    feeds = {"tokens": arrays["tokens"][:2]}
    feeds |= {k: np.zeros((1, 2, 300), np.float32) for k in ("h0", "c0")}
    _, h, c = session.run(None, feeds)
    np.testing.assert_allclose(arrays["h0"][:, 2:], h, atol=1e-5)
    np.testing.assert_allclose(arrays["c0"][:, 2:], c, atol=1e-5)


def test_dataset_directly_on_quantize(tmp_path, data, capsys):
    _readme_has("--dataset imdb --samples")
    fxp = tmp_path / "m.fxp.mlir"
    assert rnnc(
        "quantize", IMDB, "--dataset", "imdb", "--samples", "4", "--weight-bits", "8",
        "-o", fxp,
    ) == 0  # fmt: skip
    text = fxp.read_text()
    assert 'rnnc.dims = ["batch", ""]' in text[:2000]
    capsys.readouterr()
    code = rnnc("quantize", EXAMPLE, "--dataset", "ptb", "-o", tmp_path / "x.mlir")
    assert code == 2  # the example takes no PTB-shaped inputs: one error line
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
