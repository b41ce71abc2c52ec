"""ONNX ReverseSequence: `rnn.reverse_sequence` in float and fixed point (the
host's work on the input before the recurrence), and a full-length reversal of a
loop's input raised to a reverse recurrence. TopK / ScatterElements (packed
sequences sorted by length) are refused in one line naming the op."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import WIDE_POLICY
from onnx import TensorProto, helper, numpy_helper
from test_cell_loops import recurrences
from test_onnx_features import run_ort
from test_raise_loops import BATCH, INPUT, STEPS, scan_model

from rnnc import driver
from rnnc.dialects import rnn
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_import import import_model
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model


def reverse_model(batch_axis: int, lens: np.ndarray | None) -> onnx.ModelProto:
    """y = ReverseSequence(x, lens) @ W; lens an input unless given."""
    time_axis = 1 - batch_axis
    shape = [STEPS, BATCH, INPUT] if batch_axis == 1 else [BATCH, STEPS, INPUT]
    w = np.random.default_rng(5).normal(size=(INPUT, 3)).astype(np.float32)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    inits = [numpy_helper.from_array(w, "w")]
    if lens is None:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT64, [BATCH]))
    else:
        inits.append(numpy_helper.from_array(lens, "lens"))
    graph = helper.make_graph(
        [
            helper.make_node(
                "ReverseSequence",
                ["x", "lens"],
                ["rev"],
                batch_axis=batch_axis,
                time_axis=time_axis,
            ),
            helper.make_node("MatMul", ["rev", "w"], ["y"]),
        ],
        "reverse",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("batch_axis", [0, 1])
def test_reverse_sequence_float_and_fixed_point(tmp_path, batch_axis):
    model = reverse_model(batch_axis, None)
    path = tmp_path / "reverse.onnx"
    onnx.save(model, path)
    shape = [STEPS, BATCH, INPUT] if batch_axis == 1 else [BATCH, STEPS, INPUT]
    rng = np.random.default_rng(6)
    feeds = {
        "x": rng.normal(size=shape).astype(np.float32),
        "lens": np.array([STEPS, 1, 3], np.int64),
    }
    want = run_ort(model, feeds)["y"]
    module = import_model(load_model(path))
    assert any(isinstance(op, rnn.ReverseSequenceOp) for op in module.walk())
    np.testing.assert_allclose(driver.run(path, feeds)["y"], want, rtol=0, atol=1e-5)
    quantized, _ = quantize_model(load_model(path), feeds, load_config(**WIDE_POLICY))
    got, _ = driver.execute(quantized, feeds)
    np.testing.assert_allclose(got["y"], want, rtol=0, atol=1e-4)


def test_full_length_reversal_is_a_reverse_recurrence(tmp_path):
    """ReverseSequence by constant full lengths, then a forward Scan: the
    reverse loop over the input itself."""
    model = scan_model(0, 0, batch_first=False)
    graph = model.graph
    lens = numpy_helper.from_array(np.full(BATCH, STEPS, np.int64), "lens")
    graph.initializer.append(lens)
    rev = helper.make_node("ReverseSequence", ["x", "lens"], ["x_rev"])
    scan = graph.node[0]
    scan.input[1] = "x_rev"
    nodes = [rev, scan]
    del graph.node[:]
    graph.node.extend(nodes)
    path = tmp_path / "rev_scan.onnx"
    onnx.save(model, path)
    feeds = {"x": np.random.default_rng(7).normal(size=(STEPS, BATCH, INPUT))}
    feeds["x"] = feeds["x"].astype(np.float32)
    module = import_model(load_model(path))
    loops = [op for op in module.walk() if isinstance(op, rnn.RecurrenceOp)]
    assert len(loops) == 1 and loops[0].is_reverse
    assert loops[0].seqs[0].name_hint == "x"  # the input itself, not reversed
    assert recurrences(module) == 1
    want = run_ort(model, feeds)
    got = driver.run(path, feeds)
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("op_type", ["TopK", "ScatterElements"])
def test_reordering_by_length_is_refused(tmp_path, op_type):
    if op_type == "TopK":
        node = helper.make_node("TopK", ["lens", "k"], ["sorted", "order"])
        inits = [numpy_helper.from_array(np.array([BATCH], np.int64), "k")]
        outputs = ["sorted", "order"]
    else:
        node = helper.make_node("ScatterElements", ["lens", "idx", "lens"], ["back"])
        inits = [numpy_helper.from_array(np.arange(BATCH, dtype=np.int64), "idx")]
        outputs = ["back"]
    graph = helper.make_graph(
        [node],
        "reorder",
        [helper.make_tensor_value_info("lens", TensorProto.INT64, [BATCH])],
        [helper.make_tensor_value_info(o, TensorProto.INT64, None) for o in outputs],
        inits,
    )
    path = tmp_path / "reorder.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path
    )
    with pytest.raises(RnncError, match=f"ONNX {op_type} is not supported") as err:
        import_model(load_model(path))
    assert "\n" not in str(err.value)
