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


# ---------------------------------------------------------------------------
# Regression tests, one per cause found in issue 13 (in-process, time-bounded).

import os  # noqa: E402
import signal  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from cli_harness import assert_user_error, invoke, rnn_model  # noqa: E402
from onnx import numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"


@contextmanager
def no_hang(seconds=30):
    def alarm(signum, frame):
        raise TimeoutError(f"hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def rnnc_error(*argv, needles=()):
    with no_hang():
        return assert_user_error(invoke(*argv), *needles)


@pytest.fixture(scope="module")
def fxp_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("fxp") / "ex.fxp.mlir"
    r = invoke("quantize", EXAMPLE, "--calib", EXAMPLE_INPUT, "-o", path)
    assert r.code == 0, r.stderr
    return path.read_text()


def _opt(*argv):
    from rnnc.opt import main as opt_main

    err = __import__("io").StringIO()
    with no_hang(), __import__("contextlib").redirect_stderr(err):
        with pytest.raises(SystemExit) as exit_info:
            opt_main([str(a) for a in argv])
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1, err.getvalue()
    assert lines[0].startswith("rnnc-opt: error: ")
    return lines[0]


# --- hangs


@pytest.mark.parametrize("where", ["hex", "name"])
def test_truncated_mlir_does_not_hang(fxp_text, tmp_path, where):
    """A cut inside `dense<"0x...` or a quoted name made xDSL's lexer backtrack."""
    at = fxp_text.index('"0x') + 50 if where == "hex" else fxp_text.index('"tokens') + 3
    path = tmp_path / "cut.fxp.mlir"
    path.write_text(fxp_text[:at])
    rnnc_error("report", path, needles=["unterminated", "line"])
    rnnc_error(
        "run", path, "-i", EXAMPLE_INPUT, "-o", tmp_path / "y.npz", needles=["line"]
    )
    assert "unterminated" in _opt(path)


@pytest.mark.parametrize("text", ["binary", "nested"])
def test_binary_or_nested_mlir(tmp_path, text):
    path = tmp_path / "bad.mlir"
    if text == "binary":
        path.write_bytes(b"builtin.module {\xff\xfe\x00}")
        rnnc_error("report", path, needles=["not UTF-8"])
    else:
        path.write_text("builtin.module attributes {a = " + "[" * 5000 + "} {}")
        rnnc_error("report", path, needles=["nesting deeper"])
        assert "nesting deeper" in _opt(path)


@pytest.mark.parametrize("kind", ["fifo", "devzero", "folder"])
@pytest.mark.parametrize("role", ["model", "input", "config"])
def test_non_regular_files_refused(tmp_path, kind, role):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.zeros((4, 2, 3), np.float32))
    if kind == "fifo":
        odd = tmp_path / "pipe"
        os.mkfifo(odd)
    elif kind == "devzero":
        odd = Path("/dev/zero")
    else:
        odd = tmp_path
    argv = {
        "model": ("run", odd, "-i", x, "-o", tmp_path / "y.npz"),
        "input": ("run", model, "-i", odd, "-o", tmp_path / "y.npz"),
        "config": (
            "quantize",
            model,
            "--calib",
            x,
            "--config",
            odd,
            "-o",
            tmp_path / "q",
        ),
    }[role]
    rnnc_error(*argv, needles=[str(odd)])


def test_oversized_config_refused(tmp_path):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.zeros((4, 2, 3), np.float32))
    config = tmp_path / "big.toml"
    with open(config, "wb") as f:
        f.truncate(2 << 20)  # sparse: 2 MiB of zeros
    rnnc_error(
        "quantize",
        model,
        "--calib",
        x,
        "--config",
        config,
        "-o",
        tmp_path / "q",
        needles=["limit"],
    )


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--pwl-segments", "100000000", "pwl segments must be in [1, 4096]"),
        ("--lut-bits", "40", "lut bits must be in [1, 20]"),
        ("--lut-range", "1000", "lut log2 range"),
    ],
)
def test_table_sizes_bounded(tmp_path, flag, value, needle):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.zeros((4, 2, 3), np.float32))
    argv = ("quantize", model, "--calib", x, "--activation", "pwl", flag, value)
    rnnc_error(*argv, "-o", tmp_path / "q", needles=[needle])


