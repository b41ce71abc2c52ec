"""Weights off chip: mat-vec weights beyond `--onchip-kbits` come from the
weight stream port, and the RTL stays bit-exact with the interpreter.

Each case quantizes a small torch model, emits it with a ROM budget and
simulates 100 random sequences in iverilog, whose testbench models the weight
memory at a bandwidth (valid on `valid` of every `period` cycles the design
waits). The cycles are checked against the same design at full bandwidth (the
planned count) plus the stalls `WeightStream.stall_cycles` computes, which the
testbench also counts.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import HW_POLICY, available, needs
from test_hw_verify import BATCH, _classifier_case, _lengths_case, _sequence_case

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.emit import emit_verilog
from rnnc.backends.verilog.testbench import random_batches, verify
from rnnc.cli import main
from rnnc.frontend.onnx_loader import load_model
from rnnc.passes.fxp_to_hw.plan import plan_design
from rnnc.passes.fxp_to_hw.plan_view import read_plan
from rnnc.passes.fxp_to_hw.weight_stream import KBIT, place, rom_words
from rnnc.passes.quant_config import load_config
from rnnc.pipeline import quantize_model

SEQUENCES = 100


def _quantized(path, calib):
    config = load_config(None, **HW_POLICY)
    module, _ = quantize_model(load_model(path), calib, config)
    return module


def _streamed_tensors(module, lanes, kbits):
    """(steps, ROM words, streamed?) of every mat-vec of the module's plan."""
    plan = read_plan(plan_design(module)[0])
    streamed = place(plan, lanes, kbits)
    mvs = [(s.steps, m) for s in plan.stages for m in s.matvecs]
    return [
        (steps, rom_words(m, lanes), i in streamed) for i, (steps, m) in enumerate(mvs)
    ]


CASES = {
    # Every weight streamed: an LSTM (pipelined steps) and its linear head.
    "lstm_classifier_all_streamed": (
        lambda p: _classifier_case(p, "lstm", steps=4, emb=6, hidden=5),
        2,
        0,
    ),
    # 1 kbit keeps part of the recurrence's matrices on chip: stages read the
    # ROM and the stream in the same step.
    "lstm_classifier_mixed": (
        lambda p: _classifier_case(p, "lstm", steps=4, emb=6, hidden=5),
        2,
        1,
    ),
    # Two layers on 3 lanes, the first layer's weights on chip.
    "gru_2layer_mixed": (lambda p: _sequence_case(p, "gru", layers=2), 3, 1),
    # Both directions (one counts time down) and sequence lengths, streamed.
    "bigru_lengths_all_streamed": (_lengths_case, 2, 0),
}


