"""Synthesis report of exported RTL: cell counts, FPGA resource estimates, fmax.

    rnnc synth-report OUT_DIR [--top NAME] [--json r.json]
        [--target generic,xilinx,ice40,ecp5] [--no-ice40] [--freq MHZ]

yosys runs on the SystemVerilog sources (run in `workdir`, where the
`$readmemh` files live), one per selected target (default: all four):

1. `synth -top TOP`: technology-independent gate counts (per module, too);
2. `synth_xilinx -top TOP -flatten`: a 7-series estimate (LUT1..6, FD* flip-flops,
   DSP48E1, RAMB18E1/RAMB36E1, LUT RAM, CARRY4);
3. `synth_ice40 -top TOP [-dsp]`, then `nextpnr-ice40` place and route on the
   smallest device it fits (UP5K in SG48 with its 8 DSPs, else HX8K in CT256,
   multipliers in logic): the achieved clock frequency and the LC/RAM/DSP/IO use.
   When the design is too large, or nextpnr-ice40 is missing, the "ice40" entry
   says why it was skipped;
4. `synth_ecp5 -top TOP`, then `nextpnr-ecp5 --85k --speed 8 --package CABGA381`:
   real place and route on a Lattice ECP5 LFE5U-85F, reporting LUT4, FF,
   MULT18X18D, DP16KD and nextpnr's fmax.

Every target uses the same yosys: the YoWASP wheel (yosys 0.70, `pip install
"rnnc[hw]"`) when installed, else the native one (Debian: 0.23); nextpnr-ecp5 is
the YoWASP wheel (0.11), nextpnr-ice40 the native one. Measured on the P = 4
LSTM of bench/hw_qor.py: yosys 0.70 maps each 16x8 signed product to one DSP
(11 DSP48E1, 2,001 LUTs; 11 MULT18X18D on ECP5) where 0.23 uses 25 DSP48E1 and
2,375 LUTs (33 MULT18X18D); `synth_ecp5` takes 19 s against 26 s, `synth_xilinx`
28 s against 14 s. The versions used are in the report ("tools").

A missing yosys, a missing tool of an explicitly selected target, or a failing tool
is an `RnncError` naming the tool (and how to install it, or its first error
line); with the default selection a missing nextpnr skips that target, saying why.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnc.backends import progress
from rnnc.backends.verilog import simulate
from rnnc.dialects.errors import RnncError

DEFAULT_TIMEOUT = simulate.DEFAULT_TIMEOUT
DEFAULT_FREQ_MHZ = 12.0  # iCE40 timing target
ECP5_FREQ_MHZ = 100.0  # ECP5 timing target (fmax is what nextpnr achieves)
NEXTPNR = "nextpnr-ice40"
NEXTPNR_ECP5 = "nextpnr-ecp5"
TARGETS = ("generic", "xilinx", "ice40", "ecp5")
DP16KD_BITS = 18 * 1024  # one ECP5 block RAM, parity bits included

Progress = Callable[[str], None]
VERILOG_SUFFIXES = (".sv", ".v")


@dataclass(frozen=True)
class Ice40Device:
    """An iCE40 part and package as nextpnr-ice40 0.4 knows them."""

    name: str  # nextpnr flag without dashes: up5k, hx8k
    package: str
    lcs: int
    rams: int  # SB_RAM40_4K blocks
    dsps: int  # SB_MAC16 blocks
    ios: int  # user I/O pins of the package
    yosys_flags: tuple[str, ...]


ICE40_DEVICES = (
    Ice40Device(
        "up5k", "sg48", lcs=5280, rams=30, dsps=8, ios=39, yosys_flags=("-dsp",)
    ),
    Ice40Device("hx8k", "ct256", lcs=7680, rams=32, dsps=0, ios=206, yosys_flags=()),
)
"""Tried in this order: the first device the synthesised netlist fits is used."""

_CAPACITY_ERRORS = ("no BELs remaining", "Unable to find a placement location")


@dataclass(frozen=True)
class Ecp5Device:
    """The ECP5 part nextpnr-ecp5 places on."""

    name: str  # part name
    flag: str  # nextpnr-ecp5 size flag without dashes
    package: str
    speed: int
    luts: int  # TRELLIS_COMB (LUT4) sites
    ffs: int
    mults: int  # MULT18X18D
    ebrs: int  # DP16KD


ECP5 = Ecp5Device(
    "LFE5U-85F",
    "85k",
    "CABGA381",
    speed=8,
    luts=83640,
    ffs=83640,
    mults=156,
    ebrs=208,
)


# ----------------------------------------------------------------- cell counts


def _count(cells: dict[str, int], test) -> int:
    return sum(n for cell, n in cells.items() if test(cell))


def generic_summary(result: simulate.SynthResult) -> dict:
    # yosys 0.70 also lists instances of the design's own modules by type
    # (not counted in num_cells): only the leaf cells are kept.
    cells = {
        cell: n
        for cell, n in result.cells_by_type.items()
        if cell not in result.modules
    }
    return {
        "total_cells": result.num_cells,
        "ffs": _count(cells, lambda c: "DFF" in c),
        "latches": _count(cells, lambda c: "DLATCH" in c),
        "cells": cells,
        "modules": {
            name: int(numbers.get("num_cells", 0))
            for name, numbers in sorted(result.modules.items())
        },
    }


def xilinx_summary(result: simulate.SynthResult) -> dict:
    """Resource estimate from the cells `synth_xilinx` (7-series) leaves."""
    cells = result.cells_by_type
    bram18 = _count(cells, lambda c: c.startswith("RAMB18"))
    bram36 = _count(cells, lambda c: c.startswith("RAMB36"))
    return {
        "luts": _count(cells, lambda c: re.fullmatch(r"LUT[1-6]", c) is not None),
        "ffs": _count(cells, lambda c: c.startswith("FD")),
        "dsps": _count(cells, lambda c: c.startswith("DSP")),
        "brams": bram18 + bram36,
        "bram36_equiv": bram36 + bram18 / 2,
        "lutram": _count(
            cells, lambda c: c.startswith("RAM") and not c.startswith("RAMB")
        ),
        "srls": _count(cells, lambda c: c.startswith("SRL")),
        "carry": _count(cells, lambda c: c.startswith("CARRY")),
        "muxes": _count(cells, lambda c: c.startswith("MUXF")),
        "iobufs": _count(cells, lambda c: c in ("IBUF", "OBUF", "IOBUF", "BUFG")),
        "total_cells": result.num_cells,
        "cells": cells,
    }


def ice40_usage(cells: dict[str, int], ios: int) -> dict:
    """What a synth_ice40 netlist needs, before placement (LCs estimated)."""
    luts = _count(cells, lambda c: c == "SB_LUT4")
    ffs = _count(cells, lambda c: c.startswith("SB_DFF"))
    carry = _count(cells, lambda c: c == "SB_CARRY")
    return {
        # One LC holds a LUT4, a flip-flop and a carry: a lower bound.
        "lcs": max(luts, ffs, carry),
        "rams": _count(cells, lambda c: c.startswith("SB_RAM40")),
        "dsps": _count(cells, lambda c: c == "SB_MAC16"),
        "spram": _count(cells, lambda c: c == "SB_SPRAM256KA"),
        "ios": ios,
    }


def misfit(usage: dict, device: Ice40Device) -> str | None:
    """Why a netlist cannot fit `device` (None when it may)."""
    for key, label in (("lcs", "LCs"), ("rams", "RAM blocks"), ("dsps", "DSPs")):
        if usage[key] > getattr(device, key):
            return f"{usage[key]} {label} > {getattr(device, key)} on {device.name}"
    if usage["spram"]:
        return f"SPRAM cells are only mapped on up5k, not {device.name}"
    if usage["ios"] > device.ios:
        return (
            f"{usage['ios']} I/O pins > {device.ios} on {device.name}-{device.package}"
        )
    return None


def _port_bits(netlist: Path, top: str) -> int:
    try:
        modules = json.loads(netlist.read_text())["modules"]
    except (OSError, ValueError, KeyError) as err:
        raise RnncError(f"yosys: unreadable netlist {netlist} ({err})") from err
    module = modules.get(top)
    if module is None:  # a single flattened top is what synth_ice40 leaves
        tops = [m for m in modules.values() if m.get("attributes", {}).get("top")]
        module = tops[0] if tops else {}
    return sum(len(port.get("bits", ())) for port in module.get("ports", {}).values())


# ----------------------------------------------------------------- nextpnr


_FMAX = re.compile(
    r"Max frequency for clock\s+'(?P<clock>[^']+)':\s+(?P<mhz>[\d.]+) MHz"
)


_ASYNC = re.compile(r"Max delay <async> -> <async>:\s+(?P<ns>[\d.]+) ns")


def _clock_name(net: str) -> str:
    """`clk` from nextpnr's global net names (iCE40 `clk$SB_IO_IN_$glb_clk`,
    ECP5 `$glbnet$clk$TRELLIS_IO_IN`)."""
    name = net.removeprefix("$glbnet$").split("$", 1)[0]
    return name or net


_CRITICAL = re.compile(
    r"Critical path report for clock '[^']+' \(posedge -> posedge\):\n(?P<body>.*?)"
    r"Info: (?P<logic>[\d.]+) ns logic, (?P<routing>[\d.]+) ns routing",
    re.S,
)
_PATH_SOURCE = re.compile(
    r"^Info:\s+\S+\s+[\d.]+\s+(?P<total>[\d.]+) Source (?P<cell>\S+)", re.M
)


def parse_critical_path(log: str) -> dict | None:
    """nextpnr's critical register-to-register path (the last report, after
    routing): its delay split into logic and routing, and the cells it goes
    through, from the launching register to the capturing one, so a user sees
    which part of the design limits fmax."""
    found = list(_CRITICAL.finditer(log))
    if not found:
        return None
    last = found[-1]
    hops = _PATH_SOURCE.findall(last["body"])
    cells = [cell.rsplit(".", 1)[0] for _, cell in hops]
    through = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
    logic, routing = float(last["logic"]), float(last["routing"])
    return {
        "ns": round(logic + routing, 2),
        "logic_ns": logic,
        "routing_ns": routing,
        "from": through[0] if through else None,
        "to": through[-1] if through else None,
        "through": through,
    }


def parse_fmax(report: dict | None, log: str) -> dict[str, float]:
    """Achieved MHz per clock net (the last figure, after routing).

    nextpnr's `--report` JSON is used when present, else the log's "Max frequency
    for clock" lines. Constant nets promoted to a global buffer
    (`$PACKER_GND_NET`, `$PACKER_VCC_NET`) are not clocks and are left out.
    """
    found: dict[str, float] = {}
    if report and isinstance(report.get("fmax"), dict):
        for net, entry in report["fmax"].items():
            found[net] = float(entry.get("achieved", 0.0))
    else:
        for match in _FMAX.finditer(log):
            found[match["clock"]] = float(match["mhz"])  # later lines win
    clocks: dict[str, float] = {}
    for net, mhz in sorted(found.items()):
        if net.startswith("$PACKER_"):
            continue
        name = _clock_name(net)
        clocks[name if name not in clocks else net] = round(mhz, 2)
    return clocks


def place_and_route(
    netlist: Path,
    device: Ice40Device,
    *,
    top: str,
    freq_mhz: float = DEFAULT_FREQ_MHZ,
    seed: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """nextpnr-ice40 on a synth_ice40 JSON netlist: fmax and utilisation."""
    report_file = netlist.with_name("nextpnr-report.json")
    start = time.perf_counter()
    proc = simulate._run(
        NEXTPNR,
        [
            f"--{device.name}",
            "--package",
            device.package,
            "--json",
            str(netlist),
            "--top",
            top,
            "--freq",
            f"{freq_mhz:g}",
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            str(report_file),
        ],
        cwd=netlist.parent,
        timeout=timeout,
        what=f"place and route of {top} on {device.name}-{device.package}",
    )
    seconds = time.perf_counter() - start
    try:
        report = json.loads(report_file.read_text())
    except (OSError, ValueError):
        report = None
    clocks = parse_fmax(report, proc.stderr + proc.stdout)
    util = {
        bel: {"used": int(v.get("used", 0)), "available": int(v.get("available", 0))}
        for bel, v in sorted(((report or {}).get("utilization") or {}).items())
    }

    def used(bel: str) -> int | None:
        return util[bel]["used"] if bel in util else None

    out = {
        "device": device.name,
        "package": device.package,
        "fmax_mhz": min(clocks.values()) if clocks else None,
        "clocks": clocks,
        "target_mhz": freq_mhz,
        "lcs": used("ICESTORM_LC"),
        "lcs_available": device.lcs,
        "rams": used("ICESTORM_RAM"),
        "rams_available": device.rams,
        "dsps": used("ICESTORM_DSP") or 0,
        "dsps_available": device.dsps,
        "ios": used("SB_IO"),
        "ios_available": device.ios,
        "utilization": util,
        "pnr_seconds": round(seconds, 2),
    }
    if not clocks:
        out["note"] = "no clocked paths (combinational design)"
        delays = _ASYNC.findall(proc.stderr + proc.stdout)
        out["comb_delay_ns"] = float(delays[-1]) if delays else None
    return out


def place_and_route_ecp5(
    netlist: Path,
    *,
    top: str,
    device: Ecp5Device = ECP5,
    freq_mhz: float = ECP5_FREQ_MHZ,
    seed: int = 1,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict:
    """nextpnr-ecp5 on a synth_ecp5 JSON netlist (in its own directory: the
    WebAssembly build sees only its working directory): fmax and utilisation.
    "log" is nextpnr's output, kept for the reader and the tests."""
    tool = simulate.resolve_tool(NEXTPNR_ECP5)
    start = time.perf_counter()
    proc = simulate._run(
        NEXTPNR_ECP5,
        [
            f"--{device.flag}",
            "--speed",
            str(device.speed),
            "--package",
            device.package,
            "--json",
            netlist.name,
            "--textcfg",
            netlist.with_suffix(".config").name,
            "--top",
            top,
            "--freq",
            f"{freq_mhz:g}",
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            "nextpnr-report.json",
        ],
        cwd=netlist.parent,
        timeout=timeout,
        what=f"place and route of {top} on {device.name}",
        resolved=tool,
    )
    seconds = time.perf_counter() - start
    log = proc.stderr + proc.stdout
    try:
        report = json.loads((netlist.parent / "nextpnr-report.json").read_text())
    except (OSError, ValueError):
        report = None
    clocks = parse_fmax(report, log)
    util = parse_utilisation(report, log)

    def used(bel: str) -> int:
        return util[bel]["used"] if bel in util else 0

    out = {
        "device": device.name,
        "package": device.package,
        "speed": device.speed,
        "fmax_mhz": min(clocks.values()) if clocks else None,
        "clocks": clocks,
        "target_mhz": freq_mhz,
        "luts": used("TRELLIS_COMB"),
        "luts_available": device.luts,
        "ffs": used("TRELLIS_FF"),
        "ffs_available": device.ffs,
        "mult18": used("MULT18X18D"),
        "mult18_available": device.mults,
        "dp16kd": used("DP16KD"),
        "dp16kd_available": device.ebrs,
        "ebr_bits": used("DP16KD") * DP16KD_BITS,
        "critical_path": parse_critical_path(log),
        "utilization": util,
        "pnr_seconds": round(seconds, 2),
        "log": log,
    }
    if not clocks:
        out["note"] = "no clocked paths (combinational design)"
        delays = _ASYNC.findall(log)
        out["comb_delay_ns"] = float(delays[-1]) if delays else None
    return out