# --- damaged or unsupported models


def _with_tensor(tmp_path, mutate):
    path = rnn_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    mutate(model.graph.initializer[0])
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda t: setattr(t, "raw_data", t.raw_data[:7]), "'W' is damaged"),
        (lambda t: setattr(t, "data_type", 99), "element type #99"),
        (lambda t: setattr(t, "data_type", TensorProto.STRING), "STRING"),
        (lambda t: setattr(t, "data_type", TensorProto.FLOAT16), "FLOAT16"),
        (lambda t: t.dims.__setitem__(2, -3), "negative dimension"),
        (
            lambda t: t.CopyFrom(
                numpy_helper.from_array(np.full((1, 5, 3), np.nan, np.float32), "W")
            ),
            "NaN/Inf",
        ),
    ],
    ids=["short", "bad-type", "string", "float16", "negative-dim", "nan-weights"],
)
def test_damaged_tensors(tmp_path, mutate, needle):
    rnnc_error(_with_tensor(tmp_path, mutate), needles=[needle])


def _external_model(tmp_path, location):
    path = rnn_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "60")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "location, needle",
    [
        ("missing.bin", "not found"),
        ("../outside.bin", "outside the model's folder"),
        ("/etc/passwd", "absolute"),
        ("short.bin", "beyond the end"),
    ],
)
def test_external_data_confined(tmp_path, location, needle):
    (tmp_path / "short.bin").write_bytes(b"\0" * 8)
    (tmp_path.parent / "outside.bin").write_bytes(b"\0" * 60)
    rnnc_error(_external_model(tmp_path, location), needles=[needle])


def test_external_data_inside_folder_loads(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.ones(15, np.float32).tobytes())
    assert invoke(_external_model(tmp_path, "w.bin")).code == 0


@pytest.mark.parametrize(
    "attributes, w_shape, needle",
    [
        (dict(hidden_size=7), None, "W has shape [1, 5, 3], expected [1, 7, 3]"),
        (dict(direction="bidirectional"), None, "expected [2, 5, 3]"),
        (dict(clip=-1.0), None, "clip must be a positive number"),
        (dict(clip=0.0), None, "clip must be a positive number"),
        (dict(clip=float("nan")), None, "clip must be a positive number"),
        (dict(activations=["ScaledTanh"]), None, "needs activation_alpha"),
        (
            dict(activations=["ScaledTanh"], activation_alpha=[1.0]),
            None,
            "needs activation_beta",
        ),
        (dict(activations=["Affine"]), None, "needs activation_alpha"),
        (dict(activations=["Tanh", "Tanh"]), None, "2 activations given"),
    ],
)
def test_inconsistent_recurrent_nodes(tmp_path, attributes, w_shape, needle):
    path = tmp_path / "m.onnx"
    hidden = attributes.pop("hidden_size", 5)
    rnn_model(path, w_shape=w_shape, **attributes)
    if hidden != 5:  # W and R stay those of hidden 5
        model = onnx.load(str(path))
        model.graph.node[0].attribute[0].i = hidden
        onnx.save(model, str(path))
    rnnc_error(path, needles=[needle])


def test_scaled_tanh_with_parameters_matches_onnxruntime(tmp_path):
    import onnxruntime as ort

    path = rnn_model(
        tmp_path / "m.onnx",
        activations=["ScaledTanh"],
        activation_alpha=[0.7],
        activation_beta=[1.3],
    )
    x = np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", X=x)
    assert invoke("run", path, "-i", tmp_path / "x.npz", "-o", tmp_path / "y").code == 0
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )[0]
    with np.load(tmp_path / "y") as got:
        np.testing.assert_allclose(got["Y_h"], want, rtol=1e-5, atol=1e-6)