@needs("iverilog")
@pytest.mark.parametrize("name", list(CASES))
def test_streamed_weights_match_the_interpreter(tmp_path, name):
    make, lanes, kbits = CASES[name]
    path, calib = make(tmp_path)
    module = _quantized(path, calib)
    batches = random_batches(calib, list(calib), SEQUENCES, BATCH, seed=11)
    tensors = _streamed_tensors(module, lanes, kbits)
    streamed_words = sum(steps * w for steps, w, s in tensors if s)
    assert streamed_words > 0
    if kbits == 0:
        assert all(s for *_, s in tensors)
    else:  # some on chip, some streamed; the ROM within the budget
        assert any(s for *_, s in tensors) and not all(s for *_, s in tensors)

    def run(folder, kbits, bandwidth):
        report = verify(
            module,
            batches,
            tmp_path / folder,
            lanes=lanes,
            sequences=SEQUENCES,
            onchip_kbits=kbits,
            bandwidth=bandwidth,
        )
        assert report.sequences == SEQUENCES
        assert report.ok, (report.summary(), report.mismatches[:5])
        assert len(report.cycles_per_sequence) == SEQUENCES
        manifest = json.loads((tmp_path / folder / "manifest.json").read_text())
        return report, manifest

    on_chip, _ = run("onchip", None, (1, 1))
    full, manifest = run("full", kbits, (1, 1))
    stream = manifest["weight_stream"]
    assert stream["words_per_sequence"] == streamed_words
    assert stream["word_width"] == lanes * 6
    # The file holds each segment once; the host repeats it per step.
    text = (tmp_path / "full" / stream["file"]).read_text().split()
    assert len(text) == stream["file_words"]
    assert sum(s["words"] * s["repeats"] for s in stream["segments"]) == (
        streamed_words
    )
    # Full bandwidth: no stall, the cycles of the all-on-chip design.
    assert full.stalls_per_sequence == [0] * SEQUENCES
    assert full.cycles_per_sequence == on_chip.cycles_per_sequence
    planned = manifest["compute_cycles"]
    assert all(planned <= c <= planned + 2 for c in full.cycles_per_sequence)
    rom_bits = sum(
        m["bits"] for m in manifest["storage"] if m["name"].startswith("mac_w")
    )
    if kbits == 0:
        assert rom_bits == 0
    else:
        assert 0 < rom_bits <= kbits * KBIT
    # Short bandwidth: the same words, planned cycles + the computed stalls.
    for valid, period in (
        [(2, 5), (1, 3)] if name == "lstm_classifier_all_streamed" else [(2, 5)]
    ):
        short, _ = run(f"short_{valid}_{period}", kbits, (valid, period))
        stalls = (streamed_words - 1) // valid * (period - valid)
        assert short.stalls_per_sequence == [stalls] * SEQUENCES
        assert short.cycles_per_sequence == [
            c + stalls for c in full.cycles_per_sequence
        ]
    rtl = (tmp_path / "full" / "rnnc_top.sv").read_text()
    for port in ("weight_valid", "weight_data", "weight_ready"):
        assert re.search(rf"\b(input|output)\b[^;]*\b{port}\b", rtl), port
    if available("verilator"):
        assert (
            simulate.lint_verilator([tmp_path / "full/rnnc_top.sv"], top="rnnc_top")
            == ""
        )


def test_design_cycles_include_the_stalls(tmp_path):
    """`Design.cycles_at` is compute_cycles plus the stalls of a sequence."""
    path, calib = _classifier_case(tmp_path, "lstm", steps=3, emb=4, hidden=3)
    module = _quantized(path, calib)
    design = emit_verilog(module, tmp_path / "rtl", 1, 0).design
    words = design.stream.words_per_sequence
    assert design.cycles_at(1, 1) == design.compute_cycles
    assert design.cycles_at(1, 2) == design.compute_cycles + words - 1
    assert design.cycles_at(3, 4) == design.compute_cycles + (words - 1) // 3
    on_chip = emit_verilog(module, tmp_path / "rtl2", 1).design
    assert on_chip.stream is None
    assert on_chip.cycles_at(1, 4) == on_chip.compute_cycles


@pytest.mark.parametrize("kbits", [0, 1, 2, 4, 1000])
def test_placement_fills_the_budget(tmp_path, kbits):
    """The ROM holds at most the budget, and no streamed tensor would still
    fit; recurrence tensors (read every step) go on chip before the head's."""
    path, calib = _classifier_case(tmp_path, "gru", steps=4, emb=6, hidden=5)
    module = _quantized(path, calib)
    lanes = 2
    tensors = _streamed_tensors(module, lanes, kbits)
    bits = [w * lanes * 6 for _, w, _ in tensors]
    kept = sum(b for b, (*_, s) in zip(bits, tensors, strict=True) if not s)
    assert kept <= kbits * KBIT
    for b, (_, _, s) in zip(bits, tensors, strict=True):
        if s:
            assert kept + b > kbits * KBIT
    assert {t[0] for t in tensors} == {1, 4}
    # Recurrence tensors are placed first: one streamed did not fit beside the
    # recurrence tensors kept, whatever the head's took.
    recurrent = [(b, t[2]) for b, t in zip(bits, tensors, strict=True) if t[0] > 1]
    kept_recurrent = sum(b for b, s in recurrent if not s)
    assert all(kept_recurrent + b > kbits * KBIT for b, s in recurrent if s)
    if kbits == 1000:
        assert not any(s for *_, s in tensors)


