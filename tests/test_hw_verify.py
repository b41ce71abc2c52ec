"""The generated RTL equals the fixed-point interpreter bit for bit.

Each case exports a small torch model (or builds an ONNX graph), quantizes it,
emits Verilog through CIRCT and simulates ≥ 100 random sequences in iverilog with a
self-checking testbench whose expected words come from the interpreter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import available, needs
from onnx import TensorProto, helper
from torch import nn
from torch_models import export_onnx

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.testbench import random_batches, verify
from rnnc.cli import main
from rnnc.dialects import fxp
from rnnc.dialects.arrays import array_of
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.fxp_to_hw.plan import plan_design
from rnnc.passes.fxp_to_hw.plan_view import read_plan
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

pytestmark = needs("iverilog")

BATCH = 25
BATCHES = 4  # 100 sequences


class Classifier(nn.Module):
    """Embedding → RNN (any cell, layers, directions) → linear head on the final
    hidden states of the last layer."""

    def __init__(self, cell, layers=1, bidirectional=False, vocab=30, emb=6, hidden=8):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(
            emb,
            hidden,
            num_layers=layers,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.dirs = 2 if bidirectional else 1
        self.head = nn.Linear(self.dirs * hidden, 3)

    def forward(self, tokens):
        _, state = self.rnn(self.emb(tokens))
        h = state[0] if isinstance(state, tuple) else state
        if self.dirs == 1:
            return self.head(h[-1])
        return self.head(torch.cat([h[-2], h[-1]], dim=-1))


class Sequence(nn.Module):
    """A bare recurrent layer over float inputs, returning every step's output."""

    def __init__(self, cell, layers=1, bidirectional=False, inp=4, hidden=5):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(inp, hidden, num_layers=layers, bidirectional=bidirectional)

    def forward(self, x):
        return self.rnn(x)[0]


class Tagger(nn.Module):
    """Embedding → RNN → linear head at every step (a tagger; `flat` reshapes
    the steps into rows first, as the PTB language models do)."""

    def __init__(
        self, cell, flat=False, log_softmax=False, vocab=20, emb=4, hidden=5, tags=3
    ):
        super().__init__()
        self.flat, self.log_softmax = flat, log_softmax
        self.emb = nn.Embedding(vocab, emb)
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(emb, hidden, batch_first=True)
        self.out = nn.Linear(hidden, tags)

    def forward(self, tokens):
        y = self.rnn(self.emb(tokens))[0]
        if self.log_softmax:
            return torch.log_softmax(self.out(y), dim=-1)
        if not self.flat:
            return self.out(y)
        batch, steps = tokens.shape
        return self.out(y.reshape(batch * steps, -1)).reshape(batch, steps, -1)


def _tagger_case(tmp_path, cell, flat=False, steps=4, log_softmax=False):
    torch.manual_seed(3)
    model = Tagger(cell, flat, log_softmax)
    tokens = torch.randint(0, 20, (BATCH, steps))
    path = tmp_path / "model.onnx"
    export_onnx(model, (tokens,), path, ["tokens"], ["tags"], None)
    return path, {"tokens": tokens.numpy()}


def _classifier_case(
    tmp_path, cell, layers=1, bidirectional=False, steps=5, emb=6, hidden=8
):
    torch.manual_seed(1)
    model = Classifier(cell, layers, bidirectional, emb=emb, hidden=hidden)
    tokens = torch.randint(0, 30, (BATCH, steps))
    path = tmp_path / "model.onnx"
    export_onnx(model, (tokens,), path, ["tokens"], ["logits"], None)
    return path, {"tokens": tokens.numpy()}


def _sequence_case(tmp_path, cell, layers=1, bidirectional=False, steps=4):
    torch.manual_seed(2)
    model = Sequence(cell, layers, bidirectional)
    x = torch.randn(steps, BATCH, 4)
    path = tmp_path / "model.onnx"
    export_onnx(model, (x,), path, ["x"], ["y"], None)
    return path, {"x": x.numpy()}