_UTIL_LINE = re.compile(
    r"^Info:\s+(?P<bel>\w+):\s+(?P<used>\d+)/\s*(?P<avail>\d+)", re.M
)


def parse_utilisation(report: dict | None, log: str) -> dict[str, dict[str, int]]:
    """Used and available BELs by type: from nextpnr's `--report` JSON when it
    has them, else from the log's "Device utilisation" table (the last one)."""
    table = (report or {}).get("utilization") or {}
    if table:
        return {
            bel: {
                "used": int(v.get("used", 0)),
                "available": int(v.get("available", 0)),
            }
            for bel, v in sorted(table.items())
        }
    found: dict[str, dict[str, int]] = {}
    for match in _UTIL_LINE.finditer(log):
        found[match["bel"]] = {
            "used": int(match["used"]),
            "available": int(match["avail"]),
        }
    return dict(sorted(found.items()))


def ecp5_cells(cells: dict[str, int]) -> dict:
    """What synth_ecp5 leaves, before placement."""
    return {
        "lut4": _count(cells, lambda c: c == "LUT4"),
        "ff": _count(cells, lambda c: c == "TRELLIS_FF"),
        "mult18": _count(cells, lambda c: c == "MULT18X18D"),
        "dp16kd": _count(cells, lambda c: c == "DP16KD"),
        "lutram": _count(cells, lambda c: c.startswith("TRELLIS_DPR16X4")),
        "carry": _count(cells, lambda c: c == "CCU2C"),
    }


