"""Exports whose recorded shapes hold only at the traced sizes.

torch's dynamo exporter with a dynamic step count, traced at T=20, records
`[B, 20, H]` value_info for intermediates and outputs; onnxruntime runs the model
at T=50 regardless. rnnc infers every intermediate and output shape from the
inputs, so it runs such a model at any T.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from test_onnx_features import run_ort
from torch import nn

from rnnc import driver

TRACED, RUN = 20, 50


class Tagger(nn.Module):
    """Embedding → LSTM → per-step Linear → sigmoid (outputs depend on T)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 6)
        self.rnn = nn.LSTM(6, 5, batch_first=True)
        self.head = nn.Linear(5, 1)

    def forward(self, ids):
        y, _ = self.rnn(self.emb(ids))
        return torch.sigmoid(self.head(y))


def stale(model: onnx.ModelProto, axis: int) -> list[str]:
    """Intermediates and outputs recorded with the traced step count on `axis`."""
    infos = [*model.graph.value_info, *model.graph.output]
    return [
        v.name
        for v in infos
        if len(v.type.tensor_type.shape.dim) > axis
        and v.type.tensor_type.shape.dim[axis].dim_value == TRACED
    ]


def test_dynamo_export_runs_at_another_step_count(tmp_path):
    torch.manual_seed(0)
    ids = torch.randint(0, 30, (2, TRACED))
    path = tmp_path / "tagger.onnx"
    steps = torch.export.Dim("steps", min=2, max=512)
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Tagger().eval(),
            (ids,),
            str(path),
            dynamo=True,
            input_names=["ids"],
            output_names=["p"],
            dynamic_shapes={"ids": {0: batch, 1: steps}},
        )
    model = onnx.load(path)
    assert "p" in stale(model, axis=1)  # what torch 2.13's exporter records
    feeds = {"ids": np.random.default_rng(0).integers(0, 30, (3, RUN))}
    want = run_ort(model, feeds)["p"]
    assert want.shape == (3, RUN, 1)
    got = driver.run(path, feeds)["p"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_contradicting_value_info_is_inferred_again(tmp_path):
    """The same situation built by hand, independent of the exporter's version:
    an intermediate and the output recorded at 20 steps, run at 50."""
    rng = np.random.default_rng(1)
    hidden = 3
    w = rng.standard_normal((1, 4 * hidden, 2)).astype(np.float32)
    r = rng.standard_normal((1, 4 * hidden, hidden)).astype(np.float32)
    nodes = [
        helper.make_node("LSTM", ["x", "W", "R"], ["y", "h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["y", "one"], ["y3"]),
        helper.make_node("Tanh", ["y3"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "stale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 2, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [TRACED, 2, hidden])],
        [
            numpy_helper.from_array(w, "W"),
            numpy_helper.from_array(r, "R"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
        value_info=[
            helper.make_tensor_value_info("y3", TensorProto.FLOAT, [TRACED, 2, hidden]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert stale(model, axis=0) == ["y3", "out"]
    path = tmp_path / "stale.onnx"
    onnx.save(model, path)
    feeds = {"x": rng.standard_normal((RUN, 2, 2)).astype(np.float32)}
    want = run_ort(model, feeds)["out"]
    assert want.shape == (RUN, 2, hidden)
    got = driver.run(path, feeds)["out"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