def _lengths_case(tmp_path, linear_before_reset=1):
    """ONNX GRU with sequence_lens, both directions."""
    rng = np.random.default_rng(3)
    steps, inp, hidden = 5, 3, 4
    w = rng.normal(0, 0.5, (2, 3 * hidden, inp)).astype(np.float32)
    r = rng.normal(0, 0.5, (2, 3 * hidden, hidden)).astype(np.float32)
    b = rng.normal(0, 0.2, (2, 6 * hidden)).astype(np.float32)
    node = helper.make_node(
        "GRU",
        ["x", "W", "R", "B", "lens"],
        ["Y", "Y_h"],
        hidden_size=hidden,
        direction="bidirectional",
        linear_before_reset=linear_before_reset,
    )
    graph = helper.make_graph(
        [node],
        "gru_lengths",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, BATCH, inp]),
            helper.make_tensor_value_info("lens", TensorProto.INT32, [BATCH]),
        ],
        [
            helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
            helper.make_tensor("B", TensorProto.FLOAT, b.shape, b.ravel()),
        ],
    )
    path = tmp_path / "model.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path
    )
    lens = rng.integers(1, steps + 1, BATCH).astype(np.int32)
    lens[0], lens[1] = 1, steps
    return path, {
        "x": rng.normal(0, 1, (steps, BATCH, inp)).astype(np.float32),
        "lens": lens,
    }


def _initial_state_case(tmp_path):
    """ONNX LSTM whose initial_h and initial_c are constants of the model (not
    zero): the first step reads them from their ROMs."""
    rng = np.random.default_rng(5)
    steps, inp, hidden = 4, 3, 5
    w = rng.normal(0, 0.5, (1, 4 * hidden, inp)).astype(np.float32)
    r = rng.normal(0, 0.5, (1, 4 * hidden, hidden)).astype(np.float32)
    h0 = rng.uniform(-0.9, 0.9, (1, BATCH, hidden)).astype(np.float32)
    h0[:] = h0[:, :1]  # the same for every sequence, as the hardware holds it
    c0 = rng.uniform(-1.5, 1.5, (1, BATCH, hidden)).astype(np.float32)
    c0[:] = c0[:, :1]
    node = helper.make_node(
        "LSTM", ["x", "W", "R", "", "", "h0", "c0"], ["Y"], hidden_size=hidden
    )
    graph = helper.make_graph(
        [node],
        "lstm_init",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, BATCH, inp])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [
            helper.make_tensor(n, TensorProto.FLOAT, a.shape, a.ravel())
            for n, a in (("W", w), ("R", r), ("h0", h0), ("c0", c0))
        ],
    )
    path = tmp_path / "model.onnx"
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path
    )
    return path, {"x": rng.normal(0, 1, (steps, BATCH, inp)).astype(np.float32)}


CASES = {
    "lstm_classifier": (lambda p: _classifier_case(p, "lstm"), {}, 4),
    "gru_classifier_pwl": (
        lambda p: _classifier_case(p, "gru"),
        {"activation_method": "pwl"},
        2,
    ),
    # 3-bit weights fitted by squared error: a finer embedding format, clipped values.
    "rnn_classifier_mse_w3": (
        lambda p: _classifier_case(p, "rnn"),
        {"weight_bits": 3, "weight_fit": "mse"},
        1,
    ),
    "bilstm_2layer_classifier": (
        # Four recurrences in one design: small sizes keep yosys quick.
        lambda p: _classifier_case(
            p, "lstm", layers=2, bidirectional=True, steps=4, emb=4, hidden=4
        ),
        {"lut_bits": 4},
        2,
    ),
    # 1,120 weight words of 12 bits at P = 2: deeper than one block RAM (1,024
    # words of that width), so the weight ROM is split into two banks.
    "gru_classifier_banked_weights": (
        lambda p: _classifier_case(p, "gru", emb=16, hidden=20, steps=3),
        {},
        2,
    ),
    # 2 · 40 steps · 32 inputs of 6 bits: deeper than one block RAM (2,048
    # words of that width), so the input buffer is split into banks.
    "lstm_classifier_banked_input": (
        lambda p: _classifier_case(p, "lstm", steps=40, emb=32, hidden=4),
        {},
        4,
    ),
    "gru_2layer_sequence": (lambda p: _sequence_case(p, "gru", layers=2), {}, 3),
    "birnn_sequence_saturating": (
        lambda p: _sequence_case(p, "rnn", bidirectional=True),
        # 4-bit activations and states: casts saturate often.
        {
            "activation_bits": 4,
            "state_bits": 4,
            "preactivation_bits": 5,
            "range": "percentile",
        },
        2,
    ),
    "lstm_sequence_wrap_hard": (
        lambda p: _sequence_case(p, "lstm"),
        {"overflow": "wrap", "rounding": "half-up", "activation_method": "hard"},
        5,
    ),
    "bigru_lengths": (_lengths_case, {"rounding": "floor"}, 4),
    # linear_before_reset=0: (r ⊙ h) · R_h needs r of the same step, so the
    # step runs in two phases.
    "gru_reset_before_sequence": (lambda p: _gru_default_case(p), {}, 2),
    # A head at every step: the decoder stage runs once per step.
    "lstm_tagger_per_step_head": (lambda p: _tagger_case(p, "lstm"), {}, 2),
    # ... and its reductions (a per-step LogSoftmax: three sweeps per step).
    "rnn_tagger_per_step_log_softmax": (
        lambda p: _tagger_case(p, "rnn", log_softmax=True),
        {"lut_bits": 4},
        2,
    ),
    "gru_flat_decoder_per_step_head": (
        lambda p: _tagger_case(p, "gru", flat=True),
        {},
        3,
    ),
    "bigru_reset_before_lengths": (
        lambda p: _lengths_case(p, linear_before_reset=0),
        {},
        3,
    ),
    "lstm_initial_state": (_initial_state_case, {}, 2),
    # Multi-stage ops (three-stage tables, saturating casts) beside one-stage
    # ones, hidden 5 on 3 lanes: operands of different latencies meet.
    "lstm_sequence_saturating_tables": (
        lambda p: _sequence_case(p, "lstm"),
        {
            "activation_bits": 6,
            "state_bits": 6,
            "preactivation_bits": 6,
            "range": "percentile",
        },
        3,
    ),
}


