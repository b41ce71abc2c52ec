"""The fixed-point pipeline end to end: wide formats reproduce the float path,
narrow ones report their error, bad policies fail cleanly."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
from conftest import WIDE_POLICY, rnnc
from onnx import TensorProto, helper

from rnnc import driver
from rnnc.dialects import fxp, rnn
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from onnx.backend.test.case.node import collect_testcases

    CASES = [
        c
        for c in collect_testcases(None)
        if any(k in c.name for k in ("lstm", "gru", "rnn"))
    ]

WIDE = WIDE_POLICY


def _quantized_outputs(model, feeds, **policy):
    module, _ = quantize_model(model, feeds, load_config(**policy))
    assert not any(
        isinstance(op, rnn.RecurrentCellOp | rnn.SigmoidOp | rnn.TanhOp)
        for op in module.walk()
    )
    outputs, counter = driver.execute(module, feeds)
    return module, outputs, counter


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_wide_formats_match_conformance_outputs(case):
    (inputs, expected), *_ = case.data_sets
    graph = case.model.graph
    feeds = {i.name: a for i, a in zip(graph.input, inputs, strict=True)}
    _, got, counter = _quantized_outputs(case.model, feeds, **WIDE)
    for out, want in zip(graph.output, expected, strict=True):
        np.testing.assert_allclose(got[out.name], want, atol=1e-4, rtol=0)
    assert counter.total_overflows == 0


def test_narrow_weights_report_their_error(tmp_path):
    """8-bit weights: the error vs float is visible and bounded, not hidden."""
    case = next(c for c in CASES if c.name == "test_lstm_with_peepholes")
    (inputs, expected), *_ = case.data_sets
    feeds = {i.name: a for i, a in zip(case.model.graph.input, inputs, strict=True)}
    _, got, _ = _quantized_outputs(case.model, feeds, weight_bits=8, input_bits=8)
    err = np.abs(got["Y_h"] - expected[0]).max()
    assert 1e-4 < err < 0.1


def test_fixed_point_module_has_no_float_arithmetic():
    case = next(c for c in CASES if c.name == "test_gru_seq_length")
    (inputs, _), *_ = case.data_sets
    feeds = {i.name: a for i, a in zip(case.model.graph.input, inputs, strict=True)}
    module, _, _ = _quantized_outputs(case.model, feeds, weight_bits=8)
    floats = []
    for op in module.walk():
        if isinstance(op, fxp.QuantizeOp | fxp.DequantizeOp) or op.name.startswith(
            ("func.", "builtin.")
        ):
            continue
        for v in [*op.operands, *op.results]:
            if rnn.element_type_of(v).name in ("f32", "f64"):
                floats.append(op.name)
    assert floats == []
    assert any(isinstance(op, fxp.CastOp) for op in module.walk())
    assert any(isinstance(op, fxp.LutOp) for op in module.walk())


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A batch-dynamic LSTM classifier export (TorchScript) and calibration data."""
    import torch
    from torch_models import BiLSTMClassifier

    torch.manual_seed(0)
    model = BiLSTMClassifier().eval()
    tokens = torch.randint(0, 40, (16, 7))
    path = tmp_path_factory.mktemp("cls") / "cls.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (tokens,),
            str(path),
            input_names=["tokens"],
            output_names=["logits"],
            dynamic_axes={"tokens": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    return path, {"tokens": tokens.numpy()}


@pytest.mark.parametrize("method", ["lut", "pwl", "hard"])
def test_wide_formats_match_float_on_a_torch_export(classifier, method):
    path, feeds = classifier
    want = driver.run(path, feeds)["logits"]
    policy = dict(WIDE, activation_method=method, pwl_segments=64)
    _, got, _ = _quantized_outputs(load_model(path), feeds, **policy)
    # Tables are accurate to 1e-4; PWL/hard are approximations with their own error.
    tolerance = {"lut": 1e-4, "pwl": 2e-2, "hard": 0.5}[method]
    np.testing.assert_allclose(got["logits"], want, atol=tolerance, rtol=0)


def test_quantize_for_other_shapes_transfers_ranges(classifier, tmp_path):
    """Calibrate at batch 16, emit for batch 1 (as hardware runs)."""
    path, feeds = classifier
    out = tmp_path / "b1.fxp.mlir"
    calib = tmp_path / "calib.npz"
    np.savez(calib, **feeds)
    assert (
        rnnc(
            "quantize",
            path,
            "--calib",
            calib,
            "-o",
            out,
            "--input-shape",
            "tokens=1x7",
            "--weight-bits",
            "8",
            "--act-bits",
            "12",
        )
        == 0
    )
    text = out.read_text()
    assert "tensor<1x7xi64>" in text and "fxp.lut" in text
    one = {"tokens": feeds["tokens"][:1]}
    batch16, _ = quantize_model(
        load_model(path),
        feeds,
        load_config(
            weight_bits=8,
            input_bits=12,
            preactivation_bits=12,
            activation_bits=12,
            state_bits=12,
            output_bits=12,
        ),
    )
    got16 = driver.execute(batch16, feeds)[0]["logits"]
    got1 = driver.execute(driver.load_module(out), one)[0]["logits"]
    np.testing.assert_array_equal(got1[0], got16[0])


def test_report_counts_bits(classifier, tmp_path):
    path, feeds = classifier
    calib = tmp_path / "calib.npz"
    np.savez(calib, **feeds)
    out = tmp_path / "m.fxp.mlir"
    assert (
        rnnc("quantize", path, "--calib", calib, "-o", out, "--weight-bits", "4") == 0
    )
    report = tmp_path / "r.json"
    assert rnnc("report", out, "--json", report) == 0
    import json

    data = json.loads(report.read_text())
    weights = [t for t in data["tensors"] if t["class"] == "weight"]
    assert weights and all(t["bits"] == 4 for t in weights)
    for t in data["tensors"]:
        assert t["bytes"] == -(-t["count"] * t["bits"] // 8)
    assert data["total_bytes"] == -(
        -sum(t["count"] * t["bits"] for t in data["tensors"]) // 8
    )
    # a tiny model's 1,024-entry tables may outweigh its float weights
    float_bits = 8 * data["float32_bytes"]
    total_bits = sum(t["count"] * t["bits"] for t in data["tensors"])
    assert data["reduction"] == pytest.approx(1 - total_bits / float_bits)
    tables = [t for t in data["tensors"] if t["class"] == "table"]
    assert tables and all(t["count"] == 2**10 for t in tables)  # 16-bit activations


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-c", "from rnnc.cli import entry; entry()", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--weight-bits", "1"], "weight bits must be between 2 and 32, got 1"),
        # the policy flags are choices (the TOML file's values are checked in
        # quant_config, test_bad_config_file)
        (["--rounding", "up"], "argument --rounding: invalid choice: 'up'"),
        (["--overflow", "clamp"], "argument --overflow: invalid choice: 'clamp'"),
        (["--activation", "spline"], "--activation: invalid choice: 'spline'"),
        (["--range", "guess"], "argument --range: invalid choice: 'guess'"),
        (["--weight-fit", "l1"], "argument --weight-fit: invalid choice: 'l1'"),
    ],
)
def test_bad_policy_is_one_error_line(classifier, tmp_path, flags, needle):
    path, feeds = classifier
    calib = tmp_path / "calib.npz"
    np.savez(calib, **feeds)
    proc = _cli("quantize", path, "--calib", calib, "-o", tmp_path / "x.mlir", *flags)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_bad_config_file(classifier, tmp_path):
    path, feeds = classifier
    calib = tmp_path / "calib.npz"
    np.savez(calib, **feeds)
    config = tmp_path / "q.toml"
    config.write_text('rounding = "nearest"\n[bits]\nweight = 8\n')
    proc = _cli(
        "quantize", path, "--calib", calib, "-o", tmp_path / "x", "--config", config
    )
    assert proc.returncode == 2 and "unknown rounding mode 'nearest'" in proc.stderr
    config.write_text("[bits]\nwieght = 8\n")
    proc = _cli(
        "quantize", path, "--calib", calib, "-o", tmp_path / "x", "--config", config
    )
    assert proc.returncode == 2 and "unknown tensor class 'wieght'" in proc.stderr


