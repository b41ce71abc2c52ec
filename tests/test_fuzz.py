"""The fuzz suite: seeded mutations of models, arrays, policies, IR, pass pipelines,
shapes and output paths, each run through the CLI in-process with a time bound.

Every case must end in exactly one `rnnc: error:` line with exit code 2 and no
traceback, or succeed; a successful run of a mutated ONNX model must agree with
onnxruntime (a model onnxruntime refuses must not run silently either). A hang is
a SIGALRM after `CASE_SECONDS`. Cases are (family, seed) pairs: a failure names
its seed, and `_make_<family>(seed)` rebuilds the input.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import signal
import string
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_harness import Result, invoke, rnn_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from rnnc.dialects.errors import RnncError
from rnnc.passes.quant_config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lstm_classifier.onnx"
EXAMPLE_INPUT = ROOT / "examples" / "lstm_classifier_input.npz"
CASE_SECONDS = 30
SCALE = int(__import__("os").environ.get("RNNC_FUZZ_SCALE", "2"))
PER_FAMILY = {
    "onnx_bytes": 70,
    "onnx_proto": 110,
    "arrays": 70,
    "policy": 70,
    "flags": 40,
    "ir_text": 60,
    "pipeline": 40,
    "opt": 20,
    "shapes": 30,
    "outputs": 30,
    "quantize": 30,
    "emit": 15,
}


# ------------------------------------------------------------------ harness


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_bound(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def judged(*argv) -> Result:
    """Run `rnnc argv` in-process within the time bound; fail on a traceback, a
    hang, or an answer that is neither success nor one clean error line."""
    with time_bound(CASE_SECONDS):
        result = invoke(*argv)
    assert result.code != "crash", result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.code in (0, 2), (result.code, result.stderr[-2000:])
    if result.code == 2:
        errors = [ln for ln in result.lines if ln.startswith("rnnc: error: ")]
        assert len(errors) == 1 and result.lines[-1] == errors[0], result.stderr
        assert len(errors[0]) < 600, errors[0]
    return result


# ------------------------------------------------------------------ the seeds


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The unmutated material: small models of each cell, inputs, an fxp module."""
    d = tmp_path_factory.mktemp("fuzz-base")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    np.savez(d / "x.npz", X=x)
    models = {op: rnn_model(d / f"{op}.onnx", op) for op in ("RNN", "GRU", "LSTM")}
    assert (
        invoke(
            "quantize", models["LSTM"], "--calib", d / "x.npz", "-o", d / "l.fxp.mlir"
        ).code
        == 0
    )
    return {
        "dir": d,
        "x": x,
        "models": {k: v.read_bytes() for k, v in models.items()},
        "example": EXAMPLE.read_bytes(),
        "fxp": (d / "l.fxp.mlir").read_text(),
    }


def cases():
    return [
        pytest.param(family, seed, id=f"{family}-{seed}")
        for family, n in PER_FAMILY.items()
        for seed in range(n * SCALE)
    ]


