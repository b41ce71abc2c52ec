"""Classifier heads: softmax, log-softmax and sigmoid in fixed point and RTL, and
the argmax output.

The reductions (`fxp.reduce_max`, `fxp.reduce_sum`, `fxp.argmax`) are checked
against exact rational arithmetic on random formats with ties; the fixed-point
softmax against the exact softmax of its (fixed-point) logits, within the error
its tables allow; quantized classifiers against onnxruntime in float; and the
RTL of LSTM, GRU and RNN classifiers with each head against the interpreter, bit
for bit, on 100 random sequences (iverilog).
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import needs
from onnx import TensorProto, helper
from torch import nn
from torch_models import export_onnx
from xdsl.ir import Block

from rnnc.backends.interpreter.fxp_interpreter import run_fixed
from rnnc.backends.verilog.testbench import random_batches, verify
from rnnc.cli import main
from rnnc.dialects import fixed, fxp
from rnnc.dialects.errors import RnncError
from rnnc.dialects.fixed import Format
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes import softmax
from rnnc.passes.head_argmax import argmax_outputs
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

BATCH = 25
SEQUENCES = 100

# ----------------------------------------------------------- exact semantics


def _random_format(rng) -> Format:
    width = int(rng.integers(2, 40))
    return Format(width, int(rng.integers(-4, width + 6)))


def _raw_with_ties(rng, fmt: Format, shape) -> np.ndarray:
    """Raw values of `fmt` with many repeats (ties) and the extremes."""
    pool = rng.integers(fmt.min_raw, fmt.max_raw, size=4, endpoint=True)
    pool = np.concatenate([pool, [fmt.min_raw, fmt.max_raw]])
    return rng.choice(pool, size=shape).astype(np.int64)


def _value(raw: int, fmt: Format) -> Fraction:
    return Fraction(int(raw)) * Fraction(2) ** -fmt.frac


@pytest.mark.parametrize("seed", range(40))
def test_reductions_are_exact(seed):
    """reduce_max, reduce_sum and argmax over the last axis equal their rational
    definitions; argmax takes the first of equal maxima."""
    rng = np.random.default_rng(seed)
    fmt = _random_format(rng)
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)))
    raw = _raw_with_ties(rng, fmt, shape)
    x = Block(arg_types=[fxp.fixed_tensor(shape, fmt)]).args[0]
    for op_type in fxp.REDUCTIONS:
        op = op_type.of(x)
        out_fmt = fxp.format_of(op.result)
        (got,) = fxp.evaluate(op, [raw])
        assert got.shape == (shape[0], 1)
        for b in range(shape[0]):
            values = [_value(r, fmt) for r in raw[b]]
            if op_type is fxp.ReduceMaxOp:
                want = max(values)
            elif op_type is fxp.ReduceSumOp:
                want = sum(values, Fraction(0))
            else:
                want = Fraction(values.index(max(values)))
            assert _value(got[b, 0], out_fmt) == want
            assert out_fmt.min_raw <= got[b, 0] <= out_fmt.max_raw


def test_argmax_takes_the_first_of_ties():
    fmt = Format(8, 3)
    x = Block(arg_types=[fxp.fixed_tensor((2, 4), fmt)]).args[0]
    raw = np.array([[5, 9, 9, -1], [-3, -3, -3, -3]], np.int64)
    (got,) = fxp.evaluate(fxp.ArgMaxOp.of(x), [raw])
    assert got.ravel().tolist() == [1, 0]
    assert fxp.format_of(fxp.ArgMaxOp.of(x).result) == Format(3, 0)


def _fixed_softmax(raw: np.ndarray, src: Format, out: Format, log: bool):
    """The ops of `lower_softmax` on raw logits, run by their reference semantics."""
    x = Block(arg_types=[fxp.fixed_tensor(raw.shape, src)]).args[0]
    ops = []

    def emit(op, name):
        ops.append(op)
        op.results[0].name_hint = name
        return op.results[0]

    y = softmax.lower_softmax(emit, x, out, log, "half-even", "y")
    env = {x: raw}
    for op in ops:
        env[op.results[0]] = fxp.evaluate(op, [env[v] for v in op.operands])[0]
    return env[y], ops


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("seed", range(12))
def test_fixed_softmax_is_within_its_table_error(seed, log):
    """Against the exact softmax of the fixed-point logits: each table reads its
    bin's centre, so the exp is off by a factor within e^(±w/2) (w its bin
    width) and the log by w/2 (its inputs are ≥ 1). Softmax = exp(d - log s)
    compounds two exps and a log: |y' - y| ≤ y·(e^(w_e + w_l/2) - 1) plus the
    lsbs it rounds to; log-softmax |z' - z| ≤ w_e/2 + w_l/2 plus the lsbs."""
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 12))
    width = int(rng.integers(10, 18))
    src = Format(width, width - int(rng.integers(3, 6)))
    out = (
        fixed.format_for_range(-16.0, 0.0, width)
        if log
        else fixed.format_for_range(0.0, 1.0, width)
    )
    raw = rng.integers(src.min_raw, src.max_raw, size=(16, classes), endpoint=True)
    raw[0] = raw[0, 0]  # all equal: 1/N each
    got, ops = _fixed_softmax(raw.astype(np.int64), src, out, log)
    luts = [op for op in ops if isinstance(op, fxp.LutOp)]
    bins = []
    for lut in luts:
        f_in = fxp.format_of(lut.input).frac
        bins.append(2.0 ** (lut.shift.value.data - f_in))
    w_exp, w_log = bins[0], bins[1]
    x = src.to_float(raw)
    shifted = x - x.max(axis=-1, keepdims=True)
    exact_log = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    internal = 2.0 ** -(out.width + softmax.GUARD_BITS - 2)
    lsbs = float(out.lsb) + 3 * internal
    if log:
        want = np.maximum(exact_log, out.min_value)
        bound = w_exp / 2 + w_log / 2 + lsbs
        assert np.abs(out.to_float(got) - want).max() <= bound
    else:
        want = np.exp(exact_log)
        bound = want * (np.exp(w_exp + w_log / 2 + lsbs) - 1) + float(out.lsb)
        assert (np.abs(out.to_float(got) - want) <= bound).all()
        assert np.abs(out.to_float(got[0]) - 1 / classes).max() <= bound[0].max()