def test_missing_calibration_input(classifier, tmp_path):
    path, _ = classifier
    calib = tmp_path / "calib.npz"
    np.savez(calib, words=np.zeros((2, 7), np.int64))
    proc = _cli("quantize", path, "--calib", calib, "-o", tmp_path / "x.mlir")
    assert proc.returncode == 2 and "['tokens'] missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _cli("quantize", path, "-o", tmp_path / "x.mlir")
    assert proc.returncode == 2 and "--calib" in proc.stderr


def test_overflow_is_counted_and_reported(classifier, tmp_path):
    """Calibrate on tiny inputs, run on others: saturation events are reported."""
    path, feeds = classifier
    calib = tmp_path / "calib.npz"
    np.savez(calib, tokens=np.zeros_like(feeds["tokens"]))
    data = tmp_path / "x.npz"
    np.savez(data, **feeds)
    proc = _cli("run", path, "-i", data, "-o", tmp_path / "y.npz", "--calib", calib)
    assert proc.returncode == 0, proc.stderr
    assert "overflow: fxp." in proc.stderr
    total = [ln for ln in proc.stderr.splitlines() if ln.startswith("fixed point:")]
    assert total and int(total[0].split()[2]) > 0


@pytest.fixture(scope="module")
def spine_exports(tmp_path_factory):
    """The spine's four torch models, exported both ways."""
    import contextlib
    import io

    import torch
    from torch_models import examples

    out = {}
    for name, (model, args) in examples().items():
        for dynamo in (False, True):
            path = tmp_path_factory.mktemp("spine") / f"{name}.onnx"
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(model.eval(), args, str(path), dynamo=dynamo)
            inputs = [i.name for i in load_model(path).graph.input]
            feeds = {n: a.numpy() for n, a in zip(inputs, args, strict=True)}
            out[name, dynamo] = (path, feeds)
    return out


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize(
    "name", ["bilstm_classifier", "gru_2layer", "lstm_lm", "tanh_rnn"]
)
def test_wide_formats_match_float_on_spine_models(spine_exports, name, dynamo):
    path, feeds = spine_exports[name, dynamo]
    want = driver.run(path, feeds)
    _, got, counter = _quantized_outputs(load_model(path), feeds, **WIDE)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-4, rtol=0)
    assert counter.total_overflows == 0


