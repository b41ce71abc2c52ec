"""Initial states as ports: the RTL of a model whose initial_h / initial_c are
graph inputs loads them with each sequence (the input stream's preamble) and
streams the final states out, bit-exact with the fixed-point interpreter.

Each case exports a small torch LSTM or GRU (2 layers, both directions) taking
(x, h0[, c0]) and returning (y, h_n[, c_n]), quantizes it and simulates ≥ 100
random sequences in iverilog; the stateful-window case feeds window 1's final
states, as the RTL streamed them, into window 2.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from cli_harness import assert_user_error, invoke
from conftest import available, needs
from onnx import TensorProto, helper
from torch import nn
from torch_models import export_onnx

from rnnc import driver
from rnnc.backends.interpreter.float_interpreter import run_module
from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.testbench import given_batches, random_batches, verify
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.fxp_to_hw.plan import plan_hardware
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

pytestmark = needs("iverilog")

BATCH, STEPS, INPUT, HIDDEN, LAYERS = 25, 4, 3, 4, 2
POLICY = {
    "weight_bits": 6,
    "activation_bits": 10,
    "state_bits": 10,
    "preactivation_bits": 10,
    "lut_bits": 5,
}


class Stateful(nn.Module):
    """A recurrent layer stack that takes its initial states and returns its
    final ones: what a host runs window after window."""

    def __init__(self, cell):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = kind(INPUT, HIDDEN, num_layers=LAYERS, bidirectional=True)

    def forward(self, x, *state):
        y, final = self.rnn(x, state if len(state) > 1 else state[0])
        return (y, *final) if isinstance(final, tuple) else (y, final)


def _case(tmp_path, cell):
    """The exported model, its calibration arrays and its quantized module."""
    torch.manual_seed(3)
    model = Stateful(cell)
    states = ["h0", "c0"] if cell == "lstm" else ["h0"]
    rng = np.random.default_rng(4)
    calib = {"x": rng.normal(0, 1, (STEPS, BATCH, INPUT)).astype(np.float32)}
    for name in states:
        shape = (2 * LAYERS, BATCH, HIDDEN)
        calib[name] = rng.uniform(-0.9, 0.9, shape).astype(np.float32)
    outs = ["y", *(f"{s[0]}n" for s in states)]
    path = tmp_path / f"{cell}.onnx"
    args = tuple(torch.from_numpy(calib[n]) for n in calib)
    export_onnx(model, args, path, list(calib), outs, None)
    module, _ = quantize_model(load_model(path), calib, load_config(None, **POLICY))
    return path, calib, module


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_states_load_with_each_sequence(tmp_path, cell):
    path, calib, module = _case(tmp_path, cell)
    batches = random_batches(calib, list(calib), 100, BATCH, seed=7)
    report = verify(module, batches, tmp_path / "rtl", lanes=2)
    assert report.sequences >= 100
    assert report.ok, (report.summary(), report.mismatches[:5])
    manifest = json.loads((tmp_path / "rtl/manifest.json").read_text())
    # One loaded state per recurrence (4: two layers, two directions) and
    # state variable, each from its graph input's slice [layer·2 + direction].
    loaded = manifest["initial_states"]
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    assert len(loaded) == 2 * LAYERS * len(names)
    assert [e["offset"] for e in loaded] == [HIDDEN * i for i in range(len(loaded))]
    assert manifest["input"]["offset"] == HIDDEN * len(loaded)
    for i, entry in enumerate(loaded):
        recurrence, which = divmod(i, len(names))
        source = entry["source"]
        assert source["input"] == names[which]
        start = recurrence * BATCH * HIDDEN
        assert source["positions"] == list(range(start, start + HIDDEN))
        assert source["stride"] == HIDDEN
    assert manifest["in_data_width"] == max(
        manifest["input"]["width"], *(e["width"] for e in loaded)
    )
    # The final states are outputs of the stream (every layer and direction).
    elements = {o["name"]: o["elements"] for o in manifest["outputs"]}
    for name in names:
        assert elements[f"{name[0]}n"] == 2 * LAYERS * HIDDEN
    # Loading the states costs no compute cycle (they stream in beforehand).
    planned = manifest["compute_cycles"]
    assert all(planned <= c <= planned + 2 for c in report.cycles_per_sequence)
    if available("verilator"):
        sources = [tmp_path / "rtl/rnnc_top.sv"]
        assert simulate.lint_verilator(sources, top="rnnc_top") == ""


def test_initial_state_with_sequence_lengths(tmp_path):
    """ONNX GRU with sequence_lens and initial_h, both directions: `seq_len` is
    sampled with the preamble's first beat; a sequence's final state is the
    one of its last live step."""
    rng = np.random.default_rng(3)
    steps = 5
    w = rng.normal(0, 0.5, (2, 3 * HIDDEN, INPUT)).astype(np.float32)
    r = rng.normal(0, 0.5, (2, 3 * HIDDEN, HIDDEN)).astype(np.float32)
    b = rng.normal(0, 0.2, (2, 6 * HIDDEN)).astype(np.float32)
    node = helper.make_node(
        "GRU",
        ["x", "W", "R", "B", "lens", "h0"],
        ["Y", "Y_h"],
        hidden_size=HIDDEN,
        direction="bidirectional",
        linear_before_reset=1,
    )
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [node],
        "gru_lengths_state",
        [
            value("x", TensorProto.FLOAT, [steps, BATCH, INPUT]),
            value("lens", TensorProto.INT32, [BATCH]),
            value("h0", TensorProto.FLOAT, [2, BATCH, HIDDEN]),
        ],
        [value("Y", TensorProto.FLOAT, None), value("Y_h", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(a, n) for n, a in (("W", w), ("R", r), ("B", b))],
    )
    path = tmp_path / "gru.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path
    )
    lens = rng.integers(1, steps + 1, BATCH).astype(np.int32)
    lens[0], lens[1] = 1, steps
    calib = {
        "x": rng.normal(0, 1, (steps, BATCH, INPUT)).astype(np.float32),
        "lens": lens,
        "h0": rng.uniform(-1, 1, (2, BATCH, HIDDEN)).astype(np.float32),
    }
    module, _ = quantize_model(load_model(path), calib, load_config(None, **POLICY))
    batches = random_batches(calib, list(calib), 100, BATCH, seed=7)
    report = verify(module, batches, tmp_path / "rtl", lanes=3)
    assert report.sequences >= 100
    assert report.ok, (report.summary(), report.mismatches[:5])


def test_stateful_windows_chain_final_states(tmp_path):
    """Window 2 starts from window 1's final states as the RTL sent them; the
    RTL's words of window 2 equal the interpreter's running the same chain."""
    path, calib, module = _case(tmp_path, "lstm")
    rng = np.random.default_rng(11)
    first = {n: rng.permutation(a, axis=1) for n, a in calib.items()}
    report = verify(module, [[first[n] for n in calib]], tmp_path / "w1")
    assert report.ok, report.summary()
    manifest = json.loads((tmp_path / "w1/manifest.json").read_text())
    finals = _final_states(report.received, manifest, ["hn", "cn"])
    # The interpreter's own window 1 gives the same final states, bit for bit.
    y1, hn1, cn1 = run_module(module, [first[n] for n in calib])
    np.testing.assert_array_equal(finals["hn"], hn1)
    np.testing.assert_array_equal(finals["cn"], cn1)
    second = {"x": rng.normal(0, 1, first["x"].shape).astype(np.float32)}
    second |= {"h0": finals["hn"], "c0": finals["cn"]}
    report2 = verify(module, [[second[n] for n in calib]], tmp_path / "w2")
    assert report2.ok, report2.summary()
    chained = run_module(module, [second["x"], hn1, cn1])
    got = _final_states(report2.received, manifest, ["y", "hn", "cn"])
    for name, want in zip(["y", "hn", "cn"], chained, strict=True):
        np.testing.assert_array_equal(got[name], want)
    # Window 2 really depends on the states: from zeros it differs.
    zero = run_module(module, [second["x"], 0 * hn1, 0 * cn1])
    assert not np.array_equal(zero[1], chained[1])


def _final_states(received, manifest, names) -> dict[str, np.ndarray]:
    """Output arrays from the RTL's words (sequence b's words are the elements
    with batch index b, in flat order; the batch is the second-last axis of
    y (T, B, 2H) and of the states (4, B, H)), scaled by the manifest's
    formats."""
    out, offset = {}, 0
    shapes = {
        "y": (STEPS, BATCH, 2 * HIDDEN),
        "hn": (2 * LAYERS, BATCH, HIDDEN),
        "cn": (2 * LAYERS, BATCH, HIDDEN),
    }
    for o in manifest["outputs"]:
        words = received[:, offset : offset + o["elements"]]
        offset += o["elements"]
        if o["name"] not in names:
            continue
        shape = shapes[o["name"]]
        # per sequence, the elements in flat order of the array without batch
        rest = (*shape[:-2], shape[-1])
        per_seq = words.reshape(BATCH, *rest).astype(np.float64)
        array = np.moveaxis(per_seq, 0, -2) * 2.0 ** -o["frac"]
        out[o["name"]] = array.astype(np.float32)
    return out


def test_verify_a_module_and_replay_given_sequences(tmp_path):
    """`rnnc verify` on a .fxp.mlir, on random sequences (shaped like --calib;
    30, as the 100 of the other tests cover the design) and on the sequences
    of --input: 60 of them, not a multiple of the batch."""
    path, calib, module = _case(tmp_path, "gru")
    np.savez(tmp_path / "calib.npz", **calib)
    fxp = tmp_path / "gru.fxp.mlir"
    quantize = ["quantize", path, "--calib", tmp_path / "calib.npz", "-o", fxp]
    quantize += [f"--{k.replace('_', '-')}={v}" for k, v in POLICY.items()]
    assert invoke(*quantize).code == 0
    work = tmp_path / "work"
    calib_file = tmp_path / "calib.npz"
    result = invoke("verify", fxp, "--calib", calib_file, "--sequences", 30, "-o", work)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("MATCH: 30 sequences")
    rng = np.random.default_rng(5)
    given = {
        "x": rng.normal(0, 1, (STEPS, 60, INPUT)).astype(np.float32),
        "h0": rng.uniform(-1, 1, (2 * LAYERS, 60, HIDDEN)).astype(np.float32),
    }
    np.savez(tmp_path / "given.npz", **given)
    report = tmp_path / "report.json"
    result = invoke(
        "verify", fxp, "--input", tmp_path / "given.npz", "-o", work, "--json", report
    )
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("MATCH: 60 sequences")
    words_per_sequence = STEPS * 2 * HIDDEN + 2 * LAYERS * HIDDEN
    assert json.loads(report.read_text())["words"] == 60 * words_per_sequence
    # The replayed words are the given sequences' (not random ones): the
    # stream's first words are sequence 0's first initial state, h0[0, 0].
    manifest = json.loads((work / "manifest.json").read_text())
    fmt, width = manifest["initial_states"][0], manifest["in_data_width"]
    got = [int(w, 16) for w in (work / "tb_in.hex").read_text().split()[:HIDDEN]]
    got = np.array([w - (1 << width) if w >> (width - 1) else w for w in got])
    top = (1 << (fmt["width"] - 1)) / 2.0 ** fmt["frac"]
    want = np.clip(given["h0"][0, 0], -top, top)
    # within an LSB (the module may round twice: quantize, then cast)
    assert np.abs(got * 2.0 ** -fmt["frac"] - want).max() <= 2.0 ** -fmt["frac"]
    # given_batches cuts them into the plan's batches, the last padded
    batches, count = given_batches(module, given)
    assert count == 60 and len(batches) == 3
    assert all(b[0].shape == (STEPS, BATCH, INPUT) for b in batches)
    np.testing.assert_array_equal(batches[2][1][:, :10], given["h0"][:, 50:])


def test_bad_input_arrays_are_one_line_errors(tmp_path):
    path, calib, module = _case(tmp_path, "gru")
    fxp = tmp_path / "gru.fxp.mlir"
    fxp.write_text(driver.module_text(module))
    base = ["verify", fxp, "-o", tmp_path / "w"]
    x, h0 = calib["x"], calib["h0"]
    cases = {
        "unknown": ({"x": x, "h0": h0, "c0": h0}, ["'c0' is not an input"]),
        "missing": ({"x": x}, ["no array 'h0'"]),
        "dtype": ({"x": x, "h0": h0 > 0}, ["'h0'", "bool"]),
        "rank": ({"x": x[0], "h0": h0}, ["'x'", "rank 2"]),
        "shape": ({"x": x[:, :, :2], "h0": h0}, ["'x'", "does not fit"]),
        "counts": ({"x": x[:, :10], "h0": h0[:, :7]}, ["different numbers"]),
        "empty": ({"x": x[:, :0], "h0": h0[:, :0]}, ["no sequences"]),
    }
    for name, (arrays, needles) in cases.items():
        file = tmp_path / f"{name}.npz"
        np.savez(file, **arrays)
        assert_user_error(invoke(*base, "--input", file), *needles)
    # --sequences takes the first ones of --input
    many = tmp_path / "many.npz"
    np.savez(many, x=x[:, :10], h0=h0[:, :10])
    batches, count = given_batches(module, dict(np.load(many)), limit=3)
    assert count == 3 and len(batches) == 1
    np.testing.assert_array_equal(batches[0][0][:, :3], x[:, :3])
    assert plan_hardware(module).preamble_words == 2 * LAYERS * HIDDEN