# ------------------------------------------------------------------ models


class Classifier(nn.Module):
    """Embedding → one recurrent layer → linear → head, on the final state."""

    def __init__(self, cell: str, head: str, classes: int = 4, hidden: int = 5):
        super().__init__()
        self.emb = nn.Embedding(20, 3)
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(3, hidden, batch_first=True)
        self.lin = nn.Linear(hidden, 1 if head == "sigmoid" else classes)
        self.head = head

    def forward(self, tokens):
        _, state = self.rnn(self.emb(tokens))
        h = state[0] if isinstance(state, tuple) else state
        y = self.lin(h[-1])
        if self.head == "softmax":
            return torch.softmax(y, dim=-1)
        if self.head == "log_softmax":
            return torch.log_softmax(y, dim=-1)
        if self.head == "sigmoid":
            return torch.sigmoid(y)
        return y


def _classifier(tmp_path, cell, head, steps=4, seed=1, tie=False):
    torch.manual_seed(seed)
    model = Classifier(cell, head)
    if tie:  # classes 1 and 2 always score the same: argmax ties
        with torch.no_grad():
            model.lin.weight[2] = model.lin.weight[1]
            model.lin.bias[2] = model.lin.bias[1]
    tokens = torch.randint(0, 20, (BATCH, steps))
    path = tmp_path / "model.onnx"
    export_onnx(model, (tokens,), path, ["tokens"], ["y"], None)
    return path, {"tokens": tokens.numpy()}


