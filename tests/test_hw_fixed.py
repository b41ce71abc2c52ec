"""The comb circuits of backends/hw_fixed.py equal dialects/fixed.py bit for bit.

One hw.module holds a cast for every (rounding, overflow) pair over several format
pairs (right and left shifts, negative F, shifts past the width), an exact add, sub
and mul, and activation tables of each symmetry; CIRCT exports it, iverilog runs it
on edge and random inputs, and every output is compared with the fixed-point rules
the interpreter uses.
"""

from __future__ import annotations

import random

import numpy as np
from conftest import needs
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import hw
from xdsl.dialects.builtin import ArrayAttr, IntegerType, ModuleOp
from xdsl.dialects.builtin import StringAttr as Str
from xdsl.ir import Block, Region

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.export import export_verilog
from rnnc.dialects import fixed
from rnnc.dialects.fixed import Format
from rnnc.passes.fxp_to_hw import arith as hw_fixed

pytestmark = needs("iverilog", "circt")

SRC = Format(12, 6)
OTHER = Format(9, 2)
CAST_TARGETS = [
    Format(6, 3),  # drop 3 bits, lose integer bits: rounding and overflow
    Format(8, 1),  # drop 5 bits, wider range
    Format(4, -2),  # negative F
    Format(5, 8),  # left shift by 2 into fewer bits: overflow only
    Format(16, 10),  # left shift, wide: exact
    Format(3, -9),  # shift 15 > width 12: only the sign survives
    Format(2, -5),  # shift 11: the half bit is the sign bit
]
MODES = [(r, o) for r in fixed.ROUNDING_MODES for o in fixed.OVERFLOW_MODES]
# Activation tables as lower-to-fxp builds them: (entries, shift, symmetry, output).
LUTS = [
    (list(range(64, 80)), 4, "sigmoid", Format(8, 7)),  # 1 - y for x < 0
    ([1, 3, 5, 7, 9, 11, 12, 13], 5, "odd", Format(5, 4)),  # -y for x < 0
    ([-8, -5, -2, 0, 2, 5, 7, 7], 7, "none", Format(4, 0)),  # signed index
    ([3, 1, 4, 1, 5, 9, 2, 6], -1, "odd", Format(6, 2)),  # finer than the input
    # A coarse shift leaves fewer index bits than the table needs (clamp width).
    (list(range(0, 64, 2)), 9, "sigmoid", Format(7, 5)),
]


def _outputs():
    return [
        (f"c{i}_{r.replace('-', '')}_{o}", t, r, o)
        for i, t in enumerate(CAST_TARGETS)
        for r, o in MODES
    ]


def build() -> tuple[ModuleOp, list[tuple[str, int]]]:
    outs = _outputs()
    add_fmt = fixed.add_format(SRC, OTHER)
    mul_fmt = fixed.mul_format(SRC, OTHER)
    ports = [
        ("x", IntegerType(SRC.width), hw.Direction.INPUT),
        ("y", IntegerType(OTHER.width), hw.Direction.INPUT),
    ]
    ports += [(n, IntegerType(t.width), hw.Direction.OUTPUT) for n, t, _, _ in outs]
    ports += [
        ("sum", IntegerType(add_fmt.width), hw.Direction.OUTPUT),
        ("diff", IntegerType(add_fmt.width), hw.Direction.OUTPUT),
        ("prod", IntegerType(mul_fmt.width), hw.Direction.OUTPUT),
    ]
    ports += [
        (f"lut{i}", IntegerType(out.width), hw.Direction.OUTPUT)
        for i, (_, _, _, out) in enumerate(LUTS)
    ]
    module_type = hw.ModuleType(
        ArrayAttr([hw.ModulePort(Str(n), t, hw.DirectionAttr(d)) for n, t, d in ports])
    )
    block = Block(arg_types=[IntegerType(SRC.width), IntegerType(OTHER.width)])
    x, y = block.args
    with ImplicitBuilder(block):
        results = [hw_fixed.cast(x, SRC, t, r, o) for _, t, r, o in outs]
        results.append(hw_fixed.add(x, SRC, y, OTHER)[0])
        results.append(hw_fixed.add(x, SRC, y, OTHER, subtract=True)[0])
        results.append(hw_fixed.mul(x, SRC, y, OTHER)[0])
        results += [hw_fixed.lut(x, SRC, *spec) for spec in LUTS]
        hw.OutputOp(results)
    module = ModuleOp([hw.HWModuleOp(Str("arith"), module_type, Region(block))])
    module.verify()
    widths = [(n, t.width.data) for n, t, d in ports if d == hw.Direction.OUTPUT]
    return module, widths


