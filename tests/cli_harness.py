"""Run the `rnnc` CLI in-process and judge its answer: exit code, the error line,
no traceback. Shared by the error, output and fuzz tests."""

from __future__ import annotations

import contextlib
import io
import traceback
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from rnnc.cli import main


@dataclass
class Result:
    code: int | str
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]


def invoke(*argv) -> Result:
    """`rnnc argv...` in this process; an escaped exception becomes code "crash"
    with its traceback as stderr (the CLI must never let one out)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's --help/--version
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception:  # noqa: BLE001 - a bug to report, not to hide
        return Result("crash", out.getvalue(), err.getvalue() + traceback.format_exc())
    return Result(code, out.getvalue(), err.getvalue())


def assert_user_error(result: Result, *needles: str) -> str:
    """Exit 2 and exactly one `rnnc: error:` line (warnings before it are allowed
    only when they say `warning:`); returns the error line."""
    assert result.code == 2, (result.code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    errors = [ln for ln in result.lines if ln.startswith("rnnc: error: ")]
    assert len(errors) == 1, result.stderr
    assert result.lines[-1] == errors[0], result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def rnn_model(
    path,
    op_type: str = "RNN",
    *,
    hidden: int = 5,
    w_shape=None,
    dtype=np.float32,
    steps: int = 4,
    batch: int = 2,
    size: int = 3,
    **attributes,
):
    """X [T, B, I] → one RNN/GRU/LSTM → Y_h; attributes and W's shape overridable."""
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[op_type]
    rng = np.random.default_rng(0)
    w_shape = w_shape or (1, gates * hidden, size)
    w = (0.5 * rng.standard_normal(w_shape)).astype(dtype)
    r = (0.5 * rng.standard_normal((w_shape[0], gates * hidden, hidden))).astype(dtype)
    node = helper.make_node(
        op_type,
        ["X", "W", "R"],
        ["Y", "Y_h"],
        hidden_size=hidden,
        **attributes,
    )
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", elem, [steps, batch, size])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None)],
        initializer=[
            onnx.numpy_helper.from_array(w, "W"),
            onnx.numpy_helper.from_array(r, "R"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path