# ----------------------------------------------------------------- the report


def _quiet(_: str) -> None:
    pass


def _stage(progress: Progress, label: str, fn, *args, **kwargs):
    """Run one tool stage, announcing it and its elapsed time on `progress`."""
    progress(f"{label} ...")
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = round(time.perf_counter() - start, 2)
    progress(f"{label} done ({seconds:.1f} s)")
    return result, seconds


def _ice40(
    sources: list[Path],
    top: str,
    *,
    workdir: Path | None,
    xilinx: dict | None,
    device: str | None,
    freq_mhz: float,
    timeout: float,
    progress: Progress = _quiet,
) -> dict:
    devices = [d for d in ICE40_DEVICES if device in (None, d.name)]
    if not devices:
        names = ", ".join(d.name for d in ICE40_DEVICES)
        raise RnncError(f"unknown iCE40 device {device!r} (one of {names})")
    if not simulate.have_tool(NEXTPNR):
        return {
            "skipped": f"{NEXTPNR} not found on PATH "
            f"(install it: apt-get install -y {NEXTPNR})"
        }
    # A cheap first filter: a 7-series LUT6 is at least one iCE40 LUT4, and
    # synth_ice40 on a hopeless design can take long.
    largest = max(d.lcs for d in devices)
    if xilinx is not None and max(xilinx["luts"], xilinx["ffs"]) > largest:
        return {
            "skipped": f"too large for iCE40: {xilinx['luts']} LUTs and "
            f"{xilinx['ffs']} FFs in the Xilinx mapping > {largest} LCs"
        }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnc-ice40-") as tmp:
        reasons: list[str] = []
        netlists: dict[tuple[str, ...], tuple[Path, dict, int]] = {}
        for dev in devices:
            if dev.yosys_flags not in netlists:
                netlist = Path(tmp) / f"{top}-{len(netlists)}.json"
                result, _ = _stage(
                    progress,
                    f"[ice40] synth_ice40 {' '.join(dev.yosys_flags)}".rstrip(),
                    simulate.synth_yosys,
                    sources,
                    top,
                    target="ice40",
                    workdir=workdir,
                    flags=dev.yosys_flags,
                    write_json=netlist,
                    timeout=timeout,
                )
                cells = result.cells_by_type
                netlists[dev.yosys_flags] = (netlist, cells, _port_bits(netlist, top))
            netlist, cells, ios = netlists[dev.yosys_flags]
            usage = ice40_usage(cells, ios)
            why = misfit(usage, dev)
            if why is not None:
                reasons.append(why)
                continue
            try:
                out, _ = _stage(
                    progress,
                    f"[ice40] {NEXTPNR} on {dev.name}-{dev.package}",
                    place_and_route,
                    netlist,
                    dev,
                    top=top,
                    freq_mhz=freq_mhz,
                    timeout=timeout,
                )
            except RnncError as err:
                if not any(text in str(err) for text in _CAPACITY_ERRORS):
                    raise
                reasons.append(re.sub(r"cell '[^']*'", "a cell", str(err)))
                continue
            out["cells"] = cells
            out["seconds"] = round(time.perf_counter() - start, 2)
            return out
    return {"skipped": "does not fit: " + "; ".join(reasons)}


