"""Bad input ends in exactly one `rnnc: error:` line, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper


def _rnn_model(path, op_type="RNN", *, extra_node=None):
    """X [T=4, B=2, I=3] → RNN(H=5) → Y_h, optionally through another node."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("W", TensorProto.FLOAT, [1, 5, 3], rng.standard_normal(15))
    r = helper.make_tensor("R", TensorProto.FLOAT, [1, 5, 5], rng.standard_normal(25))
    nodes = [helper.make_node(op_type, ["X", "W", "R"], ["Y", "Y_h"], hidden_size=5)]
    out = "Y_h"
    if extra_node:
        nodes.append(helper.make_node(extra_node, ["Y_h"], ["Z"], name="the_node"))
        out = "Z"
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 2, 3])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        initializer=[w, r],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


def run_rnnc(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from rnnc.cli import entry; entry()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("rnnc: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def model(tmp_path):
    return _rnn_model(tmp_path / "rnn.onnx")


@pytest.fixture
def good_inputs(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, X=np.zeros((4, 2, 3), np.float32))
    return path


def test_good_model_runs(model, good_inputs, tmp_path):
    proc = run_rnnc("run", model, "--input", good_inputs, "-o", tmp_path / "y.npz")
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "y.npz")["Y_h"].shape == (1, 2, 5)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_file(model, tmp_path, fraction):
    data = model.read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: int(len(data) * fraction)])
    assert_one_line_error(run_rnnc(cut))


def test_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a protobuf\n")
    assert_one_line_error(run_rnnc(path), "notes.onnx", "not a valid ONNX model")


def test_missing_file(tmp_path):
    assert_one_line_error(run_rnnc(tmp_path / "nope.onnx"), "nope.onnx")


def test_unsupported_op(tmp_path):
    path = _rnn_model(tmp_path / "m.onnx", extra_node="Erf")
    assert_one_line_error(run_rnnc(path), "unsupported ONNX op 'Erf'", "the_node")


def test_missing_input_name(model, tmp_path):
    npz = tmp_path / "wrong.npz"
    np.savez(npz, input=np.zeros((4, 2, 3), np.float32))
    proc = run_rnnc("run", model, "--input", npz, "-o", tmp_path / "y.npz")
    assert_one_line_error(proc, "['X'] missing")


def test_wrong_input_shape(model, tmp_path):
    npz = tmp_path / "wrong.npz"
    np.savez(npz, X=np.zeros((4, 2, 7), np.float32))
    proc = run_rnnc("run", model, "--input", npz, "-o", tmp_path / "y.npz")
    assert_one_line_error(proc, "input 'X' has shape [4, 2, 7]", "[4, 2, 3]")


def test_wrong_input_kind(model, tmp_path):
    npz = tmp_path / "wrong.npz"
    np.savez(npz, X=np.zeros((4, 2, 3), np.int64))
    proc = run_rnnc("run", model, "--input", npz, "-o", tmp_path / "y.npz")
    assert_one_line_error(proc, "input 'X' has element type int64")


def test_input_file_not_npz(model, tmp_path):
    npz = tmp_path / "x.npz"
    npz.write_text("garbage")
    proc = run_rnnc("run", model, "--input", npz, "-o", tmp_path / "y.npz")
    assert_one_line_error(proc, "cannot read input arrays")


def test_invalid_mlir(tmp_path):
    path = tmp_path / "bad.mlir"
    path.write_text("func.func @main() {\n  %x = rnn.nonsense\n}\n")
    assert_one_line_error(run_rnnc(path), "bad.mlir", "not valid rnnc IR")


def test_unknown_emit_target(model):
    assert_one_line_error(run_rnnc(model, "--emit=vhdl"), "vhdl")


def test_unknown_pass(model, good_inputs, tmp_path):
    proc = run_rnnc(
        "run", model, "--input", good_inputs, "-o", tmp_path / "y.npz", "-p", "nope"
    )
    assert_one_line_error(proc, "unknown pass(es) ['nope']")


def test_rnnc_opt_unknown_pass(tmp_path):
    path = tmp_path / "m.mlir"
    path.write_text("func.func @f() {\n  func.return\n}\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from rnnc.opt import main; main()", str(path)]
        + ["-p", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "nope" in proc.stderr