def _write_case(tmp_path):
    path, calib = _classifier_case(tmp_path, "rnn", steps=3, emb=4, hidden=3)
    np.savez(tmp_path / "calib.npz", **calib)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--onchip-kbits", "-1"], "--onchip-kbits must be in [0, "),
        (["--onchip-kbits", "x"], "argument --onchip-kbits: invalid int value"),
        (["--onchip-kbits", str(1 << 40)], "--onchip-kbits must be in [0, "),
    ],
)
def test_bad_onchip_kbits_is_one_error_line(tmp_path, capsys, args, message):
    path = _write_case(tmp_path)
    code = main(
        [
            str(path),
            "--emit=verilog",
            "-o",
            str(tmp_path / "rtl"),
            "--calib",
            str(tmp_path / "calib.npz"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [err.strip().splitlines()[-1]]
    assert err.startswith(f"rnnc: error: {message}")
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--emit=mlir", "--onchip-kbits", "4"],
            "--onchip-kbits is for --emit=verilog",
        ),
        (["verify", "--stream-bandwidth", "2"], "bad --stream-bandwidth '2'"),
        (["verify", "--stream-bandwidth", "3/2"], "weight stream bandwidth 3/2"),
        (["verify", "--stream-bandwidth", "0/2"], "weight stream bandwidth 0/2"),
        (["verify", "--onchip-kbits", "-5"], "--onchip-kbits must be in [0, "),
    ],
)
def test_other_bad_stream_flags(tmp_path, capsys, args, message):
    path = _write_case(tmp_path)
    if args[0] == "verify":
        argv = ["verify", str(path), "--calib", str(tmp_path / "calib.npz"), *args[1:]]
        argv += ["-o", str(tmp_path / "work")]
    else:
        argv = [str(path), *args]
    code = main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"rnnc: error: {message}"), err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("kbits", [0, 1])
def test_manifest_describes_the_stream_file(tmp_path, kbits):
    """A host can build the stream from the manifest alone: each segment's
    phases, groups and tensors (stage/matvec j of the plan) give the words of
    weight_stream.hex, lane p's weight in bits [p·W, (p+1)·W)."""
    path, calib = _classifier_case(tmp_path, "lstm", steps=4, emb=6, hidden=5)
    module = _quantized(path, calib)
    lanes = 2
    emit_verilog(module, tmp_path / "rtl", lanes, kbits)
    manifest = json.loads((tmp_path / "rtl/manifest.json").read_text())
    stream = manifest["weight_stream"]
    words = [
        int(line, 16)
        for line in (tmp_path / "rtl" / stream["file"]).read_text().split()
    ]
    plan = read_plan(plan_design(module)[0])
    stages = {s.name: s for s in plan.stages}
    width = stream["field_width"]
    mask = (1 << width) - 1
    rebuilt = []
    for segment in stream["segments"]:
        start = len(rebuilt)
        for phase in segment["phases"]:
            for g in range(phase["groups"]):
                for t in phase["tensors"]:
                    stage, _, j = t["tensor"].partition("/matvec")
                    w = stages[stage].matvecs[int(j)].weight
                    assert w.shape == (t["rows"], t["columns"])
                    for k in range(t["rows"]):
                        lane_w = [
                            int(w[k, c]) if c < w.shape[1] else 0
                            for c in range(g * lanes, (g + 1) * lanes)
                        ]
                        rebuilt.append(
                            sum((v & mask) << (p * width) for p, v in enumerate(lane_w))
                        )
        assert segment["first_word"] == start
        assert segment["words"] == len(rebuilt) - start
    assert rebuilt == words
    assert stream["file_words"] == len(words)