def onnxruntime_outputs(path: Path, feeds: dict) -> dict | None:
    """onnxruntime's outputs, or None when it refuses the model or the inputs; for
    what onnxruntime does not implement (layout = 1), ONNX's reference evaluator."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, feeds), strict=True))
    except Exception as err:  # noqa: BLE001 - any refusal
        if "not supported" not in str(err):
            return None
    model = onnx.load(str(path))
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(None, feeds), strict=True))


def assert_agrees_with_onnxruntime(model: Path, feeds: dict, out: Path) -> None:
    want = onnxruntime_outputs(model, feeds)
    assert want is not None, "rnnc ran a model onnxruntime refuses"
    with np.load(out) as got:
        for name in got.files:
            w = np.asarray(want[name], np.float64)
            g = got[name].astype(np.float64)
            assert g.shape == w.shape, (name, g.shape, w.shape)
            finite = np.isfinite(w)
            assert (np.isfinite(g) == finite).all(), name
            np.testing.assert_allclose(g[finite], w[finite], rtol=1e-4, atol=1e-4)


def run_model_case(tmp: Path, model_bytes: bytes, feeds: dict, npz: Path) -> None:
    model = tmp / "m.onnx"
    model.write_bytes(model_bytes)
    out = tmp / "y.npz"
    result = judged("run", model, "-i", npz, "-o", out)
    if result.code == 0:
        assert_agrees_with_onnxruntime(model, feeds, out)


# ------------------------------------------------------------------ families


def fuzz_onnx_bytes(rng: random.Random, base, tmp: Path) -> None:
    """Damaged files: truncated, flipped, inserted or zeroed bytes."""
    op = rng.choice(["RNN", "GRU", "LSTM", "example"])
    data = bytearray(base["example"] if op == "example" else base["models"][op])
    how = rng.choice(["truncate", "flip", "insert", "zero"])
    if how == "truncate":
        data = data[: rng.randrange(len(data))]
    elif how == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "insert":
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:
        at = rng.randrange(len(data))
        data[at : at + rng.randint(1, 64)] = bytes(min(64, len(data) - at))
    if op == "example":
        feeds = {"tokens": np.load(EXAMPLE_INPUT)["tokens"]}
        npz = EXAMPLE_INPUT
    else:
        feeds, npz = {"X": base["x"]}, base["dir"] / "x.npz"
    run_model_case(tmp, bytes(data), feeds, npz)


def _attr(name, value):
    return helper.make_attribute(name, value)


def fuzz_onnx_proto(rng: random.Random, base, tmp: Path) -> None:
    """Well-formed protobufs with wrong contents: attributes, inputs, tensors."""
    op = rng.choice(["RNN", "GRU", "LSTM"])
    model = onnx.load_from_string(base["models"][op])
    graph = model.graph
    node = graph.node[0]
    how = rng.choice(
        [
            "hidden_size",
            "direction",
            "clip",
            "activations",
            "alpha",
            "drop_input",
            "dtype",
            "dims",
            "raw_data",
            "drop_init",
            "input_type",
            "unknown_attr",
            "nan_weight",
            "layout",
            "extra_node",
        ]
    )
    attrs = {a.name: a for a in node.attribute}

    def set_attr(name, value):
        if name in attrs:
            node.attribute.remove(attrs[name])
        node.attribute.append(_attr(name, value))

    if how == "hidden_size":
        set_attr("hidden_size", rng.choice([0, -1, 1, 4, 5, 6, 10, 2**40]))
    elif how == "direction":
        set_attr(
            "direction", rng.choice(["forward", "reverse", "bidirectional", "up", ""])
        )
    elif how == "clip":
        set_attr("clip", rng.choice([-1.0, 0.0, float("nan"), float("inf"), 0.5, 3.0]))
    elif how == "activations":
        names = [
            "Sigmoid",
            "Tanh",
            "Relu",
            "Affine",
            "ScaledTanh",
            "HardSigmoid",
            "LeakyRelu",
            "ThresholdedRelu",
            "Elu",
            "Softsign",
            "Softplus",
            "Nope",
        ]
        count = rng.choice([1, 2, 3, 4, 6])
        set_attr("activations", [rng.choice(names) for _ in range(count)])
    elif how == "alpha":
        set_attr(
            "activations",
            [rng.choice(["Affine", "ScaledTanh", "LeakyRelu", "Elu"])]
            * {"RNN": 1, "GRU": 2, "LSTM": 3}[op],
        )
        if rng.random() < 0.5:
            set_attr(
                "activation_alpha",
                [rng.uniform(-2, 2) for _ in range(rng.randint(1, 3))],
            )
        if rng.random() < 0.5:
            set_attr(
                "activation_beta",
                [rng.uniform(-2, 2) for _ in range(rng.randint(1, 3))],
            )
    elif how == "drop_input":
        inputs = list(node.input)
        inputs[rng.randrange(len(inputs))] = rng.choice(["", "missing_value"])
        del node.input[:]
        node.input.extend(inputs)
    elif how == "dtype":
        init = rng.choice(list(graph.initializer))
        init.data_type = rng.choice(
            [
                TensorProto.FLOAT16,
                TensorProto.DOUBLE,
                TensorProto.INT32,
                TensorProto.STRING,
                TensorProto.COMPLEX64,
                TensorProto.BFLOAT16,
                99,
            ]
        )
    elif how == "dims":
        init = rng.choice(list(graph.initializer))
        dims = list(init.dims)
        dims[rng.randrange(len(dims))] = rng.choice([0, 1, 2, 7, -3, 2**31])
        del init.dims[:]
        init.dims.extend(dims)
    elif how == "raw_data":
        init = rng.choice(list(graph.initializer))
        cut = rng.randrange(len(init.raw_data) + 1)
        init.raw_data = init.raw_data[:cut] + bytes(rng.randrange(5))
    elif how == "drop_init":
        graph.initializer.remove(rng.choice(list(graph.initializer)))
    elif how == "input_type":
        t = graph.input[0].type.tensor_type
        if rng.random() < 0.5:
            t.elem_type = rng.choice(
                [
                    TensorProto.FLOAT16,
                    TensorProto.INT64,
                    TensorProto.UNDEFINED,
                    TensorProto.DOUBLE,
                ]
            )
        else:
            t.shape.dim[rng.randrange(3)].dim_value = rng.choice([1, 5, 0])
    elif how == "unknown_attr":
        set_attr(
            rng.choice(["input_forget", "linear_before_reset", "foo"]),
            rng.choice([0, 1, 7]),
        )
    elif how == "nan_weight":
        init = rng.choice(list(graph.initializer))
        array = numpy_helper.to_array(init).copy()
        array.flat[rng.randrange(array.size)] = rng.choice([np.nan, np.inf, -np.inf])
        init.CopyFrom(numpy_helper.from_array(array, init.name))
    elif how == "layout":
        set_attr("layout", rng.choice([0, 1, 2]))
    else:
        graph.node.append(
            helper.make_node(
                rng.choice(["Erf", "Relu", "Tanh", "Bogus"]),
                ["Y_h"],
                ["Z"],
                name="extra",
            )
        )
        graph.output[0].name = "Z"
    run_model_case(
        tmp, model.SerializeToString(), {"X": base["x"]}, base["dir"] / "x.npz"
    )


def fuzz_arrays(rng: random.Random, base, tmp: Path) -> None:
    """Input files: formats, names, ranks, element types, values."""
    path = tmp / "in.npz"
    x = base["x"].copy()
    how = rng.choice(
        [
            "name",
            "extra",
            "rank",
            "shape",
            "dtype",
            "nonfinite",
            "npy",
            "empty",
            "garbage",
            "truncated",
            "zip_member",
            "no_arrays",
            "huge_values",
            "ok",
        ]
    )
    arrays = {"X": x}
    if how == "name":
        arrays = {rng.choice(["x", "input", "X "]): x}
    elif how == "extra":
        arrays["extra"] = x
    elif how == "rank":
        arrays["X"] = x.reshape(rng.choice([(24,), (4, 6), (1, 4, 2, 3)]))
    elif how == "shape":
        arrays["X"] = np.zeros(
            rng.choice([(4, 2, 4), (0, 2, 3), (4, 0, 3)]), np.float32
        )
    elif how == "dtype":
        kind = rng.choice(
            [
                np.float16,
                np.float64,
                np.int32,
                np.bool_,
                np.complex64,
                "U3",
                "S2",
                np.uint8,
            ]
        )
        arrays["X"] = x.astype(kind)
    elif how == "nonfinite":
        x.flat[rng.randrange(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
    elif how == "huge_values":
        x.flat[rng.randrange(x.size)] = rng.choice([1e30, -1e30, 3e38])
    if how == "npy":
        with open(path, "wb") as f:
            np.save(f, x)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
    elif how == "truncated":
        np.savez(path, **arrays)
        data = path.read_bytes()
        path.write_bytes(data[: rng.randrange(len(data))])
    elif how == "zip_member":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("X.npy", bytes(rng.randrange(256) for _ in range(40)))
    elif how == "no_arrays":
        with zipfile.ZipFile(path, "w"):
            pass
    else:
        np.savez(path, **arrays)
    op = rng.choice(["RNN", "LSTM"])
    model = tmp / "m.onnx"
    model.write_bytes(base["models"][op])
    command = rng.choice(["run", "run", "quantize"])
    if command == "run":
        result = judged("run", model, "-i", path, "-o", tmp / "y.npz")
        if result.code == 0:
            with np.load(path) as data:
                feeds = {"X": data["X"].astype(np.float32)}
            assert_agrees_with_onnxruntime(model, feeds, tmp / "y.npz")
    else:
        judged("quantize", model, "--calib", path, "-o", tmp / "q.mlir")


TOML_KEYS = {
    "": ["rounding", "overflow", "range", "weight_fit", "guard_bits", "nope"],
    "bits": ["weight", "bias", "state", "accumulator", "input", "typo"],
    "activations": ["method", "lut_bits", "lut_log2_range", "pwl_segments", "size"],
    "overrides": ["h_next", "c_next", "Wi_T", "no_such_tensor"],
}
TOML_VALUES = [
    '"half-even"',
    '"floor"',
    '"wrap"',
    '"saturate"',
    '"calib"',
    '"mse"',
    '"lut"',
    '"pwl"',
    '"hard"',
    '"x"',
    "0",
    "1",
    "2",
    "8",
    "16",
    "33",
    "-4",
    "100000000",
    "3.5",
    "true",
    "[1, 2]",
    '"12,10"',
    '"fixed<8,4>"',
    '"8,100"',
    "{ a = 1 }",
]


def fuzz_policy(rng: random.Random, base, tmp: Path) -> None:
    """TOML policies: wrong types, ranges, tables, keys, encodings."""
    config = tmp / "p.toml"
    how = rng.random()
    if how < 0.1:
        config.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 80))))
    elif how < 0.2:
        config.write_text(
            rng.choice(
                [
                    "bits = 5",
                    "overrides = 3",
                    "activations = []",
                    "[bits",
                    "guard_bits = ",
                    "a = 'x'\na = 'y'",
                ]
            )
        )
    else:
        lines = {}
        for _ in range(rng.randint(1, 4)):
            table = rng.choice(list(TOML_KEYS))
            lines.setdefault(table, {})[rng.choice(TOML_KEYS[table])] = rng.choice(
                TOML_VALUES
            )
        text = "".join(f"{k} = {v}\n" for k, v in lines.pop("", {}).items())
        for table, entries in lines.items():
            text += f"[{table}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
        config.write_text(text)
    model = tmp / "m.onnx"
    model.write_bytes(base["models"]["LSTM"])
    judged(
        "quantize",
        model,
        "--calib",
        base["dir"] / "x.npz",
        "--config",
        config,
        "-o",
        tmp / "q.mlir",
    )


FLAG_VALUES = {
    "--weight-bits": ["1", "2", "4", "8", "33", "-1", "x"],
    "--act-bits": ["3", "8", "16", "64"],
    "--rounding": ["floor", "half-up", "up", ""],
    "--overflow": ["wrap", "saturate", "clip"],
    "--range": ["calib", "percentile", "bound", "max"],
    "--weight-fit": ["cover", "mse", "best"],
    "--guard-bits": ["0", "3", "17", "-1"],
    "--activation": ["lut", "pwl", "hard", "exact"],
    "--lut-bits": ["0", "4", "12", "21", "100"],
    "--lut-range": ["-9", "-2", "3", "17", "1000"],
    "--pwl-segments": ["0", "1", "8", "4096", "4097", "100000000"],
}


def fuzz_flags(rng: random.Random, base, tmp: Path) -> None:
    """Policy flags, alone and with or without --calib."""
    model = tmp / "m.onnx"
    model.write_bytes(base["models"][rng.choice(["RNN", "GRU", "LSTM"])])
    flags = []
    for flag in rng.sample(list(FLAG_VALUES), rng.randint(1, 3)):
        flags += [flag, rng.choice(FLAG_VALUES[flag])]
    x = base["dir"] / "x.npz"
    command = rng.choice(["quantize", "run_calib", "run_float", "compile"])
    if command == "quantize":
        judged("quantize", model, "--calib", x, *flags, "-o", tmp / "q.mlir")
    elif command == "run_calib":
        judged("run", model, "-i", x, "--calib", x, *flags, "-o", tmp / "y.npz")
    elif command == "run_float":
        result = judged("run", model, "-i", x, *flags, "-o", tmp / "y.npz")
        assert result.code == 2  # a policy without --calib is never ignored
    else:
        assert judged(model, *flags).code == 2


def _mutate_text(rng: random.Random, text: str) -> str:
    how = rng.choice(
        [
            "truncate",
            "truncate_in_string",
            "flip",
            "delete",
            "nest",
            "quote",
            "binary",
            "duplicate",
        ]
    )
    if how == "truncate":
        return text[: rng.randrange(len(text))]
    if how == "truncate_in_string":
        quotes = [i for i, c in enumerate(text) if c == '"']
        at = rng.choice(quotes) + rng.randint(1, 40)
        return text[:at]
    if how == "flip":
        chars = list(text)
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice(string.printable + '"\\{}<>')
        return "".join(chars)
    if how == "delete":
        at = rng.randrange(len(text))
        return text[:at] + text[at + rng.randint(1, 200) :]
    if how == "nest":
        depth = rng.choice([10, 70, 500, 5000])
        at = text.index("{") + 1
        return text[:at] + "(" * depth + text[at:]
    if how == "quote":
        at = rng.randrange(len(text))
        return text[:at] + rng.choice(['"', '"\\', '"\\q', '"abc\n']) + text[at:]
    if how == "binary":
        at = rng.randrange(len(text))
        return text[:at] + "\0\xff" + text[at:]
    return text + text[: rng.randrange(len(text))]


def fuzz_ir_text(rng: random.Random, base, tmp: Path) -> None:
    """Damaged .mlir text through `rnnc run` and `rnnc report`."""
    path = tmp / "m.fxp.mlir"
    text = _mutate_text(rng, base["fxp"])
    if "\xff" in text:
        path.write_bytes(text.encode("latin-1", errors="replace"))
    else:
        path.write_text(text)
    if rng.random() < 0.5:
        judged("report", path)
    else:
        judged("run", path, "-i", base["dir"] / "x.npz", "-o", tmp / "y.npz")


PIPELINE_ATOMS = [
    "expand-cells",
    "approximate-activations",
    "range-analysis",
    "assign-formats",
    "lower-to-fxp",
    "fold-constants",
    "expand-cell",
    "{",
    "}",
    ",",
    "=",
    '"',
    "method=pwl",
    "lut_bits=4",
    "a=1",
    "pwl_segments=100000000",
    "lut_bits=x",
    " ",
    "{}",
]


def _pipeline(rng: random.Random) -> str:
    return "".join(rng.choice(PIPELINE_ATOMS) for _ in range(rng.randint(1, 6)))


def fuzz_pipeline(rng: random.Random, base, tmp: Path) -> None:
    """`rnnc run -p` with random pipelines."""
    model = tmp / "m.onnx"
    model.write_bytes(base["models"][rng.choice(["RNN", "LSTM"])])
    judged(
        "run",
        model,
        "-i",
        base["dir"] / "x.npz",
        "-p",
        _pipeline(rng),
        "-o",
        tmp / "y.npz",
    )


def fuzz_opt(rng: random.Random, base, tmp: Path) -> None:
    """rnnc-opt with random pipelines and damaged input text."""
    from rnnc.opt import main as opt_main

    path = tmp / "m.mlir"
    text = base["fxp"] if rng.random() < 0.5 else _mutate_text(rng, base["fxp"])
    path.write_bytes(text.encode("utf-8", errors="replace"))
    argv = [str(path), "-p", _pipeline(rng), "-o", str(tmp / "out.mlir")]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with (
        time_bound(CASE_SECONDS),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            opt_main(argv)
        except SystemExit as exc:
            code = exc.code
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert code in (0, 2, None), (code, err.getvalue())
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("rnnc-opt: error: "), lines


def fuzz_shapes(rng: random.Random, base, tmp: Path) -> None:
    """`--input-shape` specs: ranks, sizes, names, syntax."""
    model = tmp / "m.onnx"
    model.write_bytes(base["example"])
    dims = [
        rng.choice(["0", "1", "4", "12", "-1", "x", "", "1048577", "99999"])
        for _ in range(rng.randint(0, 4))
    ]
    name = rng.choice(["tokens", "tokens", "X", "", "tokens=1"])
    specs = [f"{name}={'x'.join(dims)}"]
    if rng.random() < 0.2:
        specs.append(specs[0])
    argv = [model] + [a for s in specs for a in ("--input-shape", s)]
    judged(*argv)


def fuzz_outputs(rng: random.Random, base, tmp: Path) -> None:
    """-o destinations: folders, missing parents, inputs, odd names."""
    model = tmp / "m.onnx"
    model.write_bytes(base["models"]["RNN"])
    (tmp / "folder").mkdir()
    x = tmp / "x.npz"
    x.write_bytes((base["dir"] / "x.npz").read_bytes())
    dest = rng.choice(
        [
            "",
            ".",
            "folder",
            "missing/y.npz",
            "m.onnx/y.npz",
            "m.onnx",
            str(x),
            "y",
            "folder/y.npz",
            "/dev/null",
        ]
    )
    target = dest if dest in ("", "/dev/null") or dest.startswith("/") else tmp / dest
    command = rng.choice(["run", "quantize", "compile"])
    if command == "run":
        argv = ["run", model, "-i", x, "-o", target]
    elif command == "quantize":
        argv = ["quantize", model, "--calib", x, "-o", target]
    else:
        argv = [model, "-o", target]
    inputs = [model] if command == "compile" else [model, x]
    before = [p.read_bytes() for p in inputs]
    result = judged(*argv)
    assert [p.read_bytes() for p in inputs] == before  # inputs never touched
    if result.code == 0 and target not in ("/dev/null",):
        assert Path(target).is_file()


def _damage(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def fuzz_quantize(rng: random.Random, base, tmp: Path) -> None:
    """Damaged models through quantization (calibration, formats, lowering)."""
    model = tmp / "m.onnx"
    if rng.random() < 0.5:
        model.write_bytes(_damage(rng, base["example"]))
        calib = EXAMPLE_INPUT
    else:
        op = rng.choice(["RNN", "GRU", "LSTM"])
        model.write_bytes(_damage(rng, base["models"][op]))
        calib = base["dir"] / "x.npz"
    flags = rng.choice(
        [
            [],
            ["--weight-bits", "4"],
            ["--activation", "pwl"],
            ["--range", "bound"],
            ["--weight-fit", "mse"],
        ]
    )
    judged("quantize", model, "--calib", calib, *flags, "-o", tmp / "q.fxp.mlir")


def _retype(rng: random.Random, text: str) -> str:
    """Still parseable text with other numbers: a hex digit or a format changed."""
    if rng.random() < 0.5:
        spots = [m.start() for m in re.finditer(r"0x[0-9A-F]{8}", text)]
        at = rng.choice(spots) + rng.randint(2, 9)
        return text[:at] + rng.choice("0123456789ABCDEF") + text[at + 1 :]
    spots = [m for m in re.finditer(r"fixed<(-?\d+), (-?\d+)>", text)]
    m = rng.choice(spots)
    w, f = rng.choice([(1, 0), (64, 3), (8, 40), (8, -40), (65, 0), (0, 0)])
    return text[: m.start()] + f"fixed<{w}, {f}>" + text[m.end() :]


def fuzz_emit(rng: random.Random, base, tmp: Path) -> None:
    """Fixed-point modules with changed constants or formats, emitted as RTL."""
    pytest.importorskip("circt")
    path = tmp / "m.fxp.mlir"
    text = base["fxp"]
    for _ in range(rng.randint(0, 2)):
        text = _retype(rng, text)
    path.write_text(text)
    result = judged(path, "--emit=verilog", "-o", tmp / "rtl")
    if result.code == 0:
        assert (tmp / "rtl" / "manifest.json").is_file()
    else:
        assert not (tmp / "rtl").exists()


FAMILIES = {
    "onnx_bytes": fuzz_onnx_bytes,
    "onnx_proto": fuzz_onnx_proto,
    "arrays": fuzz_arrays,
    "policy": fuzz_policy,
    "flags": fuzz_flags,
    "ir_text": fuzz_ir_text,
    "pipeline": fuzz_pipeline,
    "opt": fuzz_opt,
    "shapes": fuzz_shapes,
    "outputs": fuzz_outputs,
    "quantize": fuzz_quantize,
    "emit": fuzz_emit,
}


@pytest.mark.parametrize("family, seed", cases())
def test_fuzz(family, seed, base, tmp_path):
    FAMILIES[family](random.Random(f"{family}-{seed}"), base, tmp_path)


def test_case_count():
    assert len(cases()) >= 500


# ------------------------------------------------------------------ hypothesis

_scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
)
_policy = st.dictionaries(
    st.sampled_from(
        [
            "rounding",
            "overflow",
            "range",
            "weight_fit",
            "guard_bits",
            "bits",
            "activations",
            "overrides",
            "x",
        ]
    ),
    st.one_of(_scalars, st.dictionaries(st.text(max_size=8), _scalars, max_size=3)),
    max_size=4,
)


def _toml_value(v) -> str:
    if isinstance(v, dict):
        return (
            "{ "
            + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items())
            + " }"
        )
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    if isinstance(v, float):
        return (
            "nan"
            if v != v
            else (
                "inf"
                if v == float("inf")
                else "-inf"
                if v == float("-inf")
                else repr(v)
            )
        )
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def _toml_key(k: str) -> str:
    return '"' + k.encode("unicode_escape").decode().replace('"', '\\"') + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(_policy)
def test_any_policy_loads_or_is_refused(tmp_path_factory, data):
    """load_config answers any TOML document with a config or one RnncError."""
    path = tmp_path_factory.mktemp("h") / "p.toml"
    path.write_text(
        "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())
    )
    try:
        config = load_config(path)
    except RnncError as err:
        assert "\n" not in str(err)
    else:
        assert config.validate() is config


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="tokens=x0123456789-X ,", max_size=20))
def test_any_input_shape_spec_parses_or_is_refused(spec):
    from rnnc.cli.common import input_shapes

    try:
        shapes = input_shapes([spec])
    except RnncError as err:
        assert "\n" not in str(err)
    else:
        assert all(all(d >= 1 for d in s) for s in shapes.values())
