"""ONNX `Loop` and `Scan` over time are imported as `rnn.recurrence`s
(rnnc/frontend/onnx_loops.py): tf2onnx's while-loop form of Keras GRU, SimpleRNN
and masked LSTM (committed fixtures built by tests/fixtures/
make_tf2onnx_fixtures.py, TensorFlow not being installed), and Scan in both
directions. Each matches onnxruntime in float, quantizes, and the unmasked ones
run in RTL bit-exact."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import WIDE_POLICY, needs
from onnx import TensorProto, helper, numpy_helper
from test_cell_loops import HW_BATCH, recurrences, rtl_matches
from test_onnx_features import run_ort

from rnnc import driver
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_import import import_model
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["tf2onnx_gru", "tf2onnx_simple_rnn", "tf2onnx_masked_lstm"]


def _fixture_script():
    sys.path.insert(0, str(FIXTURES))
    import make_tf2onnx_fixtures

    return make_tf2onnx_fixtures


def padded_ids(batch: int, seed: int = 0) -> np.ndarray:
    """Token ids, each sequence zero-padded after a random length (the mask)."""
    script = _fixture_script()
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, script.VOCAB, (batch, script.STEPS))
    for row, length in enumerate(rng.integers(1, script.STEPS + 1, batch)):
        ids[row, length:] = 0
    return ids


def test_fixtures_are_the_scripts():
    for name, model in _fixture_script().build().items():
        saved = onnx.load(FIXTURES / f"{name}.onnx")
        assert saved.SerializeToString() == model.SerializeToString(), name


@pytest.mark.parametrize("name", NAMES)
def test_loop_matches_onnxruntime(name):
    path = FIXTURES / f"{name}.onnx"
    assert any(n.op_type == "Loop" for n in onnx.load(path).graph.node)
    feeds = {"ids": padded_ids(5)}
    module = import_model(load_model(path), {"ids": feeds["ids"].shape})
    assert recurrences(module) == 1
    want = run_ort(onnx.load(path), feeds)
    got = driver.run(path, feeds)
    np.testing.assert_allclose(got["prob"], want["prob"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_loop_quantizes(name):
    path = FIXTURES / f"{name}.onnx"
    feeds = {"ids": padded_ids(8, seed=1)}
    want = driver.run(path, feeds)
    module, _ = quantize_model(load_model(path), feeds, load_config(**WIDE_POLICY))
    got, counter = driver.execute(module, feeds)
    np.testing.assert_allclose(got["prob"], want["prob"], rtol=0, atol=1e-4)
    assert counter.total_overflows == 0


@needs("iverilog")
@pytest.mark.parametrize("name", ["tf2onnx_gru", "tf2onnx_simple_rnn"])
def test_loop_rtl_matches_interpreter(tmp_path, name):
    ids = np.random.default_rng(2).integers(1, 20, (HW_BATCH, 6))
    rtl_matches(tmp_path, FIXTURES / f"{name}.onnx", {"ids": ids})


# ----------------------------------------------------------------------- Scan

STEPS, BATCH, INPUT, HIDDEN = 5, 3, 2, 4


def scan_model(input_dir: int, output_dir: int, batch_first: bool) -> onnx.ModelProto:
    """An Elman step as a Scan body: h' = tanh(x W + h R); outputs h' per step."""
    rng = np.random.default_rng(3)
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["x_t", "w"], ["xw"]),
            helper.make_node("MatMul", ["h", "r"], ["hr"]),
            helper.make_node("Add", ["xw", "hr"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["h_next"], ["y_t"]),
        ],
        "step",
        [
            helper.make_tensor_value_info("h", TensorProto.FLOAT, [BATCH, HIDDEN]),
            helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [BATCH, INPUT]),
        ],
        [
            helper.make_tensor_value_info("h_next", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("y_t", TensorProto.FLOAT, None),
        ],
    )
    axis = 1 if batch_first else 0
    shape = [BATCH, STEPS, INPUT] if batch_first else [STEPS, BATCH, INPUT]
    scan = helper.make_node(
        "Scan",
        ["h0", "x"],
        ["h_last", "ys"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[axis],
        scan_input_directions=[input_dir],
        scan_output_directions=[output_dir],
        scan_output_axes=[axis],
    )
    inits = {
        "w": rng.normal(0, 0.6, (INPUT, HIDDEN)).astype(np.float32),
        "r": rng.normal(0, 0.6, (HIDDEN, HIDDEN)).astype(np.float32),
        "h0": np.zeros((BATCH, HIDDEN), np.float32),
    }
    graph = helper.make_graph(
        [scan],
        "scan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [
            helper.make_tensor_value_info("h_last", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("ys", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(a, n) for n, a in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize(
    "input_dir, output_dir, batch_first",
    [(0, 0, False), (1, 0, False), (1, 1, False), (0, 1, True)],
)
def test_scan_matches_onnxruntime(tmp_path, input_dir, output_dir, batch_first):
    model = scan_model(input_dir, output_dir, batch_first)
    path = tmp_path / "scan.onnx"
    onnx.save(model, path)
    shape = (BATCH, STEPS, INPUT) if batch_first else (STEPS, BATCH, INPUT)
    feeds = {"x": np.random.default_rng(4).normal(size=shape).astype(np.float32)}
    assert recurrences(import_model(load_model(path))) == 1
    want = run_ort(model, feeds)
    got = driver.run(path, feeds)
    for key, expected in want.items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-5)


def test_loop_on_the_iteration_number_is_refused(tmp_path):
    """A body that computes with the iteration number (not only reading a step
    of a sequence) is no recurrence: one error line naming it."""
    model = onnx.load(FIXTURES / "tf2onnx_simple_rnn.onnx")
    loop = next(n for n in model.graph.node if n.op_type == "Loop")
    body = loop.attribute[0].g
    cast = helper.make_node("Cast", ["time"], ["time_f"], to=TensorProto.FLOAT)
    scale = helper.make_node("Mul", ["pre", "time_f"], ["pre_t"])
    nodes = list(body.node)
    tanh = next(i for i, n in enumerate(nodes) if n.op_type == "Tanh")
    nodes[tanh].input[0] = "pre_t"
    nodes[tanh:tanh] = [cast, scale]
    del body.node[:]
    body.node.extend(nodes)
    path = tmp_path / "time.onnx"
    onnx.save(model, path)
    with pytest.raises(RnncError, match="iteration number"):
        import_model(load_model(path), {"ids": (2, 6)})
