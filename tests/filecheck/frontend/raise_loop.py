# RUN: python %s | filecheck %s
# An ONNX Loop in tf2onnx's form becomes a recurrence. Before: a loop over 3
# iterations whose body carries a time counter (incremented by one, condition
# time + 1 < 3) and a state h, reads x[time] with Gather and yields
# h' = tanh(x_t + h @ R) as next state and scan output. After: the counter, its
# condition and the Gather are gone; the body is the step (x_t, h) -> h'.

import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnnc.cli import main

F, I32, I64, B = (
    TensorProto.FLOAT,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.BOOL,
)


def const(name, value):
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value))
    )


body = helper.make_graph(
    [
        const("one", np.int32(1)),
        const("three", np.int32(3)),
        helper.make_node("Gather", ["x", "time"], ["x_t"], axis=0),
        helper.make_node("MatMul", ["h", "r"], ["hr"]),
        helper.make_node("Add", ["x_t", "hr"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h_next"]),
        helper.make_node("Add", ["time", "one"], ["time_next"]),
        helper.make_node("Less", ["time_next", "three"], ["cond_out"]),
    ],
    "body",
    [
        helper.make_tensor_value_info("iter", I64, []),
        helper.make_tensor_value_info("cond_in", B, []),
        helper.make_tensor_value_info("time", I32, []),
        helper.make_tensor_value_info("h", F, [2, 2]),
    ],
    [
        helper.make_tensor_value_info("cond_out", B, []),
        helper.make_tensor_value_info("time_next", I32, []),
        helper.make_tensor_value_info("h_next", F, [2, 2]),
        helper.make_tensor_value_info("h_next", F, [2, 2]),
    ],
)
inits = {
    "trip": np.array(3, np.int64),
    "go": np.array(True),
    "time0": np.array(0, np.int32),
    "h0": np.zeros((2, 2), np.float32),
    "r": np.array([[0.5, -0.25], [0.125, 1.0]], np.float32),
}
graph = helper.make_graph(
    [
        helper.make_node(
            "Loop", ["trip", "go", "time0", "h0"], ["t", "h_last", "ys"], body=body
        )
    ],
    "g",
    [helper.make_tensor_value_info("x", F, [3, 2, 2])],
    [
        helper.make_tensor_value_info("h_last", F, None),
        helper.make_tensor_value_info("ys", F, None),
    ],
    initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
    onnx.save(model, f.name)
    main([f.name, "--emit=mlir"])

# CHECK:      %[[R:.*]] = rnn.constant dense<{{\[}}[5.000000e-01, -2.500000e-01], [1.250000e-01, 1.000000e+00]]> : tensor<2x2xf32>
# CHECK:      %h_last, %ys = rnn.recurrence seqs(%x : tensor<3x2x2xf32>) inits(%h0 : tensor<2x2xf32>) -> tensor<2x2xf32>, tensor<3x2x2xf32> {
# CHECK-NEXT: ^bb0(%x_t: tensor<2x2xf32>, %h: tensor<2x2xf32>):
# CHECK-NEXT:   %hr = rnn.matmul %h, %[[R]]
# CHECK-NEXT:   %pre = rnn.add %x_t, %hr
# CHECK-NEXT:   %h_next = rnn.tanh %pre
# CHECK-NEXT:   rnn.yield %h_next, %h_next : tensor<2x2xf32>, tensor<2x2xf32>
# CHECK-NEXT: }
# CHECK-NOT:  rnn.gather
# CHECK:      func.return %h_last, %ys