VERILATOR_CASES = {"lstm_classifier_banked_input"}


@pytest.mark.parametrize("name", list(CASES))
def test_rtl_matches_interpreter(tmp_path, name):
    make, options, lanes = CASES[name]
    path, calib = make(tmp_path)
    # 6-bit weights, 10-bit activations unless the case says otherwise; small
    # tables keep yosys quick (the LSTM classifier keeps the default 2^8 entries).
    policy = {
        "weight_bits": 6,
        "activation_bits": 10,
        "state_bits": 10,
        "preactivation_bits": 10,
        "lut_bits": 8 if name == "lstm_classifier" else 6,
        **options,
    }
    config = load_config(None, **policy)
    module, _ = quantize_model(load_model(path), calib, config)
    batches = random_batches(calib, list(calib), 100, BATCH, seed=7)
    # Long sequences simulate in Verilator (iverilog took 100 s for this one).
    simulator = "verilator" if name in VERILATOR_CASES else "iverilog"
    report = verify(module, batches, tmp_path / "rtl", lanes=lanes, simulator=simulator)
    assert report.sequences >= 100
    assert report.ok, (report.summary(), report.mismatches[:5])
    if name == "gru_classifier_banked_weights":  # the weight ROM's banks
        assert len(list((tmp_path / "rtl").glob("mac_w_bank*.hex"))) == 2
    if name == "lstm_classifier_banked_input":  # the input buffer's banks
        assert re.search(
            r"\bbuf_input_bank1\b", (tmp_path / "rtl/rnnc_top.sv").read_text()
        )
    if "saturat" in name:  # the case exists to exercise the saturating casts
        assert any("saturate" in line for line in report.overflows)
    rtl = tmp_path / "rtl"
    # Timing: every sequence takes the documented cycle count (+ 2 to start).
    manifest = json.loads((rtl / "manifest.json").read_text())
    planned = manifest["compute_cycles"]
    _check_storage(rtl, manifest)
    # Recurrences run pipelined steps (the next step's input mat-vecs during
    # this step's tail: shorter whenever a step has input mat-vecs), heads not.
    # Split steps (GRU with linear_before_reset=0) run their phases in turn, and
    # a step with reductions its sweeps.
    assert all(
        s["pipelined"]
        == (s["steps"] > 1 and s["phases"] == 1 and not s["sweep_cycles"])
        for s in manifest["stages"]
    )
    assert report.cycles_per_sequence
    assert all(planned <= c <= planned + 2 for c in report.cycles_per_sequence)
    _check_products(rtl, module, lanes)
    _check_tables(rtl, module)
    sources = [rtl / "rnnc_top.sv"]
    if available("verilator"):
        assert simulate.lint_verilator(sources, top="rnnc_top") == ""
    if available("yosys"):
        result = simulate.synth_yosys(sources, "rnnc_top", workdir=rtl)
        assert result.stats["num_cells"] > 0


def _check_storage(rtl, manifest):
    """The manifest lists every memory of the RTL with its size: each ROM as
    deep as its .hex file and as wide as its words, the input buffer two whole
    sequences (load while computing)."""
    text = (rtl / "rnnc_top.sv").read_text()
    storage = {m["name"]: m for m in manifest["storage"]}
    arrays = re.findall(r"reg\s+(?:\[(\d+):0\]\s+)?(\w+)\s*\[", text)
    declared = {name: int(msb or 0) + 1 for msb, name in arrays}
    assert set(storage) == set(declared)
    for name, m in storage.items():
        assert m["width"] == declared[name] and m["bits"] == m["words"] * m["width"]
        if m["kind"] == "rom":
            lines = (rtl / f"{name}.hex").read_text().split()
            assert len(lines) == m["words"]
            assert max(len(x) for x in lines) == (m["width"] + 3) // 4
    shape = manifest["input"]
    # one memory, or banks of one block RAM's depth (buf_input_bank0, ...)
    banks = [m for n, m in storage.items() if re.fullmatch(r"buf_input(_bank\d+)?", n)]
    words = sum(m["words"] for m in banks)
    assert words == 2 * shape["steps"] * shape["size"]
    assert manifest["storage_bits"] == sum(m["bits"] for m in storage.values())


