# RUN: python %s | filecheck %s
# Ops exporters put around recurrences, as imported: Keras' id wrap becomes
# rnn.less / rnn.select before the gather; Split becomes one rnn.slice per part;
# Tile concatenates copies; an If on a condition known from static shapes is the
# branch it takes.

import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnnc.cli import main

F, I64 = TensorProto.FLOAT, TensorProto.INT64
then_branch = helper.make_graph(
    [helper.make_node("Sigmoid", ["x"], ["picked"])],
    "then",
    [],
    [helper.make_tensor_value_info("picked", F, [2, 4])],
)
else_branch = helper.make_graph(
    [helper.make_node("Identity", ["x"], ["kept"])],
    "else",
    [],
    [helper.make_tensor_value_info("kept", F, [2, 4])],
)
nodes = [
    helper.make_node("Less", ["ids", "zero"], ["neg"]),
    helper.make_node("Add", ["ids", "vocab"], ["shifted"]),
    helper.make_node("Where", ["neg", "shifted", "ids"], ["wrapped"]),
    helper.make_node("Gather", ["table", "wrapped"], ["emb"]),
    helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
    helper.make_node("Tile", ["a", "reps"], ["tiled"]),
    helper.make_node("Size", ["x"], ["size"]),
    helper.make_node("Greater", ["size", "vocab"], ["cond"]),
    helper.make_node(
        "If", ["cond"], ["branch"], then_branch=then_branch, else_branch=else_branch
    ),
]
inits = {
    "zero": np.array(0, np.int64),
    "vocab": np.array(5, np.int64),
    "table": np.ones((5, 2), np.float32),
    "sizes": np.array([1, 3], np.int64),
    "reps": np.array([1, 2], np.int64),
}
graph = helper.make_graph(
    nodes,
    "g",
    [
        helper.make_tensor_value_info("ids", I64, [2, 3]),
        helper.make_tensor_value_info("x", F, [2, 4]),
    ],
    [
        helper.make_tensor_value_info(n, F, None)
        for n in ("emb", "tiled", "b", "branch")
    ],
    initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
    onnx.save(model, f.name)
    main([f.name, "--emit=mlir"])

# CHECK:      %neg = rnn.less %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
# CHECK:      %shifted = rnn.add %ids, %vocab : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi64>
# CHECK-NEXT: %wrapped = rnn.select %neg, %shifted, %ids : (tensor<2x3xi1>, tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
# CHECK:      %emb = rnn.gather %table, %wrapped
# CHECK-NEXT: %a = rnn.slice %x {starts = array<i64: 0>, ends = array<i64: 1>, axes = array<i64: 1>, steps = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x1xf32>
# CHECK-NEXT: %b = rnn.slice %x {starts = array<i64: 1>, ends = array<i64: 4>, axes = array<i64: 1>, steps = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x3xf32>
# CHECK-NEXT: %tiled = rnn.concat %a, %a {axis = 1 : i64} : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x2xf32>
# CHECK-NOT:  If
# CHECK:      %branch = rnn.sigmoid %x : tensor<2x4xf32>
# CHECK:      func.return %emb, %tiled, %b, %branch