def make_testbench(widths, vectors) -> str:
    lines = [
        "module tb;",
        f"  reg [{SRC.width - 1}:0] x;",
        f"  reg [{OTHER.width - 1}:0] y;",
    ]
    for name, w in widths:
        lines.append(f"  wire [{w - 1}:0] {name};")
    conns = ", ".join([".x(x)", ".y(y)"] + [f".{n}({n})" for n, _ in widths])
    lines.append(f"  arith dut({conns});")
    lines.append("  initial begin")
    for a, b in vectors:
        lines.append(f"    x = {SRC.width}'d{a % (1 << SRC.width)};")
        lines.append(f"    y = {OTHER.width}'d{b % (1 << OTHER.width)}; #1;")
        fmt = " ".join(["%0d"] * len(widths))
        args = ", ".join(f"$signed({n})" for n, _ in widths)
        lines.append(f'    $display("{fmt}", {args});')
    lines += ["    $finish;", "  end", "endmodule"]
    return "\n".join(lines) + "\n"


def expected(a: int, b: int) -> list[int]:
    want = []
    for _, t, r, o in _outputs():
        raw, _ = fixed.cast(np.array([a]), SRC, t, r, o)
        want.append(int(raw[0]))
    want.append(int(fixed.add(np.array([a]), SRC, np.array([b]), OTHER)[0][0]))
    want.append(
        int(fixed.add(np.array([a]), SRC, np.array([b]), OTHER, subtract=True)[0][0])
    )
    want.append(int(fixed.mul(np.array([a]), SRC, np.array([b]), OTHER)[0][0]))
    for table, shift, symmetry, out in LUTS:
        raw = fixed.lut(np.array([a]), np.array(table), shift, symmetry, out)
        want.append(int(raw[0]))
    return want


def test_comb_arithmetic_matches_the_fixed_point_rules(tmp_path):
    rng = random.Random(0)
    edges = [SRC.min_raw, SRC.min_raw + 1, -1, 0, 1, SRC.max_raw - 1, SRC.max_raw]
    # Ties for every dropped-bit count used above: k·2^s + 2^(s-1), both signs.
    ties = [(k << s) + (1 << (s - 1)) for s in (3, 5, 11) for k in (-3, -1, 0, 2)]
    xs = edges + [t for t in ties if SRC.min_raw <= t <= SRC.max_raw]
    xs += [rng.randint(SRC.min_raw, SRC.max_raw) for _ in range(150)]
    vectors = [(a, rng.randint(OTHER.min_raw, OTHER.max_raw)) for a in xs]
    module, widths = build()
    (tmp_path / "arith.sv").write_text(export_verilog(module))
    (tmp_path / "tb.sv").write_text(make_testbench(widths, vectors))
    out = simulate.run_iverilog(
        [tmp_path / "arith.sv", tmp_path / "tb.sv"], top="tb", workdir=tmp_path
    )
    rows = [list(map(int, ln.split())) for ln in out.splitlines() if ln.strip()]
    assert len(rows) == len(vectors)
    names = [n for n, _ in widths]
    for (a, b), row in zip(vectors, rows, strict=True):
        want = expected(a, b)
        bad = [(n, g, w) for n, g, w in zip(names, row, want, strict=True) if g != w]
        assert not bad, f"x={a} y={b}: (output, hardware, rule) {bad}"


@needs("verilator")
def test_comb_arithmetic_lints_clean(tmp_path):
    module, _ = build()
    path = tmp_path / "arith.sv"
    path.write_text(export_verilog(module))
    # Casts drop bits on purpose: unused low bits are not a defect here.
    simulate.lint_verilator([path], top="arith", flags=("-Wall", "-Wno-UNUSEDSIGNAL"))
