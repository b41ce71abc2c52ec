"""A module imported or quantized at one batch (and sequence length) runs at others:
the model's dynamic sizes it does not depend on are marked free. Each run at a
new size must equal the same rows of one big run bit for bit (fixed point), and
onnxruntime (float)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from conftest import rnnc
from torch_models import TinyLanguageModel, export_onnx

from rnnc import driver
from rnnc.backends.interpreter.signature import free_dims
from rnnc.frontend.onnx_import import shape_hint
from rnnc.frontend.onnx_loader import load_model

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"


def _run(module_path, arrays: dict, tmp_path, name: str) -> dict:
    src, dst = tmp_path / f"{name}.in.npz", tmp_path / f"{name}.out.npz"
    np.savez(src, **arrays)
    assert rnnc("run", module_path, "-i", src, "-o", dst) == 0
    with np.load(dst) as out:
        return {k: out[k] for k in out.files}


def _onnxruntime(model_path, arrays: dict) -> dict:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, arrays), strict=True))


def _rows(arrays: dict, rows: slice, batch_axis: dict) -> dict:
    out = {}
    for name, array in arrays.items():
        index = [slice(None)] * array.ndim
        index[batch_axis.get(name, 0)] = rows
        out[name] = array[tuple(index)]
    return out


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    """A torch LSTM language model exported with dynamic batch and steps."""
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lm") / "lm.onnx"
    dynamic = {"tokens": {0: "batch", 1: "steps"}, "logits": {0: "batch", 1: "steps"}}
    dynamic |= {n: {1: "batch"} for n in ("h0", "c0", "h", "c")}
    args = (torch.randint(0, 30, (2, 5)), torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    export_onnx(
        TinyLanguageModel(30),
        args,
        path,
        ["tokens", "h0", "c0"],
        ["logits", "h", "c"],
        dynamic,
    )
    return path


def _lm_inputs(batch: int, steps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "tokens": rng.integers(0, 30, (batch, steps)),
        "h0": rng.normal(0, 0.3, (1, batch, 8)).astype(np.float32),
        "c0": rng.normal(0, 0.3, (1, batch, 8)).astype(np.float32),
    }


LM_BATCH_AXIS = {"tokens": 0, "logits": 0, "h0": 1, "c0": 1, "h": 1, "c": 1}


def test_classifier_quantized_at_one_batch_runs_at_three_others(tmp_path, loops):
    """The example's zero initial state is built from the input's shape: folded at
    the calibration batch, it still serves every batch."""
    fxp = tmp_path / "m.fxp.mlir"
    calib = np.load(EXAMPLE_INPUT)["tokens"]
    assert calib.shape[0] == 4
    assert rnnc(
        "quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "-o", fxp,
        "--weight-bits", "8", "--act-bits", "12",
    ) == 0  # fmt: skip
    tokens = np.random.default_rng(3).integers(0, 100, (16, 12))
    big = _run(fxp, {"tokens": tokens}, tmp_path, "big")
    for rows in (slice(0, 1), slice(2, 5), slice(5, 14)):
        small = _run(fxp, {"tokens": tokens[rows]}, tmp_path, f"b{rows.start}")
        np.testing.assert_array_equal(small["logits"], big["logits"][rows])


def test_float_module_printed_once_runs_at_any_batch_like_onnxruntime(tmp_path):
    """`rnnc MODEL --emit=mlir` needs no --input-shape: the printed module is
    imported at batch 1 with the batch marked free."""
    printed = tmp_path / "f.mlir"
    assert rnnc(EXAMPLE, "--emit=mlir", "-o", printed) == 0
    assert free_dims(driver.load_module(printed)) == [["batch", ""]]
    for batch in (1, 3, 9):
        tokens = np.random.default_rng(batch).integers(0, 100, (batch, 12))
        got = _run(printed, {"tokens": tokens}, tmp_path, f"f{batch}")
        want = _onnxruntime(EXAMPLE, {"tokens": tokens})
        np.testing.assert_allclose(got["logits"], want["logits"], atol=1e-5)


def test_language_model_runs_at_other_batches_and_lengths(
    tmp_path, language_model, loops
):
    """Batch and steps both free (no reshape fixes them); the state inputs carry
    the batch too, and must agree with the tokens on it."""
    fxp = tmp_path / "lm.fxp.mlir"
    np.savez(tmp_path / "calib.npz", **_lm_inputs(2, 5, 0))
    assert rnnc(
        "quantize", language_model, "--calib", tmp_path / "calib.npz", "-o", fxp,
        "--weight-bits", "8", "--act-bits", "16",
    ) == 0  # fmt: skip
    assert free_dims(driver.load_module(fxp)) == [
        ["batch", "steps"],
        ["", "batch", ""],
        ["", "batch", ""],
    ]
    for steps in (5, 9):
        arrays = _lm_inputs(11, steps, steps)
        big = _run(fxp, arrays, tmp_path, f"big{steps}")
        for rows in (slice(0, 1), slice(1, 4), slice(4, 11)):
            part = _rows(arrays, rows, LM_BATCH_AXIS)
            small = _run(fxp, part, tmp_path, f"s{steps}{rows.start}")
            for name, value in small.items():
                want = _rows({name: big[name]}, rows, LM_BATCH_AXIS)[name]
                np.testing.assert_array_equal(value, want, err_msg=name)
        # the float model at the same sizes, against onnxruntime
        floats = driver.run(language_model, arrays)
        for name, value in _onnxruntime(language_model, arrays).items():
            np.testing.assert_allclose(floats[name], value, atol=1e-5, err_msg=name)
    mixed = _lm_inputs(3, 5, 1)
    mixed["h0"] = mixed["h0"][:, :2]
    np.savez(tmp_path / "mixed.npz", **mixed)
    code = rnnc("run", fxp, "-i", tmp_path / "mixed.npz", "-o", tmp_path / "m.npz")
    assert code == 2


def test_reshape_of_batch_times_steps_keeps_steps_fixed(tmp_path):
    """The PTB model reshapes (batch·steps, V) back to (batch, steps, V): one of
    the two sizes can be inferred (-1), so the batch stays free and the steps are
    fixed at the import's value."""
    module = driver.load_module(ROOT / "models" / "ptb_lstm.onnx")
    assert free_dims(module) == [["batch", ""], ["", "batch", ""], ["", "batch", ""]]
    text = str(module)
    assert "shape = array<i64: -1, 300>" in text
    assert "shape = array<i64: -1, 1, 10000>" in text


def test_dynamic_shape_hint_comes_from_the_model():
    hint = shape_hint(load_model(ROOT / "models" / "ptb_gru.onnx"))
    assert hint == "--input-shape tokens=1x1 --input-shape h0=1x1x300"
    assert shape_hint(load_model(EXAMPLE)) == "--input-shape tokens=1x12"


def test_input_shape_still_specialises_on_purpose(tmp_path, capsys):
    out = tmp_path / "m.mlir"
    assert rnnc(EXAMPLE, "--emit=mlir", "--input-shape", "tokens=2x12", "-o", out) == 0
    assert free_dims(driver.load_module(out)) == [["", ""]]
    assert rnnc("report", EXAMPLE, "--input-shape", "tokens=3x12") == 0
    assert "total" in capsys.readouterr().out
