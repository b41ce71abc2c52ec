"""torch cell loops: `nn.LSTMCell` / `nn.GRUCell` called in a Python loop over
time, the way many users write recurrences. Both exporters unroll the loop into
per-step `Gemm` + `Split` (the gates) + activations; the frontend raises the
steps into one `rnn.recurrence` (passes/raise_unrolled.py). rnnc must match
onnxruntime in float, quantize them, and the RTL must equal the interpreter.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import onnx
import pytest
import torch
from conftest import HW_POLICY, WIDE_POLICY, needs
from test_onnx_features import run_ort
from torch import nn

from rnnc import driver
from rnnc.backends.verilog.testbench import random_batches, verify
from rnnc.dialects import rnn
from rnnc.frontend.onnx_import import import_model
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

STEPS, BATCH, INPUT, HIDDEN = 6, 3, 4, 5


class CellLoop(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}[kind]
        self.cell = cell(INPUT, HIDDEN)
        self.head = nn.Linear(HIDDEN, 2)

    def forward(self, x):
        h = torch.zeros(x.shape[1], HIDDEN)
        c = torch.zeros(x.shape[1], HIDDEN)
        for t in range(x.shape[0]):
            if self.kind == "lstm":
                h, c = self.cell(x[t], (h, c))
            else:
                h = self.cell(x[t], h)
        return self.head(h)


@pytest.fixture(scope="module", params=["lstm", "gru"])
def kind(request):
    return request.param


def export(tmp_path, kind: str, dynamo: bool, batch: int = BATCH, steps=STEPS):
    torch.manual_seed(0)
    x = torch.randn(steps, batch, INPUT)
    path = tmp_path / f"{kind}_cell_loop.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            CellLoop(kind).eval(),
            (x,),
            str(path),
            dynamo=dynamo,
            input_names=["x"],
            output_names=["y"],
        )
    return path, {"x": x.numpy()}


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_float_matches_onnxruntime(tmp_path, kind, dynamo):
    path, feeds = export(tmp_path, kind, dynamo)
    counts = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    assert counts["Split"] >= STEPS and counts["Gemm"] >= STEPS  # unrolled
    assert recurrences(import_model(load_model(path))) == 1  # raised
    want = run_ort(onnx.load(path), feeds)["y"]
    for passes in ((), driver.EXPANDED):
        got = driver.run(path, feeds, passes)["y"]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_quantizes(tmp_path, kind):
    path, feeds = export(tmp_path, kind, dynamo=False)
    want = driver.run(path, feeds)["y"]
    module, _ = quantize_model(load_model(path), feeds, load_config(**WIDE_POLICY))
    got, counter = driver.execute(module, feeds)
    np.testing.assert_allclose(got["y"], want, rtol=0, atol=1e-4)
    assert counter.total_overflows == 0


def recurrences(module) -> int:
    """How many recurrences the import holds (each raised loop is one)."""
    return sum(isinstance(op, rnn.RecurrenceOp) for op in module.walk())


HW_BATCH = 25  # x 4 batches: 100 sequences


def rtl_matches(tmp_path, path, calib, lanes: int = 2) -> None:
    """Quantize, emit RTL and simulate 100 random sequences: bit-exact."""
    module, _ = quantize_model(load_model(path), calib, load_config(None, **HW_POLICY))
    batches = random_batches(calib, list(calib), 100, HW_BATCH, seed=7)
    report = verify(module, batches, tmp_path / "rtl", lanes=lanes)
    assert report.sequences >= 100
    assert report.ok, (report.summary(), report.mismatches[:5])


@needs("iverilog")
def test_rtl_matches_interpreter(tmp_path, kind):
    """The raised cell loop runs on the hardware: RTL equals the interpreter."""
    path, calib = export(tmp_path, kind, dynamo=False, batch=HW_BATCH, steps=4)
    rtl_matches(tmp_path, path, calib)