def _ecp5(
    sources: list[Path],
    top: str,
    *,
    workdir: Path | None,
    freq_mhz: float,
    timeout: float,
    progress: Progress = _quiet,
) -> dict:
    """synth_ecp5, then nextpnr-ecp5 on the LFE5U-85F."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnc-ecp5-") as tmp:
        netlist = Path(tmp) / "netlist.json"
        result, synth_seconds = _stage(
            progress,
            "[ecp5] synth_ecp5",
            simulate.synth_yosys,
            sources,
            top,
            target="ecp5",
            workdir=workdir,
            write_json=netlist,
            timeout=timeout,
        )
        out, _ = _stage(
            progress,
            f"[ecp5] {NEXTPNR_ECP5} on {ECP5.name}-{ECP5.speed} {ECP5.package}",
            place_and_route_ecp5,
            netlist,
            top=top,
            freq_mhz=freq_mhz,
            timeout=timeout,
        )
    return {
        **out,
        "synth": ecp5_cells(result.cells_by_type),
        "cells": result.cells_by_type,
        "synth_seconds": synth_seconds,
        "seconds": round(time.perf_counter() - start, 2),
    }


def parse_targets(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`generic,xilinx,ice40,ecp5` (any subset, any order; `all`) in TARGETS order."""
    if text is None:
        return TARGETS
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {t.strip().lower() for t in items if t.strip()}
    if "all" in names:
        names = (names - {"all"}) | set(TARGETS)
    unknown = sorted(names - set(TARGETS))
    if unknown or not names:
        raise RnncError(
            f"unknown target {', '.join(unknown) or repr(text)} "
            f"(choose from {', '.join(TARGETS)}, comma-separated)"
        )
    return tuple(t for t in TARGETS if t in names)