def test_mixed_element_types(tmp_path):
    path = rnn_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    w = model.graph.initializer[0]
    w.CopyFrom(
        numpy_helper.from_array(numpy_helper.to_array(w).astype(np.float64), "W")
    )
    onnx.save(model, str(path))
    rnnc_error(path, needles=["different element types", "W DOUBLE"])


# --- arrays


@pytest.mark.parametrize(
    "write, needle",
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: np.save(open(p, "wb"), np.zeros(3)), "is an .npy array"),
        (lambda p: np.savez(p, X=np.zeros((4, 2, 3), np.complex64)), "complex64"),
        (lambda p: np.savez(p, X=np.array(["a", "b"])), "<U1"),
    ],
    ids=["empty", "npy", "complex", "strings"],
)
def test_bad_array_files(tmp_path, write, needle):
    model = rnn_model(tmp_path / "m.onnx")
    write(tmp_path / "x.npz")
    argv = ("run", model, "-i", tmp_path / "x.npz", "-o", tmp_path / "y.npz")
    rnnc_error(*argv, needles=[needle])


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["float-run", "fixed-run", "calibration"])
def test_non_finite_inputs_refused(tmp_path, value, where):
    """The NaN/Inf policy: refused alike in float, fixed point and calibration."""
    model = rnn_model(tmp_path / "m.onnx")
    good = tmp_path / "good.npz"
    np.savez(good, X=np.ones((4, 2, 3), np.float32))
    x = np.ones((4, 2, 3), np.float32)
    x[1, 0, 2] = value
    bad = tmp_path / "bad.npz"
    np.savez(bad, X=x)
    if where == "float-run":
        argv = ("run", model, "-i", bad, "-o", tmp_path / "y.npz")
    elif where == "fixed-run":
        fxp = tmp_path / "m.fxp.mlir"
        assert invoke("quantize", model, "--calib", good, "-o", fxp).code == 0
        argv = ("run", fxp, "-i", bad, "-o", tmp_path / "y.npz")
    else:
        argv = ("quantize", model, "--calib", bad, "-o", tmp_path / "q.mlir")
    rnnc_error(*argv, needles=["input 'X'", "NaN/Inf", "[1, 0, 2]"])


def test_float_overflow_is_flagged(tmp_path):
    """Finite inputs and weights whose float products overflow (Relu lets the inf
    through): a flagged result, exit 0, as a fixed-point overflow is."""
    path = rnn_model(tmp_path / "m.onnx", activations=["Relu"])
    model = onnx.load(str(path))
    w = np.full((1, 5, 3), 2.0, np.float32)
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
    onnx.save(model, str(path))
    x = np.full((4, 2, 3), 3e38, np.float32)
    np.savez(tmp_path / "x.npz", X=x)
    r = invoke("run", path, "-i", tmp_path / "x.npz", "-o", tmp_path / "y.npz")
    assert r.code == 0, r.stderr
    with np.load(tmp_path / "y.npz") as y:
        assert not np.isfinite(y["Y_h"]).all()
    assert any(ln.startswith("overflow: output 'Y_h'") for ln in r.lines), r.stderr


def test_token_ids_outside_vocabulary_in_calibration(tmp_path):
    tokens = np.load(EXAMPLE_INPUT)["tokens"].copy()
    tokens[0, 0] = 10**6
    np.savez(tmp_path / "c.npz", tokens=tokens)
    argv = ("quantize", EXAMPLE, "--calib", tmp_path / "c.npz", "-o", tmp_path / "q")
    rnnc_error(*argv, needles=["index out of range"])


# --- policy


@pytest.mark.parametrize(
    "text, needle",
    [
        ("bits = 5", "[bits] must be a table"),
        ("overrides = 3", "[overrides] must be a table"),
        ('guard_bits = "x"', "guard_bits must be an integer"),
        ("rounding = 3", "rounding must be a string"),
        ("[activations]\npwl_segments = 100000000", "pwl segments"),
        ("[overrides]\nno_such_tensor = 8", "name no tensor of the model"),
        ("colour = 1", "unknown key"),
    ],
)
def test_policy_schema(tmp_path, text, needle):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.ones((4, 2, 3), np.float32))
    (tmp_path / "p.toml").write_text(text)
    argv = ("quantize", model, "--calib", x, "--config", tmp_path / "p.toml")
    rnnc_error(*argv, "-o", tmp_path / "q", needles=[needle])