def _state_head(tmp_path, head="softmax"):
    """ONNX GRU whose final state goes straight into a softmax (or is the
    output): a head of reductions and tables only, reading the state buffer."""
    rng = np.random.default_rng(4)
    steps, inp, hidden = 4, 3, 6
    w = rng.normal(0, 0.8, (1, 3 * hidden, inp)).astype(np.float32)
    r = rng.normal(0, 0.8, (1, 3 * hidden, hidden)).astype(np.float32)
    nodes = [
        helper.make_node(
            "GRU",
            ["x", "W", "R"],
            ["", "Y_h"],
            hidden_size=hidden,
            linear_before_reset=1,
        ),
        helper.make_node("Squeeze", ["Y_h", "axes"], ["h" if head else "p"]),
    ]
    if head:
        nodes.append(helper.make_node("Softmax", ["h"], ["p"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "gru_state_softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, BATCH, inp])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)],
        [
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
            helper.make_tensor("axes", TensorProto.INT64, [1], [0]),
        ],
    )
    path = tmp_path / "model.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path
    )
    return path, {"x": rng.normal(0, 1, (steps, BATCH, inp)).astype(np.float32)}


# Small tables keep iverilog quick: 2^4-entry activations, softmax tables of
# 2^8 (exp) and 2^10 (log) entries; bit-exactness does not depend on their size.
POLICY = {
    "weight_bits": 6,
    "activation_bits": 10,
    "state_bits": 10,
    "preactivation_bits": 10,
    "lut_bits": 4,
}


def _quantized(path, calib, **policy):
    config = load_config(None, **{**POLICY, **policy})
    return quantize_model(load_model(path), calib, config)


def _check_rtl(tmp_path, module, calib, lanes):
    batches = random_batches(calib, list(calib), SEQUENCES, BATCH, seed=11)
    report = verify(module, batches, tmp_path / "rtl", lanes=lanes)
    assert report.sequences >= SEQUENCES
    assert report.ok, (report.summary(), report.mismatches[:5])
    # The sweeps are in the cycle count the design documents.
    manifest = json.loads((tmp_path / "rtl" / "manifest.json").read_text())
    planned = manifest["compute_cycles"]
    assert all(planned <= c <= planned + 2 for c in report.cycles_per_sequence)
    return report


# ------------------------------------------------------------------- tests


HEADS = ["softmax", "log_softmax", "sigmoid"]
CELLS = ["lstm", "gru", "rnn"]


@needs("iverilog")
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cell", CELLS)
def test_head_rtl_matches_interpreter(tmp_path, cell, head):
    path, calib = _classifier(tmp_path, cell, head)
    module, _ = _quantized(path, calib)
    names = {op.name for op in module.walk()}
    if head == "sigmoid":
        assert "fxp.reduce_max" not in names  # Dense(1) + a table: no sweeps
    else:
        assert {"fxp.reduce_max", "fxp.reduce_sum"} <= names
    # Two lanes for the GRU: the logits of the sweeps come from two lanes' memories.
    _check_rtl(tmp_path, module, calib, lanes=2 if cell == "gru" else 1)


@needs("iverilog")
def test_softmax_of_a_recurrence_state_in_rtl(tmp_path):
    path, calib = _state_head(tmp_path)
    module, _ = _quantized(path, calib)
    _check_rtl(tmp_path, module, calib, lanes=3)


@pytest.mark.parametrize("head", ["softmax", "log_softmax"])
def test_quantized_heads_follow_onnxruntime(tmp_path, head):
    """16-bit softmax heads against onnxruntime in float on a trained-size
    classifier: probabilities within 0.02, log-probabilities within 0.05 (for
    log-probabilities above -8), and the same class for ≥ 95 % of sequences."""
    path, calib = _classifier(tmp_path, "lstm", head, steps=6, seed=3)
    module, report = quantize_model(load_model(path), calib, load_config(None))
    assert any("softmax exp lut" in line for line in report.activation_errors)
    assert any("softmax log lut" in line for line in report.activation_errors)
    (got,), _ = run_fixed(module, [calib["tokens"]])
    (want,) = ort.InferenceSession(str(path)).run(None, calib)
    if head == "softmax":
        assert np.abs(got - want).max() <= 0.02
        assert np.allclose(got.sum(axis=-1), 1, atol=0.03)
    else:
        seen = want > -8
        assert np.abs(got - want)[seen].max() <= 0.05
    agree = np.mean(got.argmax(axis=-1) == want.argmax(axis=-1))
    assert agree >= 0.95


def test_softmax_tables_do_not_follow_the_activation_width(tmp_path):
    """The activations' tables grow with their width by default (1,024 entries at
    16 bits); a softmax's stay at its own default, as its log table would reach
    2^(bits + 6) entries, unless the policy sets lut_bits."""
    from rnnc.frontend.onnx_import import import_model
    from rnnc.passes import softmax
    from rnnc.pipeline import prepare_float

    path, _ = _classifier(tmp_path, "gru", "log_softmax")

    def bits(config):
        module = import_model(load_model(path))
        prepare_float(module, config)
        (head,) = [op for op in module.walk() if softmax.BITS_ATTR in op.attributes]
        return head.attributes[softmax.BITS_ATTR].value.data

    default = load_config(None)
    assert default.table_bits == 10
    assert bits(default) == softmax.DEFAULT_LUT_BITS
    assert bits(load_config(lut_bits=6)) == 6


@needs("iverilog")
@pytest.mark.parametrize("head", ["softmax", "none"])
def test_argmax_output_in_rtl(tmp_path, head):
    """--argmax: the RTL outputs the class, as the interpreter computes it; with
    tied scores (two equal rows of the linear layer), the first of them."""
    path, calib = _classifier(tmp_path, "gru", head, tie=head == "none")
    module, _ = _quantized(path, calib)
    (scores,), _ = run_fixed(module, [calib["tokens"]])
    argmax_outputs(module)
    (classes,), _ = run_fixed(module, [calib["tokens"]])
    assert classes.shape == (BATCH, 1)
    assert (classes[:, 0] == np.argmax(scores, axis=-1)).all()
    if head == "none":
        assert (scores[:, 1] == scores[:, 2]).all()
        assert (classes[:, 0] != 2).all()
    _check_rtl(tmp_path, module, calib, lanes=2)


@needs("iverilog")
def test_argmax_of_a_recurrence_state_in_rtl(tmp_path):
    """A head of one reduction: the argmax of the GRU's final state."""
    path, calib = _state_head(tmp_path, head=None)
    module, _ = _quantized(path, calib)
    (state,), _ = run_fixed(module, list(calib.values()))
    argmax_outputs(module)
    (classes,), _ = run_fixed(module, list(calib.values()))
    assert (classes[:, 0] == np.argmax(state, axis=-1)).all()
    _check_rtl(tmp_path, module, calib, lanes=1)


def test_argmax_refuses_outputs_that_are_not_scores(tmp_path):
    path, calib = _classifier(tmp_path, "rnn", "sigmoid")
    module, _ = _quantized(path, calib)
    with pytest.raises(RnncError, match="classes"):
        argmax_outputs(module)


@needs("iverilog")
def test_verify_cli_argmax(tmp_path, capsys):
    path, calib = _classifier(tmp_path, "lstm", "log_softmax")
    np.savez(tmp_path / "calib.npz", **calib)
    args = [
        "verify",
        str(path),
        "--calib",
        str(tmp_path / "calib.npz"),
        "--argmax",
        "--sequences",
        "25",
        "--act-bits",
        "10",
        "--weight-bits",
        "6",
        "-o",
        str(tmp_path / "work"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "MATCH: 25 sequences, 25 output words, 0 mismatches" in out


def test_argmax_flag_is_for_verilog(tmp_path, capsys):
    path, _ = _classifier(tmp_path, "lstm", "softmax")
    assert main(["compile", str(path), "--argmax"]) == 2
    assert "--argmax is for --emit=verilog" in capsys.readouterr().err