def _tool_versions(targets: Sequence[str], timeout: float) -> dict[str, str]:
    versions = {"yosys": simulate.tool_version("yosys", timeout)}
    if "ecp5" in targets and simulate.have_resolved(NEXTPNR_ECP5):
        versions[NEXTPNR_ECP5] = simulate.tool_version(NEXTPNR_ECP5, timeout)
    if "ice40" in targets and simulate.have_tool(NEXTPNR):
        versions[NEXTPNR] = simulate.tool_version(NEXTPNR, timeout)
    return versions


def synth_report(
    sources: Sequence[str | Path],
    top: str,
    *,
    workdir: str | Path | None = None,
    targets: str | Sequence[str] | None = None,
    ice40: bool = True,
    ice40_device: str | None = None,
    freq_mhz: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> dict:
    """Synthesise `sources` (top module `top`) for the selected `targets` (default
    all of TARGETS; `ice40=False` drops iCE40); returns a JSON-serialisable dict:

    - "top", "sources", "targets", "yosys" (version line), "tools" (version of
      each tool used), "seconds" (wall time in total);
    - "generic": total_cells, ffs, latches, cells (by type), modules (cells per
      module, hierarchy kept), seconds;
    - "xilinx": luts, ffs, dsps, brams (RAMB18 + RAMB36 cells), bram36_equiv,
      lutram, srls, carry, muxes, iobufs, total_cells, cells, seconds;
    - "ice40": device, package, fmax_mhz (slowest clock; None without clocks),
      clocks (MHz by clock), target_mhz, comb_delay_ns (without clocks), lcs,
      rams, dsps, ios (used, each with `*_available`), utilization (nextpnr's
      table), cells, pnr_seconds, seconds; or
      {"skipped": reason} when ice40 is off, nextpnr-ice40 is missing or the
      design does not fit;
    - "ecp5": device, package, speed, fmax_mhz, clocks, target_mhz, luts
      (TRELLIS_COMB, i.e. LUT4 sites), ffs (TRELLIS_FF), mult18 (MULT18X18D),
      dp16kd, ebr_bits (DP16KD x 18 kbit), each with `*_available`,
      utilization, synth (yosys' LUT4/FF/MULT18X18D/DP16KD/LUT RAM/CCU2C
      cells), cells, log (nextpnr's output), synth_seconds, pnr_seconds,
      seconds; or {"skipped": reason} when ECP5 is selected by default and
      nextpnr-ecp5 is missing.

    `workdir` is where yosys runs (`$readmemh` file names are relative to it);
    `freq_mhz` is nextpnr's timing target (default 12 MHz on iCE40, 100 MHz on
    ECP5); `timeout` applies to each tool run; `progress` receives a line when
    each stage starts and ends.
    """
    paths = [Path(s).resolve() for s in sources]
    if not paths:
        raise RnncError("no Verilog sources given")
    work = Path(workdir).resolve() if workdir is not None else None
    if work is not None and not work.is_dir():
        raise RnncError(f"working directory not found: {work}")
    explicit = targets is not None
    chosen = parse_targets(targets)
    if not ice40:
        chosen = tuple(t for t in chosen if t != "ice40")
    simulate.resolve_tool("yosys")
    if explicit and "ecp5" in chosen:
        simulate.resolve_tool(NEXTPNR_ECP5)
    if explicit and "ice40" in chosen:
        simulate.find_tool(NEXTPNR)
    say = progress or _quiet
    start = time.perf_counter()
    tools = _tool_versions(chosen, timeout)
    report: dict = {
        "top": top,
        "sources": [str(p) for p in paths],
        "targets": list(chosen),
        "yosys": tools["yosys"],
        "tools": tools,
    }
    if "generic" in chosen:
        generic, seconds = _stage(
            say,
            "[generic] synth",
            simulate.synth_yosys,
            paths,
            top,
            workdir=work,
            timeout=timeout,
        )
        report["generic"] = {**generic_summary(generic), "seconds": seconds}

    if "xilinx" in chosen:
        xilinx, seconds = _stage(
            say,
            "[xilinx] synth_xilinx",
            simulate.synth_yosys,
            paths,
            top,
            target="xilinx",
            workdir=work,
            flags=("-flatten",),
            timeout=timeout,
        )
        report["xilinx"] = {**xilinx_summary(xilinx), "seconds": seconds}

    if "ice40" in chosen:
        report["ice40"] = _ice40(
            paths,
            top,
            workdir=work,
            xilinx=report.get("xilinx"),
            device=ice40_device,
            freq_mhz=freq_mhz or DEFAULT_FREQ_MHZ,
            timeout=timeout,
            progress=say,
        )
    elif not ice40:
        report["ice40"] = {"skipped": "disabled (--no-ice40)"}

    if "ecp5" in chosen:
        if simulate.have_resolved(NEXTPNR_ECP5):
            report["ecp5"] = _ecp5(
                paths,
                top,
                workdir=work,
                freq_mhz=freq_mhz or ECP5_FREQ_MHZ,
                timeout=timeout,
                progress=say,
            )
        else:
            try:
                simulate.resolve_tool(NEXTPNR_ECP5)
            except RnncError as err:
                report["ecp5"] = {"skipped": str(err)}
    report["seconds"] = round(time.perf_counter() - start, 2)
    return report


# ----------------------------------------------------------------- text


def _fmax_text(entry: dict) -> str:
    fmax = entry.get("fmax_mhz")
    return f"fmax {fmax:.1f} MHz" if fmax is not None else "fmax n/a"


def format_report(report: dict) -> str:
    """A short table: one line per target."""
    g, x, i = report.get("generic", {}), report.get("xilinx", {}), report.get("ice40")
    e = report.get("ecp5")
    sources = report.get("sources", [])
    lines = [
        f"synthesis report: {report.get('top')} "
        f"({len(sources)} source{'s' if len(sources) != 1 else ''}; "
        f"{report.get('yosys') or 'yosys'})"
    ]
    rows: list[tuple[str, str]] = []
    if g:
        modules = g.get("modules", {})
        rows.append(
            (
                "generic",
                f"cells {g.get('total_cells')} | FF {g.get('ffs')}"
                + (f" | modules {len(modules)}" if len(modules) > 1 else ""),
            )
        )
    if x:
        rows.append(
            (
                "xilinx",
                f"LUT {x['luts']} | FF {x['ffs']} | DSP48 {x['dsps']} | "
                f"BRAM {x['brams']} ({x['bram36_equiv']:g} x 36K) | "
                f"LUTRAM {x['lutram']} | CARRY4 {x['carry']}",
            )
        )
    if i is not None:
        if "skipped" in i:
            rows.append(("ice40", f"skipped: {i['skipped']}"))
        else:
            speed = _fmax_text(i)
            if i.get("comb_delay_ns") is not None:
                speed += f" (input to output {i['comb_delay_ns']:.1f} ns)"

            def of(key: str) -> str:
                return f"{i.get(key)}/{i.get(key + '_available')}"

            rows.append(
                (
                    "ice40",
                    f"{i['device']}-{i['package']} | {speed} | LC {of('lcs')} | "
                    f"RAM {of('rams')} | DSP {of('dsps')} | IO {of('ios')}",
                )
            )
    if e is not None:
        if "skipped" in e:
            rows.append(("ecp5", f"skipped: {e['skipped']}"))
        else:
            speed = _fmax_text(e)
            rows.append(
                (
                    "ecp5",
                    f"{e['device']}-{e['speed']} {e['package']} | {speed} | "
                    f"LUT4 {e['luts']} | FF {e['ffs']} | "
                    f"MULT18X18D {e['mult18']}/{e['mult18_available']} | "
                    f"DP16KD {e['dp16kd']}/{e['dp16kd_available']} "
                    f"({e['ebr_bits']} bits)",
                )
            )
            path = e.get("critical_path")
            if path:
                rows.append(
                    (
                        "",
                        f"critical path {path['ns']:.2f} ns ({path['logic_ns']:.2f} "
                        f"logic, {path['routing_ns']:.2f} routing): {path['from']} "
                        f"-> {path['to']} through {len(path['through'])} cells",
                    )
                )
    width = max((len(name) for name, _ in rows), default=0)
    lines += [f"  {name:<{width}}  {text}" for name, text in rows]
    if "seconds" in report:
        lines.append(f"  ({report['seconds']:.1f} s)")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- sources


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MODULE = re.compile(
    r"^\s*(?:module|macromodule)\s+(?:automatic\s+|static\s+)?(\w+)", re.M
)
# `name [#(params)] instance (` at the start of a line, as CIRCT prints it.
_PARENS = r"\([^()]*\)"
for _ in range(3):  # parentheses nested up to four deep in a parameter list
    _PARENS = rf"\((?:[^()]|{_PARENS})*\)"
_INSTANCE = re.compile(rf"^[ \t]*(\w+)(?:\s*#\s*{_PARENS})?\s+(\w+)\s*\(", re.M)


def find_top(sources: Sequence[str | Path]) -> str:
    """The one module defined in `sources` that no other module instantiates."""
    texts = []
    for src in sources:
        try:
            texts.append(_COMMENTS.sub("", Path(src).read_text()))
        except OSError as err:
            raise RnncError(f"cannot read Verilog source {src}: {err}") from None
    defined = list(dict.fromkeys(n for t in texts for n in _MODULE.findall(t)))
    if not defined:
        raise RnncError("no module definitions found in the Verilog sources")
    instantiated = {
        match[1] for text in texts for match in _INSTANCE.finditer(text)
    } & set(defined)
    tops = [name for name in defined if name not in instantiated]
    if len(tops) != 1:
        found = ", ".join(tops) if tops else "none"
        raise RnncError(
            f"cannot tell the top module (not instantiated: {found}); give --top NAME"
        )
    return tops[0]


def collect_sources(
    inputs: Sequence[str | Path],
) -> tuple[list[Path], Path, str | None]:
    """Verilog files, working directory and manifest top from CLI inputs.

    A directory contributes the files of its `filelist.f` (CIRCT's order), else
    its *.sv and *.v files; a `manifest.json` with a "top" key names the top.
    The working directory is the (first) directory given, else the directory of
    the first file.
    """
    if not inputs:
        raise RnncError(
            "give an output directory of `rnnc --emit=verilog` or .sv files"
        )
    files: list[Path] = []
    workdir: Path | None = None
    top: str | None = None
    for item in map(Path, inputs):
        if item.is_dir():
            workdir = workdir or item
            filelist = item / "filelist.f"
            if filelist.is_file():
                names = [
                    ln.strip()
                    for ln in filelist.read_text().splitlines()
                    if ln.strip() and not ln.strip().startswith(("//", "#", "-", "+"))
                ]
                found = [item / name for name in names]
            else:
                found = sorted(
                    p for p in item.iterdir() if p.suffix in VERILOG_SUFFIXES
                )
            if not found:
                raise RnncError(f"no Verilog files in {item}")
            files += found
            manifest = item / "manifest.json"
            if top is None and manifest.is_file():
                try:
                    top = json.loads(manifest.read_text()).get("top")
                except (OSError, ValueError, AttributeError) as err:
                    raise RnncError(f"unreadable {manifest}: {err}") from None
        elif item.is_file():
            files.append(item)
        else:
            raise RnncError(f"not found: {item}")
    for path in files:
        if not path.is_file():
            raise RnncError(f"Verilog source not found: {path}")
    if workdir is None:
        workdir = files[0].parent
    return files, workdir, top


# ----------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="DIR_OR_SV",
        help="output directory of `rnnc --emit=verilog` (filelist.f, *.sv, *.hex) "
        "or SystemVerilog files",
    )
    parser.add_argument(
        "--top",
        help='top module (default: manifest.json\'s "top", else the one module '
        "no other module instantiates)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    parser.add_argument(
        "--target",
        dest="targets",
        metavar="LIST",
        help=f"comma-separated targets among {','.join(TARGETS)} "
        "(default: all; a missing nextpnr then skips its target)",
    )
    parser.add_argument(
        "--no-ice40",
        dest="ice40",
        action="store_false",
        help="skip iCE40 synthesis and nextpnr place and route",
    )
    parser.add_argument(
        "--device",
        choices=[d.name for d in ICE40_DEVICES],
        help="iCE40 device for place and route (default: the smallest that fits)",
    )
    parser.add_argument(
        "--freq",
        type=float,
        metavar="MHZ",
        help=f"nextpnr timing target (default {DEFAULT_FREQ_MHZ:g} on iCE40, "
        f"{ECP5_FREQ_MHZ:g} on ECP5)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no estimate and no progress on stderr (progress shows on a "
        "terminal only)",
    )
    parser.add_argument(
        "--workdir",
        help="where yosys runs and finds $readmemh files (default: the directory)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds per tool run (default {DEFAULT_TIMEOUT:g})",
    )