def test_per_tensor_overrides_from_toml(classifier, tmp_path):
    path, feeds = classifier
    config = tmp_path / "q.toml"
    config.write_text(
        '[bits]\nweight = 6\n[overrides]\nc_next = 20\nWi_T_fwd = "12,10"\n'
    )
    module, _ = quantize_model(load_model(path), feeds, load_config(config))
    types = {}
    for op in module.walk():
        for r in op.results:
            if r.name_hint and fxp.is_fixed(r):
                types.setdefault(r.name_hint, fxp.format_of(r))
    assert (types["Wi_T_fwd"].width, types["Wi_T_fwd"].frac) == (12, 10)
    assert types["Wo_T_fwd"].width == 6
    assert types["c_next"].width == 20


def test_a_sigmoid_below_one_half_keeps_its_table(tmp_path):
    """A sigmoid that only sees outputs below 1/2 is still tabulated over |x|,
    storing σ(|x|) ≥ 1/2 and rebuilding 1 - σ: its format must hold that half
    too, or every stored entry saturates (a sigmoid head that returned 0.5 for
    every input, 0.1 off here)."""
    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"])],
        "one_sided",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "m.onnx"
    opset = [helper.make_opsetid("", 17)]
    onnx.save(helper.make_model(graph, opset_imports=opset), path)
    x = np.random.default_rng(0).uniform(-0.4, -0.2, (4, 3)).astype(np.float32)
    _, outputs, _ = _quantized_outputs(load_model(path), {"x": x})
    (y,) = outputs.values()
    # The default table: 2^8 entries over |x| < 8, bins of 1/32 evaluated at
    # their middle, slope ≤ 1/4: within 1/256 plus the output's rounding.
    assert np.abs(y - 1 / (1 + np.exp(-x))).max() <= 1 / 256 + 2**-14