def _check_products(rtl, module, lanes):
    """One MAC array shared by every stage and head: P multipliers, one per
    lane, fed by the operand register and the lane's field of the one weight
    ROM; the elementwise products (fxp.mul, PWL slopes) on a pool shared by
    every stage, as many as the stage with the most. Every product is a signed
    multiply (no unsigned multiply of sign-extended operands)."""
    text = (rtl / "rnnc_top.sv").read_text()
    lanes_found = re.findall(r"wire\s+\[\d+:0\]\s+mac_prod(\d+) =", text)
    assert sorted(map(int, lanes_found)) == list(range(lanes))
    roms = sorted(p.name for p in rtl.glob("*.hex") if not p.name.startswith("tb_"))
    banks = [f"mac_w_bank{b}.hex" for b in range(len(roms))]
    assert roms == ["mac_w.hex"] or roms == sorted(banks)
    rom_widths = re.findall(r"reg\s+\[(\d+):0\]\s+mac_w(?:_bank\d+)?\[", text)
    assert len(rom_widths) == len(roms) and len(set(rom_widths)) == 1
    rom_width = int(rom_widths[0]) + 1
    lane_widths = re.findall(r"wire\s+\[(\d+):0\]\s+mac_w\d+ = ", text)
    assert len(lane_widths) == (lanes if lanes > 1 else 0)
    if lanes > 1:
        assert rom_width == lanes * (int(lane_widths[0]) + 1)
    design_op, _ = plan_design(module)
    pool = max(
        sum(isinstance(op, fxp.MulOp | fxp.PwlOp) for op in s.ops)
        for s in read_plan(design_op).stages
    )
    assert len(re.findall(r"wire\s+\[\d+:0\]\s+ew_prod\d+ =", text)) == pool
    assert text.count(" * ") == lanes + pool
    assert text.count(") * $signed(") == text.count(" * ")


_CASE = re.compile(
    r"reg\s+(?:\[\d+:0\]\s+)?(\w+);\s*always_comb begin\s*casez \((\w+)\)(.*?)endcase",
    re.S,
)


def _check_tables(rtl, module):
    """Every activation table is a ROM read at a registered address (the
    `_index` register of its fxp.lut) whose word goes straight into a register:
    a synchronous ROM, which synthesis maps to block or distributed RAM, with
    the index and the fix-up logic in the stages around it."""
    text = (rtl / "rnnc_top.sv").read_text()
    tables = 0
    for tmp, select, arms in _CASE.findall(text):
        if not select.endswith("_index"):
            continue
        tables += 1
        assert re.search(rf"reg\s+(?:\[\d+:0\]\s+)?{select};", text), select
        assert re.search(rf"\b{select} <=", text), select
        values = re.findall(rf"{tmp} = (.*?);", arms)
        assert all(re.fullmatch(r"\d+'h[0-9A-F]+", v) for v in values)
        uses = re.findall(rf"[^\n]*\b{tmp}\b[^\n]*", text)
        reads = [u for u in uses if not re.search(rf"reg .*{tmp};|{tmp} =", u)]
        assert reads and all(re.fullmatch(rf"\s*\w+_entry <= {tmp};", u) for u in reads)
    design_op, _ = plan_design(module)
    luts = sum(
        isinstance(op, fxp.LutOp) and array_of(op.table).size > 1
        for s in read_plan(design_op).stages
        for op in s.ops
    )
    assert tables == luts


def _gru_default_case(tmp_path):
    """ONNX GRU with the default linear_before_reset=0: the recurrent product
    needs r ⊙ h, computed in the same step."""
    rng = np.random.default_rng(4)
    steps, inp, hidden = 4, 2, 3
    w = rng.normal(0, 0.5, (1, 3 * hidden, inp)).astype(np.float32)
    r = rng.normal(0, 0.5, (1, 3 * hidden, hidden)).astype(np.float32)
    node = helper.make_node("GRU", ["x", "W", "R"], ["Y"], hidden_size=hidden)
    graph = helper.make_graph(
        [node],
        "gru",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [steps, BATCH, inp])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        [
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
        ],
    )
    path = tmp_path / "gru.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path, {"x": rng.normal(0, 1, (steps, BATCH, inp)).astype(np.float32)}


