# RUN: python %s | filecheck %s
# An LSTM whose weights are computed in the graph from initializers, as torch's
# dynamo exporter does (Slice + Concat re-ordering the gates): the frontend folds the
# subgraph, so the cell sees constant weights.

import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnnc.cli import main

H, I = 2, 1
w_raw = np.arange(4 * H * I, dtype=np.float32).reshape(1, 4 * H, I)
inits = [
    numpy_helper.from_array(w_raw, "w_raw"),
    numpy_helper.from_array(np.zeros((1, 4 * H, H), np.float32), "R"),
    numpy_helper.from_array(np.array([0], np.int64), "s0"),
    numpy_helper.from_array(np.array([H], np.int64), "s1"),
    numpy_helper.from_array(np.array([4 * H], np.int64), "s2"),
    numpy_helper.from_array(np.array([1], np.int64), "ax"),
]
nodes = [
    helper.make_node("Slice", ["w_raw", "s0", "s1", "ax"], ["first"]),
    helper.make_node("Slice", ["w_raw", "s1", "s2", "ax"], ["rest"]),
    helper.make_node("Concat", ["rest", "first"], ["W"], axis=1),
    helper.make_node(
        "LSTM", ["X", "W", "R"], ["Y", "Y_h"], hidden_size=H, name="lstm0"
    ),
]
graph = helper.make_graph(
    nodes,
    "g",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3, 1, I])],
    [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, 1, H])],
    initializer=inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
    onnx.save(model, f.name)
    main([f.name, "--emit=mlir"])

# CHECK:      func.func @main(%X: tensor<3x1x1xf32> {onnx.name = "X"}) -> (tensor<1x1x2xf32> {onnx.name = "Y_h"}) {
# CHECK-NOT:    rnn.slice
# CHECK-NOT:    rnn.concat
# CHECK-NEXT:   %W = rnn.constant dense<{{\[\[\[}}2.000000e+00], [3.000000e+00], [4.000000e+00], [5.000000e+00], [6.000000e+00], [7.000000e+00], [0.000000e+00], [1.000000e+00]]]> : tensor<1x8x1xf32>
# CHECK-NEXT:   %R = rnn.constant dense<0.000000e+00> : tensor<1x8x2xf32>
# CHECK-NEXT:   %{{.*}}, %Y_h, %{{.*}} = rnn.lstm %X, %W, %R {hidden_size = 2 : i64}
# CHECK-NEXT:   func.return %Y_h