def stderr_progress(prefix: str = "rnnc synth-report", steps: int = 0) -> Progress:
    """Progress on stderr (a terminal's): a bar over the tool steps (with an
    ETA), each step's line with the time elapsed since this call."""
    start = time.perf_counter()
    shown = progress.bar(steps or None, prefix)
    on_terminal = progress.enabled()

    def say(text: str) -> None:
        elapsed = time.perf_counter() - start
        line = f"{prefix}: [{elapsed:6.1f} s] {text}"
        if on_terminal:
            shown.write(line)
        else:  # a log: each step's line as it happens
            print(line, file=sys.stderr, flush=True)
        if text.endswith(" ..."):
            shown.set_description_str(text[:-4])
        else:
            if shown.total and shown.n >= shown.total:
                shown.total += 1
            shown.update()

    return say


def _steps(targets: Sequence[str]) -> int:
    """Tool steps of the targets (iCE40: one synthesis and one place and route,
    when the design fits the first device)."""
    return sum({"generic": 1, "xilinx": 1, "ice40": 2, "ecp5": 2}[t] for t in targets)


# ----------------------------------------------------------------- estimate

ICE40_RAM_BITS = 4096  # one SB_RAM40_4K
LUT4_BITS = 16  # a LUT4 used as ROM


def estimate(workdir: Path) -> dict | None:
    """Before any tool: what an `rnnc --emit=verilog` directory certainly needs
    (its MAC lanes' multipliers, the bits of its ROM files), and per device
    whether that much can fit (block RAM and LUTs as ROM; lower bounds, the
    tools decide)."""
    manifest = workdir / "manifest.json"
    try:
        meta = json.loads(manifest.read_text())
        lanes = int(meta["lanes"])
        memories = [workdir / name for name in meta["memories"]]
        rom_bits = 0
        for path in memories:
            lines = [ln for ln in path.read_text().split() if ln]
            rom_bits += len(lines) * 4 * max((len(ln) for ln in lines), default=0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    fits = {}
    for dev in ICE40_DEVICES:
        room = dev.rams * ICE40_RAM_BITS + dev.lcs * LUT4_BITS
        blocks = -(-rom_bits // ICE40_RAM_BITS)
        fits[f"ice40 {dev.name}"] = (
            f"ROM {rom_bits} bits > {room} bits of block RAM and LUTs"
            if rom_bits > room
            else None,
            f">= {min(blocks, dev.rams)} of {dev.rams} RAM blocks, {lanes} "
            f"multipliers ({dev.dsps} DSPs)",
        )
    ecp5_room = ECP5.ebrs * DP16KD_BITS + ECP5.luts * LUT4_BITS
    fits[f"ecp5 {ECP5.name}"] = (
        f"ROM {rom_bits} bits > {ecp5_room} bits" if rom_bits > ecp5_room else None,
        f">= {-(-rom_bits // DP16KD_BITS)} of {ECP5.ebrs} DP16KD, {lanes} of "
        f"{ECP5.mults} MULT18X18D",
    )
    return {"lanes": lanes, "rom_bits": rom_bits, "memories": len(memories)} | {
        "fit": {k: {"misfit": m, "needs": n} for k, (m, n) in fits.items()}
    }


def estimate_lines(est: dict) -> list[str]:
    lines = [
        f"estimate: {est['lanes']} MAC lane multiplier(s), {est['rom_bits']} ROM "
        f"bits in {est['memories']} memory file(s) (lower bounds)"
    ]
    for target, fit in est["fit"].items():
        verdict = f"does not fit: {fit['misfit']}" if fit["misfit"] else "may fit"
        lines.append(f"fit {target}: needs {fit['needs']}: {verdict}")
    return lines


def run(args: argparse.Namespace) -> int:
    files, workdir, manifest_top = collect_sources(args.inputs)
    top = args.top or manifest_top or find_top(files)
    quiet = getattr(args, "quiet", False)
    est = estimate(Path(workdir))
    if est is not None and not quiet:
        for line in estimate_lines(est):
            print(f"rnnc synth-report: {line}", file=sys.stderr, flush=True)
    targets = parse_targets(getattr(args, "targets", None))
    report = synth_report(
        files,
        top,
        workdir=getattr(args, "workdir", None) or workdir,
        targets=getattr(args, "targets", None),
        ice40=args.ice40,
        ice40_device=getattr(args, "device", None),
        freq_mhz=getattr(args, "freq", None),
        timeout=getattr(args, "timeout", DEFAULT_TIMEOUT),
        progress=None if quiet else stderr_progress(steps=_steps(targets)),
    )
    if est is not None:
        report["estimate"] = est
    sys.stdout.write(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one `rnnc: error:` line, like the main CLI
        raise RnncError(message)


def command(argv: Sequence[str]) -> int:
    """`rnnc synth-report ...` (for the main CLI's command table)."""
    parser = _Parser(
        prog="rnnc synth-report",
        description="Synthesis report of exported Verilog "
        "(yosys; nextpnr-ice40, nextpnr-ecp5 place and route).",
    )
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return command(sys.argv[1:] if argv is None else argv)
    except RnncError as err:
        print(f"rnnc: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