def test_policy_not_utf8(tmp_path):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.ones((4, 2, 3), np.float32))
    (tmp_path / "p.toml").write_bytes(b"rounding = \xff\xfe")
    argv = ("quantize", model, "--calib", x, "--config", tmp_path / "p.toml")
    rnnc_error(*argv, "-o", tmp_path / "q", needles=["not UTF-8"])


@pytest.mark.parametrize("command", ["run", "compile"])
def test_policy_without_calib_is_not_ignored(tmp_path, command):
    model = rnn_model(tmp_path / "m.onnx")
    x = tmp_path / "x.npz"
    np.savez(x, X=np.ones((4, 2, 3), np.float32))
    if command == "run":
        argv = ("run", model, "-i", x, "--weight-bits", "4", "-o", tmp_path / "y")
    else:
        argv = (model, "--weight-bits", "4")
    rnnc_error(*argv, needles=["--weight-bits would be ignored"])


# --- pipelines and shapes


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("expand-cells{", "bad pass pipeline"),
        ("expand-cells{a=1}", "bad pass pipeline"),
        (",,", "bad pass pipeline"),
        ("approximate-activations{method=3}", "bad pass pipeline"),
        ("expand-cell", "unknown pass(es) ['expand-cell']"),
    ],
)
def test_malformed_pipelines(model, good_inputs, tmp_path, spec, needle):
    argv = ("run", model, "-i", good_inputs, "-p", spec, "-o", tmp_path / "y.npz")
    rnnc_error(*argv, needles=[needle])
    mlir = tmp_path / "m.mlir"
    mlir.write_text("func.func @f() {\n  func.return\n}\n")
    assert needle.split("(")[0] in _opt(mlir, "-p", spec)


def test_pipeline_with_options_runs(model, good_inputs, tmp_path):
    spec = "expand-cells,approximate-activations{method=pwl pwl_segments=8}"
    r = invoke("run", model, "-i", good_inputs, "-p", spec, "-o", tmp_path / "y.npz")
    assert r.code == 0, r.stderr


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("X=4x2", "rank 3"),
        ("X=4x2x3x5", "rank 3"),
        ("X=100000000x2x3", "each dim must be in"),
        ("X=0x2x3", "each dim must be in"),
        ("X=-1x2x3", "each dim must be in"),
        ("X=1024x1024x1024", "over the limit"),
        ("Y=4x2x3", "not an input of the model"),
        ("X=4x2x7", "has size 3 on axis 2"),
    ],
)
def test_input_shape_checked(model, spec, needle):
    rnnc_error(model, "--input-shape", spec, needles=[needle])


@pytest.mark.parametrize(
    "argv, needle",
    [
        (("--emit=verilog", "--lanes", "100000"), "lanes must be in [1, 1024]"),
        (("--emit=verilog", "--lanes", "0"), "lanes must be in [1, 1024]"),
    ],
)
def test_hardware_sizes_bounded(fxp_text, tmp_path, argv, needle):
    pytest.importorskip("circt")
    path = tmp_path / "m.fxp.mlir"
    path.write_text(fxp_text)
    rnnc_error(path, *argv, "-o", tmp_path / "rtl", needles=[needle])


@pytest.mark.parametrize("count", ["0", "-1", "100000000"])
def test_verify_sequences_bounded(fxp_text, tmp_path, count):
    path = tmp_path / "m.fxp.mlir"
    path.write_text(fxp_text)
    argv = ("verify", path, "--calib", EXAMPLE_INPUT, "--sequences", count)
    rnnc_error(*argv, "-o", tmp_path / "work", needles=["--sequences must be in"])
