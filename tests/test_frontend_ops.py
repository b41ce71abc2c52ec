"""ONNX ops that exporters put around recurrences: comparisons and logic on token
ids and masks (`Less`, `Greater`, `Equal`, `Not`, `And`, `Or`, `Where`), `Split`
(torch cell loops, Keras GRU/SimpleRNN) and `Tile`.

Each model is built with `onnx.helper` and run through rnnc's float path; the
reference is onnxruntime, compared exactly for booleans and integers and to 1e-5
for floats.
"""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from conftest import WIDE_POLICY, needs
from onnx import TensorProto, helper, numpy_helper
from test_onnx_features import run_ort, save

from rnnc import driver
from rnnc.dialects.errors import RnncError
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

ATOL = 1e-5
NP_TYPES = {
    TensorProto.FLOAT: np.float32,
    TensorProto.INT64: np.int64,
    TensorProto.INT32: np.int32,
    TensorProto.BOOL: np.bool_,
}


def model_of(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    """A model of `nodes`; inputs and outputs as (name, elem_type, shape)."""
    graph = helper.make_graph(
        nodes,
        "ops",
        [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in model.graph.input:
        t = info.type.tensor_type
        shape = [d.dim_value for d in t.shape.dim]
        dtype = NP_TYPES[t.elem_type]
        if dtype == np.bool_:
            feeds[info.name] = rng.random(shape) < 0.5
        elif np.issubdtype(dtype, np.integer):
            feeds[info.name] = rng.integers(-3, 4, shape).astype(dtype)
        else:
            feeds[info.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def assert_matches_ort(tmp_path, model, feeds=None) -> dict[str, np.ndarray]:
    """rnnc's float run (as imported and expanded) gives onnxruntime's outputs."""
    feeds = random_feeds(model) if feeds is None else feeds
    want = run_ort(model, feeds)
    path = save(model, tmp_path)
    for passes in ((), driver.EXPANDED):
        got = driver.run(path, feeds, passes)
        assert sorted(got) == sorted(want)
        for name, expected in want.items():
            assert got[name].dtype == expected.dtype, name
            assert got[name].shape == expected.shape, name
            np.testing.assert_allclose(got[name], expected, rtol=0, atol=ATOL)
    return want


# ------------------------------------------------------------ comparisons, logic

F, I64, I32, BOOL = (
    TensorProto.FLOAT,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.BOOL,
)


@pytest.mark.parametrize("op", ["Less", "Greater", "Equal"])
@pytest.mark.parametrize("elem", [I64, I32, F])
def test_comparison_broadcasts(tmp_path, op, elem):
    model = model_of(
        [helper.make_node(op, ["a", "b"], ["c"])],
        [("a", elem, [2, 3, 4]), ("b", elem, [3, 1])],
        [("c", BOOL, [2, 3, 4])],
    )
    rng = np.random.default_rng(0)
    # small integers (as floats too), so that equality happens
    feeds = {
        n: rng.integers(-2, 3, s).astype(NP_TYPES[elem])
        for n, s in (("a", (2, 3, 4)), ("b", (3, 1)))
    }
    want = assert_matches_ort(tmp_path, model, feeds)
    assert want["c"].any() and not want["c"].all()  # both outcomes are compared


@pytest.mark.parametrize("op", ["And", "Or"])
def test_logic(tmp_path, op):
    nodes = [
        helper.make_node(op, ["a", "b"], ["ab"]),
        helper.make_node("Not", ["ab"], ["c"]),
    ]
    model = model_of(
        nodes, [("a", BOOL, [4, 5]), ("b", BOOL, [5])], [("c", BOOL, [4, 5])]
    )
    assert_matches_ort(tmp_path, model)


def test_where_selects_floats_by_a_mask(tmp_path):
    """A mask from a comparison picks between two float tensors (tf2onnx masks)."""
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["pos"]),
        helper.make_node("Where", ["pos", "x", "y"], ["z"]),
    ]
    model = model_of(
        nodes,
        [("x", F, [3, 4]), ("y", F, [4])],
        [("z", F, [3, 4])],
        [("zero", np.zeros((), np.float32))],
    )
    assert_matches_ort(tmp_path, model)


def keras_embedding(vocab: int = 7, dim: int = 3, elem=I64) -> onnx.ModelProto:
    """Keras 3's embedding lookup: ids wrapped by `where(ids < 0, ids + V, ids)`."""
    table = np.random.default_rng(1).standard_normal((vocab, dim)).astype(np.float32)
    dtype = NP_TYPES[elem]
    nodes = [
        helper.make_node("Less", ["ids", "zero"], ["neg"]),
        helper.make_node("Add", ["ids", "vocab"], ["shifted"]),
        helper.make_node("Where", ["neg", "shifted", "ids"], ["wrapped"]),
        helper.make_node("Gather", ["table", "wrapped"], ["emb"]),
    ]
    return model_of(
        nodes,
        [("ids", elem, [2, 5])],
        [("emb", F, [2, 5, dim])],
        [
            ("zero", np.array(0, dtype)),
            ("vocab", np.array(vocab, dtype)),
            ("table", table),
        ],
    )


@pytest.mark.parametrize("elem", [I64, I32])
def test_embedding_wraps_negative_ids(tmp_path, elem):
    model = keras_embedding(elem=elem)
    ids = np.array([[-7, -1, 0, 3, 6], [-3, 5, -6, 2, 1]], NP_TYPES[elem])
    assert_matches_ort(tmp_path, model, {"ids": ids})


def test_comparison_of_constants_folds(tmp_path):
    """A comparison of constants is folded at import: the module keeps no rnn.less."""
    nodes = [
        helper.make_node("Less", ["k", "zero"], ["neg"]),
        helper.make_node("Where", ["neg", "x", "y"], ["z"]),
    ]
    model = model_of(
        nodes,
        [("x", F, [2, 3]), ("y", F, [2, 3])],
        [("z", F, [2, 3])],
        [("k", np.array([[-1], [2]], np.int64)), ("zero", np.array(0, np.int64))],
    )
    assert_matches_ort(tmp_path, model)
    module = driver.load_for_run(save(model, tmp_path), random_feeds(model))
    names = {op.name for op in module.walk()}
    assert "rnn.less" not in names and "rnn.select" in names


# ----------------------------------------------------------------------- Split


def split_model(opset: int, sizes, num_outputs=None, axis=1, count=None):
    """Split of a [2, 10, 3] input into `count` parts (by default as many as the
    sizes or num_outputs say), each through Sigmoid."""
    count = count or num_outputs or len(sizes)
    parts = [f"p{i}" for i in range(count)]
    inits = []
    attrs = {"axis": axis}
    inputs = ["x"]
    if sizes is not None and opset < 13:
        attrs["split"] = list(sizes)
    elif sizes is not None:
        inits.append(("sizes", np.array(sizes, np.int64)))
        inputs.append("sizes")
    if num_outputs is not None:
        attrs["num_outputs"] = num_outputs
    nodes = [helper.make_node("Split", inputs, parts, **attrs)]
    nodes += [helper.make_node("Sigmoid", [p], [f"y{i}"]) for i, p in enumerate(parts)]
    shape = [2, 10, 3]
    outputs = [(f"y{i}", F, None) for i in range(count)]
    return model_of(nodes, [("x", F, shape)], outputs, inits, opset)


@pytest.mark.parametrize(
    "opset, sizes, num_outputs, count",
    [
        (11, [2, 5, 3], None, None),  # `split` attribute
        (11, None, None, 2),  # equal parts, as many as outputs
        (13, [4, 6], None, None),  # `split` input
        (13, None, None, 5),
        (18, None, 3, None),  # num_outputs: 4, 4, 2
        (18, None, 2, None),
        (18, [1, 9], None, None),
    ],
)
def test_split(tmp_path, opset, sizes, num_outputs, count):
    model = split_model(opset, sizes, num_outputs, count=count)
    want = assert_matches_ort(tmp_path, model)
    widths = [want[f"y{i}"].shape[1] for i in range(len(want))]
    assert sum(widths) == 10


def test_split_of_the_last_axis_by_negative_axis(tmp_path):
    model = split_model(13, [1, 2], axis=-1)
    assert_matches_ort(tmp_path, model)


def test_split_sizes_that_do_not_add_up_are_refused(tmp_path):
    model = split_model(13, [4, 4])
    # shape inference would refuse it too; skip it to reach the importer's check
    from rnnc.frontend.onnx_import import GraphImporter

    with pytest.raises(RnncError, match=r"Split sizes \[4, 4\] do not cut axis 1"):
        GraphImporter(model).run()


# ------------------------------------------------------------------------ Tile


@pytest.mark.parametrize("repeats", [[2, 1, 3], [1, 1, 1], [1, 4, 1]])
def test_tile(tmp_path, repeats):
    model = model_of(
        [helper.make_node("Tile", ["x", "reps"], ["y"])],
        [("x", F, [2, 3, 2])],
        [("y", F, None)],
        [("reps", np.array(repeats, np.int64))],
    )
    assert_matches_ort(tmp_path, model)


# ---------------------------------------------------------------- control flow


def loop_rnn(steps: int = 4, hidden: int = 3) -> onnx.ModelProto:
    """A tf2onnx-style recurrence: `Loop` over time whose body reads the sequence
    and the weights from the enclosing graph. Every explicit input of the Loop
    (trip count, condition, initial state) is a constant."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((hidden, hidden)).astype(np.float32)
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["x", "i"], ["x_t"], axis=0),
            helper.make_node("MatMul", ["h", "w"], ["hw"]),
            helper.make_node("Add", ["x_t", "hw"], ["pre"]),
            helper.make_node("Tanh", ["pre"], ["h_next"]),
            helper.make_node("Identity", ["cond"], ["cond_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", I64, []),
            helper.make_tensor_value_info("cond", BOOL, []),
            helper.make_tensor_value_info("h", F, [2, hidden]),
        ],
        [
            helper.make_tensor_value_info("cond_out", BOOL, []),
            helper.make_tensor_value_info("h_next", F, [2, hidden]),
        ],
    )
    loop = helper.make_node(
        "Loop", ["steps", "true", "h0"], ["h_last"], body=body, name="rnn_loop"
    )
    return model_of(
        [loop],
        [("x", F, [steps, 2, hidden])],
        [("h_last", F, [2, hidden])],
        [
            ("steps", np.array(steps, np.int64)),
            ("true", np.array(True)),
            ("h0", np.zeros((2, hidden), np.float32)),
            ("w", w),
        ],
    )


def test_loop_is_a_recurrence_or_one_error_line(tmp_path, capsys):
    """The loop over time is imported as a recurrence (tests/test_raise_loops.py);
    one whose step computes with the iteration number is one error line."""
    from conftest import rnnc

    model = loop_rnn()
    feeds = random_feeds(model)
    path = save(model, tmp_path)
    np.testing.assert_allclose(
        driver.run(path, feeds)["h_last"],
        run_ort(model, feeds)["h_last"],
        rtol=0,
        atol=1e-5,
    )
    body = model.graph.node[0].attribute[0].g
    body.node[0].input[1] = "i_next"  # reads x[i + 1]: not step i's input
    body.node.insert(0, helper.make_node("Add", ["i", "one"], ["i_next"]))
    body.initializer.append(numpy_helper.from_array(np.array(1, np.int64), "one"))
    path = save(model, tmp_path)
    assert rnnc("compile", path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("rnnc: error: Loop body uses the iteration number")
    assert "(node 'rnn_loop', op Loop)" in err[0]


def if_model(condition_from_input: bool) -> onnx.ModelProto:
    """`If` choosing between a branch reading enclosing values (x, a constant) and
    one returning x: on a constant condition (as Keras' masking computes from
    static shapes) or on one computed from the input."""
    then_branch = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "scale"], ["scaled"]),
            helper.make_node("Sigmoid", ["scaled"], ["out"]),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("out", F, [2, 3])],
        initializer=[numpy_helper.from_array(np.float32(3.0), "scale")],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["out"])],
        "else",
        [],
        [helper.make_tensor_value_info("out", F, [2, 3])],
    )
    if condition_from_input:  # x[0, 0] > 0
        nodes = [
            helper.make_node("Gather", ["x", "zero"], ["row"]),
            helper.make_node("Gather", ["row", "zero"], ["first"]),
            helper.make_node("Greater", ["first", "limit"], ["cond"]),
        ]
    else:  # x.size > 4
        nodes = [
            helper.make_node("Size", ["x"], ["size"]),
            helper.make_node("Greater", ["size", "limit"], ["cond"]),
        ]
    nodes += [
        helper.make_node(
            "If",
            ["cond"],
            ["y"],
            then_branch=then_branch,
            else_branch=else_branch,
            name="branch",
        ),
    ]
    limit = np.float32(0) if condition_from_input else np.int64(4)
    return model_of(
        nodes,
        [("x", F, [2, 3])],
        [("y", F, [2, 3])],
        [("limit", np.asarray(limit)), ("zero", np.array(0, np.int64))],
    )


def test_if_on_a_constant_condition_is_its_branch(tmp_path):
    model = if_model(condition_from_input=False)
    assert_matches_ort(tmp_path, model)
    module = driver.load_for_run(save(model, tmp_path), random_feeds(model))
    assert {"rnn.mul", "rnn.sigmoid"} <= {op.name for op in module.walk()}


def test_if_on_a_computed_condition_is_one_error_line(tmp_path):
    model = if_model(condition_from_input=True)
    with pytest.raises(RnncError, match=r"^ONNX If is not supported yet: .*'branch'"):
        driver.run(save(model, tmp_path), random_feeds(model))


# ------------------------------------------------ the id wrap before an ONNX LSTM


def wrapped_embedding_lstm(tmp_path):
    """Keras' embedding prefix (negative ids wrapped) before torch's nn.LSTM, which
    exports an ONNX LSTM node: Embedding → LSTM → Dense(sigmoid)."""
    import torch
    from torch import nn
    from torch_models import export_onnx

    class Model(nn.Module):
        def __init__(self, vocab=30):
            super().__init__()
            self.vocab = vocab
            self.emb = nn.Embedding(vocab, 6)
            self.rnn = nn.LSTM(6, 5, batch_first=True)
            self.head = nn.Linear(5, 1)

        def forward(self, ids):
            ids = torch.where(ids < 0, ids + self.vocab, ids)
            _, (h, _) = self.rnn(self.emb(ids))
            return torch.sigmoid(self.head(h[-1]))

    torch.manual_seed(0)
    model = Model()
    with torch.no_grad():  # probabilities on both sides of 1/2, as once trained
        model.head.weight.mul_(8)
    ids = torch.randint(-30, 30, (16, 7))
    path = tmp_path / "wrapped.onnx"
    export_onnx(model, (ids,), path, ["ids"], ["p"], {"ids": {0: "batch"}})
    counts = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
    assert counts["Less"] and counts["Where"] and counts["LSTM"]
    return path, {"ids": ids.numpy()}


def test_wrapped_ids_before_an_lstm_quantize(tmp_path):
    path, feeds = wrapped_embedding_lstm(tmp_path)
    want = run_ort(onnx.load(path), feeds)["p"]
    assert want.min() < 0.5 < want.max()
    np.testing.assert_allclose(driver.run(path, feeds)["p"], want, rtol=0, atol=ATOL)
    module, _ = quantize_model(load_model(path), feeds, load_config(**WIDE_POLICY))
    got, counter = driver.execute(module, feeds)
    np.testing.assert_allclose(got["p"], want, rtol=0, atol=1e-4)
    assert counter.total_overflows == 0
    # the wrap is host work on the ids, kept exact
    assert {"rnn.less", "rnn.select"} <= {op.name for op in module.walk()}


@needs("iverilog")
def test_wrapped_ids_before_an_lstm_verify_in_hardware(tmp_path, capsys):
    from conftest import rnnc

    path, feeds = wrapped_embedding_lstm(tmp_path)
    np.savez(tmp_path / "calib.npz", **feeds)
    code = rnnc(
        "verify",
        path,
        "--calib",
        tmp_path / "calib.npz",
        "--sequences",
        "20",
        "-o",
        tmp_path / "work",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("MATCH: 20 sequences") and "0 mismatches" in out


@pytest.mark.parametrize("condition", [True, False])
def test_where_on_a_constant_condition_is_its_branch(tmp_path, condition):
    nodes = [helper.make_node("Where", ["cond", "x", "y"], ["z"])]
    model = model_of(
        nodes,
        [("x", F, [3, 4]), ("y", F, [3, 4])],
        [("z", F, [3, 4])],
        [("cond", np.array(condition))],
    )
    assert_matches_ort(tmp_path, model)
    module = driver.load_for_run(save(model, tmp_path), random_feeds(model))
    assert "rnn.select" not in {op.name for op in module.walk()}
