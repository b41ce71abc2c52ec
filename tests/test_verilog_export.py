"""Verilog backend infrastructure: xDSL hw/comb/seq/sv -> CIRCT -> Verilog -> tools.

The design under test is built with xDSL: a signed 8 x 8 bit multiply-accumulate
into a 20-bit wrapping accumulator (`seq.compreg` with synchronous reset), the
weight read from a 16-word ROM (`sv.reg` + `sv.readmem` of a generated .hex file)
at an address input. The exported Verilog must lint clean under Verilator -Wall,
synthesise with yosys and match a Python model bit for bit in iverilog.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import needs, require
from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, IntegerType, ModuleOp
from xdsl.dialects.builtin import StringAttr as Str
from xdsl.ir import Block, Region, SSAValue
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog.export import export_split, export_verilog
from rnnc.dialects import sv
from rnnc.dialects.errors import RnncError
from rnnc.dialects.hw import InOutType, UnpackedArrayType
from rnnc.registry import make_context

ACC_BITS = 20
IN_BITS = 8
DEPTH = 16
ADDR_BITS = 4
CYCLES = 240


needs_circt = needs("circt")


# ------------------------------------------------------------------ the design


def _sext(value: SSAValue, width: int) -> SSAValue:
    """Sign extension as hardware does it: replicate the top bit, concatenate."""
    src = value.type.width.data
    top = comb.ExtractOp(value, IntegerAttr(src - 1, 32), IntegerType(1)).result
    fill = comb.ReplicateOp(top, IntegerType(width - src)).result
    return comb.ConcatOp([fill, value], IntegerType(width)).result


def build_mac(hex_file: str = "weights.hex") -> ModuleOp:
    """acc <= rst ? 0 : acc + sext(x) * sext(rom[addr]);  w = rom[addr]."""
    i1, i8, i4 = IntegerType(1), IntegerType(IN_BITS), IntegerType(ADDR_BITS)
    acc_t = IntegerType(ACC_BITS)
    ports = [
        ("clk", seq.ClockType(), hw.Direction.INPUT),
        ("rst", i1, hw.Direction.INPUT),
        ("addr", i4, hw.Direction.INPUT),
        ("x", i8, hw.Direction.INPUT),
        ("acc", acc_t, hw.Direction.OUTPUT),
        ("w", i8, hw.Direction.OUTPUT),
    ]
    module_type = hw.ModuleType(
        ArrayAttr([hw.ModulePort(Str(n), t, hw.DirectionAttr(d)) for n, t, d in ports])
    )
    block = Block(arg_types=[t for _, t, d in ports if d == hw.Direction.INPUT])
    for arg, (name, _, _) in zip(block.args, ports, strict=False):
        arg.name_hint = name
    clk, rst, addr, x = block.args

    with ImplicitBuilder(block):
        mem = sv.RegOp(UnpackedArrayType(i8, DEPTH), name="weights").result
        with ImplicitBuilder(sv.InitialOp().body.block):
            sv.ReadMemOp(mem, hex_file, sv.MemBase.MemBaseHex)
        slot = sv.ArrayIndexInOutOp(mem, addr).result
        w = sv.ReadInOutOp(slot).result
        w.name_hint = "w_rom"
        zero = hw.ConstantOp(0, acc_t).result
        # The register feeds its own input: create it first, connect it after.
        acc_reg = seq.CompRegOp(zero, clk, (rst, zero))
        acc_reg.data.name_hint = "acc_q"
        product = comb.MulOp([_sext(x, ACC_BITS), _sext(w, ACC_BITS)]).result
        total = comb.AddOp([acc_reg.data, product]).result
        acc_reg.operands = [total, clk, rst, zero]
        hw.OutputOp([acc_reg.data, w])

    mac = hw.HWModuleOp(Str("mac"), module_type, Region(block))
    module = ModuleOp([mac])
    module.verify()
    return module


def hw_context() -> Context:
    """rnnc's context: hw (with CIRCT's inout/uarray), comb, seq, sv."""
    return make_context()


# --------------------------------------------------------------- Python model


def to_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def model(weights: list[int], stimuli: list[tuple[int, int, int]]) -> list[str]:
    """Expected `$display("%0d %h %h", i, acc, w)` lines after each rising edge."""
    lines, acc = [], 0
    for i, (rst, addr, x) in enumerate(stimuli):
        w = weights[addr]
        acc = 0 if rst else to_signed(acc + x * w, ACC_BITS)
        lines.append(f"{i} {acc & (1 << ACC_BITS) - 1:05x} {w & 0xFF:02x}")
    return lines


def overflows(weights: list[int], stimuli: list[tuple[int, int, int]]) -> list[bool]:
    """Per cycle: does the exact (unbounded) accumulation leave the 20-bit range?"""
    flags, exact = [], 0
    for rst, addr, x in stimuli:
        exact = 0 if rst else exact + x * weights[addr]
        flags.append(not -(1 << ACC_BITS - 1) <= exact < 1 << ACC_BITS - 1)
    return flags


TESTBENCH = """\
`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst;
  reg [3:0] addr;
  reg [7:0] x;
  wire [19:0] acc;
  wire [7:0] w;
  reg [12:0] stim [0:{last}];
  integer i;
  mac dut(.clk(clk), .rst(rst), .addr(addr), .x(x), .acc(acc), .w(w));
  always #5 clk = ~clk;
  initial begin
    $readmemh("stim.hex", stim);
    for (i = 0; i <= {last}; i = i + 1) begin
      {{rst, addr, x}} = stim[i];
      @(posedge clk);
      #1 $display("%0d %h %h", i, acc, w);
    end
    $finish;
  end
endmodule
"""


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> dict:
    """Exported mac.sv with its weights.hex, random weights and stimuli."""
    require("circt")
    rng = random.Random(1234)
    weights = [rng.randint(-128, 127) for _ in range(DEPTH)]
    weights[0], weights[1] = -128, 127  # the extremes are always exercised
    stimuli = [(1, 0, 0)] + [
        (int(rng.random() < 0.03), rng.randrange(DEPTH), rng.randint(-128, 127))
        for _ in range(CYCLES - 1)
    ]
    stimuli[5] = (0, 0, -128)  # (-128) * (-128): the largest product
    # 40 largest products in a row: the 20-bit accumulator must wrap around.
    stimuli[100:140] = [(0, 0, -128)] * 40
    work = tmp_path_factory.mktemp("mac")
    (work / "weights.hex").write_text("".join(f"{w & 0xFF:02x}\n" for w in weights))
    (work / "stim.hex").write_text(
        "".join(f"{r << 12 | a << 8 | (x & 0xFF):04x}\n" for r, a, x in stimuli)
    )
    verilog = export_verilog(str(build_mac()))
    (work / "mac.sv").write_text(verilog)
    return {"dir": work, "verilog": verilog, "weights": weights, "stimuli": stimuli}


# ---------------------------------------------------------------------- tests


def test_sv_ops_print_circt_syntax_and_round_trip():
    module = build_mac()
    text = str(module)
    assert '%weights = sv.reg name "weights" : !hw.inout<uarray<16xi8>>' in text
    assert 'sv.readmem %weights, "weights.hex", MemBaseHex' in text
    assert "sv.array_index_inout %weights[%addr] : !hw.inout<uarray<16xi8>>, i4" in text
    assert "%w_rom = sv.read_inout %0 : !hw.inout<i8>" in text
    reparsed = Parser(hw_context(), text).parse_module()
    reparsed.verify()
    # Not `is_structurally_equivalent`: it does not follow the forward reference of
    # the register's feedback (hw.module is a graph region). Printing is exact.
    assert str(reparsed) == text


def test_sv_types_parse_short_and_long_forms():
    ctx = hw_context()
    ctx.load_registered_dialect("sv")
    long = '"test.op"() {t = !hw.inout<!hw.uarray<4x!hw.array<2xi8>>>} : () -> ()'
    short = '"test.op"() {t = !hw.inout<uarray<4xarray<2xi8>>>} : () -> ()'
    ctx.allow_unregistered = True
    a = Parser(ctx, long).parse_module()
    b = Parser(ctx, short).parse_module()
    assert str(a) == str(b)
    assert "!hw.inout<uarray<4xarray<2xi8>>>" in str(a)


def test_sv_verifiers():
    i8 = IntegerType(8)
    reg = sv.RegOp(i8, name="r")
    with pytest.raises(ValueError):
        sv.ArrayIndexInOutOp(reg.result, hw.ConstantOp(0, 2).result)
    mem = sv.RegOp(UnpackedArrayType(i8, 4), name="m")
    outside = sv.ReadMemOp(mem.result, "m.hex", "MemBaseBin")
    Block([mem, outside])  # sv.readmem outside sv.initial
    with pytest.raises(VerifyException, match="procedural region"):
        outside.verify()
    inside = sv.ReadMemOp(mem.result, "m.hex", "MemBaseBin")
    sv.InitialOp([inside])
    inside.verify()
    with pytest.raises(VerifyException):
        InOutType(UnpackedArrayType(IntegerType(8, signedness=1), 4))


@needs_circt
def test_export_produces_readmem_rom_and_register(design):
    verilog = design["verilog"]
    assert "module mac(" in verilog
    assert "reg [7:0]  weights[0:15];" in verilog
    assert '$readmemh("weights.hex", weights);' in verilog
    assert "always_ff @(posedge clk)" in verilog
    assert "{{12{x[7]}}, x}" in verilog  # sign extension by replicate + concat
    # Default lowering options: no location comments, no version banner.
    assert "// -:" not in verilog and "Generated by CIRCT" not in verilog


@needs_circt
def test_export_split_writes_one_file_per_module(tmp_path):
    files = export_split(str(build_mac()), tmp_path / "rtl")
    assert [f.name for f in files] == ["mac.sv"]
    assert "module mac(" in files[0].read_text()


@needs_circt
def test_circt_errors_become_rnnc_errors():
    # xDSL's generic form puts hw.constant's value in properties; CIRCT 1.62 wants
    # an attribute. The error names CIRCT's diagnostic with its line:column.
    generic = (
        "hw.module @m(out y : i8) {\n"
        '  %0 = "hw.constant"() <{value = 3 : i8}> : () -> i8\n'
        "  hw.output %0 : i8\n}\n"
    )
    with pytest.raises(RnncError, match=r"\(parse\): 2:\d+: invalid properties"):
        export_verilog(generic)
    bad_output = "hw.module @m(in %a : i8, out y : i4) {\n  hw.output %a : i8\n}\n"
    with pytest.raises(RnncError, match="output types must match"):
        export_verilog(bad_output)
    with pytest.raises(RnncError, match="unknown style option 'nope'"):
        export_verilog(str(build_mac()), lowering_options=["nope"])


@needs_circt
def test_packed_arrays_are_legalized_by_default():
    # yosys 0.23 cannot read `wire [1:0][7:0]`: the default lowering options turn
    # an array built and indexed in the datapath into a case statement.
    text = (
        "hw.module @pick(in %a : i8, in %b : i8, in %i : i1, out y : i8) {\n"
        "  %arr = hw.array_create %a, %b : i8\n"
        "  %y = hw.array_get %arr[%i] : !hw.array<2xi8>, i1\n"
        "  hw.output %y : i8\n}\n"
    )
    verilog = export_verilog(text)
    assert "casez" in verilog and "][" not in verilog
    # hw.array_create lists the highest index first: element 0 is the last operand.
    assert "1'b0:\n        casez_tmp = b;" in verilog
    packed = export_verilog(text, lowering_options=["locationInfoStyle=none"])
    assert "wire [1:0][7:0]" in packed


def test_missing_tools_are_named(monkeypatch, tmp_path):
    src = tmp_path / "m.sv"
    src.write_text("module m; endmodule\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RnncError, match="verilator not found"):
        simulate.lint_verilator([src])
    with pytest.raises(RnncError, match="iverilog not found"):
        simulate.run_iverilog([src])
    with pytest.raises(RnncError, match="yosys not found"):
        simulate.synth_yosys([src], "m")


@needs("verilator")
def test_verilator_lint_is_clean(design):
    assert simulate.lint_verilator([design["dir"] / "mac.sv"]) == ""


@needs("yosys")
def test_yosys_synthesises(design):
    generic = simulate.synth_yosys(
        [design["dir"] / "mac.sv"], "mac", workdir=design["dir"]
    )
    cells = generic.cells_by_type
    flops = sum(n for c, n in cells.items() if "DFF" in c)
    assert flops == ACC_BITS, cells
    xilinx = simulate.synth_yosys(
        [design["dir"] / "mac.sv"], "mac", target="xilinx", workdir=design["dir"]
    )
    assert xilinx.num_cells > 0
    assert any(c.startswith("DSP48") for c in xilinx.cells_by_type), (
        xilinx.cells_by_type
    )


@needs("iverilog")
@needs("vvp")
def test_iverilog_matches_python_model(design):
    work: Path = design["dir"]
    (work / "tb.sv").write_text(TESTBENCH.format(last=CYCLES - 1))
    out = simulate.run_iverilog(
        [work / "mac.sv", work / "tb.sv"], top="tb", workdir=work
    )
    got = [ln for ln in out.splitlines() if ln and ln[0].isdigit()]
    want = model(design["weights"], design["stimuli"])
    assert len(got) == CYCLES >= 100
    mismatches = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert not mismatches, mismatches[:5]
    # The run exercised the wrap-around (two's complement overflow) of the model.
    assert any(wrapped for wrapped in overflows(design["weights"], design["stimuli"]))