def test_unsupported_hardware_is_one_error_line(tmp_path, capsys):
    """A product of two computed values (here h · hᵀ across the batch) has no
    hardware form: one error line names it."""
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.5, (1, 9, 2)).astype(np.float32)
    r = rng.normal(0, 0.5, (1, 9, 3)).astype(np.float32)
    nodes = [
        helper.make_node("GRU", ["x", "W", "R"], ["Y", "Yh"], hidden_size=3),
        helper.make_node("Squeeze", ["Yh", "axis"], ["h"]),
        helper.make_node("Transpose", ["h"], ["hT"], perm=[1, 0]),
        helper.make_node("MatMul", ["h", "hT"], ["gram"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gram",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2, 2])],
        [helper.make_tensor_value_info("gram", TensorProto.FLOAT, None)],
        [
            helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
            helper.make_tensor("R", TensorProto.FLOAT, r.shape, r.ravel()),
            helper.make_tensor("axis", TensorProto.INT64, [1], [0]),
        ],
    )
    path = tmp_path / "gram.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    np.savez(tmp_path / "calib.npz", x=rng.normal(0, 1, (3, 2, 2)).astype(np.float32))
    code = main(
        [
            str(path),
            "--emit=verilog",
            "-o",
            str(tmp_path / "rtl"),
            "--calib",
            str(tmp_path / "calib.npz"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("rnnc: error: hardware backend does not support")
    assert "a matrix product by a variable" in last
    assert "Traceback" not in err
    assert not (tmp_path / "rtl").exists()


def test_verify_command_reports_a_match(tmp_path, capsys):
    path, calib = _sequence_case(tmp_path, "rnn")
    np.savez(tmp_path / "calib.npz", **calib)
    code = main(
        [
            "verify",
            str(path),
            "--calib",
            str(tmp_path / "calib.npz"),
            "--sequences",
            "30",
            "--lanes",
            "2",
            "--act-bits",
            "10",
            "-o",
            str(tmp_path / "work"),
            "--json",
            str(tmp_path / "report.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    # exactly the sequences asked for, not whole batches of the module's
    assert out.startswith("MATCH: 30 sequences")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["errors"] == 0 and report["words"] == 30 * 20


@needs("yosys", "nextpnr-ice40")
def test_synth_report_of_a_small_model(tmp_path, capsys):
    """Emitted RTL synthesizes for Xilinx and places on an iCE40 with an fmax."""
    torch.manual_seed(2)
    model = Sequence("rnn", inp=2, hidden=3)
    x = torch.randn(3, 4, 2)
    export_onnx(model, (x,), tmp_path / "m.onnx", ["x"], ["y"], None)
    np.savez(tmp_path / "calib.npz", x=x.numpy())
    rtl = tmp_path / "rtl"
    assert (
        main(
            [
                str(tmp_path / "m.onnx"),
                "--emit=verilog",
                "-o",
                str(rtl),
                "--calib",
                str(tmp_path / "calib.npz"),
                "--weight-bits",
                "6",
                "--act-bits",
                "8",
                "--lut-bits",
                "5",
            ]
        )
        == 0
    )
    assert main(["synth-report", str(rtl), "--json", str(tmp_path / "s.json")]) == 0
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["top"] == "rnnc_top"
    assert report["xilinx"]["luts"] > 0 and report["xilinx"]["dsps"] >= 1
    assert report["ice40"]["fmax_mhz"] > 0
    assert "fmax" in capsys.readouterr().out


def test_emit_writes_a_testbench_that_passes(tmp_path, capsys):
    """`--emit=verilog` with calibration data writes the self-checking testbench
    beside the design; simulated as a user would (iverilog in the folder), it
    matches the interpreter's words."""
    root = Path(__file__).resolve().parents[1] / "examples"
    out = tmp_path / "rtl"
    args = [str(root / "lstm_classifier.onnx"), "--emit=verilog", "-o", str(out)]
    args += ["--calib", str(root / "lstm_classifier_input.npz"), "--lanes", "2"]
    assert main(args) == 0
    assert "testbench: 8 sequences" in capsys.readouterr().err
    sources = [out / "rnnc_top.sv", out / "rnnc_tb.sv"]
    text = simulate.run_iverilog(sources, top="rnnc_tb", workdir=out)
    assert "DONE errors=0 words=16" in text
    assert len(re.findall(r"^SEQ \d+ cycles", text, re.M)) == 8
