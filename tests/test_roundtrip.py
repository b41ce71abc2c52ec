"""Printed modules round-trip through rnnc-opt and run the same as the ONNX model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import rnnc

EXAMPLE = Path(__file__).parents[1] / "examples" / "lstm_classifier.onnx"
INPUTS = EXAMPLE.with_name("lstm_classifier_input.npz")
SHAPE = ("--input-shape", "tokens=4x12")  # the example's batch is dynamic


@pytest.mark.parametrize("emit", ["mlir", "expanded"])
def test_rnnc_opt_reproduces_printed_module(emit, tmp_path):
    printed = tmp_path / "m.mlir"
    assert rnnc(EXAMPLE, f"--emit={emit}", *SHAPE, "-o", printed) == 0
    text = printed.read_text()
    assert ("rnn.recurrence" in text) == (emit == "expanded")
    for generic in ([], ["--print-op-generic"]):
        first = subprocess.run(
            [sys.executable, "-c", "from rnnc.opt import main; main()", str(printed)]
            + generic,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        again = subprocess.run(
            [sys.executable, "-c", "from rnnc.opt import main; main()"],
            input=first,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert again.strip() == text.strip()


@pytest.mark.parametrize("emit", ["mlir", "expanded"])
def test_printed_module_runs_like_the_model(emit, tmp_path, run_cli):
    printed = tmp_path / "m.mlir"
    assert rnnc(EXAMPLE, f"--emit={emit}", *SHAPE, "-o", printed) == 0
    with np.load(INPUTS) as data:
        feeds = {k: data[k] for k in data.files}
    from_onnx = run_cli(EXAMPLE, feeds, *(["--expand"] if emit == "expanded" else []))
    from_mlir = run_cli(printed, feeds)
    assert from_onnx.keys() == from_mlir.keys() == {"logits"}
    np.testing.assert_array_equal(from_onnx["logits"], from_mlir["logits"])
